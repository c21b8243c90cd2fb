//! The dialog that asks for the query token when the server answers an API call with 401.
//!
//! It stays hidden until `api.rs` raises [`TOKEN_NEEDED_EVENT`]; the token entered is kept for
//! the tab ([`api::save_token`]) and the page reloads, so every page fetches again with it.

use leptos::prelude::*;

use crate::api::{self, TOKEN_NEEDED_EVENT};
use crate::logic::auth::authorization;

#[component]
pub fn TokenPrompt() -> impl IntoView {
    let asked = RwSignal::new(false);
    let token = RwSignal::new(String::new());
    // The shell lives as long as the page, so the listener is never removed.
    let _listener = window_event_listener_untyped(TOKEN_NEEDED_EVENT, move |_| asked.set(true));
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let entered = token.get_untracked();
        if authorization(&entered).is_none() {
            return;
        }
        api::save_token(Some(entered.trim()));
        let _ = window().location().reload();
    };
    view! {
        <Show when=move || asked.get()>
            <div class="token-backdrop">
                <form class="card token-prompt" role="dialog" aria-labelledby="token-title" on:submit=submit>
                    <h2 id="token-title">"This otelite needs a token"</h2>
                    <p class="muted">
                        "It was started with a query token (--query-token or --auth-token). Enter it to see its data; this tab keeps it until it closes."
                    </p>
                    <label class="field">
                        <span>"Token"</span>
                        <input
                            type="password"
                            name="token"
                            autocomplete="current-password"
                            autofocus
                            prop:value=move || token.get()
                            on:input=move |event| token.set(event_target_value(&event))
                        />
                    </label>
                    <button type="submit" class="button button-wide">"Continue"</button>
                </form>
            </div>
        </Show>
    }
}
