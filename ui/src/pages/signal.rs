//! The Metrics and Logs pages (Traces has its search, `trace_search`). Their browsing views are
//! still to come; until then each shows how to get its data out through the export API, with a
//! ready-to-paste curl line.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::logic::{Signal, SignalWords, TimeWindow, export_curl, export_url};

#[component]
pub fn SignalPage(signal: Signal) -> impl IntoView {
    let origin = window().location().origin().unwrap_or_default();
    let last_hour = TimeWindow::last_hours(js_sys::Date::now(), 1);
    let curl = export_curl(&origin, signal, last_hour);
    let url = export_url(&origin, signal, last_hour);
    let slug = signal.name();

    view! {
        <section class="page">
            <div class="page-head">
                <h1>{signal.title()}</h1>
            </div>
            <article class="card notice">
                <h2>"The " {signal.title().to_lowercase()} " view is coming"</h2>
                <p>
                    "otelite already stores the " {signal.item_noun()}
                    " it receives; a page to search and browse them is being built. "
                    "Until then, the export API returns everything in a time window as OTLP JSON:"
                </p>
                <pre class="code">
                    <code>
                        {format!("GET /api/v1/export/{slug}?start=<unix ns>&end=<unix ns>")}
                    </code>
                </pre>
                <p>"The last hour, from a shell:"</p>
                <CopyLine text=curl/>
                <p>
                    "Or " <a href=url>"open the last hour's JSON"</a> " in this browser. "
                    <span class="muted">
                        "start is inclusive, end exclusive, both in nanoseconds since the Unix "
                        "epoch (in a shell: " <code>"$(date +%s)000000000"</code> ")."
                    </span>
                </p>
            </article>
        </section>
    }
}

/// A one-line command with a button that copies it. Where the clipboard API is missing (pages
/// not served from localhost or https), the line stays selectable with one click.
#[component]
fn CopyLine(text: String) -> impl IntoView {
    let label = RwSignal::new("Copy");
    let to_copy = text.clone();
    let copy = move |_| {
        let text = to_copy.clone();
        spawn_local(async move {
            let copied = write_clipboard(&text).await;
            label.try_set(if copied { "Copied" } else { "Select and copy" });
        });
    };
    view! {
        <div class="copy-line">
            <code class="command" data-testid="curl">{text}</code>
            <button type="button" class="button" on:click=copy>{move || label.get()}</button>
        </div>
    }
}

/// `navigator.clipboard.writeText`, if this page may use it.
async fn write_clipboard(text: &str) -> bool {
    let navigator = window().navigator();
    // In an insecure context `navigator.clipboard` is undefined; calling through it would throw.
    let available = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
        .is_ok_and(|c| !c.is_undefined());
    if !available {
        return false;
    }
    let clipboard: web_sys::Clipboard = navigator.clipboard().unchecked_into();
    JsFuture::from(clipboard.write_text(text)).await.is_ok()
}
