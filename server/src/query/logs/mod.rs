//! otelite's native log API, which the UI's log explorer and trace view use (documented with its
//! DTOs in `otelite_api::logs`):
//!
//! - `GET /api/v1/logs?q=&service=&severity=&traceId=&spanId=&tags=&start=&end=&limit=&cursor=&direction=`
//! - `GET /api/v1/logs/volume?<the same filters>&step=`
//! - `GET /api/v1/log-services?start=&end=`
//!
//! [`params`] reads the query strings; the conversion of resources, scopes and values is the
//! trace API's (`traces::convert`). Store work runs on the blocking pool, never on the async
//! workers.

pub(crate) mod params;

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use otelite_api::logs::{LogRecord, LogSearchResponse, LogVolume, ServiceCount, VolumeBucket};
use otelite_api::traces::Services;
use otelite_storage::LogHit;

use super::traces::convert::{SharedParts, any_value_dto, key_values};
use super::traces::list_range;
use super::traces::params::{Params, hex, now_unix_nanos};
use super::{ApiError, blocking};
use crate::state::AppState;

/// `GET /api/v1/logs`: one page of matching records in the requested direction, and the cursor
/// of the next page when there may be one.
pub(super) async fn search(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<LogSearchResponse>, ApiError> {
    let max = state.limits.query_max_lines;
    let search = params::search(&Params::parse(raw.as_deref()), now_unix_nanos(), max)?;
    let store = state.query_store();
    let limit = search.limit;
    let (hits, more) = blocking(move || {
        let mut hits = Vec::with_capacity(limit.min(1024));
        let mut more = false;
        store.find_logs(&search.query, |hit| {
            // One hit beyond the page says whether a next page exists.
            if hits.len() == limit {
                more = true;
                return ControlFlow::Break(());
            }
            hits.push(hit);
            ControlFlow::Continue(())
        })?;
        Ok((hits, more))
    })
    .await?;
    Ok(Json(page(hits, more, limit)))
}

/// The response of one page of `hits`. Hits of one stored group share their resource and scope
/// (`Arc`s), so each is converted once per group rather than once per record.
fn page(hits: Vec<LogHit>, more: bool, limit: usize) -> LogSearchResponse {
    let mut shared = SharedParts::default();
    // Keyed by the Arc's address, which stays unique while `hits` holds every Arc.
    let mut resource_of: HashMap<usize, usize> = HashMap::new();
    let mut scope_of: HashMap<usize, usize> = HashMap::new();
    let next_cursor = more
        .then(|| hits.last().map(|hit| hit.cursor.to_string()))
        .flatten();
    let records = hits
        .iter()
        .map(|hit| {
            let resource = *resource_of
                .entry(Arc::as_ptr(&hit.resource) as usize)
                .or_insert_with(|| shared.resource(Some(&hit.resource), ""));
            let scope = *scope_of
                .entry(Arc::as_ptr(&hit.scope) as usize)
                .or_insert_with(|| shared.scope(Some(&hit.scope), ""));
            record(hit, resource, scope)
        })
        .collect();
    LogSearchResponse {
        resources: shared.resources,
        scopes: shared.scopes,
        records,
        next_cursor,
        limit,
    }
}

fn record(hit: &LogHit, resource: usize, scope: usize) -> LogRecord {
    let r = &hit.record;
    LogRecord {
        cursor: hit.cursor.to_string(),
        resource,
        scope,
        time_unix_nano: hit.time_unix_nano(),
        event_time_unix_nano: r.time_unix_nano,
        observed_time_unix_nano: r.observed_time_unix_nano,
        severity_number: r.severity_number,
        severity_text: r.severity_text.clone(),
        body: any_value_dto(r.body.as_ref()),
        attributes: key_values(&r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
        flags: r.flags,
        trace_id: hex(&r.trace_id),
        span_id: hex(&r.span_id),
        event_name: r.event_name.clone(),
    }
}

/// `GET /api/v1/logs/volume`: how many records match, per time bucket and severity class and
/// per service. `cursor` and `direction` do not apply.
pub(super) async fn volume(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<LogVolume>, ApiError> {
    let params = Params::parse(raw.as_deref());
    let max = state.limits.query_max_lines;
    let mut search = params::search(&params, now_unix_nanos(), max)?;
    search.query.after = None;
    let step_ns = params::step(&params, search.query.range)?;
    let store = state.query_store();
    let volume = blocking(move || Ok(store.log_volume(&search.query, step_ns)?)).await?;
    Ok(Json(LogVolume {
        step_ns,
        buckets: volume
            .buckets
            .into_iter()
            .map(|b| VolumeBucket {
                start_unix_nano: b.start_unix_nano,
                counts: b.counts.to_vec(),
            })
            .collect(),
        severities: volume.severities.to_vec(),
        services: volume
            .services
            .into_iter()
            .map(|(service, count)| ServiceCount { service, count })
            .collect(),
    }))
}

/// `GET /api/v1/log-services`: every service with log records in the range (all time by
/// default), by name.
pub(super) async fn services(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Services>, ApiError> {
    let range = list_range(&Params::parse(raw.as_deref()))?;
    let store = state.query_store();
    let streams = blocking(move || Ok(store.log_streams(range)?)).await?;
    let services: BTreeSet<String> = streams
        .into_iter()
        .filter_map(|stream| {
            stream
                .resource
                .into_iter()
                .find(|(key, _)| key == "service.name")
                .map(|(_, name)| name)
        })
        .filter(|name| !name.is_empty())
        .collect();
    Ok(Json(Services {
        services: services.into_iter().collect(),
    }))
}
