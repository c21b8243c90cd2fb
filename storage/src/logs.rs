//! Logs as the store sees them: a record's time is its event time, or its observed time when
//! the event time is unset (0).
//!
//! Owns only the [`SignalGroup`] description of `ResourceLogs`; must never hold storage logic,
//! which is written once for all signals elsewhere.

use opentelemetry_proto::tonic::logs::v1::{LogRecord, LogsData, ResourceLogs};

use crate::Signal;
use crate::signal::SignalGroup;

/// The time a log record is filed and queried under.
pub(crate) fn record_time(record: &LogRecord) -> u64 {
    if record.time_unix_nano != 0 {
        record.time_unix_nano
    } else {
        record.observed_time_unix_nano
    }
}

impl SignalGroup for ResourceLogs {
    const SIGNAL: Signal = Signal::Logs;
    type Envelope = LogsData;

    fn decode_columnar(
        header: &crate::block::BlockHeader,
        payload: &[u8],
    ) -> Result<Vec<Self>, crate::block::BlockError> {
        if header.codec != crate::log_block::CODEC_LOG_COLUMNS {
            return Err(crate::block::BlockError(format!(
                "codec {} does not hold logs",
                header.codec
            )));
        }
        crate::log_block::decode_all(header, payload)
    }

    fn from_envelope(envelope: LogsData) -> Vec<Self> {
        envelope.resource_logs
    }

    fn item_count(&self) -> u64 {
        self.scope_logs
            .iter()
            .map(|scope| scope.log_records.len() as u64)
            .sum()
    }

    fn for_each_item_time(&self, mut f: impl FnMut(u64)) {
        for scope in &self.scope_logs {
            for record in &scope.log_records {
                f(record_time(record));
            }
        }
    }

    fn retain_items(&mut self, mut keep: impl FnMut(u64) -> bool) {
        for scope in &mut self.scope_logs {
            scope.log_records.retain(|record| keep(record_time(record)));
        }
        self.scope_logs
            .retain(|scope| !scope.log_records.is_empty());
    }
}
