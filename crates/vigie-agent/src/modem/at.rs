//! AT command client for the box's modem (3GPP TS 27.007 and TS 27.005, SMS
//! in PDU mode), over a serial port (`tokio-serial`) or any byte stream.
//!
//! One task owns the port. Commands reach it through a bounded channel and
//! run one at a time, each with its own deadline; the answer is read line by
//! line up to a final result code (`OK`, `ERROR`, `+CME ERROR: n`,
//! `+CMS ERROR: n`). Unsolicited lines (`+CMTI`, `RING`, `+CREG: n`) that
//! arrive between or during commands are kept apart. The `> ` prompt of
//! `AT+CMGS` has no line terminator and is detected in the partial line.
//!
//! Invariants: a modem that answers garbage or nothing yields
//! `ModemError::Unresponsive` within its deadline, never a hang or a crash;
//! after such a failure the next command first resynchronises (flush the
//! input, `AT` until `OK`, then the init sequence again).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use vigie_core::PhoneNumber;
use vigie_core::pdu::{decode_deliver, encode_submit};
use vigie_proto::ModemState;

use super::{Modem, ModemError, ModemStatus};

/// A plain command (AT+CSQ, AT+CMGR…): SIMCom and Quectel document 300 ms
/// for most and up to 5 s for those that touch the SIM (AT+CPIN?, AT+CMGR).
const COMMAND_TIMEOUT_MS: u64 = 5_000;
/// From `AT+CMGS=<len>` to the `> ` prompt: the modem answers it locally.
const PROMPT_TIMEOUT_MS: u64 = 5_000;
/// From Ctrl-Z to `+CMGS: <mr>`: a network round trip, documented as up to
/// 60 s (SIMCom) on a poor cell.
const SEND_TIMEOUT_MS: u64 = 60_000;
/// One `AT` probe at init or resynchronisation: a live modem answers in
/// milliseconds, so a second without `OK` means garbage or silence.
const PROBE_TIMEOUT_MS: u64 = 1_000;
/// `AT` probes before giving up: a modem just powered on may drop the first.
const PROBE_ATTEMPTS: u32 = 3;
/// Flushing the input waits for the line to be quiet this long…
const FLUSH_QUIET_MS: u64 = 50;
/// …and no longer than this in all, since a modem spewing garbage never is.
const FLUSH_MS_MAX: u64 = 500;
/// The longest real line is a `+CMGR` PDU (176 octets = 352 hex digits);
/// a longer run without a line end is garbage.
const LINE_BYTES_MAX: usize = 1_024;
/// Information lines kept for one command; `AT+CMGL` on a full SIM gives ~60.
const RESPONSE_LINES_MAX: usize = 128;
/// Commands waiting for the port; callers beyond that wait for a slot.
const REQUEST_QUEUE_MAX: usize = 16;
/// `+CMTI` indices kept until `read_incoming`; a SIM stores 20–50 SMS.
const PENDING_SMS_MAX: usize = 64;
/// Other unsolicited lines kept for diagnosis (oldest dropped first).
const UNSOLICITED_LINES_MAX: usize = 32;
/// One read from the port.
const READ_CHUNK_BYTES: usize = 512;

/// Ctrl-Z ends the PDU after the prompt; ESC cancels it (TS 27.005 §3.5.1).
const CTRL_Z: u8 = 0x1A;
const ESC: u8 = 0x1B;

/// Unsolicited result codes that may arrive at any time (TS 27.005 §3.4.1,
/// TS 27.007 §7.2). `+CREG:` is also the answer to `AT+CREG?`.
const UNSOLICITED_PREFIXES: [&str; 12] = [
    "+CMTI:", "+CDSI:", "+CMT:", "+CDS:", "+CBM:", "RING", "+CRING:", "+CLIP:", "+CREG:",
    "+CGREG:", "+CEREG:", "+CUSD:",
];

/// Deadlines of the client; the defaults suit SIMCom/Quectel modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtTimeouts {
    pub command: Duration,
    pub prompt: Duration,
    pub send: Duration,
    pub probe: Duration,
}

impl Default for AtTimeouts {
    fn default() -> Self {
        Self {
            command: Duration::from_millis(COMMAND_TIMEOUT_MS),
            prompt: Duration::from_millis(PROMPT_TIMEOUT_MS),
            send: Duration::from_millis(SEND_TIMEOUT_MS),
            probe: Duration::from_millis(PROBE_TIMEOUT_MS),
        }
    }
}

