//! The command line: `fakta serve | test | demo | check | sp | revoke | export | init | keys`,
//! and the connection files embedded in the binary (serve's example, init's starters, the
//! demo's packs).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::clock::SystemClock;
use crate::config::{self, Connection, Diagnostics, NameIdFormat};
use crate::idp::{self, IdpState};
use crate::keys::KeyStore;

/// The connection file served when `fakta serve` is given none: a SAML app and OIDC apps.
pub const EMBEDDED_EXAMPLE: &str = include_str!("../scenarios/example.yaml");
pub const EMBEDDED_EXAMPLE_NAME: &str = "scenarios/example.yaml (embedded)";

/// The starter files `fakta init` writes, one per protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StarterProtocol {
    Saml,
    Oidc,
}

impl StarterProtocol {
    /// The commented starter connection file for this protocol.
    pub fn text(self) -> &'static str {
        match self {
            StarterProtocol::Saml => include_str!("../scenarios/starter-saml.yaml"),
            StarterProtocol::Oidc => include_str!("../scenarios/starter-oidc.yaml"),
        }
    }
}

/// Where `fakta init` writes when given no path.
pub const INIT_DEFAULT_PATH: &str = "fakta.yaml";

#[derive(Debug, Parser)]
#[command(
    name = "fakta",
    version,
    about = "A fake Okta: a mock SAML 2.0 and OpenID Connect identity provider driven by YAML connection files",
    long_about = "A fake Okta: a mock SAML 2.0 and OpenID Connect identity provider driven by YAML connection files.\n\n\
A connection file describes the IdP (its base URL), a directory of users and groups, the apps \
(SAML service providers and OIDC clients) and how to test one of them. `fakta serve` runs the IdP with Okta's URL \
layout; `fakta check` validates files; `fakta init` writes a starter file; `fakta schema` prints \
their JSON Schema, for editors; `fakta export` prints \
the metadata or discovery document an SP is configured from; `fakta keys` manages the signing key \
that SPs trust."
)]
pub struct Cli {
    /// Folder holding the IdP's signing key and certificates (created on first use).
    #[arg(
        long,
        global = true,
        env = "FAKTA_CERTS",
        default_value = "certs",
        value_name = "DIR"
    )]
    pub certs: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the identity provider for a connection file.
    ///
    /// Listens on 127.0.0.1 at the port of `idp.base_url` unless --listen says otherwise.
    /// Without FILE, serves the shipped example (scenarios/example.yaml, embedded): a SAML app
    /// and two OIDC apps on http://127.0.0.1:7000.
    Serve {
        /// The connection file.
        file: Option<PathBuf>,
        /// Address to listen on, e.g. 127.0.0.1:7000. Anything but a loopback address exposes an
        /// IdP that signs identities for anyone who asks: fakta warns when you do it.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Log one line per login on stderr: the app, the user and the groups sent.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Run the conformance trials of connection files against their SP (the file's `target`).
    ///
    /// Starts the IdP in this process on each file's `idp.base_url`, then runs every scenario of
    /// the files and the role matrix generated from their `expectations`, as trials named
    /// `<pack>::<id>_<name>`, with libtest's output and exit code (101 when a trial fails).
    ///
    /// The SP must be running (fakta waits up to 20 s for it, see --sp-wait), unless the file gives
    /// `target.start`: then fakta runs that shell command (in the file's directory, in the
    /// foreground), waits for the SP to listen, restarts it for trials that need a fresh SP
    /// (O13: discovery's issuer is not the issuer in use; O10 with a JWKS of one key), and stops
    /// it at the end. Without it, those trials are reported as ignored.
    ///
    /// The IdP listens on 127.0.0.1; an SP on another machine (a customer's staging SP, say)
    /// needs --listen-ip, with `idp.base_url` naming an address that SP can reach.
    Test {
        /// Connection files; any other word is a filter on trial names (like `cargo test NAME`).
        #[arg(required = true, value_name = "FILE|FILTER")]
        args: Vec<String>,
        /// Address the IdP listens on (port: idp.base_url's), instead of 127.0.0.1. Anything but
        /// a loopback address exposes an IdP that signs identities for anyone who asks: fakta
        /// warns when you do it.
        #[arg(long, value_name = "IP")]
        listen_ip: Option<IpAddr>,
        /// How long to wait for the SP to listen, at the start and after a restart (seconds,
        /// 1-3600; default 20). SPs on the JVM may need more.
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
        sp_wait: Option<u64>,
        #[command(flatten)]
        harness: HarnessArgs,
    },
    /// Run the shipped packs against the reference SP, all in this process.
    ///
    /// The SAML and OIDC packs (scenarios/qovery-saml.yaml, scenarios/qovery-oidc.yaml, and
    /// scenarios/qovery-saml-sp-initiated.yaml, an SP that takes no unsolicited login: S9;
    /// embedded) each get an IdP and a reference SP on free loopback ports. Strict, every trial passes; with
    /// --flaw, the trials that must catch that flaw fail and the run exits non-zero.
    Demo {
        /// A deliberate defect to switch on in the reference SP (repeatable); see `fakta sp --list-flaws`.
        #[arg(long = "flaw", value_name = "NAME")]
        flaws: Vec<String>,
        /// Serve the IdP over HTTPS (`https://` base URLs, a certificate from fakta's local CA in
        /// the --certs folder; see `fakta tls show`).
        #[arg(long)]
        https: bool,
        /// A filter on trial names.
        filter: Option<String>,
        #[command(flatten)]
        harness: HarnessArgs,
    },
    /// Validate connection files: every error at once, as file:line:column: key.path: message.
    ///
    /// Exits 0 when the files are valid (warnings are printed), 1 when --deny-warnings is given
    /// and there are warnings, 2 when any file has errors.
    Check {
        /// The connection files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Treat lint warnings as failures (exit 1).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Run the reference service provider for a connection file's target app.
    ///
    /// The SP plays the app that `target.app` names, on the URLs the file gives (login_url,
    /// session probe, ACS URL or redirect URI, revocation and logout endpoints), applying the
    /// file's `expectations` as its connection settings. It trusts the IdP at `idp.base_url`
    /// (metadata or discovery is fetched on first use). Strict by default; each --flaw switches on
    /// one deliberate defect, so you can see the suite catch it.
    Sp {
        /// The connection file.
        #[arg(required_unless_present = "list_flaws")]
        file: Option<PathBuf>,
        /// A deliberate defect to switch on (repeatable); see --list-flaws.
        #[arg(long = "flaw", value_name = "NAME")]
        flaws: Vec<String>,
        /// List the flaws, the catalogue cases each defeats, and what each does.
        #[arg(long)]
        list_flaws: bool,
        /// Address to listen on (default: 127.0.0.1 at the port of target.login_url).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Make a running `fakta serve` send a Global Token Revocation request (Okta Universal
    /// Logout) for a user to an app's endpoint, and end the user's IdP sessions.
    ///
    /// Prints the request (JWT header and claims, body) and the SP's answer. Exits 0 when the
    /// SP answered 204 to an honest request, or refused a faulty one with a 4xx; 1 otherwise.
    Revoke {
        /// The connection file `fakta serve` runs (for the IdP's address).
        file: PathBuf,
        /// User id, login or email.
        #[arg(long)]
        user: String,
        /// The app (default: the target app, or the only app with an endpoint).
        #[arg(long)]
        app: Option<String>,
        /// Send the request with one fault (T3-T7), e.g. aud_wrong, alg_none, not_json.
        #[arg(long, value_name = "NAME")]
        fault: Option<String>,
        /// subject format: iss_sub or email (default: the app's subject_format).
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
    },
    /// Print the document an SP is configured from, without serving: a SAML app's IdP
    /// metadata, an OIDC app's discovery document (of its authorization server).
    ///
    /// Byte for byte what `fakta serve FILE` serves at the metadata or discovery URL with the
    /// same --certs folder (the key is created there if there is none yet), then a newline; the
    /// URL goes to stderr. So the SP can be set up before fakta runs.
    Export {
        /// The connection file.
        file: PathBuf,
        /// The app (may be left out when the file has one app).
        #[arg(long, value_name = "ID")]
        app: Option<String>,
    },
    /// Write a commented starter connection file, to edit for your SP.
    ///
    /// It passes `fakta check` and runs with `fakta serve` as it is; its comments say what to
    /// change first (the SP's ACS URL and entity id, or its redirect URI; the target section).
    /// An existing file is never overwritten.
    Init {
        /// The SSO protocol of the app.
        #[arg(long, value_enum, default_value_t = StarterProtocol::Saml)]
        protocol: StarterProtocol,
        /// Your SP's SAML metadata (a file, or a plain-http URL): the starter names it as
        /// `sp_metadata`, which fills the app's entity id, ACS URL, SLO URL, signing
        /// certificate, signed messages and NameID format. SAML only.
        #[arg(long, value_name = "FILE_OR_URL")]
        sp_metadata: Option<String>,
        /// Where to write it.
        #[arg(default_value = INIT_DEFAULT_PATH)]
        path: PathBuf,
    },
    /// Print the JSON Schema (draft 2020-12) of the connection file, for editors.
    ///
    /// Byte for byte scenarios/fakta.schema.json (embedded). The shipped files name it on their
    /// first line, a yaml-language-server `$schema=` comment; editors with YAML support complete
    /// and check keys with it. `fakta check` is still the full check: the schema has the keys and
    /// their shapes, not cross-references (a scenario's user, the target's app) or lint rules.
    Schema,
    /// Show, rotate or retire the IdP's signing key.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// HTTPS: show fakta's local certificate authority and how to make a runtime trust it.
    ///
    /// With `idp.base_url: https://…`, `fakta serve` and `fakta test` serve TLS with a
    /// certificate from a local CA made once in the --certs folder (tls-ca.pem; its key
    /// tls-ca-key.pem is mode 0600 and never printed). fakta's runner and reference SP trust it
    /// by themselves; your SP needs to be told once.
    Tls {
        #[command(subcommand)]
        action: TlsAction,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum TlsAction {
    /// Print the CA certificate (PEM), its fingerprint, and the setting each common runtime
    /// reads to trust it; creates the CA if there is none yet.
    Show,
}

/// The libtest options `fakta test` and `fakta demo` share.
#[derive(Debug, Clone, clap::Args)]
pub struct HarnessArgs {
    /// Match the filter exactly.
    #[arg(long)]
    pub exact: bool,
    /// List the trials instead of running them.
    #[arg(long)]
    pub list: bool,
    /// Run only ignored trials.
    #[arg(long)]
    pub ignored: bool,
    /// Run ignored trials too.
    #[arg(long)]
    pub include_ignored: bool,
    /// Skip trials whose names contain this (repeatable).
    #[arg(long, value_name = "FILTER")]
    pub skip: Vec<String>,
    /// How many trials run at once (default: 4 per core, at most 16; with --browser chromium,
    /// 6).
    #[arg(long, value_name = "N")]
    pub test_threads: Option<usize>,
    /// Trials print nothing of their own; an SP started by target.start prints to stderr
    /// instead of its log file.
    #[arg(long)]
    pub nocapture: bool,
    /// One character per trial.
    #[arg(long, short)]
    pub quiet: bool,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write the report to hand over here: one self-contained HTML file (no external assets)
    /// with the verdicts per pack and per category, the role matrix, every failure with its
    /// rule and transcript, and each app's settings as the IdP's "Sign On" tab shows them. The
    /// path is checked before any trial runs.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The run's time limit (seconds, 1-86400; default 600). Trials not started when it runs
    /// out fail (kind setup), one running then fails (kind transport); each trial may take
    /// 120 s and each request 15 s.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub timeout: Option<u64>,
    /// Add the attack and session-binding packs (SAML S1-S26, S30, S31, OIDC O1-O25) to every
    /// file, as
    /// `target.attacks: true` does.
    #[arg(long)]
    pub attacks: bool,
    /// Run only shard M of N (nextest's syntax): `count:M/N` deals the selected trials in
    /// turn, `hash:M/N` by a hash of their names. Trials that restart the SP (O13, O10's
    /// single-key variant) always run in shard 1. For CI job matrices.
    #[arg(long, value_name = "count:M/N|hash:M/N")]
    pub partition: Option<crate::runner::partition::Partition>,
    /// With --list: `json` prints every trial with its case id, the rule it enforces, that
    /// rule's strength (MUST / SHOULD / Okta behaviour / connection settings) and why it is
    /// ignored, if it is. `pretty` and `terse` are libtest's.
    #[arg(long, value_name = "FORMAT", value_parser = ["pretty", "terse", "json"])]
    pub format: Option<String>,
    /// Drive a real browser instead of the HTTP emulation: `chromium` (headless; the Debian
    /// package `chromium-headless-shell` if installed, else `chromium`; FAKTA_CHROMIUM names
    /// another binary). Runs the pages' JavaScript (single-page apps, `js` session readers);
    /// every trial runs, with the steps and verdicts of the HTTP mode.
    #[arg(long, value_enum, value_name = "BROWSER")]
    pub browser: Option<BrowserChoice>,
}

/// The real browsers `--browser` can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BrowserChoice {
    Chromium,
}

impl HarnessArgs {
    fn options(&self, filter: Option<String>) -> crate::runner::Options {
        crate::runner::Options {
            filter,
            skip: self.skip.clone(),
            exact: self.exact,
            list: self.list,
            ignored: self.ignored,
            include_ignored: self.include_ignored,
            test_threads: self.test_threads,
            nocapture: self.nocapture,
            quiet: self.quiet || self.format.as_deref() == Some("terse"),
            junit: self.junit.clone(),
            report: self.report.clone(),
            attacks: self.attacks,
            listen_ip: None,
            sp_wait: None,
            list_json: self.format.as_deref() == Some("json"),
            partition: self.partition,
            timeout: self.timeout.map(std::time::Duration::from_secs),
            certs: None,
            browser: match self.browser {
                Some(BrowserChoice::Chromium) => crate::runner::transport::Engine::Chromium,
                None => crate::runner::transport::Engine::Http,
            },
            log: None,
        }
    }
}

/// The packs `fakta demo` runs: (pack name, YAML text).
pub const DEMO_PACKS: &[(&str, &str)] = &[
    ("qovery-saml", include_str!("../scenarios/qovery-saml.yaml")),
    ("qovery-oidc", include_str!("../scenarios/qovery-oidc.yaml")),
    (
        "qovery-saml-sp-initiated",
        include_str!("../scenarios/qovery-saml-sp-initiated.yaml"),
    ),
    // The flavor files: the same SPs behind Entra ID, Keycloak, Google and Auth0 (the role
    // matrix and F1-F3, no attack pack: they stay small, as the browser demo runs them in
    // Chromium too).
    ("entra-saml", include_str!("../scenarios/entra-saml.yaml")),
    ("entra-oidc", include_str!("../scenarios/entra-oidc.yaml")),
    (
        "keycloak-oidc",
        include_str!("../scenarios/keycloak-oidc.yaml"),
    ),
    (
        "keycloak-saml",
        include_str!("../scenarios/keycloak-saml.yaml"),
    ),
    ("google-oidc", include_str!("../scenarios/google-oidc.yaml")),
    ("auth0-oidc", include_str!("../scenarios/auth0-oidc.yaml")),
    ("auth0-saml", include_str!("../scenarios/auth0-saml.yaml")),
];

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Print the signing certificate (PEM) and its SHA-256 fingerprint, creating the key if
    /// there is none yet. This is what gets pasted into an SP's IdP settings.
    Show,
    /// Make a new signing key. The old certificate stays published in metadata until `retire`,
    /// so SPs can be moved to the new one without an outage.
    Rotate,
    /// Stop publishing the previous certificate.
    Retire,
}

impl Cli {
    /// The log filter when FAKTA_LOG is not set: servers log their traffic; test runs keep
    /// libtest's output clean and log only warnings.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Test { .. } | Command::Demo { .. } => "fakta=warn",
            // The login lines are logged at debug level under their own target.
            Command::Serve { verbose: true, .. } => "fakta=info,fakta::logins=debug",
            _ => "fakta=info",
        }
    }
}

