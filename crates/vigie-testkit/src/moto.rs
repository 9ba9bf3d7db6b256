//! The S3 peer: `moto_server` (PyPI `moto[server]`) on loopback, with a
//! fresh bucket. moto accepts any credentials and checks no signature.

use anyhow::{Context as _, bail};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long moto may take to answer after it is started.
const MOTO_START_TIMEOUT: Duration = Duration::from_secs(30);
const INSTALL: &str = "pip install 'moto[server]==5.2.5'";

pub struct Moto {
    child: Child,
    port: u16,
    bucket: String,
}

impl Moto {
    /// Start `moto_server -H 127.0.0.1 -p PORT`, wait until it answers, and
    /// create `bucket`.
    pub async fn start(bucket: &str) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start moto_server: {INSTALL}"))?;
        // From here on the guard kills it, whatever happens.
        let mut moto = Self {
            child,
            port,
            bucket: bucket.to_string(),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let started = Instant::now();
        loop {
            if let Some(status) = moto.child.try_wait()? {
                bail!("moto_server exited at start ({status}); is it installed? {INSTALL}");
            }
            if http.get(moto.endpoint()).send().await.is_ok() {
                break;
            }
            if started.elapsed() > MOTO_START_TIMEOUT {
                bail!("moto_server did not answer on port {port} within {MOTO_START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = http
            .put(format!("{}/{bucket}", moto.endpoint()))
            .send()
            .await
            .context("creating the bucket")?;
        if !r.status().is_success() {
            bail!(
                "moto refused to create the bucket {bucket}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        Ok(moto)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The hub's `[vault.s3]` section for this server.
    pub fn vault_s3_toml(&self) -> String {
        format!(
            "[vault.s3]\nbucket = \"{}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\nallow_http = true\n",
            self.bucket,
            self.endpoint()
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
