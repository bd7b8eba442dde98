//! The `chargegate` command line: a thin shell over the library (DESIGN.md "Public interface").
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use chargegate::config::{self, ConfigError};

/// mimalloc instead of glibc's malloc (BENCHMARKS.md "mimalloc"): glibc kept the memory of
/// closed connections in its arenas (VmRSS stayed at the 500-charger peak) and its
/// malloc/free were a fifth of the daemon's CPU samples. Set here, not in the library, so
/// it goes wherever the daemon runs (the package, the benches and tests that start this
/// binary) and the library's own test and bench processes keep the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `--version`: the release, the commit and the target it was built for (`build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CHARGEGATE_COMMIT"),
    ", ",
    env!("CHARGEGATE_TARGET"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "chargegate",
    version = VERSION,
    about = "Local smart-charging controller for EV depots"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon.
    Run {
        /// The site configuration file.
        #[arg(long, env = "CHARGEGATE_CONFIG")]
        config: PathBuf,
        /// Log line format: plain (journald-friendly) or json.
        #[arg(long, value_enum, default_value_t = LogFormat::Plain, env = "CHARGEGATE_LOG_FORMAT")]
        log_format: LogFormat,
        /// Use this database file instead of `[store] path` (e.g. to try the example
        /// config without root).
        #[arg(long, env = "CHARGEGATE_STORE_PATH")]
        store_path: Option<PathBuf>,
    },
    /// Check a configuration file; exit 0 when good, 78 when not.
    Validate {
        #[arg(long, env = "CHARGEGATE_CONFIG")]
        config: PathBuf,
    },
    /// Print an argon2 hash of a charger password for `password-hash` (reads the password
    /// from standard input so it stays out of the shell history).
    HashPassword,
    /// The running site at a glance: circuits (load and headroom per phase) and chargers
    /// (status, limit, current, session energy), read from chargegate's HTTP API.
    Status {
        /// The API's address (`[http] listen`).
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "CHARGEGATE_URL")]
        url: String,
        /// A token, when `require-token-for-reads` is set.
        #[arg(long, env = "CHARGEGATE_TOKEN")]
        token: Option<String>,
    },
    /// A whole simulated depot on this machine with chargegate in between: open the
    /// printed status page URL and watch it charge (Ctrl-C stops).
    Demo {
        /// Demo seconds per real second (60: an evening in a few minutes).
        #[arg(long, default_value_t = chargegate::demo::DEFAULT_SPEED)]
        speed: f64,
        /// Where the HTTP API and the status page listen (127.0.0.1:0: any free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// Picks the vehicles and the building's noise.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Stop by itself after this much demo time, e.g. 2h or 1h30m (default: run until
        /// Ctrl-C).
        #[arg(long, value_parser = chargegate::demo::parse_duration)]
        duration: Option<std::time::Duration>,
    },
    /// Energy meters.
    Meter {
        #[command(subcommand)]
        command: MeterCommand,
    },
}

#[derive(Subcommand, Debug)]
enum MeterCommand {
    /// Read a meter once through a profile and print every value (commissioning).
    Probe(ProbeArgs),
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("transport").required(true).args(["tcp", "rtu"])))]
struct ProbeArgs {
    /// Profile name: a file in profiles/meter/ without .toml, e.g. eastron-sdm630.
    #[arg(long)]
    profile: String,
    /// Modbus TCP meter or gateway, HOST:PORT.
    #[arg(long)]
    tcp: Option<String>,
    /// Serial RS-485 device, e.g. /dev/ttyUSB0.
    #[arg(long)]
    rtu: Option<String>,
    #[arg(long, default_value_t = 9600)]
    baud: u32,
    #[arg(long, value_enum, default_value_t = ProbeParity::Even)]
    parity: ProbeParity,
    #[arg(long, default_value_t = 8)]
    data_bits: u8,
    #[arg(long, default_value_t = 1)]
    stop_bits: u8,
    /// Modbus unit (slave) id.
    #[arg(long, default_value_t = 1)]
    unit_id: u8,
    /// Folder of meter profiles (default: installed, then ./profiles/meter).
    #[arg(long)]
    profiles_dir: Option<PathBuf>,
    /// Time limit per request, in ms.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ProbeParity {
    None,
    Even,
    Odd,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Plain,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { config } => validate(&config),
        Command::HashPassword => hash_password(),
        Command::Status { url, token } => status(&url, token.as_deref()),
        Command::Meter {
            command: MeterCommand::Probe(args),
        } => meter_probe(args),
        Command::Demo {
            speed,
            http,
            seed,
            duration,
        } => demo(chargegate::demo::DemoOptions {
            speed,
            http,
            seed,
            duration,
        }),
        Command::Run {
            config,
            log_format,
            store_path,
        } => run(&config, log_format, store_path),
    }
}

