//! The LogQL subset otelite answers: a hand-written lexer and recursive-descent parser from
//! query text to [`Expr`].
//!
//! What it accepts is documented in `README.md`; everything else of LogQL is refused with a
//! [`ParseError`] that names the unsupported part, because a query half understood would give a
//! wrong answer. Errors read like Loki's (`parse error at line 1, col 5: syntax error: ...`) so
//! that Grafana and logcli show them as they show Loki's. Regular expressions are compiled here,
//! once per query: label matchers fully anchored (as Loki's), line filters not.

use std::fmt;

use regex::Regex;

/// A parsed query: a log query (streams of lines) or a metric query (numbers over time).
#[derive(Debug, Clone)]
pub enum Expr {
    Log(LogExpr),
    Metric(MetricExpr),
}

/// `{selector} | stage | stage ...`
#[derive(Debug, Clone)]
pub struct LogExpr {
    pub selector: Vec<Matcher>,
    pub pipeline: Vec<Stage>,
}

/// `name op "value"`: a stream selector's matcher, or a string label filter.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// The anchored regex of `=~` and `!~`.
    pub regex: Option<Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Neq,
    Re,
    Nre,
}

impl Matcher {
    /// Whether a label with value `value` (`""` when absent) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Neq => value != self.value,
            MatchOp::Re => self.regex.as_ref().is_some_and(|re| re.is_match(value)),
            MatchOp::Nre => !self.regex.as_ref().is_some_and(|re| re.is_match(value)),
        }
    }
}

/// One stage of a log pipeline.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `|= "text"`, `!= "text"`, `|~ "re"`, `!~ "re"`.
    LineFilter(LineFilter),
    /// `| json`: the line's JSON object as labels, nested keys joined with `_`.
    Json,
    /// `| logfmt`: the line's `key=value` pairs as labels.
    Logfmt,
    /// `| <predicate>`: keeps entries whose labels satisfy it.
    LabelFilter(LabelPredicate),
    /// `| line_format "template"`: replaces the line.
    LineFormat(Template),
    /// `| label_format dst=src, dst2="template"`: renames labels and sets them from templates,
    /// all read from the labels as they were before the stage.
    LabelFormat(Vec<LabelFormat>),
    /// `| drop a, b="x"`: removes labels (those with a matcher only when it matches).
    Drop(Vec<LabelChoice>),
    /// `| keep a, b="x"`: removes every other label.
    Keep(Vec<LabelChoice>),
}

/// A label named by `drop` or `keep`, with an optional condition on its value.
#[derive(Debug, Clone)]
pub struct LabelChoice {
    pub name: String,
    pub matcher: Option<Matcher>,
}

impl LabelChoice {
    /// Whether the label `name` with `value` is the one this names.
    pub fn names(&self, name: &str, value: &str) -> bool {
        self.name == name && self.matcher.as_ref().is_none_or(|m| m.matches(value))
    }
}

/// One assignment of `label_format`.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFormat {
    /// `dst=src`: `src`'s value under the name `dst`; `src` is dropped.
    Rename { dst: String, src: String },
    /// `dst="template"`.
    Template { dst: String, template: Template },
}

#[derive(Debug, Clone)]
pub struct LineFilter {
    pub op: LineOp,
    pub text: String,
    /// The (unanchored) regex of `|~` and `!~`.
    pub regex: Option<Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOp {
    Contains,
    NotContains,
    Matches,
    NotMatches,
}

impl LineFilter {
    pub fn keeps(&self, line: &str) -> bool {
        match self.op {
            LineOp::Contains => line.contains(self.text.as_str()),
            LineOp::NotContains => !line.contains(self.text.as_str()),
            LineOp::Matches => self.regex.as_ref().is_some_and(|re| re.is_match(line)),
            LineOp::NotMatches => !self.regex.as_ref().is_some_and(|re| re.is_match(line)),
        }
    }
}

/// A label filter expression after `|`.
#[derive(Debug, Clone)]
pub enum LabelPredicate {
    And(Box<LabelPredicate>, Box<LabelPredicate>),
    Or(Box<LabelPredicate>, Box<LabelPredicate>),
    /// `name = "x"`, `name =~ "re"`, ...
    Text(Matcher),
    /// `name > 5`, `name <= 10ms`: the label's value read as a number (a duration in seconds
    /// when `duration`).
    Number {
        name: String,
        op: CmpOp,
        value: f64,
        duration: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Neq => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }
}

/// A `line_format` template: literal text and `{{.label}}` substitutions.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(pub Vec<TemplatePart>);

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Text(String),
    Label(String),
    /// `{{__line__}}`: the current line.
    Line,
}

