//! The command-line entry point: parse the configuration, set up logging, run the server until
//! SIGINT/SIGTERM. The `otelite` binary is just `fn main() { otelite::cli::main() }`.

use std::process::ExitCode;

use crate::config::{Cli, Command, Config};
use clap::Parser;

/// Runs otelite as the command line asks and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.settings.resolve() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("otelite: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            init_logging(&config);
            runtime.block_on(crate::run(&config, shutdown_signal()))
        }
        Command::Health => runtime.block_on(crate::query::probe_ready(&config)),
        Command::Loadgen(args) => runtime.block_on(crate::loadgen::run(&config, &args)),
        Command::LoadgenSink(args) => {
            runtime.block_on(crate::loadgen::sink::run(&config, &args, shutdown_signal()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Our error messages already name their cause; `{e:#}` would repeat it.
            eprintln!("otelite: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    // The level was validated while resolving the configuration.
    let filter = tracing_subscriber::EnvFilter::new(&config.log_level);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
