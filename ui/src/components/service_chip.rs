//! A service's name on its colour, as the trace pages show services everywhere.

use leptos::prelude::*;

use crate::logic::format_count;
use crate::logic::service_color::service_color;

/// `name` in a chip of its service colour, with a span count when one is given.
#[component]
pub fn ServiceChip(service: String, #[prop(optional)] spans: Option<u64>) -> impl IntoView {
    let color = service_color(&service);
    let label = if service.is_empty() {
        "(no service)".to_owned()
    } else {
        service.clone()
    };
    view! {
        <span class="service-chip" style=format!("--service-color: {color}") data-service=service>
            <span class="service-dot" aria-hidden="true"></span>
            {label}
            {spans.map(|n| view! { <span class="service-count">{format_count(n)}</span> })}
        </span>
    }
}
