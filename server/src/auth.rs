//! Optional bearer-token checks: one token for the ingest ports (OTLP/HTTP and OTLP/gRPC), one
//! for the query APIs on the UI port (`--ingest-token`, `--query-token`, or `--auth-token` for
//! both).
//!
//! Only the routers given to [`require`] are guarded; `lib.rs` merges the health probes and the
//! UI's static files in after the guard, so orchestrators can probe and a browser can load the UI
//! (which then asks for the token) without one. Tokens are compared in constant time and never
//! written to a log or a response.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::config::Token;

/// Which side of otelite a token guards; it decides how a refusal is shaped and worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guarded {
    /// OTLP/HTTP: refusals are 401 with a plain sentence.
    OtlpHttp,
    /// OTLP/gRPC: refusals are the gRPC status `UNAUTHENTICATED`.
    OtlpGrpc,
    /// The query APIs: refusals are 401 with the API's JSON error body.
    Query,
}

impl Guarded {
    fn setting(self) -> &'static str {
        match self {
            Guarded::OtlpHttp | Guarded::OtlpGrpc => "--ingest-token (or --auth-token)",
            Guarded::Query => "--query-token (or --auth-token)",
        }
    }
}

#[derive(Clone)]
struct Check {
    token: Token,
    guarded: Guarded,
}

/// `router` with every route behind `token`, or `router` unchanged when there is none. Routes
/// merged into the result afterwards are not guarded.
pub(crate) fn require(router: Router, token: Option<&Token>, guarded: Guarded) -> Router {
    match token {
        None => router,
        Some(token) => router.layer(axum::middleware::from_fn_with_state(
            Check {
                token: token.clone(),
                guarded,
            },
            check,
        )),
    }
}

async fn check(State(check): State<Check>, request: Request, next: Next) -> Response {
    // Browsers' CORS preflights carry no credentials; the OTLP/HTTP router answers them in a
    // CORS layer outside this check.
    match presented(request.headers(), &check.token) {
        Presented::Right => next.run(request).await,
        wrong => refuse(check.guarded, wrong),
    }
}

/// What a request showed for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    Right,
    Nothing,
    NotBearer,
    Wrong,
}

fn presented(headers: &HeaderMap, token: &Token) -> Presented {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Presented::Nothing;
    };
    let value = value.as_bytes();
    // RFC 6750 §2.1: the scheme is case-insensitive, then one space, then the token.
    let Some((scheme, offered)) = value.split_at_checked(7) else {
        return Presented::NotBearer;
    };
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return Presented::NotBearer;
    }
    if bool::from(offered.trim_ascii().ct_eq(token.expose().as_bytes())) {
        Presented::Right
    } else {
        Presented::Wrong
    }
}

fn refuse(guarded: Guarded, presented: Presented) -> Response {
    let setting = guarded.setting();
    let (problem, error) = match presented {
        Presented::Nothing => (
            "invalid_request",
            format!(
                "this otelite requires a bearer token ({setting}): send Authorization: Bearer <token>"
            ),
        ),
        Presented::NotBearer => (
            "invalid_request",
            format!(
                "the Authorization header is not a bearer token: send Authorization: Bearer <token>, with the token set by {setting}"
            ),
        ),
        Presented::Wrong | Presented::Right => (
            "invalid_token",
            format!("the bearer token is wrong: send the token set by {setting}"),
        ),
    };
    match guarded {
        Guarded::OtlpGrpc => tonic::Status::unauthenticated(error).into_http(),
        Guarded::OtlpHttp => unauthorized(problem, error).into_response(),
        Guarded::Query => {
            unauthorized(problem, axum::Json(otelite_api::ErrorBody { error })).into_response()
        }
    }
}

fn unauthorized(problem: &str, body: impl IntoResponse) -> impl IntoResponse {
    let challenge = format!("Bearer realm=\"otelite\", error=\"{problem}\"");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
        body,
    )
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        headers
    }

    #[test]
    fn only_the_exact_token_as_a_bearer_passes() {
        let token: Token = "s3cret-token".parse().unwrap();
        assert_eq!(presented(&HeaderMap::new(), &token), Presented::Nothing);
        assert_eq!(
            presented(&with("Bearer s3cret-token"), &token),
            Presented::Right
        );
        assert_eq!(
            presented(&with("bearer s3cret-token"), &token),
            Presented::Right
        );
        assert_eq!(
            presented(&with("Bearer s3cret-tokeN"), &token),
            Presented::Wrong
        );
        assert_eq!(presented(&with("Bearer s3cret"), &token), Presented::Wrong);
        assert_eq!(presented(&with("Bearer "), &token), Presented::Wrong);
        assert_eq!(
            presented(&with("Basic s3cret-token"), &token),
            Presented::NotBearer
        );
        assert_eq!(
            presented(&with("s3cret-token"), &token),
            Presented::NotBearer
        );
    }

    #[test]
    fn a_refusal_is_a_bearer_challenge_naming_the_setting() {
        for presented in [Presented::Nothing, Presented::NotBearer, Presented::Wrong] {
            let response = refuse(Guarded::Query, presented);
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            let challenge = response.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap();
            assert!(challenge.starts_with("Bearer "), "{challenge}");
            let grpc = refuse(Guarded::OtlpGrpc, presented);
            let message = grpc.headers()["grpc-message"].to_str().unwrap();
            assert!(message.contains("ingest-token"), "{message}");
            assert_eq!(grpc.headers()["grpc-status"], "16");
        }
    }
}
