use leptos::prelude::*;
#[component]
pub fn HttpDashboardPage() -> impl IntoView {
    view! { <h1>"HTTP"</h1> }
}
