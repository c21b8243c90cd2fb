//! The `otelite` binary. All behaviour lives in the library; see `cli.rs`.

/// mimalloc instead of the C library's allocator: ingest allocates and frees a few small blocks
/// per attribute, and glibc's malloc (musl's far more, in the static build) was a quarter to a
/// half of the server's CPU. Measured in BENCHMARKS.md ("Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    otelite::cli::main()
}
