//! The search forms' service picker: "All services", then the services the API listed. A chosen
//! service the list lacks (from a URL, before it sent anything) still shows, first.

use leptos::prelude::*;

#[component]
pub fn ServiceSelect(
    services: RwSignal<Vec<String>>,
    chosen: Memo<String>,
    pick: Callback<String>,
) -> impl IntoView {
    view! {
        <select name="service" on:change=move |ev| pick.run(event_target_value(&ev))>
            <option value="" prop:selected=move || chosen.with(String::is_empty)>
                "All services"
            </option>
            {move || {
                let mut names = services.get();
                let current = chosen.get();
                if !current.is_empty() && !names.contains(&current) {
                    names.insert(0, current);
                }
                names
                    .into_iter()
                    .map(|name| {
                        let selected = name.clone();
                        let value = name.clone();
                        view! {
                            <option value=value prop:selected=move || chosen.with(|s| *s == selected)>
                                {name}
                            </option>
                        }
                    })
                    .collect_view()
            }}
        </select>
    }
}