/// Runs a parsed command line; errors are for the binary to print.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { file, listen, .. } => serve(file.as_deref(), listen, &cli.certs),
        Command::Check {
            files,
            deny_warnings,
        } => Ok(check(&files, deny_warnings)),
        Command::Keys { action } => keys(action, &cli.certs),
        Command::Tls {
            action: TlsAction::Show,
        } => tls_show(&cli.certs),
        Command::Export { file, app } => export(&file, app.as_deref(), &cli.certs),
        Command::Init {
            protocol,
            sp_metadata,
            path,
        } => init(protocol, sp_metadata.as_deref(), &path),
        Command::Schema => schema(),
        Command::Test {
            args,
            listen_ip,
            sp_wait,
            harness,
        } => test(&args, listen_ip, sp_wait, &harness, &cli.certs),
        Command::Revoke {
            file,
            user,
            app,
            fault,
            format,
        } => revoke(&file, user, app, fault, format, &cli.certs),
        Command::Demo {
            flaws,
            https,
            filter,
            harness,
        } => demo(&flaws, https, filter, &harness, &cli.certs),
        Command::Sp {
            file,
            flaws,
            list_flaws,
            listen,
        } => {
            if list_flaws {
                print!("{}", crate::refsp::flaws::table());
                return Ok(ExitCode::SUCCESS);
            }
            sp(file.as_deref(), &flaws, listen, &cli.certs)
        }
    }
}

