//! The one path every export takes, whatever its transport: decode, validate and submit to the
//! store in one task on the blocking pool, then wait until the store says the batch is durable.

use std::time::{Duration, Instant};

use bytes::Bytes;
use otelite_storage::Signal;
use tokio::sync::oneshot;

use super::IngestError;
use super::budget::Charge;
use crate::otlp::{DecodeError, ExportRequest, RejectReason, Rejections};
use crate::state::AppState;
use crate::telemetry::{Refusal, Transport};

/// Counts and logs one answered export: its latency, and why it was refused if it was. Both
/// transports call it for every request, whichever step refused it.
pub(crate) fn answered(
    state: &AppState,
    signal: Signal,
    transport: Transport,
    elapsed: Duration,
    outcome: Result<&Rejections, &IngestError>,
) {
    let telemetry = &state.telemetry;
    match outcome {
        Ok(rejections) => {
            telemetry.export_answered(signal, transport, elapsed, None);
            if !rejections.is_empty() {
                // One line per request, under the reason that removed the most of its items.
                let reason = RejectReason::ALL
                    .into_iter()
                    .max_by_key(|reason| rejections.count_for(*reason))
                    .map_or(Refusal::Invalid, Refusal::of_rejection);
                let message = rejections.message("item", "items");
                let items = Some(rejections.count());
                telemetry.log_refusal(signal, transport, reason, items, &message);
            }
        }
        Err(error) => {
            let reason = Refusal::of(error);
            telemetry.export_answered(signal, transport, elapsed, Some(reason));
            telemetry.log_refusal(signal, transport, reason, None, error);
        }
    }
}

/// Turns the request's bytes into `R`, stores what is valid and resolves once it is durable.
/// Returns what was rejected, for the response's partial success.
///
/// `body` produces the bytes to decode (decompressing them if need be, and charging what it
/// allocates to `charge`); `decode` reads them, and `decoded_per_byte` says how much memory its
/// result takes per input byte, which is charged while the decoded request exists. All of it
/// runs on one blocking thread: decoding, validating and encoding for the store are CPU work the
/// async workers must not do.
pub(crate) async fn accept<R: ExportRequest>(
    state: &AppState,
    charge: Charge,
    body: impl FnOnce(&Charge) -> Result<Bytes, IngestError> + Send + 'static,
    decode: fn(&[u8]) -> Result<R, DecodeError>,
    decoded_per_byte: usize,
) -> Result<Rejections, IngestError> {
    let (durable_tx, durable) = oneshot::channel();
    let store = state.store.clone();
    let telemetry = state.telemetry.clone();
    let accepted_times = state
        .limits
        .item_times
        .now()
        .kept_from(kept_from(state, R::SIGNAL));
    let item_limits = state.limits.items;
    let series = state.series.clone();
    // As many requests are decoded at once as there are cores: more would only take turns on
    // them, each on a thread (and an allocator heap) of its own.
    let slot = state
        .decode_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| IngestError::Internal("the decode slots are closed".to_string()))?;
    let submitted = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let body = body(&charge)?;
        let decoded_bytes = body.len().saturating_mul(decoded_per_byte);
        charge.grow(decoded_bytes)?;
        let mut request = decode(&body)?;
        drop(body);
        let mut rejections = request.validate(&accepted_times);
        request.limit_series(&series, &mut rejections);
        telemetry.rejected(R::SIGNAL, &rejections);
        telemetry.truncated(R::SIGNAL, &request.apply_limits(&item_limits));
        if request.is_empty() {
            return Ok((rejections, None));
        }
        let items = request.item_count();
        let submitted_at = Instant::now();
        let durable_telemetry = telemetry.clone();
        let submitted = store.submit(
            request.into_batch(),
            Box::new(move |outcome| {
                durable_telemetry.durable(submitted_at.elapsed());
                // The receiver is gone only if the client hung up; the data is stored regardless.
                let _ = durable_tx.send(outcome);
            }),
        );
        // The decoded request is gone; the store's queue now holds its encoded form, about the
        // size of the protobuf body, whose charge stays until the request is answered.
        charge.shrink(decoded_bytes);
        if let Err(error) = submitted {
            let error = IngestError::from(error);
            telemetry.refused(R::SIGNAL, Refusal::of(&error), items);
            return Err(error);
        }
        Ok::<_, IngestError>((rejections, Some(items)))
    })
    .await
    .map_err(|e| IngestError::Internal(format!("handing the batch to the store failed: {e}")))?;
    let (rejections, items) = match submitted? {
        (rejections, Some(items)) => (rejections, items),
        // Nothing valid was left to store.
        (rejections, None) => return Ok(rejections),
    };
    let error = match durable.await {
        Ok(Ok(())) => {
            state.telemetry.accepted(R::SIGNAL, items);
            return Ok(rejections);
        }
        // Logged by `answered`, at most once a second per reason: a failing disk fails every
        // request, and one line per request would bury everything else in the log.
        Ok(Err(e)) => IngestError::Storage(e),
        Err(_) => IngestError::Internal(
            "the store dropped a batch without reporting whether it was written".to_string(),
        ),
    };
    state
        .telemetry
        .refused(R::SIGNAL, Refusal::of(&error), items);
    Err(error)
}

/// The oldest item time of `signal` that retention still keeps: what its age limit allows, and
/// after the hours it has already dropped.
fn kept_from(state: &AppState, signal: otelite_storage::Signal) -> u64 {
    let index = otelite_storage::Signal::ALL
        .iter()
        .position(|s| *s == signal)
        .expect("every signal is in ALL");
    let by_age = state.limits.retention[index].map_or(0, |age| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        now.saturating_sub(u64::try_from(age.as_nanos()).unwrap_or(u64::MAX))
    });
    by_age.max(state.store.retention_floor(signal))
}