/// Prints every problem of a config; returns the config when it is good.
fn load_or_report(path: &std::path::Path) -> Result<config::Config, ExitCode> {
    match config::load(path) {
        Ok(config) => Ok(config),
        Err(ConfigError::Read { path, source }) => {
            eprintln!("error: cannot read {}: {source}", path.display());
            Err(ExitCode::from(config::EXIT_BAD_CONFIG as u8))
        }
        Err(ConfigError::Invalid(problems)) => {
            eprintln!("{}: {} problem(s):", path.display(), problems.len());
            for problem in &problems {
                eprintln!("  {problem}");
            }
            Err(ExitCode::from(config::EXIT_BAD_CONFIG as u8))
        }
    }
}

fn validate(path: &std::path::Path) -> ExitCode {
    match load_or_report(path) {
        Ok(config) => {
            println!("{}: OK", path.display());
            print!("{}", config::summary(&config));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn status(url: &str, token: Option<&str>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let read = runtime.block_on(async {
        let site = chargegate::status::get(url, "/api/v1/site", token).await?;
        let chargers = chargegate::status::get(url, "/api/v1/chargers", token).await?;
        let alerts = chargegate::status::get(url, "/api/v1/alerts?active=true", token).await?;
        Ok::<_, chargegate::status::StatusError>((site, chargers, alerts))
    });
    match read {
        Ok((site, chargers, alerts)) => {
            print!("{}", chargegate::status::render(&site, &chargers, &alerts));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `chargegate demo`: the daemon's warnings only (`CHARGEGATE_LOG` for more), so the
/// summary lines stay readable; exit 1 when it could not run or a second was over a limit.
fn demo(opts: chargegate::demo::DemoOptions) -> ExitCode {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("CHARGEGATE_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(chargegate::logging::stderr_one_line)
        .init();
    match chargegate::demo::run(&opts) {
        Ok(report) if report.tally.over_limit_s == 0 => {
            println!("{}", report.closing_line());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            println!("{}", report.closing_line());
            eprintln!(
                "error: the committed limits and the building load went over a limit in {} \
                 simulated second(s) (DESIGN.md S1); the first:",
                report.tally.over_limit_s
            );
            for line in &report.tally.over_limit {
                eprintln!("  {line}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn hash_password() -> ExitCode {
    let mut password = String::new();
    if std::io::stdin().read_line(&mut password).is_err() {
        eprintln!("error: cannot read the password from standard input");
        return ExitCode::FAILURE;
    }
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("error: empty password");
        return ExitCode::FAILURE;
    }
    match chargegate::charger::handshake::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn meter_probe(args: ProbeArgs) -> ExitCode {
    use chargegate::config::{MeterTransport, Parity, RtuSettings};
    use chargegate::profiles::meter::{Profile, default_profile_dirs};
    let dirs = match args.profiles_dir {
        Some(d) => vec![d],
        None => default_profile_dirs(),
    };
    let profile = match Profile::load(&args.profile, &dirs) {
        Ok((p, _)) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let transport = match (args.tcp, args.rtu) {
        (Some(addr), _) => MeterTransport::Tcp(addr),
        (None, Some(device)) => MeterTransport::Rtu(RtuSettings {
            device,
            baud: args.baud,
            parity: match args.parity {
                ProbeParity::None => Parity::None,
                ProbeParity::Even => Parity::Even,
                ProbeParity::Odd => Parity::Odd,
            },
            data_bits: args.data_bits,
            stop_bits: args.stop_bits,
        }),
        (None, None) => unreachable!("clap requires --tcp or --rtu"),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(chargegate::meter::probe::probe(
        &args.profile,
        &profile,
        &transport,
        args.unit_id,
        std::time::Duration::from_millis(args.timeout_ms),
    ));
    print!("{}", report.text);
    if report.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("CHARGEGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(chargegate::logging::stderr_one_line);
    match format {
        LogFormat::Json => builder.json().init(),
        // Under systemd, journald stamps each line itself (JOURNAL_STREAM is set then).
        LogFormat::Plain if std::env::var_os("JOURNAL_STREAM").is_some() => {
            builder.without_time().with_ansi(false).init()
        }
        LogFormat::Plain => builder.init(),
    }
}

fn run(path: &std::path::Path, log_format: LogFormat, store_path: Option<PathBuf>) -> ExitCode {
    let mut config = match load_or_report(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Some(store_path) = &store_path {
        config.store.path = store_path.clone();
    }
    init_logging(log_format);
    match chargegate::descriptors::raise_soft_limit() {
        Ok(limit) => {
            let needed = chargegate::descriptors::needed(&config);
            if let Some(warning) = chargegate::descriptors::shortfall(limit, needed) {
                tracing::warn!("{warning}");
            }
        }
        Err(e) => tracing::warn!("cannot read the file descriptor limit: {e}"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Before READY=1: systemd may send SIGHUP as soon as it heard it, and SIGHUP's
        // default action ends the process.
        let signals = Signals::install();
        let daemon = match chargegate::daemon::start(&config).await {
            Ok(daemon) => daemon,
            Err(e) if e.is_config_problem() => {
                tracing::error!("cannot start: {e} (a config problem)");
                return ExitCode::from(config::EXIT_BAD_CONFIG as u8);
            }
            Err(e) => {
                tracing::error!("cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        let systemd = chargegate::service::Systemd::from_env();
        systemd.ready(&format!(
            "listening for chargers on {}, {} configured",
            daemon.csms_addr,
            config.chargers.len()
        ));
        let watchdog = tokio::spawn(systemd.clone().watch(
            daemon.control_alive.clone(),
            daemon.plan.clone(),
            daemon.subscribe_shutdown(),
        ));
        let Some(mut signals) = signals else {
            // Without signal handlers the daemon could not stop cleanly; run until killed.
            tracing::error!("cannot install signal handlers");
            return std::future::pending().await;
        };
        while signals.next().await == Signal::Reload {
            reload(&daemon, &systemd, path, store_path.as_deref()).await;
        }
        tracing::info!("shutting down");
        systemd.stopping();
        daemon.stop().await;
        watchdog.abort();
        ExitCode::SUCCESS
    })
}

/// SIGHUP (`systemctl reload`): the file again, checked as `validate` checks it; applied
/// where it can be live, refused whole when it is bad (`chargegate::reload`).
async fn reload(
    daemon: &chargegate::daemon::Daemon,
    systemd: &chargegate::service::Systemd,
    path: &std::path::Path,
    store_path: Option<&std::path::Path>,
) {
    use chargegate::reload;
    tracing::info!("reloading {}", path.display());
    systemd.reloading();
    let result = match reload::read(path, store_path).await {
        Ok(config) => daemon.reload(config).await,
        Err(e) => Err(e),
    };
    match &result {
        Ok(applied) => reload::log(applied),
        Err(e) => reload::log_refused(path, e),
    }
    systemd.reloaded(&reload::status_line(&result));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Stop,
    Reload,
}

/// SIGTERM and SIGINT stop the daemon, SIGHUP reloads its config.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Option<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Self {
            term: signal(SignalKind::terminate()).ok()?,
            int: signal(SignalKind::interrupt()).ok()?,
            hup: signal(SignalKind::hangup()).ok()?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
