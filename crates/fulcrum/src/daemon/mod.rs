//! `fulcrum run`: the daemon. Loads the configuration, starts the data planes ([`planes`]: the
//! daemon owns them and hands each driver its part), serves the control socket, reloads the
//! file on SIGHUP (a bad file is logged and the running configuration kept) and exits cleanly on
//! SIGTERM/SIGINT (socket removed, drivers stopped, data planes shut down).
//!
//! Logs go to stderr through `tracing` (see [`crate::logging`]: levels for journald, JSON on
//! request). Under systemd it reports readiness, status and watchdog pings through
//! [`crate::service`]. Later drivers (health checks, VRRP, sync) start in
//! [`drivers::start`] and follow the configuration through [`state::Daemon::subscribe`].
//!
//! One daemon owns all of its state: [`run_until`] builds it (the configuration, the proxy
//! plane, the sync tap its planes' session tables register with, the health state, the
//! channels the drivers publish their status on) and hands each driver what it needs, so two
//! daemons run in one process (the `two_daemons` test). The `static`s left in the crate are
//! process-wide on purpose:
//! - the log limiters (`health` transition and agent-value lines, `vrrp::notify` and
//!   `health::alert` outcome lines, `scripts` overflow lines, [`crate::loglimit`]): they bound
//!   the lines the process writes to its one stderr/journal;
//! - the heartbeat registry (`service::heartbeat`): systemd's watchdog watches the process,
//!   so every worker of the process must beat for one `WATCHDOG=1`;
//! - `dsr::PLANE`, the running DSR plane, which the `Planes` handle replaces (a change made
//!   beside this one).

mod access;
mod asctime;
mod dispatch;
mod documents;
mod drivers;
mod metrics;
mod planes;
mod published;
mod readiness;
mod reload;
mod save;
mod socket;
mod state;
mod stats;
mod tables;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use fulcrum_config::{Diagnostics, Severity};
use fulcrum_core::model::Config;
use tokio::signal::unix::{signal, SignalKind};

use crate::plane::tap::SyncTap;
use crate::proxy::{Proxy, ProxyOptions};
pub(crate) use state::Daemon;

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (also where `save` writes).
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = crate::DEFAULT_CONFIG)]
    config: PathBuf,
    /// The control socket to listen on.
    #[arg(long, value_name = "PATH", default_value = fulcrum_control::DEFAULT_SOCKET)]
    socket: PathBuf,
    #[command(flatten)]
    socket_access: access::SocketAccess,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (overrides `set metrics`).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<std::net::SocketAddr>,
    /// Log filter, e.g. `debug` or `fulcrum=trace` (default: RUST_LOG, else `info`).
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Log line format on stderr.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = crate::logging::Format::Text)]
    log_format: crate::logging::Format,
}

impl Args {
    /// A daemon reading `config` and serving its control socket at `socket` (owner only),
    /// logging through whatever `tracing` subscriber the caller installed: for embedding, as
    /// the test that runs two daemons in one process does with [`run_until`].
    pub fn new(config: PathBuf, socket: PathBuf) -> Args {
        Args {
            config,
            socket,
            socket_access: access::SocketAccess {
                socket_group: None,
                socket_mode: None,
            },
            log_level: None,
            log_format: crate::logging::Format::Text,
            metrics: None,
        }
    }
}

pub fn main(args: Args) -> u8 {
    crate::logging::init(args.log_level.as_deref(), args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            1
        }
    }
}

/// The process's daemon: runs until SIGTERM or SIGINT.
async fn run(args: Args) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let signalled = async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        }
    };
    run_until(args, signalled).await
}

