//! The app's shell: header, navigation and a small client-side router.
//!
//! The route is a signal derived from `location.pathname`. Links push a history entry instead
//! of loading a page, and the browser's back/forward buttons are followed through `popstate`.
//! Because the route depends on the path alone and the server answers every non-API path with
//! `index.html`, reloading any deep link lands on the same page.

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsValue;
use web_sys::MouseEvent;

use crate::logic::{Route, Signal, SignalWords};
use crate::pages::not_found::NotFound;
use crate::pages::overview::Overview;
use crate::pages::signal::SignalPage;

/// The route being shown, shared with every [`RouteLink`] through context.
#[derive(Debug, Clone, Copy)]
struct CurrentRoute(RwSignal<Route>);

#[component]
pub fn App() -> impl IntoView {
    let route = RwSignal::new(Route::from_path(&current_path()));
    provide_context(CurrentRoute(route));

    // Back and forward buttons. The app lives as long as the page, so the listener is never
    // removed.
    let _popstate = window_event_listener(ev::popstate, move |_| {
        route.set(Route::from_path(&current_path()));
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
                                <RouteLink to=Route::Signal(signal) class="nav-link">
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
                Route::Signal(signal) => view! { <SignalPage signal/> }.into_any(),
                Route::NotFound(path) => view! { <NotFound path/> }.into_any(),
            }}
        </main>
    }
}

/// A link to a page of the UI that switches routes without reloading. Modified clicks
/// (new tab, new window) are left to the browser. It is marked `active` while its route shows.
#[component]
pub fn RouteLink(to: Route, class: &'static str, children: Children) -> impl IntoView {
    let CurrentRoute(route) = expect_context();
    let href = to.path();
    let target = to.clone();
    let active = Memo::new(move |_| route.with(|current| *current == target));
    let on_click = move |event: MouseEvent| {
        let modified = event.ctrl_key() || event.meta_key() || event.shift_key() || event.alt_key();
        if event.button() != 0 || modified {
            return;
        }
        event.prevent_default();
        navigate(route, to.clone());
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

/// Shows `to` and records it in the browser history.
fn navigate(route: RwSignal<Route>, to: Route) {
    if route.with_untracked(|current| *current == to) {
        return;
    }
    let win = window();
    if let Ok(history) = win.history() {
        // Only fails for cross-origin URLs, which a route path never is.
        let _ = history.push_state_with_url(&JsValue::NULL, "", Some(&to.path()));
    }
    route.set(to);
    win.scroll_to_with_x_and_y(0.0, 0.0);
}

fn current_path() -> String {
    window()
        .location()
        .pathname()
        .unwrap_or_else(|_| "/".to_owned())
}
