//! `accord simulate unipile`: the Unipile-compatible simulator as a
//! process, on the system clock, ticking every 200 ms.

use crate::clock::{SharedClock, SystemClock};
use crate::simulator::{PersonSpec, SimConfig, Simulator};
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// `accord simulate …`.
#[derive(Debug, Subcommand)]
pub enum SimulateCommand {
    /// Serve Unipile's REST paths and post its webhooks to a host.
    Unipile(UnipileSimArgs),
    /// Simulate a month of use under provider and host faults and check
    /// the safety invariants against what LinkedIn received (exit 1 on any
    /// violation).
    Run(crate::simulate::RunArgs),
}

/// `accord simulate unipile` settings.
#[derive(Debug, Clone, Args)]
pub struct UnipileSimArgs {
    /// Address to listen on.
    #[arg(long, env = "ACCORD_SIM_LISTEN", default_value = "127.0.0.1:9090")]
    pub listen: String,
    /// The API key clients must send as `X-API-KEY`.
    #[arg(long, env = "ACCORD_SIM_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// Where to post webhooks (e.g. `http://127.0.0.1:8080/webhooks/unipile`).
    #[arg(long, env = "ACCORD_SIM_WEBHOOK_URL", requires = "webhook_secret")]
    pub webhook_url: Option<String>,
    /// The static header value sent with every webhook.
    #[arg(long, env = "ACCORD_SIM_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// The header that carries it.
    #[arg(
        long,
        env = "ACCORD_SIM_WEBHOOK_HEADER",
        default_value = "unipile-auth"
    )]
    pub webhook_header: String,
    /// Accounts to create at start.
    #[arg(long, default_value_t = 1)]
    pub seed_accounts: usize,
    /// People to create at start (printed with their ids).
    #[arg(long, default_value_t = 0)]
    pub seed_people: usize,
    /// Seconds after an invite at which seeded people accept (0: never).
    #[arg(long, default_value_t = 60)]
    pub accept_after_secs: u64,
}

const FIRST: [&str; 8] = [
    "Julien",
    "Selva",
    "Vishwanath",
    "Amira",
    "Noah",
    "Ines",
    "Kenji",
    "Olga",
];
const LAST: [&str; 8] = [
    "Crépieux",
    "Raman",
    "Iyer",
    "Haddad",
    "Berg",
    "Duarte",
    "Sato",
    "Novak",
];

/// Runs the simulator until Ctrl-C.
pub async fn unipile(args: UnipileSimArgs) -> anyhow::Result<()> {
    let listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|e| anyhow::anyhow!("--listen: `{}` is not HOST:PORT ({e})", args.listen))?;
    let clock: SharedClock = Arc::new(SystemClock);
    let mut config = SimConfig::new(&args.api_key, clock).listen(listen);
    if let Some(url) = &args.webhook_url {
        config = config.webhook(
            url,
            &args.webhook_header,
            args.webhook_secret.as_deref().unwrap_or_default(),
        );
    }
    let sim = Simulator::start(config).await?;
    for _ in 0..args.seed_accounts {
        let a = sim.add_account();
        println!(
            "{}",
            serde_json::json!({"account_id": a.id, "own_member_id": a.own_member_id})
        );
    }
    for i in 0..args.seed_people {
        let mut spec =
            PersonSpec::new(FIRST[i % FIRST.len()], LAST[(i / FIRST.len()) % LAST.len()]);
        if args.accept_after_secs > 0 {
            let ms = i64::try_from(args.accept_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            spec = spec.accepts_after(ms);
        }
        let p = sim.add_person(spec);
        println!(
            "{}",
            serde_json::json!({
                "provider_id": p.provider_id,
                "sales_navigator_id": p.sales_navigator_id,
                "public_identifier": p.public_identifier,
                "name": p.full_name(),
            })
        );
    }
    sim.spawn_ticker(Duration::from_millis(200));
    eprintln!(
        "Unipile simulator on {} (webhooks: {})",
        sim.base_url(),
        args.webhook_url.as_deref().unwrap_or("off")
    );
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}

/// Keeps this thread, and every thread it starts from now on, to the
/// first core it may run on (`accord simulate run` without
/// `--all-cores`).
#[cfg(target_os = "linux")]
pub fn keep_to_one_core() -> anyhow::Result<()> {
    use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
    use nix::unistd::Pid;
    let this_thread = Pid::from_raw(0);
    let allowed = sched_getaffinity(this_thread)?;
    let Some(core) = (0..CpuSet::count()).find(|&c| allowed.is_set(c).unwrap_or(false)) else {
        return Ok(());
    };
    let mut one = CpuSet::new();
    one.set(core)?;
    sched_setaffinity(this_thread, &one)?;
    Ok(())
}

/// Elsewhere the threads go where the system puts them.
#[cfg(not(target_os = "linux"))]
pub fn keep_to_one_core() -> anyhow::Result<()> {
    Ok(())
}
