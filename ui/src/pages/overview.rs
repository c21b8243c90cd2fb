//! The overview: what the server holds per signal and how it is doing, refreshed every 2 s.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use otelite_api::{SignalStatus, Status};

use crate::api::{ApiError, fetch_status};
use crate::app::RouteLink;
use crate::logic::{
    Route, Signal, SignalWords, format_bytes, format_count, format_duration, format_latency,
    format_reasons,
};

const REFRESH: Duration = Duration::from_secs(2);

#[component]
pub fn Overview() -> impl IntoView {
    let status = RwSignal::new(None::<Status>);
    let error = RwSignal::new(None::<ApiError>);
    poll_status(status, error);

    let loading = move || status.with(Option::is_none) && error.with(Option::is_none);
    // While the server is unreachable the last known numbers stay, dimmed.
    let stale = move || error.with(Option::is_some);
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Overview"</h1>
                <span class="muted">"Refreshes every 2 seconds"</span>
            </div>
            {move || {
                error
                    .get()
                    .map(|e| {
                        view! {
                            <div class="banner banner-error" role="alert" data-testid="api-error">
                                <strong>"Status unavailable. "</strong>
                                {e.to_string()}
                            </div>
                        }
                    })
            }}
            <Show when=loading>
                <p class="muted">"Loading status…"</p>
            </Show>
            <div class="cards" class:stale=stale>
                {Signal::ALL
                    .map(|signal| view! { <SignalCard signal status/> })
                    .collect_view()}
            </div>
            <div class:stale=stale>
                <ServerCard status/>
            </div>
        </section>
    }
}

/// Fetches the status now and then every [`REFRESH`] until the page is left. A slow server never
/// gets a second request while one is outstanding.
fn poll_status(status: RwSignal<Option<Status>>, error: RwSignal<Option<ApiError>>) {
    let in_flight = Rc::new(Cell::new(false));
    let refresh = move || {
        if in_flight.replace(true) {
            return;
        }
        let in_flight = Rc::clone(&in_flight);
        spawn_local(async move {
            // The page may be gone by the time the answer comes: `try_set` ignores that.
            match fetch_status().await {
                Ok(s) => {
                    status.try_set(Some(s));
                    set_if_changed(error, None);
                }
                // Unchanged, so the alert is not re-announced on every failed poll.
                Err(e) => set_if_changed(error, Some(e)),
            }
            in_flight.set(false);
        });
    };
    refresh();
    if let Ok(handle) = set_interval_with_handle(refresh, REFRESH) {
        on_cleanup(move || handle.clear());
    }
}

fn set_if_changed<T: PartialEq + Send + Sync + 'static>(signal: RwSignal<T>, value: T) {
    if signal.try_with_untracked(|current| *current != value) == Some(true) {
        signal.try_set(value);
    }
}

/// Stored, accepted and rejected counts of one signal, rejections by reason and the export
/// latency. `data-stored`/`data-rejected` carry the raw numbers for tests and scripts.
#[component]
fn SignalCard(signal: Signal, status: RwSignal<Option<Status>>) -> impl IntoView {
    let counts = Memo::new(move |_| status.with(|s| s.as_ref().map(|s| s.signal(signal).clone())));
    let stored = move || counts.with(|c| c.as_ref().map(|c| c.stored));
    let rejected = move || counts.with(|c| c.as_ref().map(|c| c.rejected));
    let accepted = move || counts.with(|c| c.as_ref().map(|c| c.accepted));
    let reasons = move || {
        counts.with(|c| {
            c.as_ref()
                .map(|c| format_reasons(&c.rejected_by_reason))
                .unwrap_or_default()
        })
    };
    let latency = move |pick: fn(&SignalStatus) -> Option<f64>| {
        move || counts.with(|c| format_latency(c.as_ref().and_then(pick)))
    };
    let shown = |n: Option<u64>| n.map(format_count).unwrap_or_else(|| "–".to_owned());

    view! {
        <article
            class="card signal-card"
            data-signal=signal.name()
            data-stored=move || stored().map(|n| n.to_string())
            data-rejected=move || rejected().map(|n| n.to_string())
        >
            <header class="card-head">
                <h2>{signal.title()}</h2>
                <RouteLink to=Route::for_signal(signal) class="card-link">
                    {if signal == Signal::Metrics { "Export →" } else { "Search →" }}
                </RouteLink>
            </header>
            <p class="stat">
                <span class="stat-value" data-testid="stored">{move || shown(stored())}</span>
                <span class="stat-label">{signal.item_noun()} " stored"</span>
            </p>
            <p class="rejected" class:has-rejected=move || rejected().is_some_and(|n| n > 0)>
                <span data-testid="rejected">{move || shown(rejected())}</span>
                " rejected"
                <span class="reasons" data-testid="reasons">{reasons}</span>
            </p>
            <dl class="ingest-facts">
                <div>
                    <dt>"Accepted since start"</dt>
                    <dd data-testid="accepted">{move || shown(accepted())}</dd>
                </div>
                <div>
                    <dt>"Export p50"</dt>
                    <dd data-testid="p50">{latency(|c| c.ingest_p50_seconds)}</dd>
                </div>
                <div>
                    <dt>"p99"</dt>
                    <dd data-testid="p99">{latency(|c| c.ingest_p99_seconds)}</dd>
                </div>
            </dl>
        </article>
    }
}

/// Version, uptime, disk use, compaction backlog and write health of the server.
#[component]
fn ServerCard(status: RwSignal<Option<Status>>) -> impl IntoView {
    let field = move |f: fn(&Status) -> String| {
        move || status.with(|s| s.as_ref().map(f).unwrap_or_else(|| "–".to_owned()))
    };
    view! {
        <article class="card server-card">
            <h2>"Server"</h2>
            <dl class="facts">
                <div>
                    <dt>"Version"</dt>
                    <dd data-testid="version">{field(|s| s.version.clone())}</dd>
                </div>
                <div>
                    <dt>"Uptime"</dt>
                    <dd>{field(|s| format_duration(s.uptime_seconds))}</dd>
                </div>
                <div>
                    <dt>"Disk used"</dt>
                    <dd>{field(|s| format_bytes(s.disk_bytes))}</dd>
                </div>
                <div>
                    <dt>"Compaction backlog"</dt>
                    <dd data-testid="backlog">{field(|s| format_bytes(s.compaction_backlog_bytes))}</dd>
                </div>
                <div>
                    <dt>"Writes"</dt>
                    <dd
                        data-testid="writes"
                        class:writes-failing=move || status.with(|s| s.as_ref().is_some_and(|s| !s.writes.ok))
                        title=move || status.with(|s| s.as_ref().and_then(|s| s.writes.error.clone()))
                    >
                        {field(|s| if s.writes.ok { "OK".to_owned() } else { "Failing".to_owned() })}
                    </dd>
                </div>
                <div>
                    <dt>"Storage format"</dt>
                    <dd>{field(|s| format!("v{}", s.format_version))}</dd>
                </div>
            </dl>
        </article>
    }
}
