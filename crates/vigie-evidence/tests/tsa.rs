//! Trusted time against a real time-stamping authority: `openssl ts -reply`
//! behind `tests/peers/tsa/tsa_http.py`, with a fresh test CA made by
//! `tests/peers/tsa/make-ca.sh`. Tokens are requested over HTTP, checked by
//! `vigie_evidence::tsa`, and cross-checked with `openssl ts -verify`.
//! Needs `openssl` and `python3` on the PATH (both in the test image).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use vigie_evidence::tsa::{
    TsaError, build_request, check_reply, parse_response, verify_token, verify_token_with_nonce,
};

/// How long the peer may take to print its port (python start-up).
const PEER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one time-stamp request may take (openssl start-up and signing).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest reply read from the peer.
const REPLY_BYTES_MAX: u64 = 64 * 1024;

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/tsa")
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "vigie-tsa-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test CA and TSA (`make-ca.sh`) in a fresh directory.
fn make_ca(label: &str) -> TempDir {
    let dir = TempDir::new(label);
    let status = Command::new(peer_dir().join("make-ca.sh"))
        .arg(&dir.0)
        .status()
        .expect("run make-ca.sh");
    assert!(status.success(), "make-ca.sh failed");
    dir
}

/// The HTTP front (`tsa_http.py`), killed on drop.
struct Peer {
    child: Child,
    port: u16,
}

impl Peer {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new("python3")
            .arg(peer_dir().join("tsa_http.py"))
            .arg(dir)
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tsa_http.py");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver
            .recv_timeout(PEER_START_TIMEOUT)
            .expect("the peer prints its port");
        let port = line.trim().parse().expect("a port number");
        Self { child, port }
    }

    /// POSTs a time-stamp query; the reply's body.
    fn post(&self, query: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .expect("timeout");
        let head = format!(
            "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/timestamp-query\r\nContent-Length: {}\r\n\r\n",
            query.len()
        );
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(query).expect("write query");
        let mut reply = Vec::new();
        stream
            .take(REPLY_BYTES_MAX)
            .read_to_end(&mut reply)
            .expect("read reply");
        assert!(Instant::now() < deadline, "the peer took too long");
        let split = reply
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .expect("an HTTP head");
        let head = String::from_utf8_lossy(&reply[..split]).to_lowercase();
        assert!(head.starts_with("http/1.0 200"), "{head}");
        assert!(
            head.contains("content-type: application/timestamp-reply"),
            "{head}"
        );
        reply[split + 4..].to_vec()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl ts -verify`; whether it said "Verification: OK".
fn openssl_verify(data: &Path, reply: &Path, ca: &Path, tsa: &Path) -> bool {
    let output = Command::new("openssl")
        .args(["ts", "-verify", "-data"])
        .arg(data)
        .arg("-in")
        .arg(reply)
        .arg("-CAfile")
        .arg(ca)
        .arg("-untrusted")
        .arg(tsa)
        .output()
        .expect("run openssl ts -verify");
    output.status.success() && String::from_utf8_lossy(&output.stdout).contains("Verification: OK")
}

#[test]
fn a_token_from_the_test_tsa_verifies_here_and_with_openssl() {
    let ca = make_ca("ca");
    let other_ca = make_ca("other");
    let peer = Peer::start(&ca.0);
    let work = TempDir::new("work");

    let checkpoint = b"vigie-checkpoint-v1\nlog: it\nsize: 1\nroot: 00\ntime-ms: 1795680000000\n";
    let checkpoint_path = work.0.join("checkpoint.txt");
    std::fs::write(&checkpoint_path, checkpoint).expect("write checkpoint");
    let nonce = 0x8765_4321_0fed_cba9;
    let reply = peer.post(&build_request(Sha256::digest(checkpoint).into(), nonce));
    let reply_path = work.0.join("reply.tsr");
    std::fs::write(&reply_path, &reply).expect("write reply");

    let chain = std::fs::read(ca.0.join("ca.crt")).expect("ca.crt");
    let info = verify_token_with_nonce(checkpoint, &reply, &chain, nonce).expect("ours accepts");
    assert_eq!(info.nonce, Some(nonce));
    assert_eq!(info.policy, "1.3.6.1.4.1.99999.3161.1");
    let token = parse_response(&reply).expect("granted");
    assert_eq!(verify_token(checkpoint, &token, &chain), Ok(info.clone()));
    let checked = check_reply(&reply, checkpoint, nonce).expect("the hub's check");
    assert_eq!(checked.token_der, token);
    assert_eq!(checked.info, info);

    let (ca_crt, tsa_crt) = (ca.0.join("ca.crt"), ca.0.join("tsa.crt"));
    assert!(openssl_verify(
        &checkpoint_path,
        &reply_path,
        &ca_crt,
        &tsa_crt
    ));

    // Over other bytes: both refuse.
    let other_path = work.0.join("other.txt");
    std::fs::write(&other_path, b"another checkpoint\n").expect("write other");
    assert_eq!(
        verify_token(b"another checkpoint\n", &token, &chain),
        Err(TsaError::ImprintMismatch)
    );
    assert!(!openssl_verify(&other_path, &reply_path, &ca_crt, &tsa_crt));

    // Against another CA: both refuse.
    let other_chain = std::fs::read(other_ca.0.join("ca.crt")).expect("other ca.crt");
    let verdict = verify_token(checkpoint, &token, &other_chain);
    assert!(matches!(verdict, Err(TsaError::Chain(_))), "{verdict:?}");
    assert!(!openssl_verify(
        &checkpoint_path,
        &reply_path,
        &other_ca.0.join("ca.crt"),
        &other_ca.0.join("tsa.crt"),
    ));
}

#[test]
fn each_request_gets_its_own_serial_and_nonce() {
    let ca = make_ca("serials");
    let peer = Peer::start(&ca.0);
    let chain = std::fs::read(ca.0.join("ca.crt")).expect("ca.crt");
    let checkpoint = b"vigie-checkpoint-v1\nsize: 2\n";
    let digest: [u8; 32] = Sha256::digest(checkpoint).into();
    let first = peer.post(&build_request(digest, 1));
    let second = peer.post(&build_request(digest, 2));
    let first = verify_token_with_nonce(checkpoint, &first, &chain, 1).expect("first");
    let second_reply = second;
    let second = verify_token_with_nonce(checkpoint, &second_reply, &chain, 2).expect("second");
    assert_ne!(first.serial, second.serial);
    assert!(second.gen_time_ms >= first.gen_time_ms);
    // A reply handed back for another request is refused: the nonce differs.
    assert_eq!(
        check_reply(&second_reply, checkpoint, 1),
        Err(TsaError::NonceMismatch)
    );
}
