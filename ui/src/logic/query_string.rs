//! Reading and writing `application/x-www-form-urlencoded` query strings, for the pages that keep
//! their state in the URL and for API calls. Small enough to own rather than pull in a crate.

/// Percent-encodes everything but RFC 3986's unreserved characters, so the result is safe in a
/// path segment and in a query value alike.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Decodes `+` as a space and `%XX` escapes; malformed escapes are kept as written and invalid
/// UTF-8 is replaced, so a hand-edited URL never fails to load.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes[i] {
            b'%' => bytes.get(i + 1..i + 3).and_then(|h| hex_pair(h[0], h[1])),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, other) => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    Some((digit(high)? * 16 + digit(low)?) as u8)
}

/// The `key=value` pairs of a query string, decoded, in order; a leading `?` is ignored.
pub fn parse(query: &str) -> Vec<(String, String)> {
    query
        .strip_prefix('?')
        .unwrap_or(query)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (decode(key), decode(value)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// `key=value&...` of `pairs`, encoded; pairs with an empty value are left out.
pub fn build<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> String {
    pairs
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{}={}", encode(key), encode(&value)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        for text in [
            "",
            "GET /checkout",
            "http.status_code=500 env=dev",
            "a&b=c",
            "ünï+%",
        ] {
            assert_eq!(decode(&encode(text)), text);
        }
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn decoding_accepts_what_browsers_and_people_write() {
        assert_eq!(decode("a+b"), "a b");
        assert_eq!(decode("100%25"), "100%");
        assert_eq!(decode("50%"), "50%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%e2%82%ac"), "€");
        assert_eq!(decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn queries_parse_and_build() {
        assert_eq!(
            parse("?service=shop%20api&tags=a%3D1+b%3D2&flag&&x="),
            vec![
                ("service".to_owned(), "shop api".to_owned()),
                ("tags".to_owned(), "a=1 b=2".to_owned()),
                ("flag".to_owned(), String::new()),
                ("x".to_owned(), String::new()),
            ]
        );
        assert_eq!(
            build([
                ("a", "x y".to_owned()),
                ("b", String::new()),
                ("c", "1".to_owned())
            ]),
            "a=x%20y&c=1"
        );
    }
}