/// A query that yields numbers.
#[derive(Debug, Clone)]
pub enum MetricExpr {
    /// `count_over_time({...} | ... [5m])` and its kin.
    Range {
        function: RangeFunction,
        log: LogExpr,
        range_ns: u64,
    },
    /// `sum by (a) (...)`, `topk(3, ...)`.
    Aggregate {
        op: AggregateOp,
        grouping: Grouping,
        /// `k` of `topk` and `bottomk`.
        parameter: Option<usize>,
        inner: Box<MetricExpr>,
    },
    /// A number, or `vector(n)`: the same value at every step, without labels.
    Constant(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunction {
    CountOverTime,
    Rate,
    BytesOverTime,
    BytesRate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateOp {
    Sum,
    Count,
    Min,
    Max,
    Avg,
    Topk,
    Bottomk,
}

/// Which labels an aggregation keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Grouping {
    /// No clause: one group of everything, without labels.
    #[default]
    All,
    By(Vec<String>),
    Without(Vec<String>),
}

/// Why a query cannot be answered, with where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub kind: ParseErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Not LogQL at all (as Loki says it).
    Syntax(String),
    /// LogQL, but beyond what otelite implements: names the part.
    Unsupported(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, col) = (self.line, self.col);
        match &self.kind {
            ParseErrorKind::Syntax(reason) => {
                write!(f, "parse error at line {line}, col {col}: {reason}")
            }
            ParseErrorKind::Unsupported(what) => write!(
                f,
                "parse error at line {line}, col {col}: unsupported LogQL: {what} is not implemented by otelite"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole query.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser::new(query)?;
    let expr = parser.expr()?;
    parser.expect_end()?;
    Ok(expr)
}

/// Parses a query that must be a stream selector alone (`match[]` of `/series`, `query` of
/// the label APIs).
pub fn parse_selector(query: &str) -> Result<Vec<Matcher>, ParseError> {
    let mut parser = Parser::new(query)?;
    let selector = parser.selector()?;
    parser.expect_end()?;
    Ok(selector)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Pipe,
    /// `|=`
    PipeEq,
    /// `|~`
    PipeTilde,
    /// `!=`
    Neq,
    /// `!~`
    NotTilde,
    /// `=`
    Eq,
    /// `=~`
    EqTilde,
    /// `==`
    EqEq,
    Gt,
    Ge,
    Lt,
    Le,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Ident(String),
    Str(String),
    Number(f64),
    /// Nanoseconds.
    Duration(u64),
    /// A number with a unit that is no duration (`10KB`): kept for the error message.
    OtherUnit(String),
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Ident(name) => format!("IDENTIFIER {name:?}"),
            Token::Str(text) => format!("STRING {text:?}"),
            Token::Number(n) => format!("NUMBER {n}"),
            Token::Duration(_) | Token::OtherUnit(_) => "DURATION".to_string(),
            Token::End => "end of input".to_string(),
            other => format!("{:?}", symbol(other)),
        }
    }
}

fn symbol(token: &Token) -> &'static str {
    match token {
        Token::LBrace => "{",
        Token::RBrace => "}",
        Token::LParen => "(",
        Token::RParen => ")",
        Token::LBracket => "[",
        Token::RBracket => "]",
        Token::Comma => ",",
        Token::Pipe => "|",
        Token::PipeEq => "|=",
        Token::PipeTilde => "|~",
        Token::Neq => "!=",
        Token::NotTilde => "!~",
        Token::Eq => "=",
        Token::EqTilde => "=~",
        Token::EqEq => "==",
        Token::Gt => ">",
        Token::Ge => ">=",
        Token::Lt => "<",
        Token::Le => "<=",
        Token::Plus => "+",
        Token::Minus => "-",
        Token::Star => "*",
        Token::Slash => "/",
        Token::Percent => "%",
        Token::Caret => "^",
        _ => "?",
    }
}

/// A token and where it starts (1-based line and column, in characters).
#[derive(Debug, Clone)]
struct Spanned {
    token: Token,
    line: usize,
    col: usize,
}

fn syntax(line: usize, col: usize, reason: String) -> ParseError {
    ParseError {
        line,
        col,
        kind: ParseErrorKind::Syntax(reason),
    }
}

fn lex(query: &str) -> Result<Vec<Spanned>, ParseError> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut line_start) = (0, 1, 0);
    while i < chars.len() {
        let c = chars[i];
        let col = i - line_start + 1;
        if c == '\n' {
            i += 1;
            line += 1;
            line_start = i;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            // A comment runs to the end of the line.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let next = chars.get(i + 1).copied();
        let two = |t: Token| (t, 2);
        let (token, len) = match (c, next) {
            ('|', Some('=')) => two(Token::PipeEq),
            ('|', Some('~')) => two(Token::PipeTilde),
            ('!', Some('=')) => two(Token::Neq),
            ('!', Some('~')) => two(Token::NotTilde),
            ('=', Some('~')) => two(Token::EqTilde),
            ('=', Some('=')) => two(Token::EqEq),
            ('>', Some('=')) => two(Token::Ge),
            ('<', Some('=')) => two(Token::Le),
            ('{', _) => (Token::LBrace, 1),
            ('}', _) => (Token::RBrace, 1),
            ('(', _) => (Token::LParen, 1),
            (')', _) => (Token::RParen, 1),
            ('[', _) => (Token::LBracket, 1),
            (']', _) => (Token::RBracket, 1),
            (',', _) => (Token::Comma, 1),
            ('|', _) => (Token::Pipe, 1),
            ('=', _) => (Token::Eq, 1),
            ('>', _) => (Token::Gt, 1),
            ('<', _) => (Token::Lt, 1),
            ('+', _) => (Token::Plus, 1),
            ('-', _) => (Token::Minus, 1),
            ('*', _) => (Token::Star, 1),
            ('/', _) => (Token::Slash, 1),
            ('%', _) => (Token::Percent, 1),
            ('^', _) => (Token::Caret, 1),
            ('"', _) => {
                let (text, len) = quoted(&chars[i..])
                    .map_err(|reason| syntax(line, col, format!("syntax error: {reason}")))?;
                (Token::Str(text), len)
            }
            ('`', _) => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or_else(|| {
                        syntax(line, col, "syntax error: unterminated raw string".into())
                    })?;
                let text: String = chars[i + 1..i + 1 + end].iter().collect();
                // A raw string may span lines.
                for (k, &ch) in chars[i..i + end + 2].iter().enumerate() {
                    if ch == '\n' {
                        line += 1;
                        line_start = i + k + 1;
                    }
                }
                (Token::Str(text), end + 2)
            }
            (c, _)
                if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) =>
            {
                let len = chars[i..]
                    .iter()
                    .position(|&ch| !(ch.is_alphanumeric() || ch == '.' || ch == 'µ'))
                    .unwrap_or(chars.len() - i);
                let text: String = chars[i..i + len].iter().collect();
                let token = if let Ok(n) = text.parse::<f64>() {
                    Token::Number(n)
                } else if let Some(ns) = duration_ns(&text) {
                    Token::Duration(ns)
                } else {
                    Token::OtherUnit(text)
                };
                (token, len)
            }
            (c, _) if c.is_alphabetic() || c == '_' => {
                let len = chars[i..]
                    .iter()
                    .position(|&ch| !(ch.is_alphanumeric() || ch == '_'))
                    .unwrap_or(chars.len() - i);
                (Token::Ident(chars[i..i + len].iter().collect()), len)
            }
            (c, _) => {
                return Err(syntax(
                    line,
                    col,
                    format!("syntax error: unexpected character {c:?}"),
                ));
            }
        };
        tokens.push(Spanned { token, line, col });
        i += len;
    }
    tokens.push(Spanned {
        token: Token::End,
        line,
        col: chars.len() - line_start + 1,
    });
    Ok(tokens)
}