/// Loads a connection file, or the embedded example when `file` is None. Warnings are printed
/// to stderr; errors fail.
pub fn load_connection(file: Option<&Path>) -> anyhow::Result<Connection> {
    let result = match file {
        Some(f) => config::load_file(f),
        None => config::load_str(EMBEDDED_EXAMPLE, EMBEDDED_EXAMPLE_NAME, Path::new(".")),
    };
    match result {
        Ok((conn, warnings)) => {
            eprint!("{warnings}");
            Ok(conn)
        }
        Err(diags) => {
            eprint!("{diags}");
            bail!(
                "{} has {} error(s); run `fakta check` on it for the full list",
                file.map(|f| f.display().to_string())
                    .unwrap_or_else(|| EMBEDDED_EXAMPLE_NAME.to_owned()),
                diags.errors().count()
            )
        }
    }
}

/// The address `fakta serve` listens on: loopback at the base URL's port unless told otherwise.
pub fn listen_address(conn: &Connection, listen: Option<SocketAddr>) -> SocketAddr {
    listen.unwrap_or_else(|| {
        let port = conn.idp.base_url.port_or_known_default().unwrap_or(7000);
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    })
}

/// How long `fakta serve` and `fakta sp` wait for blocking work after the server stopped.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

fn serve(
    file: Option<&Path>,
    listen: Option<SocketAddr>,
    certs: &Path,
) -> anyhow::Result<ExitCode> {
    let conn = load_connection(file)?;
    let (keys, created) = KeyStore::open_or_create(certs)
        .with_context(|| format!("loading the signing key from {}", certs.display()))?;
    if created {
        eprintln!(
            "created a new signing key in {} (certificate SHA-256 {})",
            certs.display(),
            keys.current.certificate.sha256_fingerprint()
        );
    }
    let addr = listen_address(&conn, listen);
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: listening on {addr}, which is reachable from other machines; this IdP signs \
an identity for anyone who asks. Use it only on a network you trust."
        );
    }
    let tls = match conn.idp.base_url.scheme() {
        "https" => {
            let host = conn.idp.base_url.host_str().unwrap_or("127.0.0.1");
            let tls = crate::tls::LocalTls::open_or_create(certs, host)
                .with_context(|| format!("setting up HTTPS in {}", certs.display()))?;
            if !tls.created.is_empty() {
                eprintln!(
                    "created {} in {} for HTTPS; `fakta tls show` says how to make your SP trust the CA",
                    tls.created.join(" and "),
                    certs.display()
                );
            }
            eprintln!(
                "HTTPS: certificate for {host} from fakta's local CA {} (SHA-256 {})",
                tls.ca_path().display(),
                tls.ca_fingerprint()
            );
            Some(tls.acceptor().context("setting up HTTPS")?)
        }
        _ => None,
    };
    let state = IdpState::new(conn, keys, Arc::new(SystemClock))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        // The one way fakta starts its IdP, as `MockIdp` does.
        let running =
            crate::mock::Running::start(state, listener, tls, crate::serving::Limits::default());
        print_banner(&running.state, running.addr);
        running
            .until(crate::serving::terminated())
            .await
            .context("serving HTTP")
    });
    // A signature still being made on the blocking pool must not hold the exit up.
    runtime.shutdown_timeout(SHUTDOWN_WAIT);
    served?;
    Ok(ExitCode::SUCCESS)
}

