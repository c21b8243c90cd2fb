//! The search forms' time range: the presets ("Last hour" …) and "Custom…", which shows a From
//! and a To field (local time) starting from the window the preset meant.

use leptos::prelude::*;

use crate::clock::{now_ns, utc_offset_minutes};
use crate::logic::trace_search::{
    Lookback, SearchRange, datetime_local_value, parse_datetime_local,
};

#[component]
pub fn TimeRangeField(range: Signal<SearchRange>, set: Callback<SearchRange>) -> impl IntoView {
    let range_name = move || match range.get() {
        SearchRange::Last(lookback) => lookback.name(),
        SearchRange::Custom { .. } => "custom",
    };
    let pick = move |ev| {
        set.run(match Lookback::from_name(&event_target_value(&ev)) {
            Some(lookback) => SearchRange::Last(lookback),
            // Custom starts as the window the preset meant, ready to adjust.
            None => {
                let (start_ns, end_ns) = range.get_untracked().window(now_ns());
                SearchRange::Custom { start_ns, end_ns }
            }
        });
    };
    let bound = move |end: bool| {
        let value = move || match range.get() {
            SearchRange::Custom { start_ns, end_ns } => {
                let ns = if end { end_ns } else { start_ns };
                datetime_local_value(ns, utc_offset_minutes(ns))
            }
            SearchRange::Last(_) => String::new(),
        };
        let change = move |ev| {
            let text = event_target_value(&ev);
            let Some(ns) = parse_datetime_local(&text, utc_offset_minutes(now_ns())) else {
                return;
            };
            // The zone's offset at that time, not now's, in case daylight saving differs.
            let ns = parse_datetime_local(&text, utc_offset_minutes(ns)).unwrap_or(ns);
            if let SearchRange::Custom {
                mut start_ns,
                mut end_ns,
            } = range.get_untracked()
            {
                *(if end { &mut end_ns } else { &mut start_ns }) = ns;
                set.run(SearchRange::Custom { start_ns, end_ns });
            }
        };
        (value, change)
    };
    let (start_value, set_start) = bound(false);
    let (end_value, set_end) = bound(true);
    let custom = move || matches!(range.get(), SearchRange::Custom { .. });
    view! {
        <label class="field">
            <span>"Time range"</span>
            <select name="lookback" on:change=pick>
                {Lookback::ALL
                    .map(|lookback| {
                        view! {
                            <option
                                value=lookback.name()
                                prop:selected=move || range_name() == lookback.name()
                            >
                                {lookback.label()}
                            </option>
                        }
                    })
                    .collect_view()}
                <option value="custom" prop:selected=move || range_name() == "custom">
                    "Custom…"
                </option>
            </select>
        </label>
        <Show when=custom>
            <div class="field-row">
                <label class="field">
                    <span>"From"</span>
                    <input type="datetime-local" name="start" prop:value=start_value on:change=set_start/>
                </label>
                <label class="field">
                    <span>"To"</span>
                    <input type="datetime-local" name="end" prop:value=end_value on:change=set_end/>
                </label>
            </div>
        </Show>
    }
}
