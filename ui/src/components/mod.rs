//! Pieces of the pages too large to sit inside one page module: the trace search's scatter plot,
//! the waterfall and the span detail panel, the service chip; the log explorer's list, record
//! detail and volume histogram, the trace view's logs panel; the metric pages' line chart and
//! tabs; and the viewport tracking both virtualised lists share; the token prompt the shell shows when the server asks for one.
//! Each takes its data as props; the pages own fetching and the URL.

pub mod line_chart;
pub mod log_detail;
pub mod log_list;
pub mod metric_tabs;
pub mod scatter_plot;
pub mod service_chip;
pub mod service_select;
pub mod span_detail;
pub mod time_range_field;
pub mod token_prompt;
pub mod trace_logs;
pub mod viewport;
pub mod volume_chart;
pub mod waterfall;
