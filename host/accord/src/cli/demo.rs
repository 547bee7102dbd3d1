//! `accord demo [--serve [--listen ADDR]]`: the demo's story, then, with
//! `--serve`, its dashboard and API on the demo's database until Ctrl-C,
//! so a newcomer can explore the simulated weeks in one command.

use crate::demo::DemoArgs;
use clap::Args;
use std::net::SocketAddr;

/// `accord demo` settings.
#[derive(Debug, Clone, Args)]
pub struct DemoCommand {
    /// The story's settings.
    #[command(flatten)]
    pub demo: DemoArgs,
    /// After the story, keep serving the dashboard (`/ui`) and the API on
    /// the demo's database until Ctrl-C. The demo's clock stays where the
    /// story ended.
    #[arg(long)]
    pub serve: bool,
    /// Where `--serve` listens (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
    pub listen: String,
}

/// Runs the demo; with `--serve`, serves it afterwards. The exit code is
/// 1 when the story did not happen (then nothing is served).
pub async fn run(cmd: DemoCommand) -> anyhow::Result<i32> {
    if !cmd.serve {
        return crate::demo::cli(cmd.demo).await;
    }
    let listen: SocketAddr = cmd
        .listen
        .parse()
        .map_err(|e| anyhow::anyhow!("--listen `{}` is not HOST:PORT ({e})", cmd.listen))?;
    // Bound before the story, so a taken port is said at once.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("--listen: cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr()?;
    if let Some(seed) = cmd.demo.seed {
        crate::clock::seed_process(seed)?;
    }
    let (report, told) = crate::demo::tell(&cmd.demo).await?;
    report.print();
    if !report.ok() {
        told.close().await;
        return Ok(1);
    }
    // The pages' "now" is the demo's manual clock, left where the story
    // ended rather than switched to wall time or left running: every
    // relative time on the pages ("follow-up in 3 h", "accepted 2 d ago")
    // is then measured from the same instant as the month's last stamps,
    // so the month reads as it stood. Wall time would put every queued
    // June follow-up months in the past; a running clock would need the
    // simulated LinkedIn and the engine driven on (the story drove them
    // step by step), or the pages would promise sends that never come.
    let now = crate::clock::Clock::now_ms(&*told.app().clock);
    let stands = jiff::Timestamp::from_millisecond(now)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    println!();
    println!("Dashboard: http://{address}/ui");
    println!("  sign in with the demo's API token: {}", told.api_token());
    println!(
        "  (the same token opens the API: curl -H 'Authorization: Bearer {}' http://{address}/api/workspaces)",
        told.api_token()
    );
    println!("  the demo's clock stands at the story's end, {stands}; Ctrl-C to stop");
    crate::http::server::serve(listener, told.app().clone(), async {
        crate::cli::serve::shutdown_signal().await;
    })
    .await?;
    told.close().await;
    Ok(0)
}