/// `fakta export`: the app's metadata or discovery document on stdout (and a newline).
fn export(file: &Path, app: Option<&str>, certs: &Path) -> anyhow::Result<ExitCode> {
    let conn = load_connection(Some(file))?;
    let (keys, created) = KeyStore::open_or_create(certs)
        .with_context(|| format!("loading the signing key from {}", certs.display()))?;
    if created {
        eprintln!(
            "created a new signing key in {} (certificate SHA-256 {}); `fakta serve` will use it",
            certs.display(),
            keys.current.certificate.sha256_fingerprint()
        );
    }
    let state = IdpState::new(conn, keys, Arc::new(SystemClock))?;
    let doc = idp::export::export(&state, app).with_context(|| file.display().to_string())?;
    eprintln!("# served at {}", doc.url);
    println!("{}", doc.body);
    Ok(ExitCode::SUCCESS)
}

/// `fakta schema`: the embedded JSON Schema on stdout.
fn schema() -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(config::SCHEMA.as_bytes())
        .and_then(|()| out.flush())
        .context("writing the schema to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// `fakta init`: writes the starter file, never over an existing one.
fn init(
    protocol: StarterProtocol,
    sp_metadata: Option<&str>,
    path: &Path,
) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let text = match sp_metadata {
        None => protocol.text().to_owned(),
        Some(_) if protocol != StarterProtocol::Saml => {
            bail!("--sp-metadata is SAML metadata; it goes with --protocol saml")
        }
        // Read before the file is created, so a bad document leaves nothing behind.
        Some(source) => starter_from_metadata(source, path)?,
    };
    // create_new: an existing file (or a link to one) is refused by the OS, with no race
    // between looking and writing.
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; fakta init does not overwrite a file (give another path)",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "wrote {}: edit the lines marked CHANGE ME, then `fakta check {0}` and `fakta serve {0}`",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The SAML starter with `sp_metadata` in place of the audience and ACS lines (and the NameID
/// format the metadata asks for), after checking the metadata reads. A file path is rewritten
/// relative to the folder of the file being written, where the loader resolves it.
fn starter_from_metadata(source: &str, out: &Path) -> anyhow::Result<String> {
    let meta = config::read_sp_metadata(source, Path::new("")).map_err(|e| anyhow::anyhow!(e))?;
    let named = if source.contains("://") {
        source.to_owned()
    } else {
        let meta_path = std::path::absolute(source)?;
        let out_dir = std::path::absolute(out)?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        relative_to(&meta_path, &out_dir).display().to_string()
    };
    let mut filled = vec![
        format!("audience {}", meta.entity_id),
        format!("acs_url {}", meta.acs.url),
    ];
    if let Some(slo) = &meta.slo {
        filled.push(format!("logout.slo_url {}", slo.url));
    }
    if meta.signing_certificate.is_some() {
        filled.push("the SP's signing certificate".to_owned());
    }
    let starter = StarterProtocol::Saml.text();
    let old = "    audience: https://sp.example.test/saml/metadata   # CHANGE ME: your SP's entity id\n    acs_url: http://127.0.0.1:7100/saml/acs           # CHANGE ME: your SP's ACS URL\n";
    debug_assert!(
        starter.contains(old),
        "the SAML starter's audience and ACS lines changed"
    );
    // YAML double quotes: the path or URL may hold `#` or `: `.
    let quoted = serde_json::to_string(&named).unwrap_or_default();
    let new = format!(
        "    sp_metadata: {quoted}   # your SP's metadata; a key written here wins over it\n    # from it: {}\n",
        filled.join(", ")
    );
    let mut text = starter.replace(old, &new);
    if let Some(f) = meta
        .name_id_formats
        .iter()
        .find_map(|u| NameIdFormat::ALL.iter().find(|f| f.urn() == u))
    {
        // A persistent NameID is an opaque, stable id (SAML Core 8.3.7): the Okta user id.
        let value = if *f == NameIdFormat::Persistent {
            "user.id"
        } else {
            "user.email"
        };
        text = text.replace(
            "name_id: { format: email_address, value: user.email }",
            &format!("name_id: {{ format: {}, value: {value} }}", f.name()),
        );
    }
    Ok(text)
}

/// `path` as seen from the folder `from` (both absolute): `../sp.xml` style, or `path` itself
/// when the two share no root (another drive).
fn relative_to(path: &Path, from: &Path) -> PathBuf {
    let (p, f): (Vec<_>, Vec<_>) = (path.components().collect(), from.components().collect());
    let common = p.iter().zip(&f).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return path.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out
}

fn revoke(
    file: &Path,
    user: String,
    app: Option<String>,
    fault: Option<String>,
    format: Option<String>,
    certs: &Path,
) -> anyhow::Result<ExitCode> {
    let conn = load_connection(Some(file))?;
    trust_local_ca(&conn, certs)?;
    let url = format!("{}/api/v1/fakta/revoke", conn.idp.base());
    let faulty = fault.is_some();
    let body = serde_json::json!({"user": user, "app": app, "fault": fault, "format": format});
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (status, answer) = runtime
        .block_on(crate::runner::revoke::post_control(&url, &body))
        .with_context(|| {
            format!(
                "cannot reach the IdP at {url}: is `fakta serve {}` running?",
                file.display()
            )
        })?;
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or(serde_json::Value::Null);
    if status != 200 {
        bail!(
            "the IdP refused: {}",
            v["error"].as_str().unwrap_or(&answer)
        );
    }
    println!("POST {}", v["endpoint"].as_str().unwrap_or("?"));
    println!("  JWT header {}", v["jwt_header"]);
    println!("  JWT claims {}", v["jwt_claims"]);
    println!("  body {}", v["body"].as_str().unwrap_or(""));
    let sp_status = v["status"].as_u64().unwrap_or(0);
    println!(
        "SP answered {sp_status} {}",
        v["answer"].as_str().unwrap_or("")
    );
    println!("IdP sessions ended: {}", v["idp_sessions_ended"]);
    let ok = if faulty {
        (400..500).contains(&sp_status)
    } else {
        sp_status == 204
    };
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn test(
    args: &[String],
    listen_ip: Option<IpAddr>,
    sp_wait: Option<u64>,
    harness: &HarnessArgs,
    certs: &Path,
) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    let mut filter = None;
    for a in args {
        let p = Path::new(a);
        if p.is_file() {
            files.push(p.to_path_buf());
        } else if a.ends_with(".yaml") || a.ends_with(".yml") {
            bail!("no such connection file: {a}");
        } else if filter.replace(a.clone()).is_some() {
            bail!(
                "more than one filter given; trials are filtered by one word, as with cargo test"
            );
        }
    }
    if files.is_empty() {
        bail!("no connection file given");
    }
    let mut packs = Vec::new();
    for f in &files {
        let conn = load_connection(Some(f))?;
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pack".into());
        packs.push(crate::runner::Pack {
            name,
            conn,
            bound: None,
        });
    }
    let (keys, _) = KeyStore::open_or_create(certs)
        .with_context(|| format!("loading the signing key from {}", certs.display()))?;
    let mut options = harness.options(filter);
    options.certs = Some(certs.to_path_buf());
    options.sp_wait = sp_wait.map(std::time::Duration::from_secs);
    if let Some(ip) = listen_ip.filter(|ip| !ip.is_unspecified()) {
        // The browser (and the SP) reach the IdP at base_url: it must name this address.
        for p in &packs {
            let url = &p.conn.idp.base_url;
            let host = url.host_str().unwrap_or_default();
            let port = url.port_or_known_default().unwrap_or(80);
            let resolved: Vec<IpAddr> = (host.trim_matches(|c| c == '[' || c == ']'), port)
                .to_socket_addrs()
                .map(|a| a.map(|a| a.ip()).collect())
                .unwrap_or_default();
            if !resolved.contains(&ip) {
                bail!(
                    "pack `{}`: idp.base_url {url} does not lead to {ip}, where --listen-ip puts \
the IdP; the browser and the SP reach the IdP at base_url (use an address of this machine there, \
or --listen-ip 0.0.0.0)",
                    p.name
                );
            }
        }
    }
    if let Some(ip) = listen_ip {
        if !ip.is_loopback() && !harness.list {
            eprintln!(
                "warning: the IdP listens on {ip}, reachable from other machines; it signs an \
identity for anyone who asks while the trials run. Use it only on a network you trust."
            );
        }
        options.listen_ip = Some(ip);
    }
    Ok(crate::runner::run(packs, keys, None, &options)?)
}

/// Loopback listeners on free ports, for the demo's servers: bound here and handed to the
/// runner, so that no other process can take a port between choosing and serving.
fn free_listeners(n: usize) -> anyhow::Result<Vec<(u16, std::net::TcpListener)>> {
    (0..n)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            Ok((l.local_addr()?.port(), l))
        })
        .collect::<std::io::Result<_>>()
        .context("binding free loopback ports")
}

