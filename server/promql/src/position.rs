//! Where a query that does not parse goes wrong, for the error message.
//!
//! promql-parser drops its grammar's errors and says only "invalid promql query", with no
//! position. The most common slips can still be found, and placed, without the grammar: an
//! unbalanced or mismatched bracket, a string left open, or an operator with nothing after it.
//! [`locate`] looks for those, skipping strings and comments as PromQL's lexer does, and names
//! the place as Prometheus does (`line:column`, both from 1). It is consulted only after the
//! parser has refused a query, so it never turns a valid query into an error.

/// `"1:12: parse error: unclosed left parenthesis"` and the like, as Prometheus words them, or
/// `None` when the query's brackets, strings and ending look sound (the parser's own message
/// is all there is then).
pub(crate) fn locate(query: &str) -> Option<String> {
    find(query).map(|(place, what)| format!("{place}: parse error: {what}"))
}

/// The place (`line:column`) and the problem.
fn find(query: &str) -> Option<(String, String)> {
    let mut open: Vec<(usize, char)> = Vec::new();
    let mut chars = query.char_indices().peekable();
    let mut last_significant: Option<(usize, char)> = None;
    while let Some((at, c)) = chars.next() {
        match c {
            '#' => {
                // A comment runs to the end of the line.
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                continue;
            }
            '"' | '\'' | '`' => {
                let mut closed = false;
                while let Some((_, s)) = chars.next() {
                    if s == '\\' && c != '`' {
                        chars.next();
                    } else if s == c {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Some((place(query, at), "unterminated quoted string".to_string()));
                }
            }
            '(' | '{' | '[' => open.push((at, c)),
            ')' | '}' | ']' => match open.pop() {
                Some((_, opener)) if closer(opener) == c => {}
                Some((opened, opener)) => {
                    return Some((
                        place(query, at),
                        format!(
                            "unexpected {} '{c}' where the {} at {} is still open",
                            bracket_name(c),
                            bracket_name(opener),
                            place(query, opened)
                        ),
                    ));
                }
                None => {
                    return Some((
                        place(query, at),
                        format!("unexpected {} '{c}'", bracket_name(c)),
                    ));
                }
            },
            _ => {}
        }
        if !c.is_whitespace() {
            last_significant = Some((at, c));
        }
    }
    if let Some((opened, opener)) = open.pop() {
        return Some((
            place(query, opened),
            format!("unclosed {}", bracket_name(opener)),
        ));
    }
    match last_significant {
        Some((at, c)) if "+-*/%^=<>!,~".contains(c) => Some((
            place(query, at + c.len_utf8()),
            format!("unexpected end of input after '{c}'"),
        )),
        _ => None,
    }
}

fn closer(opener: char) -> char {
    match opener {
        '(' => ')',
        '{' => '}',
        _ => ']',
    }
}

fn bracket_name(c: char) -> &'static str {
    match c {
        '(' => "left parenthesis",
        ')' => "right parenthesis",
        '{' => "left brace",
        '}' => "right brace",
        '[' => "left bracket",
        _ => "right bracket",
    }
}

/// `line:column` of byte offset `at` in `query`, both counted from 1, the column in
/// characters.
fn place(query: &str, at: usize) -> String {
    let before = &query[..at];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before, |newline| &before[newline + 1..])
        .chars()
        .count()
        + 1;
    format!("{line}:{column}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbalanced_and_mismatched_brackets_are_placed() {
        for (query, want) in [
            (
                "sum(rate(x[5m])",
                "1:4: parse error: unclosed left parenthesis",
            ),
            (
                "rate(x[5m)",
                "1:10: parse error: unexpected right parenthesis ')' where the left bracket at 1:7 is still open",
            ),
            ("up)", "1:3: parse error: unexpected right parenthesis ')'"),
            ("up{job=\"a\"", "1:3: parse error: unclosed left brace"),
            ("x[5m", "1:2: parse error: unclosed left bracket"),
            (
                "up{job=\"a}",
                "1:8: parse error: unterminated quoted string",
            ),
            (
                "sum(up) /",
                "1:10: parse error: unexpected end of input after '/'",
            ),
            (
                "up\n  and on(job",
                "2:9: parse error: unclosed left parenthesis",
            ),
        ] {
            assert_eq!(locate(query).as_deref(), Some(want), "{query}");
        }
    }

    #[test]
    fn brackets_inside_strings_and_comments_do_not_count() {
        assert_eq!(locate(r#"up{path="/a(b]"} # x)"#), None);
        assert_eq!(locate(r#"up{path='it\'s ('}"#), None);
        assert_eq!(locate("sum by (job) (rate(x[5m]))"), None);
        // Something else is wrong: no position to give.
        assert_eq!(locate("sum sum"), None);
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(
            locate("up{name=\"é\"} +").as_deref(),
            Some("1:15: parse error: unexpected end of input after '+'")
        );
    }
}