/// One complete daemon (configuration, data planes, drivers, control socket) until `shutdown`
/// completes, then a clean stop (VRRP released, socket removed, planes shut down). Every piece
/// of its state is owned by this call, so several can run in one process (on a multi-threaded
/// tokio runtime); SIGHUP reloads each of them.
pub async fn run_until(
    args: Args,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    tokio::pin!(shutdown);

    let config = match load(&args.config)? {
        Ok(config) => config,
        Err(diagnostics) => {
            log_diagnostics(&diagnostics);
            bail!(
                "{} has {} error(s); not starting",
                args.config.display(),
                diagnostics.0.len()
            );
        }
    };
    let control = socket::bind(&args.socket)?;
    args.socket_access.apply(&control.path)?;
    control
        .listener
        .set_nonblocking(true)
        .context("cannot make the control socket non-blocking")?;
    let listener = tokio::net::UnixListener::from_std(
        control
            .listener
            .try_clone()
            .context("cannot use the control socket")?,
    )
    .context("cannot use the control socket")?;

    // Before any socket: the proxy sizes its TCP cap from the limit in force.
    let descriptors = crate::limits::raise();
    tracing::info!(
        "file descriptors: soft limit {} (was {}, hard {}); {} reserved, TCP connections up to {}",
        descriptors.soft,
        descriptors.was,
        descriptors.hard,
        crate::limits::reserve(descriptors.soft),
        crate::limits::tcp_budget(descriptors.soft)
    );
    // One per daemon: the planes' session tables and the sync driver meet there.
    let sync_tap = SyncTap::new();
    let proxy = Arc::new(Proxy::with_sync(ProxyOptions::default(), &sync_tap));
    let summary = config.summary();
    let (daemon, _warnings) = Daemon::start(config, args.config.clone(), proxy);
    let daemon = Arc::new(daemon);
    tracing::info!(
        "fulcrum {} running as PID {}: {} ({summary}), control socket {}",
        crate::VERSION,
        std::process::id(),
        args.config.display(),
        control.path.display()
    );
    let drivers = drivers::start(&daemon, &sync_tap);
    let server = tokio::spawn(socket::serve(listener, daemon.clone()));
    let metrics = metrics::spawn(daemon.clone(), args.metrics);
    // Signals are served while the drivers come up, so a node that never gets ready still stops.
    let waiting = daemon.clone();
    let running = crate::service::wait_until_running(move || readiness::waiting_for(&waiting));
    tokio::pin!(running);
    let mut monitor = None;

    loop {
        tokio::select! {
            _ = &mut running, if monitor.is_none() => {
                let status = daemon.clone();
                monitor = Some(crate::service::spawn_monitor(move || readiness::summary(&status)));
                crate::service::ready();
                tracing::info!("ready");
            }
            _ = hangup.recv() => {
                let daemon = daemon.clone();
                let _ = tokio::task::spawn_blocking(move || reload::reload(&daemon)).await;
            }
            _ = &mut shutdown => break,
        }
    }
    crate::service::stopping();
    if let Some(Some(monitor)) = monitor {
        monitor.abort();
    }
    server.abort();
    metrics.abort();
    control.remove();
    drivers.stop().await;
    tokio::task::spawn_blocking(move || daemon.planes().shutdown())
        .await
        .context("data plane shutdown failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Reads and parses a configuration file, logging what it accepts and ignores. The outer error
/// is for an unreadable file.
fn load(path: &Path) -> anyhow::Result<Result<Config, Diagnostics>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(
        fulcrum_config::load(&path.display().to_string(), &text).map(|loaded| {
            log_diagnostics(&loaded.warnings);
            loaded.config
        }),
    )
}

/// One log line per diagnostic (the caret display is for terminals, not journals).
fn log_diagnostics(diagnostics: &Diagnostics) {
    for d in &diagnostics.0 {
        let line = format!(
            "{}:{}:{}: {}: {}",
            d.file, d.line, d.col, d.severity, d.message
        );
        match d.severity {
            Severity::Error => tracing::error!("{line}"),
            Severity::Warning => tracing::warn!("{line}"),
        }
    }
}

/// The name the shell shows in its prompt: the configuration's hostname, else the machine's.
pub fn display_hostname(config: &Config) -> String {
    if let Some(name) = &config.hostname {
        return name.clone();
    }
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "fulcrum".into())
}