/// A modem spoken to with AT commands. Cheap to share: it is a handle on
/// the task that owns the port; dropping the last handle closes the port.
pub struct AtModem {
    requests: mpsc::Sender<Request>,
    shared: Arc<Shared>,
}

/// What the port task collects on its own, between commands.
#[derive(Default)]
struct Shared {
    /// Storage indices announced by `+CMTI: "SM",n`.
    new_sms: Mutex<VecDeque<u32>>,
    unsolicited: Mutex<VecDeque<String>>,
}

enum Op {
    /// Run the init sequence now (otherwise it runs before the first command).
    Init,
    Command(String),
    /// `AT+CMGS=<tpdu_len>`, then the hex PDU after the prompt.
    Send {
        tpdu_len: usize,
        hex: String,
    },
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Vec<String>, ModemError>>,
}

impl AtModem {
    /// Open a serial port (e.g. `/dev/ttyUSB2`, or a pty) at `baud`, 8N1.
    /// Must be called within a Tokio runtime.
    pub fn open(path: &str, baud: u32) -> Result<Self, ModemError> {
        use tokio_serial::SerialPortBuilderExt;
        let port = tokio_serial::new(path, baud)
            .open_native_async()
            .map_err(|e| ModemError::Unresponsive(format!("cannot open {path}: {e}")))?;
        Ok(Self::new(port))
    }

