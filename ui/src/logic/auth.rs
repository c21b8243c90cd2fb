//! The query token as the UI handles it: where the tab keeps it and the header it becomes.

/// The `sessionStorage` key of the token: kept for the tab's life, gone when it closes.
pub const TOKEN_STORAGE_KEY: &str = "otelite-query-token";

/// The `Authorization` header value for what the user typed, or `None` if it holds no token.
/// Surrounding whitespace (a pasted line) is dropped, as the server drops it from token files.
pub fn authorization(token: &str) -> Option<String> {
    let token = token.trim();
    (!token.is_empty()).then(|| format!("Bearer {token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasted_token_becomes_a_bearer_header() {
        assert_eq!(authorization(" s3cret\n").as_deref(), Some("Bearer s3cret"));
        assert_eq!(authorization("  "), None);
        assert_eq!(authorization(""), None);
    }
}
