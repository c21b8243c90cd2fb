//! The app's shell: header, navigation and a small client-side router.
//!
//! The route is a signal derived from `location.pathname`, and the query string (where pages
//! such as the trace search keep their state) is a second one beside it. Links push a history
//! entry instead of loading a page, and the browser's back/forward buttons are followed through
//! `popstate`. Because the route depends on the path alone and the server answers every non-API
//! path with `index.html`, reloading any deep link lands on the same page.

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsValue;
use web_sys::MouseEvent;

use crate::components::token_prompt::TokenPrompt;
use crate::logic::{Route, Signal, SignalWords};
use crate::pages::http_dashboard::HttpDashboardPage;
use crate::pages::logs::LogsPage;
use crate::pages::metrics::MetricsPage;
use crate::pages::not_found::NotFound;
use crate::pages::overview::Overview;
use crate::pages::trace_search::TraceSearchPage;
use crate::pages::trace_view::TraceViewPage;

/// Where the app is: the route and the query string (`location.search` without its `?`),
/// shared with every page and [`RouteLink`] through context.
#[derive(Debug, Clone, Copy)]
pub struct Location {
    pub route: RwSignal<Route>,
    pub query: RwSignal<String>,
}

impl Location {
    pub fn current() -> Location {
        expect_context()
    }

    /// Shows `to` with `query` and records it in the browser history, as a link would.
    pub fn push(self, to: Route, query: &str) {
        let same =
            self.route.with_untracked(|r| *r == to) && self.query.with_untracked(|q| q == query);
        if same {
            return;
        }
        let same_page = self.route.with_untracked(|r| *r == to);
        if let Ok(history) = window().history() {
            // Only fails for cross-origin URLs, which a route path never is.
            let _ = history.push_state_with_url(&JsValue::NULL, "", Some(&url(&to, query)));
        }
        self.query.set(query.to_owned());
        if !same_page {
            self.route.set(to);
            window().scroll_to_with_x_and_y(0.0, 0.0);
        }
    }

    /// Changes the query string of the page being shown without a new history entry, for state
    /// worth keeping on reload but not worth a press of the back button (a selected span).
    pub fn replace_query(self, query: &str) {
        if self.query.with_untracked(|q| q == query) {
            return;
        }
        if let Ok(history) = window().history() {
            let route = self.route.get_untracked();
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url(&route, query)));
        }
        self.query.set(query.to_owned());
    }
}

fn url(route: &Route, query: &str) -> String {
    if query.is_empty() {
        route.path()
    } else {
        format!("{}?{query}", route.path())
    }
}

#[component]
pub fn App() -> impl IntoView {
    let route = RwSignal::new(Route::from_path(&current_path()));
    let query = RwSignal::new(current_query());
    provide_context(Location { route, query });

    // Back and forward buttons. The app lives as long as the page, so the listener is never
    // removed.
    let _popstate = window_event_listener(ev::popstate, move |_| {
        let path_route = Route::from_path(&current_path());
        if route.with_untracked(|r| *r != path_route) {
            route.set(path_route);
        }
        query.set(current_query());
    });
    Effect::new(move || document().set_title(&route.read().document_title()));

    view! {
        <header class="topbar">
            <div class="topbar-inner">
                <RouteLink to=Route::Overview class="brand">
                    <span class="brand-mark" aria-hidden="true"></span>
                    "otelite"
                </RouteLink>
                <nav aria-label="Main">
                    <RouteLink to=Route::Overview class="nav-link">"Overview"</RouteLink>
                    {Signal::ALL
                        .map(|signal| {
                            view! {
                                <RouteLink to=Route::for_signal(signal) class="nav-link">
                                    {signal.title()}
                                </RouteLink>
                            }
                        })
                        .collect_view()}
                </nav>
            </div>
        </header>
        <main class="content">
            {move || match route.get() {
                Route::Overview => view! { <Overview/> }.into_any(),
                Route::TraceSearch => view! { <TraceSearchPage/> }.into_any(),
                Route::Trace(trace_id) => view! { <TraceViewPage trace_id/> }.into_any(),
                Route::Logs => view! { <LogsPage/> }.into_any(),
                Route::Metrics => view! { <MetricsPage/> }.into_any(),
                Route::HttpDashboard => view! { <HttpDashboardPage/> }.into_any(),
                Route::NotFound(path) => view! { <NotFound path/> }.into_any(),
            }}
        </main>
        <TokenPrompt/>
    }
}

/// A link to a page of the UI that switches routes without reloading. Modified clicks
/// (new tab, new window) are left to the browser. It is marked `active` while a page of its
/// section (for Traces: the search and every trace) shows.
#[component]
pub fn RouteLink(
    to: Route,
    class: &'static str,
    /// The query string to open the page with, without `?`.
    #[prop(optional, into)]
    query: String,
    children: Children,
) -> impl IntoView {
    let location = Location::current();
    let href = url(&to, &query);
    let target = to.clone();
    let active = Memo::new(move |_| {
        location.route.with(|current| {
            *current == target
                || (target.section().is_some() && current.section() == target.section())
        })
    });
    let on_click = move |event: MouseEvent| {
        if !is_plain_click(&event) {
            return;
        }
        event.prevent_default();
        location.push(to.clone(), &query);
    };
    view! {
        <a
            href=href
            class=class
            class:active=move || active.get()
            aria-current=move || active.get().then_some("page")
            on:click=on_click
        >
            {children()}
        </a>
    }
}

/// A left click without modifier keys: one the app handles itself rather than the browser
/// (which opens new tabs and windows for the others).
pub fn is_plain_click(event: &MouseEvent) -> bool {
    let modified = event.ctrl_key() || event.meta_key() || event.shift_key() || event.alt_key();
    event.button() == 0 && !modified
}

fn current_path() -> String {
    window()
        .location()
        .pathname()
        .unwrap_or_else(|_| "/".to_owned())
}

fn current_query() -> String {
    let search = window().location().search().unwrap_or_default();
    search.strip_prefix('?').unwrap_or(&search).to_owned()
}
