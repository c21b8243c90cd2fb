//! How the span detail shows what a span carries: typed attribute values, exception events and
//! status. Everything returns text; the component only lays it out.

use otelite_api::traces::{AnyValue, Event, KeyValue, SpanKind, StatusCode};

/// An attribute value as text, with the name of its OTLP type for a badge.
pub fn value_text(value: &AnyValue) -> String {
    match value {
        AnyValue::Empty => "(empty)".to_owned(),
        AnyValue::String(s) => s.clone(),
        AnyValue::Bool(b) => b.to_string(),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => double_text(*d),
        AnyValue::Bytes(hex) => format!("0x{hex}"),
        AnyValue::Array(items) => {
            let items: Vec<_> = items.iter().map(nested_text).collect();
            format!("[{}]", items.join(", "))
        }
        AnyValue::Map(entries) => {
            let entries: Vec<_> = entries
                .iter()
                .map(|kv| format!("{}: {}", kv.key, nested_text(&kv.value)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

/// Inside arrays and maps strings are quoted, so `["a, b"]` and `["a", "b"]` differ.
fn nested_text(value: &AnyValue) -> String {
    match value {
        AnyValue::String(s) => format!("{s:?}"),
        other => value_text(other),
    }
}

/// Doubles keep a decimal point (`3.0`, not `3`), so they read as doubles next to ints.
fn double_text(d: f64) -> String {
    if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e16 {
        format!("{d:.1}")
    } else {
        d.to_string()
    }
}

/// `string`, `int`, `double`, `bool`, `bytes`, `array`, `map` or `empty`.
pub fn value_type(value: &AnyValue) -> &'static str {
    match value {
        AnyValue::Empty => "empty",
        AnyValue::String(_) => "string",
        AnyValue::Bool(_) => "bool",
        AnyValue::Int(_) => "int",
        AnyValue::Double(_) => "double",
        AnyValue::Bytes(_) => "bytes",
        AnyValue::Array(_) => "array",
        AnyValue::Map(_) => "map",
    }
}

/// The value of attribute `key` as text, if the span (or event, or resource) has it.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

/// What an exception event says, by the OpenTelemetry semantic conventions
/// (`exception.type`, `exception.message`, `exception.stacktrace`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionView {
    pub exception_type: Option<String>,
    pub message: Option<String>,
    pub stacktrace: Option<String>,
}

/// The exception `event` records, if it records one: an event named `exception`, or any event
/// carrying `exception.type` or `exception.message`.
pub fn exception(event: &Event) -> Option<ExceptionView> {
    let text = |key| attribute(&event.attributes, key).map(value_text);
    let view = ExceptionView {
        exception_type: text("exception.type"),
        message: text("exception.message"),
        stacktrace: text("exception.stacktrace"),
    };
    let named = event.name == "exception";
    (named || view.exception_type.is_some() || view.message.is_some()).then_some(view)
}

/// The attributes of an exception event other than the three [`ExceptionView`] shows.
pub fn other_exception_attributes(event: &Event) -> impl Iterator<Item = &KeyValue> {
    event.attributes.iter().filter(|kv| {
        !matches!(
            kv.key.as_str(),
            "exception.type" | "exception.message" | "exception.stacktrace"
        )
    })
}

/// `Server`, `Client`, ... as the detail panel labels kinds.
pub fn kind_label(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "Unspecified",
        SpanKind::Internal => "Internal",
        SpanKind::Server => "Server",
        SpanKind::Client => "Client",
        SpanKind::Producer => "Producer",
        SpanKind::Consumer => "Consumer",
    }
}

/// `Unset`, `Ok` or `Error`.
pub fn status_label(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Unset => "Unset",
        StatusCode::Ok => "Ok",
        StatusCode::Error => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value,
        }
    }

    fn event(name: &str, attributes: Vec<KeyValue>) -> Event {
        Event {
            time_unix_nano: 1,
            name: name.to_owned(),
            attributes,
            dropped_attributes_count: 0,
        }
    }

    #[test]
    fn values_keep_their_type_in_text() {
        assert_eq!(value_text(&AnyValue::Int(500)), "500");
        assert_eq!(value_text(&AnyValue::Double(3.0)), "3.0");
        assert_eq!(value_text(&AnyValue::Double(0.25)), "0.25");
        assert_eq!(value_text(&AnyValue::Bool(true)), "true");
        assert_eq!(value_text(&AnyValue::Bytes("00ff".into())), "0x00ff");
        assert_eq!(
            value_text(&AnyValue::Array(vec![
                AnyValue::String("a, b".into()),
                AnyValue::Int(2)
            ])),
            r#"["a, b", 2]"#
        );
        assert_eq!(
            value_text(&AnyValue::Map(vec![kv("k", AnyValue::String("v".into()))])),
            r#"{k: "v"}"#
        );
        assert_eq!(value_type(&AnyValue::Int(1)), "int");
        assert_eq!(value_type(&AnyValue::Empty), "empty");
    }

    #[test]
    fn exception_events_are_recognised() {
        let thrown = event(
            "exception",
            vec![
                kv("exception.type", AnyValue::String("PaymentDeclined".into())),
                kv("exception.message", AnyValue::String("card expired".into())),
                kv(
                    "exception.stacktrace",
                    AnyValue::String("at pay()\nat main()".into()),
                ),
                kv("exception.escaped", AnyValue::Bool(true)),
            ],
        );
        let view = exception(&thrown).unwrap();
        assert_eq!(view.exception_type.as_deref(), Some("PaymentDeclined"));
        assert_eq!(view.message.as_deref(), Some("card expired"));
        assert_eq!(view.stacktrace.as_deref(), Some("at pay()\nat main()"));
        let rest: Vec<_> = other_exception_attributes(&thrown)
            .map(|kv| &kv.key)
            .collect();
        assert_eq!(rest, ["exception.escaped"]);

        assert_eq!(exception(&event("cache miss", vec![])), None);
        let unnamed = event(
            "error",
            vec![kv("exception.message", AnyValue::String("boom".into()))],
        );
        assert_eq!(
            exception(&unnamed).unwrap().message.as_deref(),
            Some("boom")
        );
    }
}
