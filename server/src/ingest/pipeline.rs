//! The one path every export takes, whatever its transport: validate, submit to the store,
//! wait until the store says the batch is durable.

use tokio::sync::oneshot;

use super::IngestError;
use crate::otlp::{ExportRequest, Rejections};
use crate::state::AppState;

/// Validates `request`, stores what is valid and resolves once it is durable. Returns what
/// was rejected, for the response's partial success.
pub(crate) async fn accept<R: ExportRequest>(
    state: &AppState,
    mut request: R,
) -> Result<Rejections, IngestError> {
    let rejections = request.validate(&state.limits.item_times.now());
    if !rejections.is_empty() {
        state.counters.add_rejected(R::SIGNAL, rejections.count());
        tracing::debug!(signal = ?R::SIGNAL, "{}", R::rejection_message(&rejections));
    }
    if request.is_empty() {
        return Ok(rejections);
    }
    let (durable_tx, durable) = oneshot::channel();
    let store = state.store.clone();
    // `submit` encodes the batch on the calling thread: keep that off the async workers.
    tokio::task::spawn_blocking(move || {
        store.submit(
            request.into_batch(),
            Box::new(move |outcome| {
                // The receiver is gone only if the client hung up; the data is stored regardless.
                let _ = durable_tx.send(outcome);
            }),
        )
    })
    .await
    .map_err(|e| IngestError::Internal(format!("handing the batch to the store failed: {e}")))??;
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
