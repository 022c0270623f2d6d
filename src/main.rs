use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the C library's allocator: loading a 100,000-user file is millions of
/// small allocations, and a run of trials allocates and frees per request (benches/scale.sh,
/// benches/runner_scale.sh: README, "Large directories").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = fakta::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FAKTA_LOG")
                .unwrap_or_else(|_| cli.default_log_filter().into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match fakta::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
