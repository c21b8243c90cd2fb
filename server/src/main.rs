//! The `otelite` binary. All behaviour lives in the library; see `cli.rs`.

fn main() -> std::process::ExitCode {
    otelite::cli::main()
}
