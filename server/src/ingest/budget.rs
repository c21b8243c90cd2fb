//! [`MemoryBudget`]: one bound on the bytes that all export requests together hold in memory,
//! whatever the number of clients.
//!
//! Every request is charged before its bytes are taken in: each body frame as it arrives (so a
//! body is charged before it is read, and a client that streams a huge chunked body is refused
//! mid-way), then its decompressed size, then an estimate of its decoded form while that exists.
//! What the store still holds for the request (its encoded batch, waiting for the disk) stays
//! charged until the request is answered. When a charge does not fit, the request is refused
//! with a retryable answer (HTTP 503 with `Retry-After`, gRPC `UNAVAILABLE` with a retry delay):
//! the client backs off and memory stays within `--max-memory`.
//!
//! So that the server always makes progress, an otherwise idle budget admits one request of any
//! size; the configuration makes the budget several times the largest request, so that this is
//! the exception rather than the rule.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::IngestError;

/// Decoded OTLP (prost structs: a `String` or `Vec` per field, a heap block per attribute) takes
/// about this many times its protobuf size (measured on the load generator's requests; see
/// `decoded_size_estimate_holds` below).
pub const DECODED_PER_PROTOBUF_BYTE: usize = 4;

/// OTLP/JSON is decoded through a `serde_json::Value` tree, which takes about this many times
/// the JSON text while it exists.
pub const DECODED_PER_JSON_BYTE: usize = 8;

/// The shared budget. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    inner: Arc<BudgetInner>,
}

#[derive(Debug)]
struct BudgetInner {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget {
            inner: Arc::new(BudgetInner {
                limit,
                used: AtomicUsize::new(0),
            }),
        }
    }

    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Bytes charged to requests right now.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// A new, empty charge for one request.
    pub fn charge(&self) -> Charge {
        Charge {
            inner: Arc::new(ChargeInner {
                budget: self.clone(),
                bytes: AtomicUsize::new(0),
            }),
        }
    }

    /// Takes `bytes` if they fit (or if nothing else is charged), else leaves the budget alone.
    fn try_take(&self, bytes: usize) -> Result<(), IngestError> {
        let inner = &*self.inner;
        let mut used = inner.used.load(Ordering::Relaxed);
        loop {
            if used != 0 && used.saturating_add(bytes) > inner.limit {
                return Err(IngestError::MemoryBusy { limit: inner.limit });
            }
            match inner.used.compare_exchange_weak(
                used,
                used + bytes,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }

    fn give_back(&self, bytes: usize) {
        self.inner.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// What one request holds of the budget. Clones share one charge; it is given back when the
/// last clone is dropped, that is when the request is over.
#[derive(Debug, Clone)]
pub struct Charge {
    inner: Arc<ChargeInner>,
}

#[derive(Debug)]
struct ChargeInner {
    budget: MemoryBudget,
    bytes: AtomicUsize,
}

impl Charge {
    /// Charges `bytes` more, or refuses (leaving the charge as it was) if the budget is spent.
    pub fn grow(&self, bytes: usize) -> Result<(), IngestError> {
        self.inner.budget.try_take(bytes)?;
        self.inner.bytes.fetch_add(bytes, Ordering::AcqRel);
        Ok(())
    }

    /// Gives back `bytes` of the charge (no more than it holds), once their memory is freed.
    pub fn shrink(&self, bytes: usize) {
        let mut held = self.inner.bytes.load(Ordering::Relaxed);
        loop {
            let release = bytes.min(held);
            match self.inner.bytes.compare_exchange_weak(
                held,
                held - release,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return self.inner.budget.give_back(release),
                Err(now) => held = now,
            }
        }
    }

    /// Bytes this request holds now.
    pub fn bytes(&self) -> usize {
        self.inner.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for ChargeInner {
    fn drop(&mut self) {
        self.budget.give_back(*self.bytes.get_mut());
    }
}

/// Takes `request` in under the budget: refuses it when the budget is already spent, charges
/// `declared` bytes (its Content-Length, when it has one) up front, and makes its body charge
/// every byte beyond that as it arrives. The charge is returned, and also travels in the
/// request's extensions for handlers behind a middleware.
pub fn admit(
    budget: &MemoryBudget,
    request: axum::extract::Request,
    declared: usize,
) -> Result<(axum::extract::Request, Charge), IngestError> {
    if budget.used() >= budget.limit() {
        return Err(IngestError::MemoryBusy {
            limit: budget.limit(),
        });
    }
    let charge = budget.charge();
    charge.grow(declared)?;
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(charge.clone());
    let body = Body::new(ChargedBody {
        inner: body,
        charge: charge.clone(),
        prepaid: declared,
    });
    Ok((axum::extract::Request::from_parts(parts, body), charge))
}

/// A request body that charges each data frame to `charge` before handing it on; when a frame
/// does not fit, the body ends with a [`BudgetRefusal`] instead.
struct ChargedBody {
    inner: Body,
    charge: Charge,
    /// Bytes charged in advance and not yet used up by frames.
    prepaid: usize,
}

impl http_body::Body for ChargedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len();
            let prepaid = len.min(self.prepaid);
            self.prepaid -= prepaid;
            if let Err(error) = self.charge.grow(len - prepaid) {
                let status = error.rpc_status().to_tonic();
                return Poll::Ready(Some(Err(Box::new(BudgetRefusal { status }))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The error a [`ChargedBody`] ends with when the budget refuses a frame. tonic finds the
/// `Status` it carries as its source and answers the gRPC client with exactly that (UNAVAILABLE
/// and its retry delay); the OTLP/HTTP receiver recognises it with [`is_budget_refusal`].
#[derive(Debug)]
struct BudgetRefusal {
    status: tonic::Status,
}

impl std::fmt::Display for BudgetRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.status.message())
    }
}

impl std::error::Error for BudgetRefusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.status)
    }
}

/// Whether a body error is the budget's refusal (see [`ChargedBody`]), however it was wrapped.
pub fn is_budget_refusal(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if error.is::<BudgetRefusal>() {
            return true;
        }
        source = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_bounded_and_given_back() {
        let budget = MemoryBudget::new(100);
        let a = budget.charge();
        a.grow(60).unwrap();
        let b = budget.charge();
        b.grow(40).unwrap();
        assert!(matches!(
            b.grow(1),
            Err(IngestError::MemoryBusy { limit: 100 })
        ));
        assert_eq!(budget.used(), 100);
        a.shrink(10);
        assert_eq!(a.bytes(), 50);
        b.grow(10).unwrap();
        let a2 = a.clone();
        drop(a);
        assert_eq!(budget.used(), 100, "a clone still holds the charge");
        drop(a2);
        assert_eq!(budget.used(), 50);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn an_idle_budget_admits_one_request_of_any_size() {
        let budget = MemoryBudget::new(100);
        let big = budget.charge();
        big.grow(1_000).unwrap();
        assert!(budget.charge().grow(1).is_err());
        drop(big);
        assert!(budget.charge().grow(1).is_ok());
    }

    #[test]
    fn shrinking_never_gives_back_more_than_was_charged() {
        let budget = MemoryBudget::new(100);
        let other = budget.charge();
        other.grow(30).unwrap();
        let charge = budget.charge();
        charge.grow(20).unwrap();
        charge.shrink(500);
        assert_eq!(charge.bytes(), 0);
        assert_eq!(budget.used(), 30);
    }
}