    /// Speak AT over any byte stream (a serial port, a pty, a socket).
    /// Must be called within a Tokio runtime.
    pub fn new<S>(stream: S) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::with_timeouts(stream, AtTimeouts::default())
    }

    pub fn with_timeouts<S>(stream: S, timeouts: AtTimeouts) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (requests, rx) = mpsc::channel(REQUEST_QUEUE_MAX);
        let shared = Arc::new(Shared::default());
        let port = Port {
            stream,
            timeouts,
            pending: Vec::new(),
            lines: VecDeque::new(),
            shared: Arc::clone(&shared),
            ready: false,
            closed: None,
        };
        tokio::spawn(port.run(rx));
        Self { requests, shared }
    }

    /// Run the init sequence (`AT` until `OK`, `ATE0`, `AT+CMEE=1`,
    /// `AT+CMGF=0`). Optional: every command runs it first when needed.
    pub async fn init(&self) -> Result<(), ModemError> {
        self.request(Op::Init).await.map(drop)
    }

    /// The SMS announced by `+CMTI` since the last call, as (sender, text),
    /// read with `AT+CMGR` in PDU mode and then deleted from the SIM. An SMS
    /// that cannot be decoded is logged and deleted; if the modem stops
    /// answering, the rest stay pending for the next call.
    pub async fn read_incoming(&self) -> Vec<(String, String)> {
        let indices: Vec<u32> = lock(&self.shared.new_sms).drain(..).collect();
        let mut out = Vec::new();
        for (i, &n) in indices.iter().enumerate() {
            match self.request(Op::Command(format!("AT+CMGR={n}"))).await {
                Ok(lines) => match deliver_pdu_of(&lines) {
                    Some(hex) => match decode_deliver(hex) {
                        Ok(sms) => out.push((sms.from, sms.text)),
                        Err(e) => {
                            tracing::warn!(index = n, error = %e, "incoming SMS not decodable, deleted")
                        }
                    },
                    None => tracing::warn!(index = n, "AT+CMGR gave no PDU"),
                },
                Err(ModemError::Refused(e)) => {
                    tracing::warn!(index = n, error = %e, "incoming SMS cannot be read");
                }
                Err(e @ ModemError::Unresponsive(_)) => {
                    tracing::warn!(error = %e, "modem stopped answering; incoming SMS left for later");
                    let mut pending = lock(&self.shared.new_sms);
                    for &rest in indices[i..].iter().rev() {
                        pending.push_front(rest);
                    }
                    break;
                }
            }
            if let Err(e) = self.request(Op::Command(format!("AT+CMGD={n}"))).await {
                tracing::warn!(index = n, error = %e, "incoming SMS not deleted from the SIM");
            }
        }
        out
    }

    /// Unsolicited lines other than `+CMTI` seen lately (oldest first).
    pub fn unsolicited(&self) -> Vec<String> {
        lock(&self.shared.unsolicited).iter().cloned().collect()
    }

    async fn request(&self, op: Op) -> Result<Vec<String>, ModemError> {
        let (reply, answer) = oneshot::channel();
        let gone = || ModemError::Unresponsive("the modem task has stopped".into());
        self.requests
            .send(Request { op, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    async fn command(&self, line: &str) -> Result<Vec<String>, ModemError> {
        self.request(Op::Command(line.to_string())).await
    }
}

#[async_trait]
impl Modem for AtModem {
    async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<(), ModemError> {
        let pdu = encode_submit(to, text).map_err(|e| ModemError::Refused(e.to_string()))?;
        let lines = self
            .request(Op::Send {
                tpdu_len: pdu.tpdu_len,
                hex: pdu.hex,
            })
            .await?;
        let reference = lines.iter().find_map(|l| l.strip_prefix("+CMGS:"));
        match reference {
            Some(mr) => tracing::info!(to = %to, mr = mr.trim(), "SMS sent through the modem"),
            None => tracing::warn!(to = %to, "modem said OK to AT+CMGS without +CMGS"),
        }
        Ok(())
    }

    async fn status(&self) -> Result<ModemStatus, ModemError> {
        let sim = match self.command("AT+CPIN?").await {
            Ok(lines) => match info_of(&lines, "+CPIN:") {
                Some("READY") => Ok(()),
                Some(other) => Err(other.to_string()),
                None => return Err(unexpected("AT+CPIN?", &lines)),
            },
            Err(ModemError::Refused(e)) => Err(e),
            Err(e) => return Err(e),
        };
        let lines = self.command("AT+CSQ").await?;
        let signal_csq = info_of(&lines, "+CSQ:")
            .and_then(|v| v.split(',').next())
            .and_then(|rssi| rssi.trim().parse::<u8>().ok())
            .filter(|&rssi| rssi <= 31);
        if let Err(why) = sim {
            tracing::warn!(sim = %why, "SIM not usable");
            return Ok(ModemStatus {
                state: ModemState::NoSim,
                signal_csq,
            });
        }
        let lines = self.command("AT+CREG?").await?;
        let stat = info_of(&lines, "+CREG:")
            .and_then(|v| v.split(',').nth(1))
            .and_then(|s| s.trim().parse::<u8>().ok())
            .ok_or_else(|| unexpected("AT+CREG?", &lines))?;
        Ok(ModemStatus {
            state: registration_state(stat),
            signal_csq,
        })
    }
}

/// `+CREG` `<stat>` (TS 27.007 §7.2).
fn registration_state(stat: u8) -> ModemState {
    match stat {
        1 => ModemState::Registered,
        5 => ModemState::Roaming,
        3 => ModemState::Denied,
        // 0 not registered and not searching, 2 searching, 4 unknown: no
        // service either way; "searching" is what the desk can act on.
        _ => ModemState::Searching,
    }
}

fn unexpected(command: &str, lines: &[String]) -> ModemError {
    ModemError::Unresponsive(format!(
        "unexpected answer to {command}: {:?}",
        lines.iter().take(3).collect::<Vec<_>>()
    ))
}

/// The value after `prefix` in the first line that has it.
fn info_of<'a>(lines: &'a [String], prefix: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .map(str::trim)
}

/// The PDU line that follows `+CMGR: <stat>,[<alpha>],<length>`.
fn deliver_pdu_of(lines: &[String]) -> Option<&str> {
    let header = lines.iter().position(|l| l.starts_with("+CMGR:"))?;
    lines.get(header + 1).map(|l| l.trim())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A final result code, or `None` for any other line.
fn final_result(line: &str) -> Option<Result<(), String>> {
    if line == "OK" {
        return Some(Ok(()));
    }
    if line == "ERROR" {
        return Some(Err("ERROR".into()));
    }
    if let Some(code) = line.strip_prefix("+CMS ERROR:") {
        let code = code.trim();
        return Some(Err(match code.parse::<u16>() {
            Ok(n) => format!("+CMS ERROR: {n} ({})", cms_error_text(n)),
            Err(_) => format!("+CMS ERROR: {code}"),
        }));
    }
    if let Some(code) = line.strip_prefix("+CME ERROR:") {
        let code = code.trim();
        return Some(Err(match code.parse::<u16>() {
            Ok(n) => format!("+CME ERROR: {n} ({})", cme_error_text(n)),
            Err(_) => format!("+CME ERROR: {code}"),
        }));
    }
    None
}

/// `+CMS ERROR` codes (TS 27.005 §3.2.5; 0–127 are network causes from
/// TS 24.011 §E.2 and TS 23.040 §9.2.3.22).
pub fn cms_error_text(code: u16) -> &'static str {
    match code {
        1 => "unassigned number",
        8 => "operator determined barring",
        10 => "call barred",
        21 => "short message transfer rejected",
        27 => "destination out of service",
        28 => "unidentified subscriber",
        29 => "facility rejected",
        30 => "unknown subscriber",
        38 => "network out of order",
        41 => "temporary failure",
        42 => "congestion",
        47 => "resources unavailable",
        50 => "requested facility not subscribed",
        96 => "invalid mandatory information",
        0..=127 => "network refused the message",
        128..=255 => "TP failure (the message itself was refused)",
        300 => "ME failure",
        301 => "SMS service of ME reserved",
        302 => "operation not allowed",
        303 => "operation not supported",
        304 => "invalid PDU mode parameter",
        305 => "invalid text mode parameter",
        310 => "SIM not inserted",
        311 => "SIM PIN required",
        312 => "PH-SIM PIN required",
        313 => "SIM failure",
        314 => "SIM busy",
        315 => "SIM wrong",
        316 => "SIM PUK required",
        320 => "memory failure",
        321 => "invalid memory index",
        322 => "memory full",
        330 => "SMSC address unknown",
        331 => "no network service",
        332 => "network timeout",
        340 => "no +CNMA acknowledgement expected",
        500 => "unknown error",
        512..=767 => "manufacturer-specific error",
        _ => "reserved error code",
    }
}

/// `+CME ERROR` codes (TS 27.007 §9.2).
pub fn cme_error_text(code: u16) -> &'static str {
    match code {
        0 => "phone failure",
        3 => "operation not allowed",
        4 => "operation not supported",
        10 => "SIM not inserted",
        11 => "SIM PIN required",
        12 => "SIM PUK required",
        13 => "SIM failure",
        14 => "SIM busy",
        15 => "SIM wrong",
        16 => "incorrect password",
        30 => "no network service",
        31 => "network timeout",
        100 => "unknown error",
        _ => "other error",
    }
}

