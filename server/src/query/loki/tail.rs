//! `GET /loki/api/v1/tail` over WebSocket: the newest `limit` entries since `start`, then every
//! entry stored after them, as Loki's tail sends them
//! (`{"streams":[{"stream":{...},"values":[["<ns>","<line>"]]}],"dropped_entries":null}`).
//!
//! The store has no change feed, so the tail polls it every [`POLL`] for hits beyond the last
//! one sent (in time order). A record that arrives with a time older than the last entry sent
//! is therefore not tailed; query_range finds it.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use otelite_storage::{Direction, LogCursor, Store, TimeRange};
use serde_json::json;

use super::logql::{Expr, LogExpr};
use super::{
    DEFAULT_LOOKBACK_NS, LokiError, bad, eval, params, parse_limit, parse_time, streams_json,
};
use crate::query::blocking;
use crate::query::traces::params::Params;
use crate::state::AppState;

/// How often a tail asks the store for new entries.
const POLL: Duration = Duration::from_millis(500);
/// Entries one poll sends at most; the next poll goes on from there.
const BATCH: usize = 1_000;

pub(super) async fn tail(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Result<Response, LokiError> {
    let params = Params::with_form(raw, &[]);
    let Expr::Log(expr) = super::required_query(&params)? else {
        return Err(bad(
            "a tail follows a log query: give a stream selector with an optional pipeline, not a metric query".into(),
        ));
    };
    let limit = parse_limit(&params, state.limits.query_max_lines)?;
    let start = match params.get("start") {
        Some(text) => parse_time("start", text)?,
        None => params::now_unix_nanos().saturating_sub(DEFAULT_LOOKBACK_NS),
    };
    let store = state.store;
    Ok(upgrade.on_upgrade(move |socket| follow(socket, store, expr, start, limit)))
}

/// Sends what is there, then what comes, until the client goes or the store fails.
async fn follow(mut socket: WebSocket, store: Store, expr: LogExpr, start: u64, limit: usize) {
    let expr = std::sync::Arc::new(expr);
    // First the newest `limit` entries, sent oldest first.
    let mut cursor = None;
    match newest(&store, &expr, start, limit).await {
        Ok(Some((message, newest_cursor))) => {
            if socket.send(Message::Text(message.into())).await.is_err() {
                return;
            }
            cursor = Some(newest_cursor);
        }
        Ok(None) => {}
        Err(e) => return close_with(socket, e).await,
    }
    let mut poll = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            _ = poll.tick() => {}
            received = socket.recv() => match received {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
        }
        let (store, expr) = (store.clone(), std::sync::Arc::clone(&expr));
        let found = blocking(move || {
            let range = TimeRange::new(cursor.map_or(start, |c| c.time_unix_nano), u64::MAX);
            eval::log_streams(&store, &expr, range, Direction::Forward, BATCH, cursor)
        })
        .await;
        match found {
            Ok((streams, Some(newest_cursor))) => {
                let message = json!({"streams": streams_json(streams), "dropped_entries": null});
                if socket
                    .send(Message::Text(message.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
                cursor = Some(newest_cursor);
            }
            Ok((_, None)) => {}
            Err(e) => return close_with(socket, e.into()).await,
        }
    }
}

/// The first message of a tail (the newest `limit` entries since `start`, oldest first) and
/// the cursor of its newest entry; `None` when there are none.
async fn newest(
    store: &Store,
    expr: &std::sync::Arc<LogExpr>,
    start: u64,
    limit: usize,
) -> Result<Option<(String, LogCursor)>, LokiError> {
    let (store, expr) = (store.clone(), std::sync::Arc::clone(expr));
    let found = blocking(move || {
        let mut newest_first = Vec::new();
        let range = TimeRange::new(start, u64::MAX);
        let query = eval::prepared_query(&store, &expr, range, Direction::Backward)?;
        store.find_logs(&query, |hit| {
            if let Some(entry) = super::pipeline::run(&expr, &hit) {
                newest_first.push((hit.cursor, entry));
            }
            if newest_first.len() >= limit {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        })?;
        Ok(newest_first)
    })
    .await?;
    let Some(&(newest_cursor, _)) = found.first() else {
        return Ok(None);
    };
    let mut streams: std::collections::BTreeMap<_, eval::StreamEntries> = Default::default();
    for (cursor, entry) in found.into_iter().rev() {
        streams
            .entry(entry.labels)
            .or_default()
            .push((cursor.time_unix_nano, entry.line));
    }
    let message = json!({"streams": streams_json(streams), "dropped_entries": null});
    Ok(Some((message.to_string(), newest_cursor)))
}

/// Ends a tail with a close frame that says why (the reason is cut to what a frame holds).
async fn close_with(mut socket: WebSocket, error: LokiError) {
    let mut reason = error.0.to_string();
    while reason.len() > 120 {
        reason.pop();
    }
    let code = if error.0.status().is_server_error() {
        1011
    } else {
        1008
    };
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}
