use leptos::prelude::*;
#[component]
pub fn MetricsPage() -> impl IntoView {
    view! { <h1>"Metrics"</h1> }
}
