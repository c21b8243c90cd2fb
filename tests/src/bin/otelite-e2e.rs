//! The `otelite` command line, built inside the test crate so that integration tests can spawn
//! the real binary (see `ServerProcess`).

fn main() -> std::process::ExitCode {
    otelite::cli::main()
}
