//! Harness for otelite's end-to-end tests: the real server, on port 0 with a temporary data
//! directory, spoken to over real OTLP (gRPC and HTTP) and its HTTP query API.
//!
//! - [`TestServer`] runs otelite in this process (fast; can be restarted on the same data).
//! - [`ServerProcess`] spawns the real command line (`otelite-e2e`, which is `otelite::cli::main`)
//!   for what only a process shows: signals, exit codes, crash recovery, startup messages.
//! - [`otlp`] builds small OTLP requests and compares OTLP data independently of how the server
//!   groups it into resources and scopes.
//!
//! The harness never reaches into the server's internals: everything goes through sockets, so a
//! test that passes here passes for a real client.

pub mod otlp;
mod process;
mod server;

pub use otelite_api::Signal;
pub use process::{ProcessOutput, ServerProcess, run_to_exit};
pub use server::TestServer;

/// How long a test waits for anything the server should do promptly (start, answer, exit).
pub const PROMPT: std::time::Duration = std::time::Duration::from_secs(20);

/// The hour partitions of `signal` that have segment files in the data directory `data`, read
/// from the partition number that starts each file's name: what retention must really delete.
pub fn partitions_on_disk(
    data: &std::path::Path,
    signal: Signal,
) -> std::collections::BTreeSet<u64> {
    std::fs::read_dir(data.join("segments").join(signal.name()))
        .map(|entries| {
            entries
                .filter_map(|e| {
                    let name = e.ok()?.file_name().into_string().ok()?;
                    name.split('.').next()?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The warnings and errors in what otelite printed: a clean start or recovery logs none.
pub fn complaints(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
        .collect()
}
