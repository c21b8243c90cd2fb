//! The embedded web UI: the files `build.rs` leaves in `$OUT_DIR/ui`, served with the right
//! content types and cache headers, and `index.html` for every other path so the UI's
//! client-side routes survive a reload.
//!
//! Caching: files whose name carries a content hash (`otelite-ui.<16 hex>.wasm`) never change,
//! so browsers may keep them for a year; `index.html` names the current hashes and is
//! revalidated on every load through its ETag. Responses are compressed (gzip or brotli) when the
//! client asks.
//!
//! This router is stateless and sits behind the `/api/...` routes: a request under `/api/` that
//! reaches it matched no API route and gets a JSON 404, never the UI. Files are looked up by
//! name among the embedded ones only, so no path (`..`, `%2e%2e`, absolute, backslashes) can
//! reach a file on disk.
//!
//! [`security_headers`] wraps the whole UI port: a Content-Security-Policy that allows exactly
//! what the UI needs (its own scripts, the index's one inline script by hash, WebAssembly, fetches
//! to its own origin), and refuses framing, sniffing and referrers.

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::{EmbeddedFile, RustEmbed};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// The built UI. `build.rs` fills the folder before this crate compiles.
#[derive(RustEmbed)]
#[folder = "$OUT_DIR/ui"]
struct UiFiles;

const INDEX: &str = "index.html";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Serves the UI for any path (the caller mounts it as a fallback after the API routes).
pub fn router() -> Router {
    // Brotli's default quality (11) would spend most of a second on the wasm for every page
    // load; 5 compresses it nearly as well in a few milliseconds.
    Router::new()
        .fallback(serve)
        .layer(CompressionLayer::new().quality(CompressionLevel::Precise(5)))
}

/// `router` with the security headers on every response.
pub fn security_headers(router: Router) -> Router {
    router.layer(axum::middleware::map_response(add_security_headers))
}

async fn add_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, content_security_policy());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The policy, computed once from the embedded `index.html`. `style-src-attr 'unsafe-inline'`
/// because leptos sets computed geometry (waterfall bars, chart columns) as `style` attributes;
/// that permits no script and no `<style>` element.
fn content_security_policy() -> HeaderValue {
    static POLICY: OnceLock<HeaderValue> = OnceLock::new();
    POLICY
        .get_or_init(|| {
            let inline_script = UiFiles::get(INDEX)
                .and_then(|index| {
                    inline_script(&String::from_utf8_lossy(&index.data)).map(script_hash)
                })
                .map(|hash| format!(" '{hash}'"))
                .unwrap_or_default();
            let policy = format!(
                "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{inline_script}; \
                 style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; \
                 font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
                 form-action 'self'; frame-ancestors 'none'"
            );
            HeaderValue::from_str(&policy).expect("the policy is ASCII")
        })
        .clone()
}

/// The text of the first inline `<script>` of an HTML page, exactly as a browser hashes it.
fn inline_script(html: &str) -> Option<&str> {
    let open = html.find("<script")?;
    let body = open + html[open..].find('>')? + 1;
    let close = body + html[body..].find("</script>")?;
    Some(&html[body..close])
}

/// A CSP source expression for an inline script: `sha256-<base64 of its SHA-256>`.
fn script_hash(script: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(script.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return api_not_found(path);
    }
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "the web UI only answers GET and HEAD\n",
        )
            .into_response();
    }

    let name = path.trim_start_matches('/');
    let (name, file) = match UiFiles::get(name) {
        Some(file) if !name.is_empty() => (name, file),
        // A missing file (a stale hashed name, a mistyped asset) must not be answered with HTML
        // that the browser would then try to run as a script or stylesheet.
        _ if looks_like_file(name) => {
            return (StatusCode::NOT_FOUND, "no such file in the otelite UI\n").into_response();
        }
        _ => match UiFiles::get(INDEX) {
            Some(index) => (INDEX, index),
            None => return (StatusCode::NOT_FOUND, "the UI was not built\n").into_response(),
        },
    };
    file_response(name, file, &headers, method == Method::HEAD)
}

/// A 200 with the file, or a 304 when the client's copy has the same ETag.
fn file_response(name: &str, file: EmbeddedFile, headers: &HeaderMap, head: bool) -> Response {
    let etag = etag(&file);
    let cache_control = if is_content_hashed(name) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let cache_headers = [
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        ),
    ];
    if if_none_match(headers, &etag) {
        return (StatusCode::NOT_MODIFIED, cache_headers).into_response();
    }
    let body = if head {
        Body::empty()
    } else {
        Body::from(file.data.into_owned())
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(name)),
        )],
        cache_headers,
        body,
    )
        .into_response()
}

fn api_not_found(path: &str) -> Response {
    let error =
        format!("no API endpoint at {path}; see /api/v1/status for what this server answers");
    (
        StatusCode::NOT_FOUND,
        axum::Json(otelite_api::ErrorBody { error }),
    )
        .into_response()
}

/// An ETag from the sha256 that rust-embed computed at build time. Weak, because the
/// compression layer may send the same content gzip- or brotli-encoded under it.
fn etag(file: &EmbeddedFile) -> HeaderValue {
    let hash = file.metadata.sha256_hash();
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("W/\"{hex}\"")).expect("hex digits are a valid header value")
}

/// Whether `If-None-Match` names `etag` (or `*`), by weak comparison as RFC 9110 asks for it.
fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let Ok(etag) = etag.to_str().map(opaque) else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || opaque(tag) == etag)
}