/// Why a command did not get its answer.
enum Failure {
    Refused(String),
    /// Nothing sensible before the deadline.
    Timeout(String),
    /// The port is gone.
    Closed(String),
}

impl From<Failure> for ModemError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Refused(s) => ModemError::Refused(s),
            Failure::Timeout(s) | Failure::Closed(s) => ModemError::Unresponsive(s),
        }
    }
}

/// The task that owns the port.
struct Port<S> {
    stream: S,
    timeouts: AtTimeouts,
    /// Bytes received after the last line end.
    pending: Vec<u8>,
    /// Complete lines not yet consumed.
    lines: VecDeque<String>,
    shared: Arc<Shared>,
    /// The init sequence has run and nothing has gone wrong since.
    ready: bool,
    closed: Option<String>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Port<S> {
    async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        loop {
            self.take_idle_lines();
            tokio::select! {
                request = requests.recv() => {
                    let Some(request) = request else { break };
                    let result = self.execute(request.op).await.map_err(ModemError::from);
                    // The caller may have gone away; nothing to do then.
                    let _ = request.reply.send(result);
                }
                read = self.stream.read(&mut chunk), if self.closed.is_none() => {
                    match read {
                        Ok(0) => self.close("end of stream".into()),
                        Ok(n) => self.feed(&chunk[..n]),
                        Err(e) => self.close(e.to_string()),
                    }
                }
            }
        }
    }

    async fn execute(&mut self, op: Op) -> Result<Vec<String>, Failure> {
        if let Some(why) = &self.closed {
            return Err(Failure::Closed(format!("the modem port is closed: {why}")));
        }
        self.ensure_ready().await?;
        let result = match op {
            Op::Init => Ok(Vec::new()),
            Op::Command(line) => {
                let timeout = self.timeouts.command;
                self.transact(&line, None, timeout).await
            }
            Op::Send { tpdu_len, hex } => {
                let timeout = self.timeouts.prompt;
                self.transact(&format!("AT+CMGS={tpdu_len}"), Some(&hex), timeout)
                    .await
            }
        };
        if let Err(Failure::Timeout(why)) = &result {
            tracing::warn!(error = %why, "modem out of step; it will be resynchronised");
            self.ready = false;
        }
        result
    }

