use std::process::ExitCode;

use clap::Parser;

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
