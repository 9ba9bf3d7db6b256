//! PostgreSQL 15 as a real peer: one server per test process, a fresh
//! database for each test.
//!
//! The first call to [`server`], [`fresh_database`] or [`prepare_template`]
//! makes a folder with `mktemp` (in `/dev/shm` when it has room, for speed;
//! else in the temporary folder), runs Debian's `initdb` in it
//! (`/usr/lib/postgresql/15/bin`, package `postgresql-15`) and starts
//! `postgres` listening only on a unix socket in that folder. PostgreSQL
//! refuses to run as root, so when the test process is root every
//! server-side program runs as the `postgres` user the package creates
//! (`runuser -u postgres --`); otherwise as the test's own user. Clients
//! (the hub, `psql`) connect over the socket as the database user
//! `postgres`, trusted without a password.
//!
//! The server never outlives the test process, even one killed with
//! SIGKILL: `postgres` runs under a small shell (the watchdog) whose
//! standard input is a pipe that only the test process holds. When that
//! process ends, however it ends, the kernel closes the pipe, the watchdog
//! reads end-of-file, stops the server (SIGINT, fast shutdown) and deletes
//! the folder. The watchdog has its own process group, so a Ctrl-C in the
//! terminal reaches the test process only, and the watchdog then cleans up.
//!
//! Databases are never dropped: they go with the server. A test gets
//! `postgres://postgres@/vigie_N?host=DIR`, a URL that libpq (so `psql`) and
//! the Rust `postgres`/`tokio-postgres` crates both read as "database
//! `vigie_N`, user `postgres`, unix socket in `DIR`" (the host is a query
//! parameter because a path cannot be a URL's host; `tokio-postgres` takes a
//! `host` starting with `/` as a socket folder). A hub that needs a migrated
//! schema migrates a template once per process ([`prepare_template`]) and
//! copies it for each test ([`fresh_database_from`], `CREATE DATABASE …
//! TEMPLATE`), which is much cheaper than migrating every time.
//!
//! Every call is synchronous and may be made from inside a tokio runtime:
//! it only runs programs and waits for them, and the closure given to
//! [`prepare_template`] runs on a plain thread of its own, so it may start
//! a runtime and `block_on` the hub's async migration.
//!
//! How to run the PostgreSQL pass and look at a test's database:
//! `docs/testing-postgres.md`.

use anyhow::{Context as _, anyhow, bail};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::BufRead as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The variable that chooses the store backend of a test run.
pub const BACKEND_ENV: &str = "VIGIE_TEST_BACKEND";

/// Where Debian's `postgresql-15` puts the server's programs.
const PG_BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
const INSTALL: &str =
    "install PostgreSQL 15: `apt-get install postgresql-15` (scripts/test.sh does it)";
/// The database user every client connects as (`initdb -U`), and the
/// system user the server runs as when the tests run as root.
const PG_USER: &str = "postgres";
/// The socket is `DIR/.s.PGSQL.<port>`; nothing listens on TCP, so every
/// test process can use the default port, each in its own folder.
const SOCKET_PORT: u16 = 5432;
/// A unix socket's path fits in `sun_path` (108 bytes with the final NUL).
const SOCKET_PATH_BYTES_MAX: usize = 107;
/// `mktemp`'s template for the server's folder.
const DIR_TEMPLATE: &str = "vigie-pg-XXXXXXXX";
/// Memory-backed, so a `CREATE DATABASE` (about 250 files, 8 MB) costs
/// ~50 ms instead of ~600 ms on this machine's shared disk, a tenfold
/// difference over a whole test suite. Nothing in it needs to outlive the
/// process.
const SHM_DIR: &str = "/dev/shm";
/// The server's folder goes to `SHM_DIR` only with this much room free
/// (every test leaves its database, ~8 MB, until the process ends; a
/// container's default 64 MB `/dev/shm` would fill up); otherwise to the
/// temporary folder (`TMPDIR`).
const SHM_FREE_KIB_MIN: u64 = 4 * 1024 * 1024;
/// initdb and the server's start on a loaded 2-core CI machine take a few
/// seconds; past this something is broken.
const SERVER_START_TIMEOUT_MS: u64 = 30_000;
/// Between two looks at `postmaster.pid` while the server starts.
const START_POLL_INTERVAL_MS: u64 = 10;
/// The line of `postmaster.pid` (0-based) that says `ready` once the
/// server accepts connections (PostgreSQL ≥ 10).
const PIDFILE_STATUS_LINE: usize = 7;
/// `psql` gives up connecting after this (`PGCONNECT_TIMEOUT`).
const PSQL_CONNECT_TIMEOUT_S: u32 = 10;
/// Each statement the test kit runs is small (create a database, mark a
/// template); past this it waits on something that will not come.
const PSQL_STATEMENT_TIMEOUT_MS: u32 = 60_000;
/// How long to wait for each leftover session on a template to end.
const TERMINATE_TIMEOUT_MS: u32 = 10_000;
/// Lines of the server's log quoted when it fails to start.
const LOG_TAIL_LINES: usize = 30;
/// PostgreSQL's identifiers are at most 63 bytes (NAMEDATALEN - 1).
const IDENTIFIER_BYTES_MAX: usize = 63;
/// Template databases are `vigie_template_<name>`.
const TEMPLATE_PREFIX: &str = "vigie_template_";
/// Sessions the server accepts: several hubs per test, each with its own
/// pool, times the test threads of one process (2 cores → a handful), with
/// room to spare; the server's memory grows only a little per slot.
const CONNECTIONS_MAX: u32 = 300;

