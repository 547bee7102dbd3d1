//! The `accord` binary.

use accord::cli::{Cli, Command, InboxCommand};
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The demo prints a story, the simulation a table: fewer log lines
    // (the simulation's injected faults make many warnings).
    let level = match cli.command {
        Command::Demo(_) => Some("warn"),
        Command::Simulate(accord::cli::simulate::SimulateCommand::Run(_)) => Some("error"),
        _ => None,
    };
    init_tracing(&cli.log_format, level);
    let code = match cli.command {
        Command::Policy(cmd) => match accord::cli::policy::execute(cmd) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        },
        Command::Serve(args) => async_main(accord::cli::serve::serve(args))?,
        Command::Migrate(args) => async_main(accord::cli::serve::migrate(args))?,
        Command::Simulate(accord::cli::simulate::SimulateCommand::Unipile(args)) => {
            async_main(accord::cli::simulate::unipile(args))?
        }
        Command::Simulate(accord::cli::simulate::SimulateCommand::Run(args)) => {
            if !args.all_cores {
                // Before any thread starts: the runtime's and the database
                // connections' threads inherit it.
                accord::cli::simulate::keep_to_one_core()?;
            }
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(accord::simulate::cli(args))?
        }
        Command::Inbox(InboxCommand::Replay { host, all }) => {
            async_main(accord::cli::serve::replay(host, all))?
        }
        Command::Demo(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(accord::cli::demo::run(args))?,
        Command::Decisions(cmd) => match accord::cli::decisions::execute(cmd) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
        },
    };
    std::process::exit(code);
}

fn async_main(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(fut)?;
    Ok(0)
}

fn init_tracing(format: &str, quiet: Option<&str>) {
    let default = quiet.unwrap_or("info,sqlx=warn");
    let filter = EnvFilter::try_from_env("ACCORD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
