//! Scales and axis ticks for the trace pages' pictures: the scatter plot of search results and
//! the waterfall's time ruler. Pure arithmetic on nanoseconds; the components draw the result.

/// Round steps for a duration axis: 1, 2 and 5 times a power of ten, in nanoseconds.
fn duration_step(max_ns: u64, ticks: u64) -> u64 {
    let raw = (max_ns / ticks.max(1)).max(1);
    let mut magnitude = 1u64;
    while magnitude.saturating_mul(10) <= raw {
        magnitude *= 10;
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| magnitude.saturating_mul(m))
        .find(|step| *step >= raw)
        .unwrap_or(raw)
}

/// Tick values from 0 up to at least `max_ns`, about `ticks` of them, on round durations. The
/// last tick is the axis' top, so the largest value always fits.
pub fn duration_ticks(max_ns: u64, ticks: u64) -> Vec<u64> {
    let step = duration_step(max_ns.max(1), ticks);
    let mut out = vec![0];
    while *out.last().unwrap_or(&0) < max_ns.max(1) {
        let next = out.last().unwrap_or(&0).saturating_add(step);
        out.push(next);
    }
    out
}

/// Round steps for a wall-clock axis, in milliseconds: from a tenth of a second (a burst of
/// traces) to a day.
const TIME_STEPS_MS: [u64; 21] = [
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
    900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

/// The round step between about `ticks` ticks on `[start_ns, end_ns]`, in nanoseconds.
pub fn time_step(start_ns: u64, end_ns: u64, ticks: u64) -> u64 {
    const MS: u64 = 1_000_000;
    let span_ms = end_ns.saturating_sub(start_ns) / MS;
    let ticks = ticks.max(1);
    let step_ms = TIME_STEPS_MS
        .into_iter()
        .find(|step| span_ms / step <= ticks)
        .unwrap_or(86_400_000 * (span_ms / 86_400_000 / ticks).max(1));
    step_ms * MS
}

/// Tick times inside `[start_ns, end_ns]` every [`time_step`], on round wall-clock times (in a
/// zone `offset_minutes` east of UTC, so hours fall on the hour locally).
pub fn time_ticks(start_ns: u64, end_ns: u64, ticks: u64, offset_minutes: i32) -> Vec<u64> {
    let step = i128::from(time_step(start_ns, end_ns, ticks));
    // Align to the local clock: shift into local time, round up, shift back.
    let offset = i128::from(offset_minutes) * 60_000_000_000;
    let local_start = i128::from(start_ns) + offset;
    let mut t = (local_start + step - 1).div_euclid(step) * step - offset;
    let mut out = Vec::new();
    while t <= i128::from(end_ns) {
        if t >= 0 {
            out.push(t as u64);
        }
        t += step;
    }
    out
}

/// Where a waterfall bar's duration label goes, given the bar's left edge and width in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelPlace {
    /// Right of the bar: there is room before the right edge.
    After,
    /// Left of the bar: it reaches the right edge, but starts late enough.
    Before,
    /// Inside the bar's right end: it spans (nearly) the whole axis.
    Inside,
}

pub fn label_place(left: f64, width: f64) -> LabelPlace {
    if left + width <= 78.0 {
        LabelPlace::After
    } else if left >= 12.0 {
        LabelPlace::Before
    } else {
        LabelPlace::Inside
    }
}

/// Where `value` falls between `low` and `high`, from 0.0 to 1.0 (0.5 for an empty range).
pub fn fraction(value: u64, low: u64, high: u64) -> f64 {
    if high <= low {
        return 0.5;
    }
    (value.saturating_sub(low) as f64 / (high - low) as f64).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_ticks_are_round_and_cover_the_maximum() {
        assert_eq!(
            duration_ticks(10_000_000, 4),
            vec![0, 5_000_000, 10_000_000]
        );
        assert_eq!(
            duration_ticks(1_234_000_000, 4),
            vec![0, 500_000_000, 1_000_000_000, 1_500_000_000]
        );
        assert_eq!(duration_ticks(0, 4), vec![0, 1]);
        let ticks = duration_ticks(u64::MAX, 4);
        assert!(ticks.len() <= 6 && *ticks.last().unwrap() == u64::MAX);
    }

    #[test]
    fn time_ticks_fall_on_the_local_clock() {
        const S: u64 = 1_000_000_000;
        // 2023-11-14 22:13:20 UTC to an hour later: ticks every 15 minutes at :15, :30, ...
        let start = 1_700_000_000 * S;
        let ticks = time_ticks(start, start + 3600 * S, 4, 0);
        assert_eq!(ticks.len(), 4);
        assert!(
            ticks
                .iter()
                .all(|t| (t / S).is_multiple_of(900) && *t >= start)
        );
        // In a zone five and a half hours east of UTC, hourly ticks fall on the local hour.
        let day = time_ticks(start, start + 6 * 3600 * S, 6, 330);
        assert!(
            day.iter().all(|t| (t / S + 330 * 60).is_multiple_of(3600)),
            "{day:?}"
        );
        assert!(time_ticks(start, start, 4, 0).len() <= 1);
        // A burst within half a second still gets ticks, a tenth of a second apart.
        assert_eq!(time_step(start, start + 500_000_000, 6), 100_000_000);
        assert_eq!(time_ticks(start, start + 500_000_000, 6, 0).len(), 6);
    }

    #[test]
    fn labels_go_where_there_is_room() {
        assert_eq!(label_place(10.0, 30.0), LabelPlace::After);
        assert_eq!(label_place(60.0, 40.0), LabelPlace::Before);
        assert_eq!(label_place(0.0, 100.0), LabelPlace::Inside);
    }

    #[test]
    fn fractions_clamp_to_the_range() {
        assert_eq!(fraction(5, 0, 10), 0.5);
        assert_eq!(fraction(20, 0, 10), 1.0);
        assert_eq!(fraction(0, 5, 10), 0.0);
        assert_eq!(fraction(7, 7, 7), 0.5);
    }
}