    /// Flush, probe with `AT` until `OK`, then the init sequence.
    async fn ensure_ready(&mut self) -> Result<(), Failure> {
        if self.ready {
            return Ok(());
        }
        let probe = self.timeouts.probe;
        let mut last = String::new();
        let mut answered = false;
        for attempt in 1..=PROBE_ATTEMPTS {
            self.flush().await?;
            match self.transact("AT", None, probe).await {
                Ok(_) => {
                    answered = true;
                    break;
                }
                Err(Failure::Closed(why)) => return Err(Failure::Closed(why)),
                Err(Failure::Refused(why) | Failure::Timeout(why)) => {
                    tracing::debug!(attempt, error = %why, "modem probe failed");
                    last = why;
                }
            }
        }
        if !answered {
            return Err(Failure::Timeout(format!(
                "no OK to AT after {PROBE_ATTEMPTS} attempts ({last})"
            )));
        }
        let timeout = self.timeouts.command;
        for command in ["ATE0", "AT+CMEE=1", "AT+CMGF=0"] {
            self.transact(command, None, timeout).await?;
        }
        // New SMS announced by +CMTI and stored on the SIM; some modems
        // want other <bm>/<ds> values, so a refusal is not fatal.
        if let Err(Failure::Refused(e)) = self.transact("AT+CNMI=2,1,0,0,0", None, timeout).await {
            tracing::warn!(error = %e, "modem refused AT+CNMI; incoming SMS may go unannounced");
        }
        self.ready = true;
        Ok(())
    }

    /// Send `command`, and `body` + Ctrl-Z after the `> ` prompt if given;
    /// collect the information lines up to the final result code.
    async fn transact(
        &mut self,
        command: &str,
        body: Option<&str>,
        timeout: Duration,
    ) -> Result<Vec<String>, Failure> {
        self.take_idle_lines();
        self.write(format!("{command}\r").as_bytes()).await?;
        let mut waiting = timeout;
        let mut deadline = Instant::now() + waiting;
        let mut body = body;
        let mut answer = Vec::new();
        let mut garbage_lines = 0usize;
        loop {
            while let Some(line) = self.lines.pop_front() {
                if line == command || body.is_some_and(|b| line == b) {
                    continue; // echo
                }
                if body.is_some() && line == ">" {
                    self.pending.extend_from_slice(b"> "); // a modem that ends its prompt line
                    continue;
                }
                if is_unsolicited(&line, command) {
                    self.unsolicited(line);
                    continue;
                }
                match final_result(&line) {
                    Some(Ok(())) => return Ok(answer),
                    Some(Err(code)) => {
                        return Err(Failure::Refused(format!("{code} to {}", name_of(command))));
                    }
                    None if answer.len() < RESPONSE_LINES_MAX => answer.push(line),
                    None => garbage_lines += 1,
                }
            }
            if let Some(hex) = body
                && is_prompt(&self.pending)
            {
                self.pending.clear();
                let mut out = Vec::with_capacity(hex.len() + 1);
                out.extend_from_slice(hex.as_bytes());
                out.push(CTRL_Z);
                self.write(&out).await?;
                body = None;
                waiting = self.timeouts.send;
                deadline = Instant::now() + waiting;
            }
            if let Err(failure) = self.read_until(deadline).await {
                if body.is_some() {
                    // Still waiting for the prompt: cancel a half-open input.
                    let _ = self.stream.write_all(&[ESC]).await;
                }
                return Err(match failure {
                    Failure::Timeout(_) => Failure::Timeout(format!(
                        "no final result to {} within {} ms{}",
                        name_of(command),
                        waiting.as_millis(),
                        describe_noise(&answer, garbage_lines)
                    )),
                    other => other,
                });
            }
        }
    }

