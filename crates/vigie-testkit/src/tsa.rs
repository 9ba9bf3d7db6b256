//! The RFC 3161 time-stamping authority peer: `openssl ts` behind the small
//! HTTP front in `tests/peers/tsa/`, with a fresh test CA.
//!
//! `Tsa::start_at` runs the authority on a clock of the test's choosing
//! (libfaketime, a fixed offset from the real clock, advancing with it), so
//! that a test on a manual clock gets tokens in its own timeline and no test
//! depends on today's date.

use anyhow::{Context as _, bail};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Times the test CA is made before the TSA gives up.
const MAKE_CA_TRIES_MAX: usize = 2;
/// How long the peer may take to print its port.
const TSA_START_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Tsa {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Tsa {
    /// Make a CA and a TSA in a fresh folder, and start the HTTP front, on
    /// the real clock (for the demo and the benchmarks, whose hubs run on it).
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(None)
    }

    /// The same, with the authority's clock (its certificates' validity and
    /// every token's `genTime`) at `unix_ms` now and advancing in real time
    /// from there: `faketime -f "±Ns"` around `make-ca.sh` and around each
    /// `openssl ts -reply` of the HTTP front (`TSA_FAKETIME`).
    pub fn start_at(unix_ms: i64) -> anyhow::Result<Self> {
        let real_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let offset_s = (unix_ms - real_ms).div_euclid(1_000);
        Self::start_with(Some(format!("{offset_s:+}")))
    }

    fn start_with(faketime: Option<String>) -> anyhow::Result<Self> {
        let peers = crate::repo_root().join("tests/peers/tsa");
        let dir = std::env::temp_dir().join(format!(
            "vigie-tsa-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir)?;
        // The test CA is made again once if openssl fails (seen once under
        // load, under faketime); both failures are reported in its words.
        let mut failures = Vec::new();
        for _ in 0..MAKE_CA_TRIES_MAX {
            let out = command(faketime.as_deref(), &peers.join("make-ca.sh"))
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .context(
                    "cannot run tests/peers/tsa/make-ca.sh (are openssl and faketime installed?)",
                )?;
            if out.status.success() {
                failures.clear();
                break;
            }
            failures.push(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        if !failures.is_empty() {
            bail!(
                "make-ca.sh failed (install openssl, and faketime: apt-get install faketime): {}",
                failures.join(" | ")
            );
        }
        let mut front = Command::new("python3");
        if let Some(offset) = &faketime {
            // The front runs each `openssl ts -reply` under `faketime`; it
            // is not itself wrapped, so that killing it leaves no orphan.
            front.env("TSA_FAKETIME", offset);
        }
        // Its own complaints (a failed `openssl ts -reply`) go to a file
        // beside the CA, for a test that fails to point at.
        let log = std::fs::File::create(dir.join("front.log"))?;
        let mut child = front
            .arg(peers.join("tsa_http.py"))
            .arg(&dir)
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start tsa_http.py (are python3 and faketime installed?)")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(TSA_START_TIMEOUT)
            .context("the TSA peer did not print its port")?;
        let port = line
            .trim()
            .parse()
            .context("the TSA peer printed no port")?;
        Ok(Self { child, port, dir })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The chain to put in exports: the TSA certificate then the root.
    pub fn chain_pem(&self) -> anyhow::Result<Vec<u8>> {
        let mut pem = std::fs::read(self.dir.join("tsa.crt"))?;
        pem.extend(std::fs::read(self.dir.join("ca.crt"))?);
        Ok(pem)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// `program`, or `faketime -f OFFSET program` when the clock is moved.
fn command(faketime: Option<&str>, program: &Path) -> Command {
    match faketime {
        None => Command::new(program),
        Some(offset) => {
            let mut c = Command::new("faketime");
            c.arg("-f").arg(offset).arg(program);
            c
        }
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

impl Drop for Tsa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
