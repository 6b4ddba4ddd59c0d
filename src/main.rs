//! `gluey`: one binary, one subcommand per service (DESIGN.md, Services and processes).

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = gluey::cli::Cli::parse();
    gluey_ops::init_logging(cli.log_json);
    match gluey::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The chain names the failing field or resource; print it whole.
            eprintln!("gluey: error: {e:#}");
            tracing::error!(error = format!("{e:#}"), "exiting");
            std::process::ExitCode::FAILURE
        }
    }
}
