//! Pieces of the trace pages too large to sit inside one page module: the search results'
//! scatter plot, the waterfall and the span detail panel, and the service chip all of them use.
//! Each takes its data as props; the pages own fetching and the URL.

pub mod log_detail;
pub mod log_list;
pub mod scatter_plot;
pub mod service_chip;
pub mod span_detail;
pub mod trace_logs;
pub mod volume_chart;
pub mod waterfall;
