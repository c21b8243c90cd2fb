//! One module per route of the UI. Pages own their data fetching; [`crate::app`] picks which one
//! is shown.

pub mod http_dashboard;
pub mod logs;
pub mod metrics;
pub mod not_found;
pub mod overview;
pub mod trace_search;
pub mod trace_view;