/// A double-quoted string at the start of `chars` with Go's escapes: its text and length.
fn quoted(chars: &[char]) -> Result<(String, usize), String> {
    let mut text = String::new();
    let mut i = 1;
    while let Some(&c) = chars.get(i) {
        match c {
            '"' => return Ok((text, i + 1)),
            '\n' => break,
            '\\' => {
                let escaped = chars.get(i + 1).copied().ok_or("unterminated string")?;
                let unescaped = match escaped {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' => '\\',
                    '"' => '"',
                    '\'' => '\'',
                    'a' => '\x07',
                    'b' => '\x08',
                    'f' => '\x0c',
                    'v' => '\x0b',
                    'u' => {
                        let hex: String = chars
                            .get(i + 2..i + 6)
                            .ok_or("bad \\u escape")?
                            .iter()
                            .collect();
                        let code = u32::from_str_radix(&hex, 16).map_err(|_| "bad \\u escape")?;
                        text.push(char::from_u32(code).ok_or("bad \\u escape")?);
                        i += 6;
                        continue;
                    }
                    other => return Err(format!("unknown escape sequence \\{other}")),
                };
                text.push(unescaped);
                i += 2;
            }
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err("unterminated string".into())
}

/// Nanoseconds of a Prometheus/Go duration: `5m`, `1h30m`, `250ms`, `1d`, `2w`, `1y`.
pub fn duration_ns(text: &str) -> Option<u64> {
    let mut rest = text;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let value: f64 = number.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_ns: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3_600e9,
            "d" => 86_400e9,
            "w" => 7.0 * 86_400e9,
            "y" => 365.0 * 86_400e9,
            _ => return None,
        };
        total += value * unit_ns;
        rest = after;
    }
    (total.is_finite() && total < u64::MAX as f64).then_some(total.round() as u64)
}

/// LogQL keywords otelite knows but does not implement, with how to name them.
fn unsupported_stage(name: &str) -> Option<&'static str> {
    Some(match name {
        "unwrap" => "the \"unwrap\" expression",
        "pattern" => "the \"pattern\" parser",
        "regexp" => "the \"regexp\" parser",
        "unpack" => "the \"unpack\" parser",
        "decolorize" => "the \"decolorize\" stage",
        "distinct" => "the \"distinct\" stage",
        _ => return None,
    })
}

fn range_function(name: &str) -> Option<RangeFunction> {
    Some(match name {
        "count_over_time" => RangeFunction::CountOverTime,
        "rate" => RangeFunction::Rate,
        "bytes_over_time" => RangeFunction::BytesOverTime,
        "bytes_rate" => RangeFunction::BytesRate,
        _ => return None,
    })
}

fn aggregate_op(name: &str) -> Option<AggregateOp> {
    Some(match name {
        "sum" => AggregateOp::Sum,
        "count" => AggregateOp::Count,
        "min" => AggregateOp::Min,
        "max" => AggregateOp::Max,
        "avg" => AggregateOp::Avg,
        "topk" => AggregateOp::Topk,
        "bottomk" => AggregateOp::Bottomk,
        _ => return None,
    })
}

/// LogQL functions beyond the subset.
fn is_unsupported_function(name: &str) -> bool {
    matches!(
        name,
        "sum_over_time"
            | "avg_over_time"
            | "min_over_time"
            | "max_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "quantile_over_time"
            | "first_over_time"
            | "last_over_time"
            | "absent_over_time"
            | "rate_counter"
            | "stddev"
            | "stdvar"
            | "sort"
            | "sort_desc"
            | "label_replace"
            | "approx_topk"
    )
}

struct Parser {
    tokens: Vec<Spanned>,
    at: usize,
}

impl Parser {
    fn new(query: &str) -> Result<Parser, ParseError> {
        Ok(Parser {
            tokens: lex(query)?,
            at: 0,
        })
    }

    fn peek(&self) -> &Token {
        &self.tokens[self.at].token
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        let i = (self.at + ahead).min(self.tokens.len() - 1);
        &self.tokens[i].token
    }

    fn next(&mut self) -> Token {
        let token = self.tokens[self.at].token.clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        token
    }

    /// An error at the current token.
    fn unexpected(&self, wanted: &str) -> ParseError {
        let here = &self.tokens[self.at];
        let found = here.token.describe();
        syntax(
            here.line,
            here.col,
            format!("syntax error: unexpected {found}, expecting {wanted}"),
        )
    }

    fn unsupported(&self, what: impl Into<String>) -> ParseError {
        let here = &self.tokens[self.at];
        ParseError {
            line: here.line,
            col: here.col,
            kind: ParseErrorKind::Unsupported(what.into()),
        }
    }

    fn error_here(&self, reason: String) -> ParseError {
        let here = &self.tokens[self.at];
        syntax(here.line, here.col, reason)
    }

