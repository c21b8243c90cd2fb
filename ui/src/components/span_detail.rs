//! The detail panel of the span chosen in the waterfall: when and how it ran, its attributes
//! with their types, its events (exceptions shown as type, message and stack trace), its links,
//! and the resource and instrumentation scope it came from.

use std::sync::Arc;

use leptos::prelude::*;
use otelite_api::traces::{Event, KeyValue, StatusCode};

use crate::app::RouteLink;
use crate::clock::utc_offset_minutes;
use crate::components::service_chip::ServiceChip;
use crate::logic::query_string;
use crate::logic::span_tree::{TraceLayout, duration_ns, span_service};
use crate::logic::span_values::{
    exception, kind_label, other_exception_attributes, status_label, value_text, value_type,
};
use crate::logic::{Route, format_nanos, format_timestamp, wrap_points};

#[component]
pub fn SpanDetail(
    layout: Arc<TraceLayout>,
    span: usize,
    /// Selects another span of the same trace (a link to it).
    select: Callback<usize>,
    close: Callback<()>,
) -> impl IntoView {
    let trace = &layout.trace;
    let s = &trace.spans[span];
    let service = span_service(trace, s).to_owned();
    // Component children are closures that outlive this function: they get owned copies.
    let resource = trace.resources.get(s.resource).cloned();
    let scope = trace.scopes.get(s.scope).cloned();
    let attributes = s.attributes.clone();
    let offset = utc_offset_minutes(s.start_unix_nano);
    let since_trace = s.start_unix_nano.saturating_sub(layout.overview.start_ns);
    let error = s.status.code == StatusCode::Error;
    let parent = (!s.parent_span_id.is_empty()).then(|| {
        let id = s.parent_span_id.clone();
        match layout.span_index(&id) {
            Some(index) => view! {
                <button type="button" class="link-button mono" on:click=move |_| select.run(index)>
                    {id}
                </button>
            }
            .into_any(),
            None => view! {
                <span class="mono">{id}</span>
                " "
                <span class="badge badge-muted">"not in this trace"</span>
            }
            .into_any(),
        }
    });

    let events = s
        .events
        .iter()
        .map(|event| {
            let at = event.time_unix_nano.saturating_sub(s.start_unix_nano);
            view! { <EventView event=event.clone() at/> }
        })
        .collect_view();
    let links = s
        .links
        .iter()
        .map(|link| {
            let same_trace = link.trace_id == trace.trace_id;
            let target = view! {
                <span class="mono">{link.trace_id.clone()}</span>
                " / "
                <span class="mono">{link.span_id.clone()}</span>
            };
            let opener = if same_trace {
                match layout.span_index(&link.span_id) {
                    Some(index) => view! {
                        <button type="button" class="link-button" on:click=move |_| select.run(index)>
                            {target}
                        </button>
                    }
                    .into_any(),
                    None => target.into_any(),
                }
            } else {
                let query = query_string::build([("span", link.span_id.clone())]);
                view! {
                    <RouteLink to=Route::Trace(link.trace_id.clone()) class="" query>
                        {target}
                    </RouteLink>
                }
                .into_any()
            };
            view! {
                <li class="link-item">
                    {opener}
                    <Attributes attributes=link.attributes.clone()/>
                </li>
            }
        })
        .collect_view();

    view! {
        <aside class="card span-detail" data-testid="span-detail" aria-label="Span detail">
            <header class="detail-head">
                <div>
                    <h2 class="detail-title">{breakable(&s.name)}</h2>
                    <ServiceChip service=service/>
                </div>
                <button
                    type="button"
                    class="icon-button"
                    aria-label="Close span detail"
                    on:click=move |_| close.run(())
                >
                    "×"
                </button>
            </header>
            <dl class="detail-facts">
                <dt>"Duration"</dt>
                <dd>{format_nanos(duration_ns(s))}</dd>
                <dt>"Start"</dt>
                <dd>
                    {format!("+{}", format_nanos(since_trace))}
                    <span class="muted">" · " {format_timestamp(s.start_unix_nano, offset)}</span>
                </dd>
                <dt>"Kind"</dt>
                <dd>{kind_label(s.kind)}</dd>
                <dt>"Status"</dt>
                <dd class:status-error=error data-testid="span-status">
                    {status_label(s.status.code)}
                    {(!s.status.message.is_empty()).then(|| format!(": {}", s.status.message))}
                </dd>
                <dt>"Span ID"</dt>
                <dd class="mono">{s.span_id.clone()}</dd>
                <dt>"Parent"</dt>
                <dd>{parent.unwrap_or_else(|| view! { <span class="muted">"none (root)"</span> }.into_any())}</dd>
                {(!s.trace_state.is_empty())
                    .then(|| {
                        view! {
                            <dt>"Trace state"</dt>
                            <dd class="mono">{s.trace_state.clone()}</dd>
                        }
                    })}
            </dl>
            <DetailSection title="Attributes" count=s.attributes.len() dropped=s.dropped_attributes_count>
                <Attributes attributes/>
            </DetailSection>
            {(!s.events.is_empty() || s.dropped_events_count > 0)
                .then(|| {
                    view! {
                        <DetailSection title="Events" count=s.events.len() dropped=s.dropped_events_count>
                            <ol class="events">{events}</ol>
                        </DetailSection>
                    }
                })}
            {(!s.links.is_empty() || s.dropped_links_count > 0)
                .then(|| {
                    view! {
                        <DetailSection title="Links" count=s.links.len() dropped=s.dropped_links_count>
                            <ul class="links">{links}</ul>
                        </DetailSection>
                    }
                })}
            {resource
                .map(|r| {
                    let count = r.attributes.len();
                    view! {
                        <DetailSection
                            title="Resource"
                            count
                            dropped=r.dropped_attributes_count
                        >
                            <Attributes attributes=r.attributes/>
                        </DetailSection>
                    }
                })}
            {scope
                .map(|scope| {
                    let name = if scope.name.is_empty() { "(unnamed)".to_owned() } else { scope.name };
                    let version = (!scope.version.is_empty()).then(|| format!(" {}", scope.version));
                    let attributes = scope.attributes;
                    view! {
                        <DetailSection title="Instrumentation scope">
                            <p class="mono scope-name">{name} {version}</p>
                            {(!attributes.is_empty()).then(|| view! { <Attributes attributes/> })}
                        </DetailSection>
                    }
                })}
        </aside>
    }
}

