//! The one path every export takes, whatever its transport: decode, validate and submit to the
//! store in one task on the blocking pool, then wait until the store says the batch is durable.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::IngestError;
use super::budget::Charge;
use crate::otlp::{DecodeError, ExportRequest, Rejections};
use crate::state::AppState;

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
    let counters = state.counters.clone();
    let accepted_times = state
        .limits
        .item_times
        .now()
        .kept_from(kept_from(state, R::SIGNAL));
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
        let rejections = request.validate(&accepted_times);
        if !rejections.is_empty() {
            counters.add_rejected(R::SIGNAL, rejections.count());
            tracing::debug!(signal = ?R::SIGNAL, "{}", R::rejection_message(&rejections));
        }
        if request.is_empty() {
            return Ok((rejections, false));
        }
        let submitted = store.submit(
            request.into_batch(),
            Box::new(move |outcome| {
                // The receiver is gone only if the client hung up; the data is stored regardless.
                let _ = durable_tx.send(outcome);
            }),
        );
        // The decoded request is gone; the store's queue now holds its encoded form, about the
        // size of the protobuf body, whose charge stays until the request is answered.
        charge.shrink(decoded_bytes);
        submitted?;
        Ok::<_, IngestError>((rejections, true))
    })
    .await
    .map_err(|e| IngestError::Internal(format!("handing the batch to the store failed: {e}")))?;
    let (rejections, queued) = submitted?;
    if !queued {
        return Ok(rejections);
    }
    match durable.await {
        Ok(Ok(())) => Ok(rejections),
        Ok(Err(e)) => {
            tracing::warn!(signal = ?R::SIGNAL, "export failed: {e}");
            Err(IngestError::Storage(e))
        }
        Err(_) => Err(IngestError::Internal(
            "the store dropped a batch without reporting whether it was written".to_string(),
        )),
    }
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
