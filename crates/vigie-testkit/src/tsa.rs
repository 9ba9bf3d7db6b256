//! The RFC 3161 time-stamping authority peer: `openssl ts` behind the small
//! HTTP front in `tests/peers/tsa/`, with a fresh test CA.

use anyhow::{Context as _, bail};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long the peer may take to print its port.
const TSA_START_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Tsa {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Tsa {
    /// Make a CA and a TSA in a fresh folder, and start the HTTP front.
    pub fn start() -> anyhow::Result<Self> {
        let peers = crate::repo_root().join("tests/peers/tsa");
        let dir = std::env::temp_dir().join(format!(
            "vigie-tsa-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir)?;
        let status = Command::new(peers.join("make-ca.sh"))
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("cannot run tests/peers/tsa/make-ca.sh (is openssl installed?)")?;
        if !status.success() {
            bail!("make-ca.sh failed: install openssl");
        }
        let mut child = Command::new("python3")
            .arg(peers.join("tsa_http.py"))
            .arg(&dir)
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start tsa_http.py (is python3 installed?)")?;
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