/// How a server keeps what it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// For tests: no flush to disk, in memory when there is room.
    Tests,
    /// For benchmarks: every commit flushed (`fsync`, `synchronous_commit`
    /// and `full_page_writes` on, PostgreSQL's defaults), in the temporary
    /// folder beside the SQLite file it is compared with.
    Durable,
}

/// Settings given on `postgres`'s command line.
fn server_settings(dir: &Path, durability: Durability) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        // Only the unix socket in the server's own folder: nothing on the
        // network, no port for two test processes to fight over.
        ("listen_addresses", String::new()),
        ("unix_socket_directories", dir.display().to_string()),
        ("port", SOCKET_PORT.to_string()),
        // What these three buy is surviving a crash of the machine or of
        // PostgreSQL itself; the tests never crash PostgreSQL, and the
        // whole folder is deleted with the test process anyway. Without
        // them a commit costs no disk flush, as on a tmpfs.
        ("fsync", "off".to_string()),
        ("synchronous_commit", "off".to_string()),
        ("full_page_writes", "off".to_string()),
        ("max_connections", CONNECTIONS_MAX.to_string()),
    ];
    if durability == Durability::Durable {
        settings.retain(|(name, _)| {
            !matches!(*name, "fsync" | "synchronous_commit" | "full_page_writes")
        });
    }
    settings
}

/// Which store the hub's tests run on, chosen by `VIGIE_TEST_BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite store (the default).
    Sqlite,
    /// This module's PostgreSQL server, a fresh database per test.
    Postgres,
}

impl Backend {
    /// `VIGIE_TEST_BACKEND`: unset or `sqlite` → SQLite, `postgres` →
    /// PostgreSQL; anything else is an error naming the accepted values.
    pub fn from_env() -> anyhow::Result<Backend> {
        Backend::parse(std::env::var_os(BACKEND_ENV).as_deref())
    }

    /// The value of `VIGIE_TEST_BACKEND` (`None` when it is unset).
    pub fn parse(value: Option<&OsStr>) -> anyhow::Result<Backend> {
        let Some(value) = value else {
            return Ok(Backend::Sqlite);
        };
        match value.to_str() {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres") => Ok(Backend::Postgres),
            _ => bail!(
                "{BACKEND_ENV}={:?} is not a test backend: expected `sqlite` (the default when unset) or `postgres`",
                value.to_string_lossy()
            ),
        }
    }

    /// The name `VIGIE_TEST_BACKEND` gives it, as the test script prints it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The test process's PostgreSQL server. It lives as long as the process.
pub struct Server {
    dir: PathBuf,
    pid: u32,
    /// The watchdog; its standard input is the pipe whose closing stops
    /// the server. Never dropped: the pipe closes when the process ends.
    _watchdog: Child,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
/// Databases made by this process, to name the next one.
static DATABASES_MADE: AtomicU64 = AtomicU64::new(0);

/// The test process's server, started on first use. A server that failed
/// to start is not tried again: every later call gets the same error.
pub fn server() -> anyhow::Result<&'static Server> {
    match SERVER.get_or_init(|| Server::start(Durability::Tests).map_err(|e| format!("{e:#}"))) {
        Ok(server) => Ok(server),
        Err(e) => Err(anyhow!("the test PostgreSQL server did not start: {e}")),
    }
}

static DURABLE_SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// A second server of the process that flushes every commit to disk, for
/// benchmarks that compare PostgreSQL's durable acknowledgement with
/// SQLite's (see [`Durability::Durable`]).
pub fn durable_server() -> anyhow::Result<&'static Server> {
    match DURABLE_SERVER
        .get_or_init(|| Server::start(Durability::Durable).map_err(|e| format!("{e:#}")))
    {
        Ok(server) => Ok(server),
        Err(e) => Err(anyhow!("the durable PostgreSQL server did not start: {e}")),
    }
}