fn demo(
    flaws: &[String],
    https: bool,
    filter: Option<String>,
    harness: &HarnessArgs,
    certs: &Path,
) -> anyhow::Result<ExitCode> {
    let flaws = crate::refsp::Flaws::parse(flaws).map_err(anyhow::Error::msg)?;
    let mut listeners = free_listeners(DEMO_PACKS.len() * 2)?.into_iter();
    let mut packs = Vec::new();
    for (name, yaml) in DEMO_PACKS {
        let (Some((idp_port, idp)), Some((sp_port, sp))) = (listeners.next(), listeners.next())
        else {
            bail!("binding free loopback ports: too few");
        };
        // The shipped files use ports 7000 (IdP) and 7100 (SP); the demo moves each pack to
        // free ports so both run at once and nothing else on the machine is disturbed.
        let mut text = yaml
            .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp_port}"))
            .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp_port}"));
        if https {
            text = text.replace("base_url: http://", "base_url: https://");
        }
        let shown = format!("scenarios/{name}.yaml (embedded)");
        let conn = match config::load_str(&text, &shown, Path::new(".")) {
            Ok((c, _)) => c,
            Err(d) => {
                eprint!("{d}");
                bail!("the embedded pack {name} is invalid");
            }
        };
        packs.push(crate::runner::Pack {
            name: (*name).to_owned(),
            conn,
            bound: Some(crate::runner::Bound { idp, sp: Some(sp) }),
        });
    }
    let (keys, _) = KeyStore::open_or_create(certs)
        .with_context(|| format!("loading the signing key from {}", certs.display()))?;
    if flaws.iter().next().is_some() {
        eprintln!(
            "reference SP flaws switched on: {}",
            flaws
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(crate::runner::run(
        packs,
        keys,
        Some(flaws),
        &crate::runner::Options {
            certs: Some(certs.to_path_buf()),
            ..harness.options(filter)
        },
    )?)
}

fn sp(
    file: Option<&Path>,
    flaws: &[String],
    listen: Option<SocketAddr>,
    certs: &Path,
) -> anyhow::Result<ExitCode> {
    let flaws = crate::refsp::Flaws::parse(flaws).map_err(anyhow::Error::msg)?;
    let conn = load_connection(file)?;
    // The SP's own calls (metadata, discovery, token) go to the IdP.
    trust_local_ca(&conn, certs)?;
    let state = crate::refsp::SpState::new(conn, flaws, Arc::new(SystemClock))?;
    let addr = listen.unwrap_or_else(|| {
        let port = state
            .target
            .login_url
            .port_or_known_default()
            .unwrap_or(7100);
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    });
    if !addr.ip().is_loopback() {
        eprintln!("warning: the reference SP listens on {addr}, reachable from other machines");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr().unwrap_or(addr);
        println!(
            "fakta reference SP listening on http://{bound} for app {} ({})",
            state.app.id,
            if state.app.saml().is_some() {
                "SAML"
            } else {
                "OIDC"
            }
        );
        println!(
            "  login {}  session {}",
            state.target.login_url, state.target.session.probe
        );
        let on: Vec<String> = state.flaws.iter().map(|f| f.to_string()).collect();
        if on.is_empty() {
            println!("  strict: no flaw switched on");
        } else {
            println!("  FLAWED on purpose: {}", on.join(", "));
        }
        {
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
        crate::refsp::serve(
            listener,
            state,
            crate::serving::Limits::default(),
            crate::serving::terminated(),
        )
        .await
        .context("serving HTTP")
    });
    // A signature still being made on the blocking pool must not hold the exit up.
    runtime.shutdown_timeout(SHUTDOWN_WAIT);
    served?;
    Ok(ExitCode::SUCCESS)
}

fn print_banner(state: &IdpState, addr: SocketAddr) {
    use std::io::Write;
    println!(
        "fakta IdP listening on {}://{addr} (base URL {})",
        state.conn.idp.base_url.scheme(),
        state.conn.idp.base()
    );
    let port = state.conn.idp.base_url.port_or_known_default();
    if port != Some(addr.port()) {
        println!(
            "  note: the base URL's port is not the one listened on; SPs and browsers must reach this \
address through {}",
            state.conn.idp.base()
        );
    }
    for app in &state.conn.apps {
        if app.saml().is_some() {
            println!(
                "  app {} (SAML): metadata {}  SSO {}",
                app.id,
                state.url(&state.metadata_path(app)),
                state.url(&state.sso_path(app))
            );
        }
        if let Some(o) = app.oidc() {
            println!(
                "  app {} (OIDC): client_id {}  discovery {}",
                app.id,
                o.client_id,
                state.url(&state.conn.idp.discovery_path(&o.server))
            );
        }
    }
    println!(
        "  signing certificate SHA-256 {}",
        state.keys.current.certificate.sha256_fingerprint()
    );
    println!(
        "  every app's settings {}  inspector {} (it shows identities)",
        state.url("/"),
        state.url("/fakta/inspect")
    );
    let _ = std::io::stdout().flush();
}

/// `fakta check`: prints every finding of every file and a summary per file.
pub fn check(files: &[PathBuf], deny_warnings: bool) -> ExitCode {
    let mut errors = 0;
    let mut warnings = 0;
    for f in files {
        let diags: Diagnostics = match config::load_file(f) {
            // Checked, not used: freed beside the report (100,000 users are millions of
            // allocations).
            Ok((conn, d)) => {
                config::drop_aside(conn);
                d
            }
            Err(d) => d,
        };
        print!("{diags}");
        let (e, w) = (diags.errors().count(), diags.warnings().count());
        errors += e;
        warnings += w;
        println!("{}: {e} error(s), {w} warning(s)", f.display());
    }
    if errors > 0 {
        ExitCode::from(2)
    } else if deny_warnings && warnings > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// For a client of a running https IdP (`fakta sp`, `fakta revoke`): trust the local CA that
/// `fakta serve` made in the same --certs folder.
fn trust_local_ca(conn: &Connection, certs: &Path) -> anyhow::Result<()> {
    if conn.idp.base_url.scheme() != "https" {
        return Ok(());
    }
    let ca = certs.join(crate::tls::CA_CERT_FILE);
    let pem = std::fs::read(&ca).with_context(|| {
        format!(
            "idp.base_url is https: reading fakta's local CA {} (start `fakta serve` with the same --certs first)",
            ca.display()
        )
    })?;
    let cert = openssl::x509::X509::from_pem(&pem)
        .with_context(|| format!("{} is not a PEM certificate", ca.display()))?;
    crate::tls::trust(&cert);
    Ok(())
}

/// `fakta tls show`: the local CA, and each runtime's setting to trust it.
fn tls_show(certs: &Path) -> anyhow::Result<ExitCode> {
    let tls = crate::tls::LocalTls::open_or_create(certs, "localhost")
        .with_context(|| format!("setting up HTTPS in {}", certs.display()))?;
    if !tls.created.is_empty() {
        eprintln!("created fakta's local CA in {}", certs.display());
    }
    let path = std::fs::canonicalize(tls.ca_path()).unwrap_or_else(|_| tls.ca_path());
    let p = path.display();
    println!("# fakta's local CA: {p}");
    println!("# SHA-256 fingerprint {}", tls.ca_fingerprint());
    print!("{}", tls.ca_pem());
    println!("# Trust it (the issuer URL is the other setting to change):");
    println!("#   Node.js          NODE_EXTRA_CA_CERTS={p}   (added to the built-in roots)");
    println!("#   Python requests  REQUESTS_CA_BUNDLE={p}   (replaces the roots for that process)");
    println!(
        "#   OpenSSL, Go, Ruby, httpx  SSL_CERT_FILE={p}   (replaces the roots for that process)"
    );
    println!(
        "#   Java             keytool -importcert -noprompt -alias fakta -file {p} -keystore <your truststore>"
    );
    println!("#   curl             curl --cacert {p} ...");
    println!(
        "#   Debian/Ubuntu    sudo cp {p} /usr/local/share/ca-certificates/fakta.crt && sudo update-ca-certificates"
    );
    println!(
        "#   SPs fakta starts (target.start) get FAKTA_CA_FILE and NODE_EXTRA_CA_CERTS set to it."
    );
    Ok(ExitCode::SUCCESS)
}

fn keys(action: KeysAction, certs: &Path) -> anyhow::Result<ExitCode> {
    let store = match action {
        KeysAction::Show => {
            let (store, created) = KeyStore::open_or_create(certs)?;
            if created {
                eprintln!("created a new signing key in {}", certs.display());
            }
            store
        }
        KeysAction::Rotate => {
            let store = KeyStore::rotate(certs)?;
            eprintln!(
                "rotated: new signing key in {}; the previous certificate stays in metadata until `fakta keys retire`",
                certs.display()
            );
            store
        }
        KeysAction::Retire => {
            let store = KeyStore::retire(certs)?;
            eprintln!("retired the previous certificate; metadata now publishes one certificate");
            store
        }
    };
    let cert = &store.current.certificate;
    println!(
        "# signing certificate (current), valid until {}",
        cert.not_after()
    );
    println!("# SHA-256 fingerprint {}", cert.sha256_fingerprint());
    print!("{}", cert.pem());
    if let Some(prev) = &store.previous {
        println!("# previous certificate, still published until `fakta keys retire`");
        println!("# SHA-256 fingerprint {}", prev.sha256_fingerprint());
        print!("{}", prev.pem());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `--timeout`'s help gives the limits in numbers: they must be the runner's.
    #[test]
    fn the_timeout_help_states_the_runners_limits() {
        let mut cmd = super::Cli::command();
        let test = cmd.find_subcommand_mut("test").expect("a test subcommand");
        let help = test.render_long_help().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for said in [
            format!("default {}", crate::runner::report::RUN_TIMEOUT.as_secs()),
            format!(
                "each trial may take {} s",
                crate::runner::report::TRIAL_TIMEOUT.as_secs()
            ),
            format!(
                "each request {} s",
                crate::runner::fetch::REQUEST_TIMEOUT.as_secs()
            ),
        ] {
            assert!(help.contains(&said), "`{said}` not in:\n{help}");
        }
    }

    #[test]
    fn a_path_is_written_relative_to_the_new_files_folder() {
        let rel = |p: &str, f: &str| {
            super::relative_to(std::path::Path::new(p), std::path::Path::new(f))
                .display()
                .to_string()
        };
        assert_eq!(rel("/w/sp.xml", "/w"), "sp.xml");
        assert_eq!(rel("/w/sp.xml", "/w/out/x"), "../../sp.xml");
        assert_eq!(rel("/w/a/sp.xml", "/w/b"), "../a/sp.xml");
    }
}
