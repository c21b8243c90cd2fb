//! Typed calls to otelite's query API (`/api/v1/...`), one async function per endpoint, and
//! [`prometheus`] for the Prometheus API's endpoints, whose answers share one envelope.
//!
//! The shapes come from `otelite-api`, the crate the server serialises with, so the two cannot
//! drift apart. Requests go to the page's own origin: the UI is always served by the server it
//! shows.
//!
//! A server started with a query token answers 401 without it: the first such answer raises
//! [`TOKEN_NEEDED_EVENT`] on the window, the token prompt (`components/token_prompt.rs`) asks
//! for the token, and [`save_token`] keeps it in `sessionStorage` (this tab, until it closes),
//! from where every later request sends it as `Authorization: Bearer`.

use std::fmt;

use otelite_api::logs::{LogSearchResponse, LogVolume};
use otelite_api::prometheus::ApiResponse;
use otelite_api::traces::{Operations, Services, Trace, TraceSearchResponse};
use otelite_api::{ErrorBody, Status};
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestCache, RequestInit, Response};

use crate::logic::auth::{TOKEN_STORAGE_KEY, authorization};
use crate::logic::log_search::LOG_SERVICES_PATH;
use crate::logic::query_string::encode;
use crate::logic::{STATUS_PATH, TRACE_OPERATIONS_PATH, TRACE_SERVICES_PATH, trace_path};

/// Why a call to the API gave no answer the UI can use.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The request never got a response: the server is down or the network is gone.
    Unreachable,
    /// The server answered with an error status; `message` is its `ErrorBody` or the status text.
    Status { code: u16, message: String },
    /// The body was not the JSON this UI expects, likely a server of another version.
    Decode(String),
}

impl ApiError {
    /// Whether the server said there is no such thing (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Status { code: 404, .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unreachable => f.write_str(
                "Cannot reach the otelite server. Check that it is still running; \
                 this page retries every few seconds.",
            ),
            ApiError::Status { code, message } => {
                write!(f, "The server answered {code}: {message}")
            }
            ApiError::Decode(detail) => write!(
                f,
                "The server's answer was not understood ({detail}). \
                 Reload the page in case the server was upgraded."
            ),
        }
    }
}

/// `GET /api/v1/status`.
pub async fn fetch_status() -> Result<Status, ApiError> {
    get_json(STATUS_PATH).await
}

/// `GET /api/v1/trace-services`.
pub async fn fetch_trace_services() -> Result<Services, ApiError> {
    get_json(TRACE_SERVICES_PATH).await
}

/// `GET /api/v1/trace-operations?service=`.
pub async fn fetch_trace_operations(service: &str) -> Result<Operations, ApiError> {
    get_json(&format!(
        "{TRACE_OPERATIONS_PATH}?service={}",
        encode(service)
    ))
    .await
}

/// `GET /api/v1/traces?...`, with the path and query string built by
/// [`crate::logic::trace_search::TraceSearch::api_path`].
pub async fn search_traces(path: &str) -> Result<TraceSearchResponse, ApiError> {
    get_json(path).await
}

/// `GET /api/v1/traces/{trace_id}`.
pub async fn fetch_trace(trace_id: &str) -> Result<Trace, ApiError> {
    get_json(&trace_path(trace_id)).await
}

/// `GET /api/v1/logs?...`, with the path built by [`crate::logic::log_search::page_path`] or
/// [`crate::logic::log_search::tail_path`].
pub async fn search_logs(path: &str) -> Result<LogSearchResponse, ApiError> {
    get_json(path).await
}

/// `GET /api/v1/logs/volume?...` ([`crate::logic::log_search::volume_path`]).
pub async fn fetch_log_volume(path: &str) -> Result<LogVolume, ApiError> {
    get_json(path).await
}

/// `GET /api/v1/log-services`.
pub async fn fetch_log_services() -> Result<Services, ApiError> {
    get_json(LOG_SERVICES_PATH).await
}

/// A Prometheus API call (`/api/v1/query_range`, `/api/v1/series`, ...) with its path and query
/// string built by `logic::metric_explorer`: the data of a `success` answer. An `error` answer
/// comes with a 4xx/5xx status, whose `error` sentence [`ApiError::Status`] carries.
pub async fn prometheus<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let answer: ApiResponse<T> = get_json(path).await?;
    answer
        .into_result()
        .map_err(|failure| ApiError::Decode(failure.error))
}

/// The window event raised when the server asks for a token (or refused the one sent).
pub const TOKEN_NEEDED_EVENT: &str = "otelite-token-needed";

/// The query token kept for this browser tab, if one was entered.
pub fn saved_token() -> Option<String> {
    session_storage()?.get_item(TOKEN_STORAGE_KEY).ok()?
}

/// Keeps `token` for this tab's later requests; `None` forgets it.
pub fn save_token(token: Option<&str>) {
    let Some(storage) = session_storage() else {
        return;
    };
    // Storage fails only when the browser refuses it (private modes, quota); the prompt then
    // asks again on the next 401, which is all that can be done.
    let _ = match token {
        Some(token) => storage.set_item(TOKEN_STORAGE_KEY, token),
        None => storage.remove_item(TOKEN_STORAGE_KEY),
    };
}

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let window = web_sys::window().ok_or(ApiError::Unreachable)?;
    let init = RequestInit::new();
    // Status changes every second and traces grow as spans arrive: the browser cache must not
    // answer for the server.
    init.set_cache(RequestCache::NoStore);
    if let Some(value) = saved_token().as_deref().and_then(authorization) {
        let headers = Headers::new().map_err(|_| ApiError::Unreachable)?;
        headers
            .set("authorization", &value)
            .map_err(|_| ApiError::Unreachable)?;
        init.set_headers(&headers);
    }
    let response: Response = JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(|_| ApiError::Unreachable)?
        .unchecked_into();
    let body = read_text(&response).await?;
    if response.status() == 401 {
        // A saved token the server refuses is of no further use.
        save_token(None);
        if let Ok(event) = web_sys::Event::new(TOKEN_NEEDED_EVENT) {
            let _ = window.dispatch_event(&event);
        }
    }
    if !response.ok() {
        let message = serde_json::from_str::<ErrorBody>(&body)
            .map(|b| b.error)
            .unwrap_or_else(|_| response.status_text());
        return Err(ApiError::Status {
            code: response.status(),
            message,
        });
    }
    serde_json::from_str(&body).map_err(|e| ApiError::Decode(e.to_string()))
}

async fn read_text(response: &Response) -> Result<String, ApiError> {
    let promise = response.text().map_err(|_| ApiError::Unreachable)?;
    let text: JsValue = JsFuture::from(promise)
        .await
        .map_err(|_| ApiError::Unreachable)?;
    Ok(text.as_string().unwrap_or_default())
}