    fn expect(&mut self, token: Token, wanted: &str) -> Result<(), ParseError> {
        if *self.peek() == token {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(wanted))
        }
    }

    fn expect_end(&mut self) -> Result<(), ParseError> {
        match self.peek() {
            Token::End => Ok(()),
            Token::Plus
            | Token::Minus
            | Token::Star
            | Token::Slash
            | Token::Percent
            | Token::Caret
            | Token::EqEq
            | Token::Neq
            | Token::Gt
            | Token::Ge
            | Token::Lt
            | Token::Le => Err(self.unsupported("a binary operation on a metric query")),
            Token::Ident(word) if matches!(word.as_str(), "and" | "or" | "unless") => {
                Err(self.unsupported(format!("the \"{word}\" operation between metric queries")))
            }
            Token::Ident(word) if word == "offset" => {
                Err(self.unsupported("the \"offset\" modifier"))
            }
            _ => Err(self.unexpected("end of input")),
        }
    }

    fn ident(&mut self, wanted: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Token::Ident(name) => {
                self.next();
                Ok(name)
            }
            _ => Err(self.unexpected(wanted)),
        }
    }

    fn string(&mut self, wanted: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Token::Str(text) => {
                self.next();
                Ok(text)
            }
            _ => Err(self.unexpected(wanted)),
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        if *self.peek() == Token::LBrace {
            return Ok(Expr::Log(self.log_expr()?));
        }
        Ok(Expr::Metric(self.metric_sum()?))
    }

    /// Binary arithmetic, allowed only between constants (Grafana's health check sends
    /// `vector(1)+vector(1)`); it folds into one constant.
    fn metric_sum(&mut self) -> Result<MetricExpr, ParseError> {
        let mut left = self.metric_product()?;
        while matches!(self.peek(), Token::Plus | Token::Minus) {
            let op = self.next();
            let right = self.metric_product()?;
            left = self.fold(left, &op, right)?;
        }
        Ok(left)
    }

    fn metric_product(&mut self) -> Result<MetricExpr, ParseError> {
        let mut left = self.metric_primary()?;
        while matches!(
            self.peek(),
            Token::Star | Token::Slash | Token::Percent | Token::Caret
        ) {
            let op = self.next();
            let right = self.metric_primary()?;
            left = self.fold(left, &op, right)?;
        }
        Ok(left)
    }

    fn fold(
        &self,
        left: MetricExpr,
        op: &Token,
        right: MetricExpr,
    ) -> Result<MetricExpr, ParseError> {
        let (MetricExpr::Constant(a), MetricExpr::Constant(b)) = (&left, &right) else {
            // At the operator, which comes before the right operand just read.
            let operator = self.tokens[..self.at]
                .iter()
                .rposition(|t| t.token == *op)
                .map_or(self.at, |i| i);
            let here = &self.tokens[operator];
            return Err(ParseError {
                line: here.line,
                col: here.col,
                kind: ParseErrorKind::Unsupported(
                    "a binary operation on a metric query (only between constants such as vector(1)+vector(1))".into(),
                ),
            });
        };
        let (a, b) = (*a, *b);
        Ok(MetricExpr::Constant(match op {
            Token::Plus => a + b,
            Token::Minus => a - b,
            Token::Star => a * b,
            Token::Slash => a / b,
            Token::Percent => a % b,
            _ => a.powf(b),
        }))
    }

    fn metric_primary(&mut self) -> Result<MetricExpr, ParseError> {
        match self.peek().clone() {
            Token::Number(n) => {
                self.next();
                Ok(MetricExpr::Constant(n))
            }
            Token::Minus => {
                self.next();
                match self.metric_primary()? {
                    MetricExpr::Constant(n) => Ok(MetricExpr::Constant(-n)),
                    _ => Err(self.unsupported("a negated metric query")),
                }
            }
            Token::LParen => {
                self.next();
                let inner = self.metric_sum()?;
                self.expect(Token::RParen, "\")\"")?;
                Ok(inner)
            }
            Token::LBrace => Err(self.error_here(
                "syntax error: a log query cannot be used here: wrap it in a range function such as count_over_time({...}[5m])".into(),
            )),
            Token::Ident(name) => self.call(&name),
            _ => Err(self.unexpected("a metric query or a stream selector")),
        }
    }

    fn call(&mut self, name: &str) -> Result<MetricExpr, ParseError> {
        if name == "vector" {
            self.next();
            self.expect(Token::LParen, "\"(\"")?;
            let value = match self.next() {
                Token::Number(n) => n,
                _ => {
                    self.at -= 1;
                    return Err(self.unexpected("a number"));
                }
            };
            self.expect(Token::RParen, "\")\"")?;
            return Ok(MetricExpr::Constant(value));
        }
        if let Some(function) = range_function(name) {
            self.next();
            self.expect(Token::LParen, "\"(\"")?;
            let log = self.log_expr()?;
            if *self.peek() != Token::LBracket {
                return Err(self.unexpected("a range such as [5m]"));
            }
            self.next();
            let range_ns = match self.next() {
                Token::Duration(ns) if ns > 0 => ns,
                _ => {
                    self.at -= 1;
                    return Err(self.unexpected("a duration such as 5m"));
                }
            };
            self.expect(Token::RBracket, "\"]\"")?;
            if matches!(self.peek(), Token::Ident(w) if w == "offset") {
                return Err(self.unsupported("the \"offset\" modifier"));
            }
            self.expect(Token::RParen, "\")\"")?;
            return Ok(MetricExpr::Range {
                function,
                log,
                range_ns,
            });
        }
        if let Some(op) = aggregate_op(name) {
            self.next();
            let mut grouping = self.grouping()?;
            self.expect(Token::LParen, "\"(\"")?;
            let parameter = if matches!(op, AggregateOp::Topk | AggregateOp::Bottomk) {
                let k = match self.next() {
                    Token::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
                    _ => {
                        self.at -= 1;
                        return Err(self.unexpected("a positive whole number (the k of topk)"));
                    }
                };
                self.expect(Token::Comma, "\",\"")?;
                Some(k)
            } else {
                None
            };
            let inner = self.metric_sum()?;
            self.expect(Token::RParen, "\")\"")?;
            if grouping == Grouping::All {
                grouping = self.grouping()?;
            }
            return Ok(MetricExpr::Aggregate {
                op,
                grouping,
                parameter,
                inner: Box::new(inner),
            });
        }
        if is_unsupported_function(name) {
            return Err(self.unsupported(format!("the function \"{name}\"")));
        }
        Err(self.error_here(format!(
            "syntax error: unknown function {name:?}: otelite knows count_over_time, rate, bytes_over_time, bytes_rate, sum, count, min, max, avg, topk, bottomk and vector"
        )))
    }

    fn grouping(&mut self) -> Result<Grouping, ParseError> {
        let without = match self.peek() {
            Token::Ident(w) if w == "by" => false,
            Token::Ident(w) if w == "without" => true,
            _ => return Ok(Grouping::All),
        };
        self.next();
        self.expect(Token::LParen, "\"(\"")?;
        let mut labels = Vec::new();
        while *self.peek() != Token::RParen {
            labels.push(self.ident("a label name")?);
            if *self.peek() == Token::Comma {
                self.next();
            } else if *self.peek() != Token::RParen {
                return Err(self.unexpected("\",\" or \")\""));
            }
        }
        self.next();
        Ok(if without {
            Grouping::Without(labels)
        } else {
            Grouping::By(labels)
        })
    }

    fn log_expr(&mut self) -> Result<LogExpr, ParseError> {
        let selector = self.selector()?;
        let mut pipeline = Vec::new();
        loop {
            let op = match self.peek() {
                Token::PipeEq => LineOp::Contains,
                Token::Neq => LineOp::NotContains,
                Token::PipeTilde => LineOp::Matches,
                Token::NotTilde => LineOp::NotMatches,
                Token::Pipe => {
                    self.next();
                    pipeline.push(self.pipe_stage()?);
                    continue;
                }
                _ => break,
            };
            self.next();
            let at = self.at;
            let text = self.string("a string")?;
            if matches!(self.peek(), Token::Ident(w) if w == "or") {
                return Err(self.unsupported("\"or\" between line filters"));
            }
            let regex = match op {
                LineOp::Matches | LineOp::NotMatches => Some(self.regex_at(at, &text, false)?),
                _ => None,
            };
            pipeline.push(Stage::LineFilter(LineFilter { op, text, regex }));
        }
        Ok(LogExpr { selector, pipeline })
    }

    fn regex_at(&self, at: usize, pattern: &str, anchored: bool) -> Result<Regex, ParseError> {
        let source = if anchored {
            format!("^(?:{pattern})$")
        } else {
            pattern.to_string()
        };
        Regex::new(&source).map_err(|e| {
            let here = &self.tokens[at];
            syntax(
                here.line,
                here.col,
                format!("invalid regular expression {pattern:?}: {e}"),
            )
        })
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, ParseError> {
        self.expect(Token::LBrace, "\"{\"")?;
        let mut matchers = Vec::new();
        while *self.peek() != Token::RBrace {
            matchers.push(self.matcher(true)?);
            match self.peek() {
                Token::Comma => {
                    self.next();
                }
                Token::RBrace => {}
                _ => return Err(self.unexpected("\",\" or \"}\"")),
            }
        }
        self.next();
        if matchers.is_empty() {
            return Err(self.error_here(
                "syntax error: a stream selector needs at least one matcher, e.g. {service_name=\"cart\"}".into(),
            ));
        }
        if matchers.iter().all(|m| m.matches("")) {
            return Err(self.error_here(
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will".into(),
            ));
        }
        Ok(matchers)
    }

    /// `name op "value"`; in a selector only `= != =~ !~` exist.
    fn matcher(&mut self, in_selector: bool) -> Result<Matcher, ParseError> {
        let name = self.ident("a label name")?;
        let op = match self.peek() {
            Token::Eq => MatchOp::Eq,
            Token::Neq => MatchOp::Neq,
            Token::EqTilde => MatchOp::Re,
            Token::NotTilde => MatchOp::Nre,
            _ if in_selector => return Err(self.unexpected("=, !=, =~ or !~")),
            _ => return Err(self.unexpected("a comparison")),
        };
        self.next();
        let at = self.at;
        let value = self.string("a string")?;
        let regex = match op {
            MatchOp::Re | MatchOp::Nre => Some(self.regex_at(at, &value, true)?),
            _ => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    fn pipe_stage(&mut self) -> Result<Stage, ParseError> {
        if *self.peek() == Token::LParen {
            return Ok(Stage::LabelFilter(self.predicate_or()?));
        }
        let Token::Ident(name) = self.peek().clone() else {
            return Err(self.unexpected("a parser, a label filter or line_format"));
        };
        if let Some(what) = unsupported_stage(&name) {
            return Err(self.unsupported(what));
        }
        let followed_by_comparison = matches!(
            self.peek_at(1),
            Token::Eq
                | Token::Neq
                | Token::EqTilde
                | Token::NotTilde
                | Token::EqEq
                | Token::Gt
                | Token::Ge
                | Token::Lt
                | Token::Le
        );
        match name.as_str() {
            "json" | "logfmt" if !followed_by_comparison => {
                self.next();
                if matches!(self.peek(), Token::Ident(_)) || matches!(self.peek(), Token::Minus) {
                    return Err(self.unsupported(format!("\"{name}\" with parameters or flags")));
                }
                Ok(if name == "json" {
                    Stage::Json
                } else {
                    Stage::Logfmt
                })
            }
            "line_format" if !followed_by_comparison => {
                self.next();
                let at = self.at;
                let text = self.string("a template string")?;
                let template = template(&text).map_err(|what| {
                    let here = &self.tokens[at];
                    ParseError {
                        line: here.line,
                        col: here.col,
                        kind: ParseErrorKind::Unsupported(what),
                    }
                })?;
                Ok(Stage::LineFormat(template))
            }
            "label_format" if !followed_by_comparison => {
                self.next();
                self.label_format()
            }
            "drop" | "keep" if !followed_by_comparison => {
                self.next();
                let choices = self.label_choices()?;
                Ok(if name == "drop" {
                    Stage::Drop(choices)
                } else {
                    Stage::Keep(choices)
                })
            }
            _ => Ok(Stage::LabelFilter(self.predicate_or()?)),
        }
    }

    /// `a, b="x", c=~"y"` after `drop` or `keep`.
    fn label_choices(&mut self) -> Result<Vec<LabelChoice>, ParseError> {
        let mut choices = Vec::new();
        loop {
            let matcher = matches!(
                self.peek_at(1),
                Token::Eq | Token::Neq | Token::EqTilde | Token::NotTilde
            );
            if matcher {
                let matcher = self.matcher(false)?;
                choices.push(LabelChoice {
                    name: matcher.name.clone(),
                    matcher: Some(matcher),
                });
            } else {
                choices.push(LabelChoice {
                    name: self.ident("a label name")?,
                    matcher: None,
                });
            }
            if *self.peek() != Token::Comma {
                return Ok(choices);
            }
            self.next();
        }
    }

    /// `dst=src, dst="template", ...` after `label_format`.
    fn label_format(&mut self) -> Result<Stage, ParseError> {
        let mut formats: Vec<LabelFormat> = Vec::new();
        loop {
            let at = self.at;
            let dst = self.ident("a label name")?;
            if formats.iter().any(|f| match f {
                LabelFormat::Rename { dst: d, .. } | LabelFormat::Template { dst: d, .. } => {
                    *d == dst
                }
            }) {
                let here = &self.tokens[at];
                return Err(syntax(
                    here.line,
                    here.col,
                    format!("multiple label name '{dst}' not allowed in a single format operation"),
                ));
            }
            self.expect(Token::Eq, "\"=\"")?;
            match self.peek().clone() {
                Token::Ident(src) => {
                    self.next();
                    formats.push(LabelFormat::Rename { dst, src });
                }
                Token::Str(text) => {
                    let at = self.at;
                    self.next();
                    let template = template(&text).map_err(|what| {
                        let here = &self.tokens[at];
                        ParseError {
                            line: here.line,
                            col: here.col,
                            kind: ParseErrorKind::Unsupported(what),
                        }
                    })?;
                    formats.push(LabelFormat::Template { dst, template });
                }
                _ => return Err(self.unexpected("a label name or a template string")),
            }
            if *self.peek() != Token::Comma {
                return Ok(Stage::LabelFormat(formats));
            }
            self.next();
        }
    }

    fn predicate_or(&mut self) -> Result<LabelPredicate, ParseError> {
        let mut left = self.predicate_and()?;
        while matches!(self.peek(), Token::Ident(w) if w == "or") {
            self.next();
            let right = self.predicate_and()?;
            left = LabelPredicate::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn predicate_and(&mut self) -> Result<LabelPredicate, ParseError> {
        let mut left = self.predicate_primary()?;
        loop {
            let joined = match self.peek() {
                Token::Ident(w) if w == "and" => true,
                Token::Comma => true,
                // `| a="x" b="y"`: Loki reads juxtaposed filters as "and" too.
                Token::Ident(w) if w != "or" => false,
                Token::LParen => false,
                _ => break,
            };
            if joined {
                self.next();
            }
            let right = self.predicate_primary()?;
            left = LabelPredicate::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn predicate_primary(&mut self) -> Result<LabelPredicate, ParseError> {
        if *self.peek() == Token::LParen {
            self.next();
            let inner = self.predicate_or()?;
            self.expect(Token::RParen, "\")\"")?;
            return Ok(inner);
        }
        let name = self.ident("a label name")?;
        let op = self.peek().clone();
        let value = self.peek_at(1).clone();
        let cmp = match op {
            Token::EqEq => CmpOp::Eq,
            Token::Eq if !matches!(value, Token::Str(_)) => CmpOp::Eq,
            Token::Neq if !matches!(value, Token::Str(_)) => CmpOp::Neq,
            Token::Gt => CmpOp::Gt,
            Token::Ge => CmpOp::Ge,
            Token::Lt => CmpOp::Lt,
            Token::Le => CmpOp::Le,
            Token::Eq | Token::Neq | Token::EqTilde | Token::NotTilde => {
                self.at -= 1;
                return Ok(LabelPredicate::Text(self.matcher(false)?));
            }
            _ => return Err(self.unexpected("=, !=, =~, !~, ==, >, >=, < or <=")),
        };
        self.next();
        let sign = if *self.peek() == Token::Minus {
            self.next();
            -1.0
        } else {
            1.0
        };
        let (value, duration) = match self.next() {
            Token::Number(n) => (sign * n, false),
            Token::Duration(ns) => (sign * ns as f64 / 1e9, true),
            Token::OtherUnit(text) => {
                self.at -= 1;
                return Err(self.unsupported(format!("the bytes label filter ({text})")));
            }
            _ => {
                self.at -= 1;
                return Err(self.unexpected("a number or a duration"));
            }
        };
        Ok(LabelPredicate::Number {
            name,
            op: cmp,
            value,
            duration,
        })
    }
}

/// Reads a `line_format` template: text with `{{.label}}`, `{{ .label }}` and `{{__line__}}`;
/// any other Go template action is refused with what it is.
fn template(text: &str) -> Result<Template, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(TemplatePart::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| "a line_format template with an unclosed \"{{\"".to_string())?;
        let action = after[..close].trim_matches(|c: char| c == '-' || c.is_whitespace());
        let is_name = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
        if action == "__line__" {
            parts.push(TemplatePart::Line);
        } else if let Some(label) = action.strip_prefix('.').filter(|l| is_name(l)) {
            parts.push(TemplatePart::Label(label.to_string()));
        } else {
            return Err(format!(
                "the line_format template action \"{{{{{}}}}}\" (only {{{{.label}}}} and {{{{__line__}}}})",
                after[..close].trim()
            ));
        }
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_string()));
    }
    Ok(Template(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(query: &str) -> LogExpr {
        match parse(query) {
            Ok(Expr::Log(log)) => log,
            other => panic!("{query}: {other:?}"),
        }
    }

    fn metric(query: &str) -> MetricExpr {
        match parse(query) {
            Ok(Expr::Metric(m)) => m,
            other => panic!("{query}: {other:?}"),
        }
    }

    fn error(query: &str) -> String {
        match parse(query) {
            Err(e) => e.to_string(),
            Ok(expr) => panic!("{query} parsed: {expr:?}"),
        }
    }

    #[test]
    fn selectors_parse_every_matcher_kind() {
        let expr = log(r#"{service_name="cart", env!="prod",pod=~"cart-.*" , zone!~`eu|us`}"#);
        let shape: Vec<(&str, MatchOp, &str)> = expr
            .selector
            .iter()
            .map(|m| (m.name.as_str(), m.op, m.value.as_str()))
            .collect();
        assert_eq!(
            shape,
            [
                ("service_name", MatchOp::Eq, "cart"),
                ("env", MatchOp::Neq, "prod"),
                ("pod", MatchOp::Re, "cart-.*"),
                ("zone", MatchOp::Nre, "eu|us"),
            ]
        );
        assert!(expr.pipeline.is_empty());
        let pod = &expr.selector[2];
        assert!(pod.matches("cart-1"));
        assert!(!pod.matches("my-cart-1"), "label regexes are anchored");
        assert!(
            expr.selector[3].matches("eu-west"),
            "eu|us is anchored as a whole"
        );
        assert!(!expr.selector[3].matches("eu"));
    }

    #[test]
    fn pipelines_parse_in_order() {
        let expr = log(
            r#"{a="b"} |= "GET" != `health` |~ "5\\d\\d" !~ "(?i)bot" | json | logfmt
               | status >= 500 and method="GET" or latency > 250ms, x == 1
               | line_format "{{.method}} {{ .status }} {{__line__}}""#,
        );
        let stages = &expr.pipeline;
        assert_eq!(stages.len(), 8, "{stages:?}");
        let filters: Vec<(LineOp, &str)> = stages[..4]
            .iter()
            .map(|s| match s {
                Stage::LineFilter(f) => (f.op, f.text.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            filters,
            [
                (LineOp::Contains, "GET"),
                (LineOp::NotContains, "health"),
                (LineOp::Matches, "5\\d\\d"),
                (LineOp::NotMatches, "(?i)bot"),
            ]
        );
        assert!(matches!(stages[4], Stage::Json));
        assert!(matches!(stages[5], Stage::Logfmt));
        // `and` (and `,`) bind tighter than `or`.
        let Stage::LabelFilter(LabelPredicate::Or(left, right)) = &stages[6] else {
            panic!("{:?}", stages[6]);
        };
        assert!(matches!(**left, LabelPredicate::And(..)), "{left:?}");
        let LabelPredicate::And(latency, x) = &**right else {
            panic!("{right:?}")
        };
        assert!(matches!(
            **latency,
            LabelPredicate::Number { op: CmpOp::Gt, value, duration: true, .. } if value == 0.25
        ));
        assert!(matches!(**x, LabelPredicate::Number { op: CmpOp::Eq, value, .. } if value == 1.0));
        let Stage::LineFormat(template) = &stages[7] else {
            panic!()
        };
        assert_eq!(
            template.0,
            [
                TemplatePart::Label("method".into()),
                TemplatePart::Text(" ".into()),
                TemplatePart::Label("status".into()),
                TemplatePart::Text(" ".into()),
                TemplatePart::Line,
            ]
        );
        let Stage::LineFilter(f) = &stages[2] else {
            unreachable!()
        };
        assert!(f.keeps("GET /x 503"), "line regexes are not anchored");
    }

    #[test]
    fn metric_queries_parse_with_grouping_before_or_after() {
        let MetricExpr::Aggregate {
            op,
            grouping,
            inner,
            ..
        } = metric(r#"sum by (service_name, level) (rate({a="b"} |= "x" [5m]))"#)
        else {
            panic!()
        };
        assert_eq!(op, AggregateOp::Sum);
        assert_eq!(
            grouping,
            Grouping::By(vec!["service_name".into(), "level".into()])
        );
        assert!(matches!(
            *inner,
            MetricExpr::Range { function: RangeFunction::Rate, range_ns, ref log }
                if range_ns == 300_000_000_000 && log.pipeline.len() == 1
        ));
        let MetricExpr::Aggregate { grouping, .. } =
            metric(r#"count(bytes_over_time({a="b"}[1h30m])) without (pod)"#)
        else {
            panic!()
        };
        assert_eq!(grouping, Grouping::Without(vec!["pod".into()]));
        let MetricExpr::Aggregate { op, parameter, .. } =
            metric(r#"topk(3, sum by (a) (count_over_time({a="b"}[1d])))"#)
        else {
            panic!()
        };
        assert_eq!((op, parameter), (AggregateOp::Topk, Some(3)));
    }

    #[test]
    fn grafanas_health_check_folds_to_a_constant() {
        assert!(matches!(metric("vector(1)+vector(1)"), MetricExpr::Constant(v) if v == 2.0));
        assert!(matches!(metric("2 * (3 - 1)"), MetricExpr::Constant(v) if v == 4.0));
    }

    #[test]
    fn bad_queries_say_where_and_why() {
        assert_eq!(
            error(r#"{a="b""#),
            "parse error at line 1, col 7: syntax error: unexpected end of input, expecting \",\" or \"}\""
        );
        assert_eq!(
            error("{a=\"b\"}\n  |= 5"),
            "parse error at line 2, col 6: syntax error: unexpected NUMBER 5, expecting a string"
        );
        let regex = error(r#"{a=~"(unclosed"}"#);
        assert!(
            regex.starts_with(
                "parse error at line 1, col 5: invalid regular expression \"(unclosed\""
            ),
            "{regex}"
        );
        let unknown = error(r#"frobnicate({a="b"}[5m])"#);
        assert!(
            unknown.starts_with(
                "parse error at line 1, col 1: syntax error: unknown function \"frobnicate\""
            ),
            "{unknown}"
        );
        assert!(error(r#"{a=""}"#).contains("at least one regexp or equality matcher"));
        assert!(error("{}").contains("at least one matcher"));
        assert!(error(r#"count_over_time({a="b"})"#).contains("expecting a range such as [5m]"));
        assert!(error(r#"{a="b"} |= "x" extra"#).contains("unexpected IDENTIFIER \"extra\""));
    }

    #[test]
    fn unsupported_logql_names_the_part() {
        let cases = [
            (
                r#"{a="b"} | unwrap latency"#,
                "col 11: unsupported LogQL: the \"unwrap\" expression",
            ),
            (
                r#"sum_over_time({a="b"} | unwrap latency [5m])"#,
                "col 1: unsupported LogQL: the function \"sum_over_time\"",
            ),
            (r#"{a="b"} | pattern "<ip>""#, "the \"pattern\" parser"),
            (r#"{a="b"} | regexp "(?P<x>.)""#, "the \"regexp\" parser"),
            (r#"{a="b"} | decolorize"#, "the \"decolorize\" stage"),
            (
                r#"count_over_time({a="b"}[5m] offset 1h)"#,
                "col 29: unsupported LogQL: the \"offset\" modifier",
            ),
            (
                r#"sum(rate({a="b"}[1m])) / sum(rate({a="c"}[1m]))"#,
                "col 24: unsupported LogQL: a binary operation on a metric query",
            ),
            (
                r#"sum(rate({a="b"}[1m])) > 5"#,
                "a binary operation on a metric query",
            ),
            (
                r#"quantile_over_time(0.9, {a="b"}[1m])"#,
                "the function \"quantile_over_time\"",
            ),
            (r#"{a="b"} | size > 10KB"#, "the bytes label filter (10KB)"),
            (r#"{a="b"} | json first="a""#, "\"json\" with parameters"),
            (
                r#"{a="b"} | line_format "{{ .a | upper }}""#,
                "the line_format template action",
            ),
            (r#"{a="b"} |= "x" or "y""#, "\"or\" between line filters"),
        ];
        for (query, part) in cases {
            let message = error(query);
            assert!(
                message.contains(part) && message.contains("is not implemented by otelite"),
                "{query}: {message}"
            );
        }
    }

    #[test]
    fn label_format_renames_and_templates() {
        let expr = log(r#"{a="b"} | label_format svc=service_name, line="{{.a}}-{{__line__}}""#);
        let Stage::LabelFormat(formats) = &expr.pipeline[0] else {
            panic!("{:?}", expr.pipeline)
        };
        assert_eq!(
            formats[0],
            LabelFormat::Rename {
                dst: "svc".into(),
                src: "service_name".into()
            }
        );
        assert!(
            matches!(&formats[1], LabelFormat::Template { dst, template }
            if dst == "line" && template.0.len() == 3)
        );
        assert!(error(r#"{a="b"} | label_format x=a, x=b"#).contains("multiple label name 'x'"));
    }

    #[test]
    fn drop_and_keep_name_labels_with_optional_conditions() {
        let expr = log(r#"{a="b"} | drop __error__, level="debug" | keep a, b"#);
        let Stage::Drop(dropped) = &expr.pipeline[0] else {
            panic!("{:?}", expr.pipeline)
        };
        assert!(dropped[0].names("__error__", "JSONParserErr"));
        assert!(dropped[1].names("level", "debug"));
        assert!(!dropped[1].names("level", "info"));
        let Stage::Keep(kept) = &expr.pipeline[1] else {
            panic!()
        };
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn numeric_filters_take_negative_numbers() {
        let expr = log(r#"{a="b"} | delta > -1.5"#);
        assert!(matches!(&expr.pipeline[0],
            Stage::LabelFilter(LabelPredicate::Number { value, .. }) if *value == -1.5));
    }

    #[test]
    fn a_label_named_like_a_parser_is_still_a_label_filter() {
        let expr = log(r#"{a="b"} | json="x""#);
        assert!(
            matches!(&expr.pipeline[0], Stage::LabelFilter(LabelPredicate::Text(m)) if m.name == "json")
        );
    }

    #[test]
    fn durations_read_like_prometheus() {
        assert_eq!(duration_ns("5m"), Some(300_000_000_000));
        assert_eq!(duration_ns("1h30m"), Some(5_400_000_000_000));
        assert_eq!(duration_ns("250ms"), Some(250_000_000));
        assert_eq!(duration_ns("1d"), Some(86_400_000_000_000));
        assert_eq!(duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(duration_ns("5"), None);
        assert_eq!(duration_ns("5KB"), None);
    }
}
