//! The tabs between the metric explorer and the HTTP dashboard, which carry the time range
//! from one to the other.

use leptos::prelude::*;

use crate::app::Location;
use crate::logic::Route;
use crate::logic::http_dashboard::dashboard_query;
use crate::logic::trace_search::SearchRange;

/// The explorer and dashboard tabs, keeping the time range across them.
#[component]
pub fn MetricTabs(range: Signal<SearchRange>) -> impl IntoView {
    let location = Location::current();
    let tab = move |to: Route, label: &'static str| {
        let target = to.clone();
        let current = move || location.route.with(|r| *r == target);
        let href = {
            let to = to.clone();
            move || {
                let query = dashboard_query(range.get());
                if query.is_empty() {
                    to.path()
                } else {
                    format!("{}?{query}", to.path())
                }
            }
        };
        view! {
            <a
                class="tab"
                class:active=current.clone()
                aria-current=move || current().then_some("page")
                href=href
                on:click=move |event: web_sys::MouseEvent| {
                    if crate::app::is_plain_click(&event) {
                        event.prevent_default();
                        location.push(to.clone(), &dashboard_query(range.get_untracked()));
                    }
                }
            >
                {label}
            </a>
        }
    };
    view! {
        <nav class="tabs" aria-label="Metric views">
            {tab(Route::Metrics, "Explorer")}
            {tab(Route::HttpDashboard, "HTTP dashboard")}
        </nav>
    }
}