/// `stem.<16 hex digits>.ext`, the names `build.rs` gives to files whose content never changes.
fn is_content_hashed(name: &str) -> bool {
    let mut parts = name.rsplit('.');
    let (Some(_ext), Some(hash), Some(_stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether the last path segment has an extension, i.e. names a file rather than a UI route.
fn looks_like_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str, headers: &[(header::HeaderName, &str)]) -> Response {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        router()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_policy_allows_the_index_inline_script_by_its_hash_and_nothing_inline_else() {
        let index = body_text(get("/", &[]).await).await;
        let script = inline_script(&index).expect("index.html boots the wasm inline");
        assert!(script.contains("init("), "{script}");
        let response = security_headers(router())
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let policy = header_str(&response, header::CONTENT_SECURITY_POLICY);
        assert!(
            policy.contains(&format!("'{}'", script_hash(script))),
            "{policy}"
        );
        assert!(
            policy.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-"),
            "{policy}"
        );
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        let script_src = policy
            .split(';')
            .find(|d| d.contains("script-src"))
            .unwrap();
        assert!(!script_src.contains("unsafe-inline"), "{policy}");
        assert_eq!(header_str(&response, header::X_FRAME_OPTIONS), "DENY");
        assert_eq!(
            header_str(&response, header::REFERRER_POLICY),
            "no-referrer"
        );
    }

    #[test]
    fn script_hashes_are_csp_sha256_sources() {
        // echo -n 'alert(1)' | openssl dgst -sha256 -binary | base64
        assert_eq!(
            script_hash("alert(1)"),
            "sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI="
        );
        assert_eq!(
            inline_script("<p><script type=\"module\">x</script>"),
            Some("x")
        );
        assert_eq!(inline_script("<p>none</p>"), None);
    }

    async fn body_text(response: Response) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn hashed_asset(ext: &str) -> String {
        UiFiles::iter()
            .find(|name| name.ends_with(ext) && is_content_hashed(name))
            .map(|name| format!("/{name}"))
            .unwrap_or_else(|| panic!("build.rs wrote no hashed .{ext} file"))
    }

    fn header_str(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn index_is_served_and_revalidated() {
        let response = get("/", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header_str(&response, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_str(&response, header::CACHE_CONTROL), "no-cache");
        assert!(header_str(&response, header::ETAG).starts_with("W/\""));
        assert!(body_text(response).await.contains("<!doctype html>"));
    }

    /// False for a build made with `OTELITE_UI_SKIP`, which embeds a placeholder page only.
    fn ui_was_built() -> bool {
        UiFiles::iter().any(|name| name.ends_with(".wasm"))
    }

    #[tokio::test]
    async fn index_names_the_hashed_script_and_wasm() {
        if !ui_was_built() {
            return;
        }
        let index = body_text(get("/", &[]).await).await;
        assert!(index.contains(&hashed_asset("js")));
        assert!(index.contains(&hashed_asset("wasm")));
    }

    #[tokio::test]
    async fn hashed_assets_are_immutable_and_typed() {
        if !ui_was_built() {
            return;
        }
        let response = get(&hashed_asset("wasm"), &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_str(&response, header::CACHE_CONTROL), IMMUTABLE);
        assert_eq!(
            header_str(&response, header::CONTENT_TYPE),
            "application/wasm"
        );
        let js = get(&hashed_asset("js"), &[]).await;
        assert_eq!(
            header_str(&js, header::CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
    }

    #[tokio::test]
    async fn matching_etag_gets_304() {
        let etag = header_str(&get("/", &[]).await, header::ETAG).to_owned();
        let response = get("/", &[(header::IF_NONE_MATCH, &etag)]).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header_str(&response, header::ETAG), etag);
        assert!(body_text(response).await.is_empty());

        let strong = etag.trim_start_matches("W/");
        let listed = format!("\"0000\", {strong}");
        let response = get("/", &[(header::IF_NONE_MATCH, &listed)]).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);

        let stale = get("/", &[(header::IF_NONE_MATCH, "\"0000\"")]).await;
        assert_eq!(stale.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn ui_routes_fall_back_to_index() {
        let index = body_text(get("/", &[]).await).await;
        for path in ["/traces", "/logs", "/metrics/", "/some/deep/link"] {
            let response = get(path, &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(header_str(&response, header::CACHE_CONTROL), "no-cache");
            assert_eq!(body_text(response).await, index, "{path}");
        }
    }

    #[tokio::test]
    async fn missing_files_and_api_paths_are_404() {
        let response = get("/otelite-ui.0123456789abcdef.js", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);

        let response = get("/api/v1/nope", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            header_str(&response, header::CONTENT_TYPE),
            "application/json"
        );
        let body: otelite_api::ErrorBody =
            serde_json::from_str(&body_text(response).await).unwrap();
        assert!(body.error.contains("/api/v1/nope"));
    }

    #[tokio::test]
    async fn compresses_when_asked() {
        let response = get("/", &[(header::ACCEPT_ENCODING, "gzip")]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_str(&response, header::CONTENT_ENCODING), "gzip");

        let response = get("/", &[(header::ACCEPT_ENCODING, "br")]).await;
        assert_eq!(header_str(&response, header::CONTENT_ENCODING), "br");

        let plain = get("/", &[]).await;
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    }

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_content_hashed("otelite-ui.0123456789abcdef.wasm"));
        assert!(is_content_hashed("style.00112233aabbccdd.css"));
        assert!(!is_content_hashed("index.html"));
        assert!(!is_content_hashed("style.css"));
        assert!(!is_content_hashed("a.0123456789abcdeg.js"));
    }
}