    /// Read once, or fail at the deadline.
    async fn read_until(&mut self, deadline: Instant) -> Result<(), Failure> {
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Err(_) => Err(Failure::Timeout("deadline".into())),
            Ok(Ok(0)) => {
                self.close("end of stream".into());
                Err(Failure::Closed("the modem port closed".into()))
            }
            Ok(Ok(n)) => {
                self.feed(&chunk[..n]);
                Ok(())
            }
            Ok(Err(e)) => {
                let why = e.to_string();
                self.close(why.clone());
                Err(Failure::Closed(format!("the modem port failed: {why}")))
            }
        }
    }

    /// Discard what the modem has said until it is quiet (bounded), keeping
    /// unsolicited lines.
    async fn flush(&mut self) -> Result<(), Failure> {
        let end = Instant::now() + Duration::from_millis(FLUSH_MS_MAX);
        loop {
            let quiet = Instant::now() + Duration::from_millis(FLUSH_QUIET_MS);
            match self.read_until(quiet.min(end)).await {
                Ok(()) if Instant::now() < end => {}
                Ok(()) | Err(Failure::Timeout(_)) => break,
                Err(other) => return Err(other),
            }
        }
        self.take_idle_lines();
        self.pending.clear();
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let result = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        }
        .await;
        result.map_err(|e| {
            let why = e.to_string();
            self.close(why.clone());
            Failure::Closed(format!("cannot write to the modem: {why}"))
        })
    }

    /// Split received bytes into lines (CR or LF ends a line; empty lines
    /// are the framing of V.25ter answers and carry nothing).
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                if !self.pending.is_empty() {
                    let line = String::from_utf8_lossy(&self.pending).trim().to_string();
                    self.pending.clear();
                    if !line.is_empty() {
                        self.lines.push_back(line);
                    }
                }
            } else if self.pending.len() < LINE_BYTES_MAX {
                self.pending.push(b);
            } else {
                // No line end in sight: garbage. Start over.
                self.pending.clear();
            }
        }
    }

    /// Lines that arrived while no command was running: unsolicited, or a
    /// late answer to a command that timed out (dropped).
    fn take_idle_lines(&mut self) {
        while let Some(line) = self.lines.pop_front() {
            if is_unsolicited(&line, "") {
                self.unsolicited(line);
            } else {
                tracing::debug!(line = %line.chars().take(80).collect::<String>(), "stray line from the modem dropped");
            }
        }
    }

    fn unsolicited(&mut self, line: String) {
        if let Some(index) = cmti_index(&line) {
            let mut pending = lock(&self.shared.new_sms);
            if pending.len() < PENDING_SMS_MAX && !pending.contains(&index) {
                pending.push_back(index);
            } else {
                tracing::warn!(
                    index,
                    "incoming SMS not queued (already queued or queue full)"
                );
            }
            return;
        }
        tracing::debug!(line = %line, "unsolicited line from the modem");
        let mut kept = lock(&self.shared.unsolicited);
        if kept.len() == UNSOLICITED_LINES_MAX {
            kept.pop_front();
        }
        kept.push_back(line);
    }

    fn close(&mut self, why: String) {
        tracing::warn!(error = %why, "modem port closed");
        self.closed = Some(why);
        self.ready = false;
    }
}

/// `> ` without a line end, possibly after the framing CR LF.
fn is_prompt(pending: &[u8]) -> bool {
    pending.trim_ascii() == b">"
}

/// An unsolicited result code, unless it is the answer to `command`
/// (`+CREG: 0,1` answers `AT+CREG?`).
fn is_unsolicited(line: &str, command: &str) -> bool {
    let Some(prefix) = UNSOLICITED_PREFIXES.iter().find(|p| line.starts_with(*p)) else {
        return false;
    };
    let answer_to = prefix.trim_end_matches(':');
    !(answer_to.starts_with('+') && name_of(command).starts_with(&format!("AT{answer_to}")))
}

