//! `greenlight-server`: parses the command line, then runs the server
//! (key server, plus the health authority when initialized) until SIGINT or
//! SIGTERM, or runs an `authority` subcommand.
#![forbid(unsafe_code)]

use clap::Parser;
use greenlight_server::authority::keys;
use greenlight_server::config::{
    AuthorityCommand, AuthorityConfig, Cli, Command, InitArgs, Mode, RotateKeyArgs, config_from_args,
};
use greenlight_server::{app, connect_database};
use greenlight_service::clock::system_clock;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GREENLIGHT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_timer(WholeSeconds)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (config, options) = match cli.command {
        None => (config_from_args(cli.serve.clone()), AuthorityConfig::from_args(&cli.serve)),
        Some(Command::Authority { command: AuthorityCommand::Serve(args) }) => {
            let args = *args;
            let options = AuthorityConfig {
                mode: Mode::AuthorityOnly { key_server_url: args.key_server_url },
                ..AuthorityConfig::from_args(&args.serve)
            };
            (config_from_args(args.serve), options)
        }
        Some(Command::Authority { command: AuthorityCommand::Init(args) }) => {
            return runtime.block_on(init(args));
        }
        Some(Command::Authority { command: AuthorityCommand::RotateKey(args) }) => return rotate_key(&args),
    };
    let config = match config {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        match app::start_with(config, options, system_clock()).await {
            Ok(running) => {
                running.run_until_signal().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Log times to the second, not the microsecond: a request's log lines
/// timed finely enough to be told apart by their cost could be matched to
/// an upload (issue 19 item 5).
struct WholeSeconds;

impl tracing_subscriber::fmt::time::FormatTime for WholeSeconds {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let mut exact = String::new();
        tracing_subscriber::fmt::time::SystemTime
            .format_time(&mut tracing_subscriber::fmt::format::Writer::new(&mut exact))?;
        // RFC 3339 with a fraction: 2026-12-03T06:21:02.123456Z.
        match exact.split_once('.') {
            Some((whole, _)) => write!(w, "{whole}Z"),
            None => w.write_str(&exact),
        }
    }
}

/// `greenlight-server authority rotate-key`.
fn rotate_key(args: &RotateKeyArgs) -> ExitCode {
    let Some(purpose) = greenlight_protocol::trust::Purpose::from_name(&args.purpose) else {
        eprintln!("error: --purpose {:?}: use certificate, policy or tracing", args.purpose);
        return ExitCode::from(2);
    };
    let now = system_clock()();
    match keys::rotate(&args.data_dir, purpose, args.overlap_hours.saturating_mul(3600), now) {
        Ok(done) => {
            println!("New {purpose} key: {}", hex::encode(done.new_key.as_bytes()));
            let (old, until) = done.retired;
            if until <= now {
                println!("The old key ({}) is revoked now.", hex::encode(old.0));
            } else {
                println!("The old key ({}) stays trusted until {} UTC.", hex::encode(old.0), until.iso_minute());
            }
            println!(
                "Key set #{} signed. Restart the server to publish it; phones take it at their next sync.",
                done.sequence
            );
            if purpose == greenlight_protocol::trust::Purpose::Policy {
                println!(
                    "Publish the color policy again (portal: Policy, the same values) before the old key's trust \
                     ends: after that, phones drop the policy it signed and use the built-in default."
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `greenlight-server authority init`.
async fn init(args: InitArgs) -> ExitCode {
    let password = if args.password_stdin {
        let mut line = zeroize::Zeroizing::new(String::new());
        if let Err(e) = std::io::stdin().read_line(&mut line) {
            eprintln!("error: cannot read the password from standard input: {e}");
            return ExitCode::from(2);
        }
        Some(zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned()))
    } else {
        None
    };
    let now = system_clock()().0;
    if let Err(e) = greenlight_service::private_data_dir(&args.data_dir, args.allow_shared_data_dir) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let url = args.database_url();
    let db = match connect_database(&url).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("error: database {}: {e}", greenlight_service::db::redact(&url));
            return ExitCode::FAILURE;
        }
    };
    let done = keys::init(&args.data_dir, &db, &args.admin, password, i64::try_from(now).unwrap_or(0)).await;
    db.close().await;
    match done {
        Ok(done) => {
            println!("Health authority initialized in {}.", keys::authority_dir(&args.data_dir).display());
            println!(
                "  signing key (key servers elsewhere: --authority-key): {}",
                hex::encode(done.signing_public.as_bytes())
            );
            println!("  trace key (for venue tools): {}", hex::encode(done.trace_public));
            println!("  admin account: {}", args.admin);
            match done.one_time_password {
                Some(password) => {
                    println!("  one-time password: {}", password.as_str());
                    println!("  (shown only now; it must be changed at the first login at /portal)");
                }
                None => println!("  password: the one given on standard input"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
