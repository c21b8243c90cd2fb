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