/// A new, empty database (copied from `template1`) with a name no other
/// test of this process has, as a URL for the hub and for `psql`.
pub fn fresh_database() -> anyhow::Result<String> {
    let server = server()?;
    let database = next_database_name();
    server.psql_admin(&[&format!("CREATE DATABASE {database}")])?;
    Ok(server.announce(&database))
}

/// Make the template `name` once per process: an empty database handed to
/// `prepare` (its URL), then closed to connections and marked as a
/// template. Later calls with the same name return at once (with the first
/// call's outcome) without calling their `prepare`; calls made while it
/// runs wait for it. `prepare` runs on a plain thread: it may start a tokio
/// runtime of its own. Sessions it leaves open on the template are ended.
pub fn prepare_template<F>(name: &str, prepare: F) -> anyhow::Result<()>
where
    F: FnOnce(&str) -> anyhow::Result<()> + Send,
{
    check_template_name(name)?;
    let cell = {
        let mut templates = TEMPLATES.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(templates.entry(name.to_string()).or_default())
    };
    cell.get_or_init(|| make_template(name, prepare).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("the PostgreSQL template `{name}` could not be prepared: {e}"))
}

/// A new database copied from the template `name` (`CREATE DATABASE …
/// TEMPLATE`), which [`prepare_template`] must have made in this process.
pub fn fresh_database_from(name: &str) -> anyhow::Result<String> {
    check_template_name(name)?;
    let cell = TEMPLATES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
        .cloned();
    match cell.as_deref().and_then(OnceLock::get) {
        None => bail!(
            "the PostgreSQL template `{name}` is not prepared in this test process: call prepare_template(\"{name}\", …) before fresh_database_from"
        ),
        Some(Err(e)) => bail!("the PostgreSQL template `{name}` could not be prepared: {e}"),
        Some(Ok(())) => {}
    }
    let server = server()?;
    let database = next_database_name();
    server.psql_admin(&[&format!(
        "CREATE DATABASE {database} TEMPLATE {TEMPLATE_PREFIX}{name}"
    )])?;
    Ok(server.announce(&database))
}