/// `+CMTI: "SM",3` → 3.
fn cmti_index(line: &str) -> Option<u32> {
    line.strip_prefix("+CMTI:")?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The command without its arguments, for messages: `AT+CMGS=23` → `AT+CMGS`.
fn name_of(command: &str) -> &str {
    command.split(['=', '?']).next().unwrap_or(command)
}

fn describe_noise(answer: &[String], garbage_lines: usize) -> String {
    let lines = answer.len() + garbage_lines;
    if lines == 0 {
        String::new()
    } else {
        format!(" ({lines} unexpected lines: garbage?)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_results_are_readable() {
        assert_eq!(final_result("OK"), Some(Ok(())));
        assert_eq!(final_result("+CMSS: 3"), None);
        assert_eq!(
            final_result("+CMS ERROR: 330"),
            Some(Err("+CMS ERROR: 330 (SMSC address unknown)".into()))
        );
        assert_eq!(
            final_result("+CMS ERROR: 513"),
            Some(Err("+CMS ERROR: 513 (manufacturer-specific error)".into()))
        );
        assert_eq!(
            final_result("+CME ERROR: 10"),
            Some(Err("+CME ERROR: 10 (SIM not inserted)".into()))
        );
        assert_eq!(
            final_result("+CME ERROR: SIM busy"),
            Some(Err("+CME ERROR: SIM busy".into()))
        );
        for (code, text) in [
            (300, "ME failure"),
            (301, "SMS service of ME reserved"),
            (304, "invalid PDU mode parameter"),
            (310, "SIM not inserted"),
            (500, "unknown error"),
        ] {
            assert_eq!(cms_error_text(code), text);
        }
    }

    #[test]
    fn unsolicited_lines_are_told_from_answers() {
        assert!(is_unsolicited("+CMTI: \"SM\",3", "AT+CSQ"));
        assert!(is_unsolicited("RING", "AT+CSQ"));
        assert!(is_unsolicited("+CREG: 1", "AT+CSQ"));
        assert!(!is_unsolicited("+CREG: 0,1", "AT+CREG?"));
        assert!(!is_unsolicited("+CSQ: 20,99", "AT+CSQ"));
        assert_eq!(cmti_index("+CMTI: \"SM\",12"), Some(12));
        assert_eq!(cmti_index("+CMTI: \"SM\",x"), None);
        assert!(is_prompt(b"> "));
        assert!(is_prompt(b">"));
        assert!(!is_prompt(b">>"));
        assert_eq!(name_of("AT+CMGS=23"), "AT+CMGS");
    }

    #[test]
    fn registration_states() {
        assert_eq!(registration_state(1), ModemState::Registered);
        assert_eq!(registration_state(5), ModemState::Roaming);
        assert_eq!(registration_state(2), ModemState::Searching);
        assert_eq!(registration_state(3), ModemState::Denied);
    }

    /// Over an in-memory stream: the client survives a modem that answers
    /// noise, then speaks properly once it does.
    #[tokio::test]
    async fn resynchronises_after_noise() {
        let (client, mut modem) = tokio::io::duplex(4096);
        let timeouts = AtTimeouts {
            probe: Duration::from_millis(200),
            ..AtTimeouts::default()
        };
        let at = AtModem::with_timeouts(client, timeouts);
        let noisy = tokio::spawn(async move {
            let mut buf = [0u8; 256];
            // Noise to every probe, until the client gives up.
            for _ in 0..PROBE_ATTEMPTS {
                let n = modem.read(&mut buf).await.expect("read");
                assert!(n > 0);
                modem.write_all(b"\x00\xff#@!\r\n~~").await.expect("write");
            }
            modem
        });
        let err = at.status().await.expect_err("noise is not an answer");
        assert!(matches!(err, ModemError::Unresponsive(_)), "{err:?}");
        let mut modem = noisy.await.expect("noise task");
        let good = tokio::spawn(async move {
            let mut line = Vec::new();
            let mut buf = [0u8; 256];
            loop {
                let n = modem.read(&mut buf).await.expect("read");
                if n == 0 {
                    return;
                }
                for &b in &buf[..n] {
                    if b != b'\r' {
                        line.push(b);
                        continue;
                    }
                    let answer: &[u8] = match line.as_slice() {
                        b"AT+CPIN?" => b"\r\n+CPIN: READY\r\n\r\nOK\r\n",
                        b"AT+CSQ" => b"\r\n+CSQ: 17,99\r\n\r\nOK\r\n",
                        b"AT+CREG?" => b"\r\n+CREG: 0,5\r\n\r\nOK\r\n",
                        _ => b"\r\nOK\r\n",
                    };
                    modem.write_all(answer).await.expect("write");
                    line.clear();
                }
            }
        });
        let status = at.status().await.expect("answers after resync");
        assert_eq!(
            status,
            ModemStatus {
                state: ModemState::Roaming,
                signal_csq: Some(17)
            }
        );
        drop(at);
        good.await.expect("modem task");
    }
}