#[component]
pub fn DetailSection(
    title: &'static str,
    /// How many items the section lists, shown beside the title.
    #[prop(optional)]
    count: Option<usize>,
    /// How many the sender dropped, if any.
    #[prop(optional)]
    dropped: u32,
    children: Children,
) -> impl IntoView {
    view! {
        <section class="detail-section">
            <h3>
                {title}
                {count.map(|n| view! { <span class="muted detail-count">{n}</span> })}
                {(dropped > 0).then(|| view! { <span class="badge badge-muted">{format!("{dropped} dropped")}</span> })}
            </h3>
            {children()}
        </section>
    }
}

/// `text` with a line-break opportunity after each separator (see [`wrap_points`]), so long
/// dotted keys and span names wrap between their parts rather than inside a word.
pub fn breakable(text: &str) -> impl IntoView + use<> {
    wrap_points(text)
        .into_iter()
        .map(|piece| view! { {piece.to_owned()} <wbr/> })
        .collect_view()
}

/// Key, value and type of each attribute.
#[component]
pub fn Attributes(attributes: Vec<KeyValue>) -> impl IntoView {
    if attributes.is_empty() {
        return view! { <p class="muted">"None"</p> }.into_any();
    }
    view! {
        <table class="attributes">
            <tbody>
                {attributes
                    .into_iter()
                    .map(|kv| {
                        let kind = value_type(&kv.value);
                        let key = kv.key.clone();
                        view! {
                            <tr data-key=key>
                                <th scope="row">{breakable(&kv.key)}</th>
                                <td>
                                    <span class=format!("value value-{kind}")>{value_text(&kv.value)}</span>
                                    <span class="value-type">{kind}</span>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// One event, `at` nanoseconds into its span. Exceptions read as type, message and stack trace.
#[component]
fn EventView(event: Event, at: u64) -> impl IntoView {
    let thrown = exception(&event);
    let head = view! {
        <div class="event-head">
            <span class="event-name">{event.name.clone()}</span>
            <span class="muted">{format!("+{}", format_nanos(at))}</span>
        </div>
    };
    match thrown {
        Some(ex) => {
            let rest: Vec<KeyValue> = other_exception_attributes(&event).cloned().collect();
            view! {
                <li class="event exception" data-testid="exception">
                    {head}
                    <p class="exception-title">
                        {ex.exception_type.map(|t| view! { <strong data-testid="exception-type">{t}</strong> })}
                        {ex.message.map(|m| view! { <span data-testid="exception-message">{m}</span> })}
                    </p>
                    {ex.stacktrace.map(|st| view! { <pre class="stacktrace" data-testid="stacktrace">{st}</pre> })}
                    {(!rest.is_empty()).then(|| view! { <Attributes attributes=rest/> })}
                </li>
            }
            .into_any()
        }
        None => view! {
            <li class="event">
                {head}
                {(!event.attributes.is_empty()).then(|| view! { <Attributes attributes=event.attributes.clone()/> })}
            </li>
        }
        .into_any(),
    }
}