/// Run `statements` with `psql`, each as its own `-c` (so each in its own
/// transaction, as `CREATE DATABASE` needs), on the database at `url`
/// (any connection string libpq reads). Returns what it printed: unaligned,
/// tuples only, one row per line, `|` between columns.
pub fn psql(url: &str, statements: &[&str]) -> anyhow::Result<String> {
    let program = Path::new(PG_BIN_DIR).join("psql");
    let mut command = Command::new(&program);
    command
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url])
        .env("PGCONNECT_TIMEOUT", PSQL_CONNECT_TIMEOUT_S.to_string())
        .env(
            "PGOPTIONS",
            format!("-c statement_timeout={PSQL_STATEMENT_TIMEOUT_MS}"),
        )
        .stdin(Stdio::null());
    for statement in statements {
        command.arg("-c").arg(statement);
    }
    let out = command
        .output()
        .with_context(|| format!("cannot run {}: {INSTALL}", program.display()))?;
    if !out.status.success() {
        bail!(
            "psql on {url} failed ({}) running {statements:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).context("psql printed something that is not UTF-8")
}

impl Server {
    /// The server's folder: its socket, `data/` and `postgres.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{PG_USER}@/{database}?host={}",
            percent_encode_path(&self.dir)
        )
    }

    fn psql_admin(&self, statements: &[&str]) -> anyhow::Result<String> {
        psql(&self.url("postgres"), statements)
    }

    /// The URL of a new database, also printed so that a failing test's
    /// output says where to look (libtest shows it only for failures).
    fn announce(&self, database: &str) -> String {
        let url = self.url(database);
        eprintln!("PostgreSQL database {database}: psql '{url}'");
        url
    }

    /// A new, empty database on this server.
    pub fn fresh_database(&self) -> anyhow::Result<String> {
        let database = next_database_name();
        self.psql_admin(&[&format!("CREATE DATABASE {database}")])?;
        Ok(self.announce(&database))
    }

    fn start(durability: Durability) -> anyhow::Result<Server> {
        let bin = Path::new(PG_BIN_DIR);
        for program in ["initdb", "postgres", "psql"] {
            if !bin.join(program).is_file() {
                bail!("{} is missing: {INSTALL}", bin.join(program).display());
            }
        }
        let as_root = std::fs::metadata("/proc/self")
            .context("reading /proc/self to learn who runs the tests")?
            .uid()
            == 0;
        let base = match durability {
            Durability::Tests => server_folder_base(),
            Durability::Durable => std::env::temp_dir(),
        };
        let socket_bytes =
            base.as_os_str().len() + format!("/{DIR_TEMPLATE}/.s.PGSQL.{SOCKET_PORT}").len();
        if socket_bytes > SOCKET_PATH_BYTES_MAX {
            bail!(
                "the folder {} is too long for a unix socket path ({socket_bytes} bytes, at most {SOCKET_PATH_BYTES_MAX}): set TMPDIR to a shorter one",
                base.display()
            );
        }
        let out = server_side(as_root, "mktemp")
            .args(["-d", "-p"])
            .arg(&base)
            .arg(DIR_TEMPLATE)
            .output()
            .context("cannot run mktemp")?;
        if !out.status.success() {
            bail!(
                "cannot make the server's folder in {}{}: {}",
                base.display(),
                if as_root {
                    " as the `postgres` user (the tests run as root; the user comes with postgresql-15, and it must be allowed to write there, or set TMPDIR)"
                } else {
                    ""
                },
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let dir = PathBuf::from(
            String::from_utf8(out.stdout)
                .context("mktemp printed a folder name that is not UTF-8")?
                .trim(),
        );
        let started = Self::start_in(&dir, as_root, durability);
        if started.is_err() {
            // Nothing runs in it (a watchdog that was started deletes it too).
            let _ = std::fs::remove_dir_all(&dir);
        }
        started
    }

    fn start_in(dir: &Path, as_root: bool, durability: Durability) -> anyhow::Result<Server> {
        let deadline = Instant::now() + Duration::from_millis(SERVER_START_TIMEOUT_MS);
        let bin = Path::new(PG_BIN_DIR);
        let data = dir.join("data");
        // UTF-8 with the C collation: text sorts by bytes, as in SQLite.
        let out = server_side(as_root, bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", PG_USER, "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"])
            .output()
            .context("cannot run initdb")?;
        if !out.status.success() {
            bail!(
                "initdb in {} failed ({}): {}{}",
                data.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let mut watchdog = server_side(as_root, "sh");
        watchdog
            .args(["-c", WATCHDOG_SH, "vigie-pg-watchdog"])
            .arg(dir)
            .arg(bin.join("postgres"));
        for (name, value) in server_settings(dir, durability) {
            watchdog.arg("-c").arg(format!("{name}={value}"));
        }
        let mut child = watchdog
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Out of the terminal's process group: a Ctrl-C stops the tests,
            // whose end then stops the server.
            .process_group(0)
            .spawn()
            .context("cannot start the PostgreSQL watchdog (sh)")?;
        let stdout = child
            .stdout
            .take()
            .context("the watchdog's output is not captured")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .context("the PostgreSQL watchdog did not print the server's process id")?;
        let pid: u32 = line.trim().parse().with_context(|| {
            format!("the PostgreSQL watchdog printed {line:?}, not a process id")
        })?;
        let server = Server {
            dir: dir.to_path_buf(),
            pid,
            _watchdog: child,
        };
        server.wait_ready(deadline)?;
        eprintln!(
            "PostgreSQL 15 for test process {}: {} (log: {})",
            std::process::id(),
            dir.display(),
            dir.join("postgres.log").display()
        );
        Ok(server)
    }

    /// Until `postmaster.pid` says `ready`, or the server is gone, or the
    /// deadline passes.
    fn wait_ready(&self, deadline: Instant) -> anyhow::Result<()> {
        let pidfile = self.dir.join("data/postmaster.pid");
        loop {
            if let Ok(text) = std::fs::read_to_string(&pidfile) {
                let mut lines = text.lines().map(str::trim);
                let pid_line = lines.next();
                let status = lines.nth(PIDFILE_STATUS_LINE - 1);
                if pid_line == Some(self.pid.to_string().as_str()) && status == Some("ready") {
                    return Ok(());
                }
            }
            if process_start_ticks(self.pid).is_none() {
                bail!(
                    "postgres exited while starting; the end of its log:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "postgres was not ready within {SERVER_START_TIMEOUT_MS} ms; the end of its log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(START_POLL_INTERVAL_MS));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

/// The watchdog, run as `sh -c WATCHDOG_SH NAME DIR POSTGRES SETTINGS…`:
/// start the server in the background and print its process id, then wait
/// for end-of-file on standard input (the test process has ended), stop the
/// server (fast shutdown), wait for it and delete the folder. Its output is
/// closed after the process id so that nothing it prints later can meet a
/// closed pipe.
const WATCHDOG_SH: &str = r#"dir=$1
postgres=$2
shift 2
"$postgres" -D "$dir/data" "$@" >"$dir/postgres.log" 2>&1 </dev/null &
pid=$!
echo "$pid"
exec >/dev/null 2>&1
cat
kill -INT "$pid"
wait "$pid"
rm -rf "$dir"
"#;

/// Where the server's folder goes: `SHM_DIR` when it has room, else the
/// temporary folder.
fn server_folder_base() -> PathBuf {
    let free_kib = Command::new("df")
        .args(["--output=avail", "-k", SHM_DIR])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.lines()
                .nth(1)
                .and_then(|l| l.trim().parse::<u64>().ok())
        });
    match free_kib {
        Some(kib) if kib >= SHM_FREE_KIB_MIN => PathBuf::from(SHM_DIR),
        _ => std::env::temp_dir(),
    }
}

/// `program` as the server's user: through `runuser -u postgres --` when
/// the tests run as root (PostgreSQL refuses root), directly otherwise. Run
/// from `/`, which the `postgres` user can always enter.
fn server_side(as_root: bool, program: impl AsRef<OsStr>) -> Command {
    let mut command = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", PG_USER, "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    command.current_dir("/").stdin(Stdio::null());
    command
}

/// The start time (clock ticks after boot) of a live process, `None` when
/// it is gone or a zombie: with the pid, it tells a process from a later
/// one that reuses its pid.
fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
    let (_, fields) = stat.rsplit_once(')')?;
    let mut fields = fields.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // Field 22 of proc_pid_stat(5); the state is field 3.
    fields.nth(18)?.parse().ok()
}

type TemplateCell = Arc<OnceLock<Result<(), String>>>;

/// Templates made (or being made) by this process, by name.
static TEMPLATES: Mutex<BTreeMap<String, TemplateCell>> = Mutex::new(BTreeMap::new());

fn make_template<F>(name: &str, prepare: F) -> anyhow::Result<()>
where
    F: FnOnce(&str) -> anyhow::Result<()> + Send,
{
    let server = server()?;
    let database = format!("{TEMPLATE_PREFIX}{name}");
    server.psql_admin(&[&format!("CREATE DATABASE {database}")])?;
    let url = server.url(&database);
    // A plain thread, so that `prepare` may block on a runtime of its own
    // even when we are called from inside one.
    let prepared = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name(format!("template {name}"))
            .spawn_scoped(scope, || prepare(&url))
            .map(|thread| thread.join())
    })
    .context("cannot start a thread to prepare the template")?;
    match prepared {
        Ok(result) => result.with_context(|| format!("preparing {url}"))?,
        Err(payload) => std::panic::resume_unwind(payload),
    }
    // CREATE DATABASE … TEMPLATE refuses a source anyone is connected to:
    // close it to new sessions, then end those `prepare` left behind (a
    // pool that was dropped but has not hung up yet).
    let left = server.psql_admin(&[
        &format!("ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"),
        &format!(
            // Sessions chosen first (MATERIALIZED): in one WHERE the
            // planner may call pg_terminate_backend on every backend.
            "WITH left_open AS MATERIALIZED (SELECT pid FROM pg_stat_activity \
             WHERE datname = '{database}' AND pid <> pg_backend_pid()) \
             SELECT count(*) FROM left_open \
             WHERE NOT pg_terminate_backend(pid, {TERMINATE_TIMEOUT_MS})"
        ),
    ])?;
    if left.trim() != "0" {
        bail!(
            "{} session(s) on the template {database} did not end within {TERMINATE_TIMEOUT_MS} ms",
            left.trim()
        );
    }
    Ok(())
}

/// A template's name is part of a database name: lowercase ASCII letters,
/// digits and `_`, starting with a letter, short enough for the prefix.
fn check_template_name(name: &str) -> anyhow::Result<()> {
    let bytes_max = IDENTIFIER_BYTES_MAX - TEMPLATE_PREFIX.len();
    if name.is_empty() || name.len() > bytes_max {
        bail!("a PostgreSQL template name has 1 to {bytes_max} characters, not {name:?}");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase())
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        bail!(
            "a PostgreSQL template name is lowercase ASCII letters, digits and `_`, starting with a letter, not {name:?}"
        );
    }
    Ok(())
}

fn next_database_name() -> String {
    format!(
        "vigie_{}",
        DATABASES_MADE.fetch_add(1, Ordering::Relaxed) + 1
    )
}

/// A folder as a URL query value: unreserved bytes and `/` as they are,
/// every other byte as `%XX` (libpq and tokio-postgres decode it).
fn percent_encode_path(path: &Path) -> String {
    let mut out = String::new();
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// Set in the child process of the owner-killed test.
    const OWNER_ENV: &str = "VIGIE_TEST_PG_OWNER";
    /// The line the child prints: marker, server pid, server folder.
    const OWNER_MARKER: &str = "vigie-test-pg-owner";
    /// The child's initdb and start, on a loaded machine.
    const OWNER_READY_TIMEOUT_MS: u64 = 60_000;
    /// The watchdog's fast shutdown and `rm -rf` after the owner's death.
    const SERVER_GONE_TIMEOUT_MS: u64 = 30_000;
    const GONE_POLL_INTERVAL_MS: u64 = 10;

    #[test]
    fn backend_comes_from_its_variable_and_bad_values_are_named() {
        assert_eq!(Backend::parse(None).ok(), Some(Backend::Sqlite));
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let parsed = Backend::parse(Some(OsStr::new(backend.name())));
            assert_eq!(parsed.ok(), Some(backend));
        }
        assert_eq!(Backend::Sqlite.name(), "sqlite");
        assert_eq!(Backend::Postgres.name(), "postgres");
        for bad in ["mysql", "", "Postgres", "postgresql", " sqlite"] {
            let Err(e) = Backend::parse(Some(OsStr::new(bad))) else {
                panic!("{bad:?} was taken as a backend");
            };
            assert_eq!(
                e.to_string(),
                format!(
                    "VIGIE_TEST_BACKEND={bad:?} is not a test backend: expected `sqlite` (the default when unset) or `postgres`"
                )
            );
        }
        use std::os::unix::ffi::OsStrExt as _;
        let not_utf8 = Backend::parse(Some(OsStr::from_bytes(b"postgres\xff")));
        assert!(
            not_utf8.is_err_and(|e| e.to_string().contains("expected `sqlite`")),
            "a value that is not UTF-8 is refused"
        );
    }

    #[test]
    fn two_fresh_databases_are_separate() -> anyhow::Result<()> {
        let a = fresh_database()?;
        let b = fresh_database()?;
        assert_ne!(a, b);
        let name = |url: &str| psql(url, &["SELECT current_database(), current_user"]);
        let (name_a, name_b) = (name(&a)?, name(&b)?);
        assert!(name_a.starts_with("vigie_") && name_a.ends_with("|postgres\n"));
        assert_ne!(name_a, name_b);
        psql(
            &a,
            &[
                "CREATE TABLE shops (name text)",
                "INSERT INTO shops VALUES ('Tabac du Port')",
            ],
        )?;
        assert_eq!(psql(&a, &["SELECT name FROM shops"])?, "Tabac du Port\n");
        assert_eq!(
            psql(
                &b,
                &["SELECT count(*) FROM pg_tables WHERE tablename = 'shops'"]
            )?,
            "0\n"
        );
        Ok(())
    }

    #[test]
    fn the_url_is_a_unix_socket_in_the_servers_folder() -> anyhow::Result<()> {
        let url = fresh_database()?;
        let server = server()?;
        let database = url
            .strip_prefix("postgres://postgres@/")
            .and_then(|rest| rest.split_once('?'))
            .map(|(database, _)| database.to_string())
            .context("not the URL form the documentation gives")?;
        assert_eq!(url, server.url(&database));
        // The server reports the socket it was reached on (empty for TCP).
        let seen = psql(
            &url,
            &[
                "SELECT coalesce(inet_server_addr()::text, 'socket'), current_setting('unix_socket_directories'), current_setting('listen_addresses')",
            ],
        )?;
        assert_eq!(seen, format!("socket|{}|\n", server.dir().display()));
        assert!(server.dir().join(".s.PGSQL.5432").exists());
        Ok(())
    }

    #[test]
    fn many_fresh_databases_at_once_are_all_distinct() -> anyhow::Result<()> {
        let urls = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8).map(|_| scope.spawn(fresh_database)).collect();
            threads
                .into_iter()
                .map(|t| t.join().map_err(|_| anyhow!("a thread panicked"))?)
                .collect::<anyhow::Result<Vec<String>>>()
        })?;
        let distinct: std::collections::BTreeSet<_> = urls.iter().collect();
        assert_eq!(distinct.len(), urls.len());
        for url in &urls {
            assert_eq!(psql(url, &["SELECT 1"])?, "1\n");
        }
        Ok(())
    }

    #[test]
    fn a_templates_tables_appear_in_separate_copies() -> anyhow::Result<()> {
        let runs = AtomicU64::new(0);
        // A session left open on the template, as a pool not yet hung up.
        let mut lingering: Option<Child> = None;
        prepare_template("kit_shops", |url| {
            runs.fetch_add(1, Ordering::SeqCst);
            psql(
                url,
                &[
                    "CREATE TABLE shops (name text NOT NULL)",
                    "INSERT INTO shops VALUES ('Tabac de la Mairie')",
                ],
            )?;
            lingering = Some(open_session(url)?);
            Ok(())
        })?;
        prepare_template("kit_shops", |_| {
            runs.fetch_add(1, Ordering::SeqCst);
            bail!("a second preparation of the same template")
        })?;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "prepared once per process");

        let one = fresh_database_from("kit_shops")?;
        let two = fresh_database_from("kit_shops")?;
        assert_ne!(one, two);
        for copy in [&one, &two] {
            assert_eq!(
                psql(copy, &["SELECT name FROM shops"])?,
                "Tabac de la Mairie\n"
            );
        }
        psql(&one, &["INSERT INTO shops VALUES ('Presse du Marché')"])?;
        assert_eq!(psql(&one, &["SELECT count(*) FROM shops"])?, "2\n");
        assert_eq!(psql(&two, &["SELECT count(*) FROM shops"])?, "1\n");

        let server = server()?;
        let template = psql(
            &server.url("postgres"),
            &[
                "SELECT datistemplate, datallowconn FROM pg_database WHERE datname = 'vigie_template_kit_shops'",
            ],
        )?;
        assert_eq!(template, "t|f\n");
        // The session left open was ended, and cannot come back.
        let mut session = lingering.context("the preparation ran")?;
        let mut stdin = session.stdin.take().context("session stdin")?;
        let _ = stdin.write_all(b"SELECT 'still connected';\n");
        drop(stdin);
        let mut rest = String::new();
        let mut stdout = session.stdout.take().context("session stdout")?;
        std::io::Read::read_to_string(&mut stdout, &mut rest)?;
        assert!(!session.wait()?.success(), "psql noticed its session ended");
        assert!(!rest.contains("still connected"), "{rest}");
        Ok(())
    }

    #[test]
    fn templates_are_named_and_prepared_before_use() {
        let err = |r: anyhow::Result<String>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            err(fresh_database_from("never_prepared")),
            "the PostgreSQL template `never_prepared` is not prepared in this test process: call prepare_template(\"never_prepared\", …) before fresh_database_from"
        );
        for bad in ["", "Hub", "9hub", "hub-v1", "hub;drop", &"h".repeat(49)] {
            assert!(
                err(fresh_database_from(bad)).starts_with("a PostgreSQL template name"),
                "{bad:?}"
            );
            assert!(prepare_template(bad, |_| Ok(())).is_err(), "{bad:?}");
        }
        assert!(check_template_name(&"h".repeat(48)).is_ok());
        let failed = prepare_template("kit_failing", |_| bail!("the migration broke"));
        assert!(failed.is_err_and(|e| e.to_string().contains("the migration broke")));
        assert!(
            err(fresh_database_from("kit_failing")).contains("the migration broke"),
            "a failed template says why when it is used"
        );
    }

    #[tokio::test]
    async fn usable_from_inside_a_tokio_runtime() -> anyhow::Result<()> {
        let url = fresh_database()?;
        prepare_template("kit_async", |url| {
            // What a hub's migration does: its own runtime, blocked on.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let url = url.to_string();
                tokio::task::spawn_blocking(move || psql(&url, &["CREATE TABLE alarms (id uuid)"]))
                    .await?
            })?;
            Ok(())
        })?;
        let copy = fresh_database_from("kit_async")?;
        assert_eq!(psql(&copy, &["SELECT count(*) FROM alarms"])?, "0\n");
        assert_eq!(psql(&url, &["SELECT 1"])?, "1\n");
        Ok(())
    }

    /// The server must not outlive its process: a child process (this same
    /// test binary, running only this test with `VIGIE_TEST_PG_OWNER` set)
    /// starts the server and waits; we kill it with SIGKILL and watch the
    /// server and its folder go.
    #[test]
    fn the_server_goes_away_when_its_owner_is_killed() -> anyhow::Result<()> {
        if std::env::var_os(OWNER_ENV).is_some() {
            let server = server()?;
            println!("{OWNER_MARKER} {} {}", server.pid(), server.dir().display());
            std::io::stdout().flush()?;
            // Blocks until killed (nothing is ever written to it).
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            bail!("the owner was to be killed while waiting");
        }
        let mut owner = Command::new(std::env::current_exe()?)
            .args([
                "postgres::tests::the_server_goes_away_when_its_owner_is_killed",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(OWNER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = owner.stdout.take().context("owner's stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // After libtest's `test NAME ... ` on the same line.
                if let Some(at) = line.find(OWNER_MARKER) {
                    let _ = tx.send(line[at..].to_string());
                }
            }
        });
        let line = rx.recv_timeout(Duration::from_millis(OWNER_READY_TIMEOUT_MS));
        let Ok(line) = line else {
            let _ = owner.kill();
            bail!(
                "the owner process did not start its server (run this test alone with {OWNER_ENV}=1 to see why)"
            );
        };
        let mut fields = line.split(' ').skip(1);
        let pid: u32 = fields.next().context("pid")?.parse()?;
        let dir = PathBuf::from(fields.next().context("folder")?);
        let started = process_start_ticks(pid).context("the owner's server is not running")?;
        assert_eq!(
            std::fs::read_to_string(format!("/proc/{pid}/comm"))?,
            "postgres\n"
        );
        assert!(dir.join(".s.PGSQL.5432").exists());
        assert_ne!(
            server().map(Server::pid).ok(),
            Some(pid),
            "the owner has a server of its own"
        );

        owner.kill()?; // SIGKILL: no destructor, no exit handler runs.
        owner.wait()?;
        let deadline = Instant::now() + Duration::from_millis(SERVER_GONE_TIMEOUT_MS);
        loop {
            let running = process_start_ticks(pid) == Some(started);
            if !running && !dir.exists() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{SERVER_GONE_TIMEOUT_MS} ms after its owner was killed: server running {running}, folder {} still there {}",
                    dir.display(),
                    dir.exists()
                );
            }
            std::thread::sleep(Duration::from_millis(GONE_POLL_INTERVAL_MS));
        }
    }

    /// `psql` connected to `url` and kept open (its input is a pipe we hold).
    fn open_session(url: &str) -> anyhow::Result<Child> {
        let mut session = Command::new(Path::new(PG_BIN_DIR).join("psql"))
            .args(["-X", "-q", "-A", "-t", "-d", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut stdin = session.stdin.take().context("session stdin")?;
        stdin.write_all(b"SELECT 'connected';\n")?;
        let mut stdout = session.stdout.take().context("session stdout")?;
        let mut line = String::new();
        // Unbuffered, so that nothing after the line is read and lost.
        let mut byte = [0u8; 1];
        while !line.ends_with('\n') {
            if std::io::Read::read(&mut stdout, &mut byte)? == 0 {
                bail!("psql ended before it answered: {line:?}");
            }
            line.push(char::from(byte[0]));
        }
        assert_eq!(line, "connected\n");
        session.stdout = Some(stdout);
        session.stdin = Some(stdin);
        Ok(session)
    }
}
