//! The detail of the record chosen in the log explorer: its times, severity, trace and span
//! (with a link that opens the trace on that span), the whole body (a structured one as a tree),
//! its attributes, and the resource and instrumentation scope it came from.

use leptos::prelude::*;

use crate::app::RouteLink;
use crate::clock::utc_offset_minutes;
use crate::components::log_list::marked;
use crate::components::service_chip::ServiceChip;
use crate::components::span_detail::{Attributes, DetailSection};
use crate::logic::log_search::{Highlights, LogRow, body_line, body_tree};
use crate::logic::{Route, format_timestamp, query_string};

#[component]
pub fn LogDetail(row: LogRow, highlights: Highlights, close: Callback<()>) -> impl IntoView {
    let r = row.record.clone();
    let at = |ns: u64| format_timestamp(ns, utc_offset_minutes(ns));
    let class = row.severity_class();
    let tree = body_tree(&r.body);
    let body = if tree.is_empty() {
        view! { <pre class="log-body-text" data-testid="log-body">{marked(&highlights, &body_line(&r.body))}</pre> }
            .into_any()
    } else {
        view! {
            <ul class="body-tree" data-testid="log-body">
                {tree
                    .into_iter()
                    .map(|node| {
                        view! {
                            <li style=format!("padding-left: {}rem", node.depth as f64 * 1.1)>
                                <span class="body-key">{node.key}</span>
                                {match node.leaf {
                                    Some(text) => view! {
                                        ": " <span class=format!("value value-{}", node.kind)>{text}</span>
                                    }
                                        .into_any(),
                                    None => view! { <span class="value-type">{node.kind}</span> }.into_any(),
                                }}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
        .into_any()
    };
    let trace = (!r.trace_id.is_empty()).then(|| {
        let query = query_string::build([("span", r.span_id.clone())]);
        view! {
            <RouteLink to=Route::Trace(r.trace_id.clone()) class="button button-link" query>
                "Open trace"
            </RouteLink>
        }
    });
    let resource = row.resource.as_ref().clone();
    let scope = row.scope.as_ref().clone();
    let scope_name = if scope.name.is_empty() {
        "(unnamed)".to_owned()
    } else {
        format!("{} {}", scope.name, scope.version)
    };
    view! {
        <aside class="card log-detail" data-testid="log-detail" aria-label="Log record">
            <header class="detail-head">
                <div>
                    <h2 class="detail-title">
                        <span class=format!("sev sev-{class}")>{row.severity_label()}</span>
                        " "
                        {at(r.time_unix_nano)}
                    </h2>
                    <ServiceChip service=row.service().to_owned()/>
                </div>
                <button type="button" class="icon-button" aria-label="Close log record" on:click=move |_| close.run(())>
                    "×"
                </button>
            </header>
            {body}
            <dl class="detail-facts">
                <dt>"Trace"</dt>
                <dd class="mono" data-testid="log-trace-id">
                    {if r.trace_id.is_empty() { "none".to_owned() } else { r.trace_id.clone() }}
                </dd>
                <dt>"Span"</dt>
                <dd class="mono">{if r.span_id.is_empty() { "none".to_owned() } else { r.span_id.clone() }}</dd>
                <dt>"Observed"</dt>
                <dd>{at(r.observed_time_unix_nano)}</dd>
                <dt>"Severity"</dt>
                <dd>{format!("{} (number {})", row.severity_label(), r.severity_number)}</dd>
                {(!r.event_name.is_empty())
                    .then(|| view! { <dt>"Event"</dt> <dd class="mono">{r.event_name.clone()}</dd> })}
            </dl>
            {trace}
            <DetailSection title="Attributes" count=r.attributes.len() dropped=r.dropped_attributes_count>
                <Attributes attributes=r.attributes.clone()/>
            </DetailSection>
            <DetailSection title="Resource" count=resource.attributes.len() dropped=resource.dropped_attributes_count>
                <Attributes attributes=resource.attributes/>
            </DetailSection>
            <DetailSection title="Instrumentation scope">
                <p class="mono scope-name">{scope_name}</p>
                {(!scope.attributes.is_empty()).then(|| view! { <Attributes attributes=scope.attributes/> })}
            </DetailSection>
        </aside>
    }
}
