//! The page for a path the UI does not know.

use leptos::prelude::*;

use crate::app::RouteLink;
use crate::logic::Route;

#[component]
pub fn NotFound(path: String) -> impl IntoView {
    view! {
        <section class="page">
            <h1>"Page not found"</h1>
            <div class="card">
                <p>"otelite has no page at " <code>{path}</code> "."</p>
                <p>
                    <RouteLink to=Route::Overview class="">"Go to the overview"</RouteLink>
                </p>
            </div>
        </section>
    }
}
