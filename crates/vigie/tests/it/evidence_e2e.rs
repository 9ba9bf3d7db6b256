//! Evidence end to end, process against process: `vigie agent` (button on
//! standard input, microphone a WAV file or a live FIFO) records on a double
//! press and uploads its sealed chunks to `vigie serve`, which logs them and
//! time-stamps its checkpoints with a real RFC 3161 authority (`openssl ts`
//! behind `tests/peers/tsa/`); `vigie admin recording export` writes the
//! ZIP and `vigie verify` checks it offline, as do `sha256sum -c` and
//! `openssl ts -verify` (docs/protocol/evidence.md §6).
//!
//! - real speech (espeak-ng + sox): the export verifies, and its timeline
//!   finds the speech and the shout where the script put them; one changed
//!   byte of audio fails the verification, naming the file;
//! - the box killed mid-recording: the export holds exactly what the hub
//!   acknowledged, verifies, and warns that it is truncated, naming the
//!   last record;
//! - the hub lost mid-recording and back: every chunk arrives once, in
//!   order, the last one final, and nothing of the audio is missing.

use crate::hub::*;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;
use vigie_evidence::chain::{self, ChainEnd};
use vigie_evidence::record::{self, SignedRecord};
use vigie_hub::store::Store;

/// `vigie agent` standard output when the microphone opens / closes.
const RECORDING_STARTED: &str = "recording started: ";
const RECORDING_ENDED: &str = "recording ended: ";
/// Speech boundaries found in the export's timeline vs the script.
const TOLERANCE_S: f32 = 0.5;
/// A spoken passage must be at least this much covered by speech segments.
const SPEECH_COVERAGE_MIN: f32 = 0.8;
/// The whole recording plays for the script's length within this.
const DURATION_TOLERANCE_S: f64 = 0.05;
/// The box's uplink backs off up to 30 s (plus jitter) while the hub is
/// away; waiting for it to come back may take that long on a loaded machine.
const RECONNECT_DEADLINE: Duration = Duration::from_secs(120);
/// The live microphone's sample rate (16-bit mono).
const MIC_RATE_HZ: u32 = 16_000;
const ACTOR: &str = "investigator:test";
const REASON: &str = "PV 2026/1";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---- The script of the test speech ----

#[derive(Debug, serde::Deserialize)]
struct Passage {
    name: String,
    kind: String,
    start: f32,
    end: f32,
}

#[derive(Debug, serde::Deserialize)]
struct Script {
    duration: f64,
    passages: Vec<Passage>,
}

/// `tests/peers/audio/make_speech.sh`: the WAV and where its passages are.
fn make_speech(dir: &TempDir) -> (PathBuf, Script) {
    let wav = dir.path("speech.wav");
    let out = std::process::Command::new("bash")
        .arg(repo_root().join("tests/peers/audio/make_speech.sh"))
        .arg(&wav)
        .output()
        .expect("run make_speech.sh (needs espeak-ng and sox)");
    assert!(
        out.status.success(),
        "make_speech.sh: {}",
        text(&out.stderr)
    );
    (
        wav,
        serde_json::from_slice(&out.stdout).expect("passages JSON"),
    )
}

// ---- The hub, with its time-stamping authority ----

/// A hub whose vault time-stamps with the test TSA, a shop with a police
/// contact, and a box configuration enrolled for it.
struct Rig {
    dir: TempDir,
    /// Kept alive: the hub asks it for tokens.
    _tsa: vigie_testkit::tsa::Tsa,
    port: u16,
    config: PathBuf,
    store: Store,
    hub: Option<HubProcess>,
    agent_config: PathBuf,
}

impl Rig {
    /// Everything up to an enrolled box; `recorder` is the agent's
    /// `[recorder]` section body.
    async fn start(prefix: &str, recorder: impl FnOnce(&TempDir) -> String) -> Self {
        let dir = TempDir::new(prefix);
        let tsa = vigie_testkit::tsa::Tsa::start().expect("the test TSA (openssl) starts");
        let chain = dir.path("tsa-chain.pem");
        std::fs::write(&chain, tsa.chain_pem().expect("TSA chain")).expect("write chain");
        let port = free_port();
        let config = write_config(
            &dir,
            port,
            &format!(
                "{LOG_GATEWAY}[vault]\ntsa_urls = [\"{}\"]\ntsa_chain_pem = \"{}\"\n",
                tsa.url(),
                chain.display()
            ),
        );
        let store = open_store(&config);
        let hub = HubProcess::start(&dir, &config, port).await;
        let agent_config = dir.path("agent.toml");
        std::fs::write(
            &agent_config,
            format!(
                "state_dir = \"{}\"\n[button]\nkind = \"stdin\"\n[timing]\ndirect_sms_delay_ms = 600000\n[recorder]\n{}\n",
                dir.path("box").display(),
                recorder(&dir)
            ),
        )
        .expect("write the agent's config");
        let rig = Self {
            dir,
            _tsa: tsa,
            port,
            config,
            store,
            hub: Some(hub),
            agent_config,
        };
        rig.enroll().await;
        rig
    }

    async fn enroll(&self) {
        let shop_id = self
            .store
            .add_shop(shop("EVI-1", "Tabac du Centre", "06 99 88 77 66"), now())
            .await
            .expect("shop");
        police_contact(&self.store, shop_id, "Gendarmerie", "+33473000017").await;
        let code = self
            .store
            .new_enrolment_code(shop_id, now())
            .await
            .expect("enrolment code");
        let url = self.hub.as_ref().expect("hub running").url.clone();
        let out = vigie(&[
            "agent",
            "--config",
            self.agent_config.to_str().expect("utf-8 path"),
            "enroll",
            "--hub",
            &url,
            "--code",
            &code,
        ])
        .await;
        assert!(
            out.status.success(),
            "enrolment failed ({}):\n{}",
            out.status,
            text(&out.stderr)
        );
    }

    /// The recording as the hub has it, once `done` accepts it.
    async fn hub_recording(
        &self,
        what: &str,
        id: Uuid,
        deadline: Duration,
        done: impl Fn(&vigie_hub::store::vault::Recording) -> bool,
    ) -> vigie_hub::store::vault::Recording {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let rec = self.store.recording(id).await.ok().map(|(r, _)| r);
            if let Some(r) = rec.as_ref().filter(|r| done(r)) {
                return r.clone();
            }
            assert!(
                tokio::time::Instant::now() < end,
                "timed out after {deadline:?} waiting for {what}; the hub has {rec:?}; hub log:\n{}",
                self.hub.as_ref().map(|h| h.log()).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The hub's log entries for the recording's chunks, in log order.
    async fn logged_records(&self, id: Uuid) -> Vec<SignedRecord> {
        self.store
            .recording_entries(id)
            .await
            .expect("log entries")
            .iter()
            .filter(|e| e.kind == "record")
            .map(|e| record::parse(&e.entry).expect("a logged record parses"))
            .collect()
    }

    /// `vigie admin recording export`; the ZIP's path.
    async fn export(&self, id: Uuid, name: &str) -> PathBuf {
        let out_path = self.dir.path(name);
        let out = vigie(&[
            "admin",
            "--config",
            self.config.to_str().expect("utf-8 path"),
            "recording",
            "export",
            &id.to_string(),
            "--actor",
            ACTOR,
            "--reason",
            REASON,
            "--out",
            out_path.to_str().expect("utf-8 path"),
        ])
        .await;
        assert!(
            out.status.success(),
            "vigie admin recording export failed ({}):\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        // The trust file the Region publishes, next to the export.
        let trust = out_path.with_file_name("trust.txt");
        let out = vigie(&[
            "admin",
            "--config",
            self.config.to_str().expect("utf-8 path"),
            "trust",
            "export",
            "--region",
            "Auvergne-Rhône-Alpes",
            "--out",
            trust.to_str().expect("utf-8 path"),
        ])
        .await;
        assert!(
            out.status.success(),
            "vigie admin trust export failed ({}):\n{}",
            out.status,
            text(&out.stderr)
        );
        out_path
    }
}

/// `vigie verify --trust trust.txt ZIP` (the trust file written next to
/// the export): (verified and anchored, standard output).
async fn verify(zip: &Path) -> (bool, String) {
    let trust = zip.with_file_name("trust.txt");
    let out = vigie(&[
        "verify",
        "--trust",
        trust.to_str().expect("utf-8 path"),
        zip.to_str().expect("utf-8 path"),
    ])
    .await;
    let stdout = text(&out.stdout);
    assert!(
        out.status.success() || !stdout.is_empty(),
        "vigie verify printed no report ({}):\n{}",
        out.status,
        text(&out.stderr)
    );
    (out.status.success(), stdout)
}

/// The export's files.
fn unpack(zip: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    vigie_evidence::export::unpack(&std::fs::read(zip).expect("read the export"))
        .expect("the export is a valid ZIP")
}

/// The export's records, in order (`records/000000.txt`, …).
fn exported_records(files: &std::collections::BTreeMap<String, Vec<u8>>) -> Vec<Vec<u8>> {
    files
        .iter()
        .filter(|(p, _)| p.starts_with("records/"))
        .map(|(_, b)| b.clone())
        .collect()
}

/// A recording's id from the agent's `recording started: ID` / `ended: ID (N chunk(s))`.
fn id_after(line: &str, needle: &str) -> Uuid {
    let rest = line.rsplit(needle).next().expect("id").trim();
    let id = rest.split_whitespace().next().expect("id");
    Uuid::parse_str(id).unwrap_or_else(|e| panic!("{e}: {line}"))
}

// ---- The box ----

/// What the test tells the live microphone.
enum Mic {
    /// Play this many seconds of sound, then wait for the next order.
    Play(f32),
    /// Close the FIFO: the source ends.
    Close,
}

/// A microphone the test paces: a FIFO whose WAV header announces a huge
/// length, into which a writer thread puts exactly the audio it is told to.
/// The agent takes samples as fast as they come, so what it has captured
/// is what the test has written, and no more.
struct LiveMic {
    orders: std::sync::mpsc::Sender<Mic>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl LiveMic {
    fn new(path: &Path) -> Self {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo");
        assert!(status.success(), "mkfifo {}", path.display());
        let (orders, rx) = std::sync::mpsc::channel();
        let fifo = path.to_path_buf();
        let writer = std::thread::spawn(move || {
            // Blocks until the agent opens its microphone.
            let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) else {
                return;
            };
            let data_len: u32 = 0x7fff_0000;
            let mut header = Vec::new();
            header.extend_from_slice(b"RIFF");
            header.extend_from_slice(&(data_len + 36).to_le_bytes());
            header.extend_from_slice(b"WAVEfmt ");
            header.extend_from_slice(&16u32.to_le_bytes());
            header.extend_from_slice(&1u16.to_le_bytes()); // PCM
            header.extend_from_slice(&1u16.to_le_bytes()); // mono
            header.extend_from_slice(&MIC_RATE_HZ.to_le_bytes());
            header.extend_from_slice(&(MIC_RATE_HZ * 2).to_le_bytes());
            header.extend_from_slice(&2u16.to_le_bytes());
            header.extend_from_slice(&16u16.to_le_bytes());
            header.extend_from_slice(b"data");
            header.extend_from_slice(&data_len.to_le_bytes());
            if f.write_all(&header).is_err() {
                return;
            }
            let mut n = 0u64;
            while let Ok(Mic::Play(seconds)) = rx.recv() {
                let samples = (seconds * MIC_RATE_HZ as f32) as u64;
                let block: Vec<u8> = (0..samples)
                    .flat_map(|_| {
                        n += 1;
                        let t = n as f32 / MIC_RATE_HZ as f32;
                        ((6_000.0 * (2.0 * std::f32::consts::PI * 300.0 * t).sin()) as i16)
                            .to_le_bytes()
                    })
                    .collect();
                // The reader went away (the box was killed).
                if f.write_all(&block).is_err() {
                    return;
                }
            }
        });
        Self {
            orders,
            writer: Some(writer),
        }
    }

    fn play(&self, seconds: f32) {
        self.orders
            .send(Mic::Play(seconds))
            .expect("the microphone's writer is running");
    }

    /// End of the source, once all that was played has been written.
    fn close(mut self) {
        let _ = self.orders.send(Mic::Close);
        if let Some(w) = self.writer.take() {
            w.join().expect("the microphone's writer");
        }
    }
}

/// The chunks of `recording` the box still holds in its outbox (sealed, not
/// yet acknowledged by the hub), by seq: the journal's puts without a done.
fn boxed_chunks(state_dir: &Path, recording: Uuid) -> Vec<u64> {
    let journal = std::fs::read_to_string(state_dir.join("outbox/journal")).unwrap_or_default();
    let id = recording.to_string();
    let mut pending = std::collections::BTreeMap::new();
    for r in journal
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(_, json)| serde_json::from_str::<serde_json::Value>(json).ok())
    {
        let Some(outbox_seq) = r["seq"].as_u64() else {
            continue;
        };
        if r["op"] == "done" {
            pending.remove(&outbox_seq);
        } else if r["op"] == "put"
            && r["item"]["kind"] == "chunk"
            && r["item"]["recording_id"] == id.as_str()
            && let Some(seq) = r["item"]["seq"].as_u64()
        {
            pending.insert(outbox_seq, seq);
        }
    }
    let mut seqs: Vec<u64> = pending.into_values().collect();
    seqs.sort_unstable();
    seqs
}

// ---- Checks on the export ----

fn overlap(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0.0)
}

fn covered(segments: &[(f32, f32)], span: (f32, f32)) -> f32 {
    segments.iter().map(|&s| overlap(s, span)).sum()
}

/// The export's `timeline.json` finds the speech and the shout where the
/// script put them, and nothing in the silent gaps or over normal speech.
fn assert_timeline_matches(timeline: &[u8], script: &Script) {
    let t: serde_json::Value = serde_json::from_slice(timeline).expect("timeline.json");
    let segments = |key: &str| -> Vec<(f32, f32)> {
        t[key]
            .as_array()
            .unwrap_or_else(|| panic!("timeline.json has no {key}: {t}"))
            .iter()
            .map(|s| {
                (
                    s[0].as_f64().expect("start") as f32,
                    s[1].as_f64().expect("end") as f32,
                )
            })
            .collect()
    };
    let speech = segments("speech");
    let loud = segments("loud");
    for p in &script.passages {
        let span = (p.start, p.end);
        match p.kind.as_str() {
            "speech" | "shout" => {
                let found = covered(&speech, span) / (p.end - p.start);
                assert!(
                    found >= SPEECH_COVERAGE_MIN,
                    "{}: only {:.0} % found as speech in {t}",
                    p.name,
                    found * 100.0
                );
            }
            "silence" => {
                let inner = (p.start + TOLERANCE_S, p.end - TOLERANCE_S);
                if inner.1 > inner.0 {
                    assert_eq!(
                        covered(&speech, inner),
                        0.0,
                        "{}: speech found in the silence: {t}",
                        p.name
                    );
                }
            }
            other => panic!("unknown passage kind {other}"),
        }
        if p.kind == "speech" {
            let inner = (p.start + TOLERANCE_S, p.end - TOLERANCE_S);
            assert_eq!(
                covered(&loud, inner),
                0.0,
                "{}: normal speech found loud: {t}",
                p.name
            );
        }
    }
    let shout = script
        .passages
        .iter()
        .find(|p| p.kind == "shout")
        .expect("the script has a shout");
    assert!(
        covered(&loud, (shout.start, shout.end)) > 0.0,
        "no loud segment over the shout {}..{}: {t}",
        shout.start,
        shout.end
    );
    for &(a, b) in &loud {
        assert!(
            a >= shout.start - TOLERANCE_S && b <= shout.end + TOLERANCE_S,
            "loud segment {a}..{b} outside the shout {}..{}: {t}",
            shout.start,
            shout.end
        );
    }
}

/// `opusinfo` (opus-tools, an independent Ogg Opus reader) on the file: its
/// playback length in seconds.
fn opusinfo_length_s(path: &Path) -> f64 {
    let out = std::process::Command::new("opusinfo")
        .arg(path)
        .output()
        .expect("opusinfo (opus-tools)");
    let info = text(&out.stdout) + &text(&out.stderr);
    assert!(out.status.success(), "opusinfo failed:\n{info}");
    assert!(
        !info.contains("WARNING") && !info.contains("ERROR"),
        "opusinfo complains:\n{info}"
    );
    let length = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("Playback length: "))
        .unwrap_or_else(|| panic!("no playback length in:\n{info}"));
    // "0m:11.956s"
    let (minutes, seconds) = length
        .trim_end_matches('s')
        .split_once("m:")
        .unwrap_or_else(|| panic!("odd length {length}"));
    minutes.parse::<f64>().expect("minutes") * 60.0 + seconds.parse::<f64>().expect("seconds")
}

/// Run a tool in `dir`; its combined output, after checking it succeeded.
fn tool_ok(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{all}",
        out.status
    );
    all
}

/// The export's records are exactly what the hub logged, in log order.
fn assert_export_holds(
    files: &std::collections::BTreeMap<String, Vec<u8>>,
    logged: &[SignedRecord],
) {
    let logged: Vec<&[u8]> = logged.iter().map(|r| r.bytes.as_slice()).collect();
    let exported = exported_records(files);
    let exported: Vec<&[u8]> = exported.iter().map(Vec::as_slice).collect();
    assert_eq!(
        exported, logged,
        "the export holds the hub's records, in order"
    );
    let chunks = files
        .keys()
        .filter(|p| p.starts_with("audio/chunks/"))
        .count();
    assert_eq!(chunks, logged.len(), "one audio chunk per record");
    let joined: Vec<u8> = files
        .iter()
        .filter(|(p, _)| p.starts_with("audio/chunks/"))
        .flat_map(|(_, b)| b.iter().copied())
        .collect();
    assert_eq!(
        files.get("audio/recording.ogg"),
        Some(&joined),
        "the whole recording is the chunks joined"
    );
}

/// The custody events of the export include this test's export, with its reason.
fn assert_export_custody(files: &std::collections::BTreeMap<String, Vec<u8>>) {
    assert!(
        files.iter().any(|(p, b)| {
            let b = text(b);
            p.starts_with("custody/")
                && b.contains("action: export")
                && b.contains(&format!("actor: {ACTOR}"))
                && b.contains(&format!("reason: {REASON}"))
        }),
        "the export's own custody event is in it"
    );
}

#[tokio::test]
async fn real_speech_is_recorded_sealed_uploaded_exported_and_verifies_offline() {
    let mut script = None;
    let rig = Rig::start("vigie-evidence-speech", |dir| {
        let (wav, s) = make_speech(dir);
        script = Some(s);
        format!("wav = \"{}\"", wav.display())
    })
    .await;
    let script = script.expect("the script");

    // The holder double-presses: the microphone opens, the WAV plays to its end.
    let mut agent = AgentProcess::start(&rig.dir, &rig.agent_config);
    agent.button("d").await;
    let started = agent.line(RECORDING_STARTED, DEADLINE).await;
    let id = id_after(&started, RECORDING_STARTED);
    let ended = agent.line(RECORDING_ENDED, DEADLINE).await;
    assert_eq!(id_after(&ended, RECORDING_ENDED), id);
    // "… recording ended: ID (N chunk(s))"
    let chunks: u64 = ended
        .rsplit(RECORDING_ENDED)
        .next()
        .and_then(|s| s.split_whitespace().nth(1))
        .and_then(|n| n.trim_start_matches('(').parse().ok())
        .unwrap_or_else(|| panic!("a chunk count in {ended:?}"));
    let expected = (script.duration * 1_000.0 / 2_000.0).ceil() as u64;
    assert_eq!(chunks, expected, "one chunk per 2 s of speech");

    // Every chunk reaches the hub: in its log, in order, the last one final.
    let rec = rig
        .hub_recording("every chunk at the hub", id, RECONNECT_DEADLINE, |r| {
            r.chunks == chunks && r.is_final
        })
        .await;
    assert_eq!(rec.alarm_id.get_version_num(), 7, "the box's alarm id");
    let logged = rig.logged_records(id).await;
    assert_eq!(
        chain::check(&logged).expect("an unbroken chain at the hub"),
        ChainEnd::Final {
            last_seq: chunks - 1
        }
    );
    agent.kill9().await;

    // The export, and `vigie verify` on it.
    let zip = rig.export(id, "export.zip").await;
    let (ok, report) = verify(&zip).await;
    assert!(ok, "vigie verify refused the export:\n{report}");
    assert!(report.lines().any(|l| l.starts_with('✔')), "{report}");
    assert!(
        !report
            .lines()
            .any(|l| l.starts_with('✘') || l.starts_with('⚠')),
        "a complete recording verifies without failure or warning:\n{report}"
    );
    assert!(
        report.contains(&format!(
            "complete recording: records/{:06}.txt",
            chunks - 1
        )),
        "{report}"
    );
    assert!(
        report.contains("Result: export VERIFIED (0 warnings)"),
        "{report}"
    );

    let files = unpack(&zip);
    assert_export_holds(&files, &logged);
    assert_export_custody(&files);
    assert_timeline_matches(files.get("timeline.json").expect("timeline.json"), &script);
    let report_en = text(files.get("report.en.txt").expect("report.en.txt"));
    assert!(report_en.contains("complete"), "{report_en}");
    assert!(report_en.contains(REASON), "{report_en}");

    // Without Vigie (evidence.md §6).
    let unzipped = rig.dir.path("unzipped");
    tool_ok(
        &rig.dir.0,
        "unzip",
        &["-q", zip.to_str().expect("utf-8"), "-d", "unzipped"],
    );
    let sums = tool_ok(&unzipped, "sha256sum", &["-c", "MANIFEST.sha256"]);
    assert!(sums.contains("audio/recording.ogg: OK"), "{sums}");
    let checkpoints: Vec<&String> = files
        .keys()
        .filter(|p| p.starts_with("log/checkpoints/"))
        .collect();
    assert!(!checkpoints.is_empty(), "at least one checkpoint");
    for cp in checkpoints {
        let n = cp
            .trim_start_matches("log/checkpoints/")
            .trim_end_matches(".txt");
        let token = format!("timestamps/{n}.tsr");
        let out = tool_ok(
            &unzipped,
            "openssl",
            &[
                "ts",
                "-verify",
                "-data",
                cp,
                "-in",
                &token,
                "-token_in",
                "-CAfile",
                "keys/tsa-chain.pem",
            ],
        );
        assert!(out.contains("Verification: OK"), "{cp}: {out}");
    }
    // The whole recording plays for the whole script (an independent reader).
    let length = opusinfo_length_s(&unzipped.join("audio/recording.ogg"));
    assert!(
        (length - script.duration).abs() < DURATION_TOLERANCE_S,
        "the recording plays {length} s, the speech lasts {} s",
        script.duration
    );

    // One byte of audio changed: the verification fails and names the file.
    let mut tampered = files.clone();
    let audio = tampered
        .get_mut("audio/recording.ogg")
        .expect("audio/recording.ogg");
    let middle = audio.len() / 2;
    audio[middle] ^= 0x01;
    let tampered_zip = rig.dir.path("tampered.zip");
    std::fs::write(
        &tampered_zip,
        vigie_evidence::export::pack(&tampered).expect("repack"),
    )
    .expect("write the tampered export");
    let (ok, report) = verify(&tampered_zip).await;
    assert!(!ok, "a changed byte of audio verified:\n{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with('✘') && l.contains("audio/recording.ogg")),
        "the failure names audio/recording.ogg:\n{report}"
    );
}

#[tokio::test]
async fn the_box_killed_mid_recording_leaves_an_export_of_what_the_hub_acknowledged() {
    let mut mic_path = None;
    let rig = Rig::start("vigie-evidence-kill", |dir| {
        let p = dir.path("mic.wav");
        mic_path = Some(p.clone());
        format!("wav = \"{}\"\nmax_duration_s = 600", p.display())
    })
    .await;
    let mic = LiveMic::new(&mic_path.expect("mic"));

    let mut agent = AgentProcess::start(&rig.dir, &rig.agent_config);
    agent.button("d").await;
    let id = id_after(
        &agent.line(RECORDING_STARTED, DEADLINE).await,
        RECORDING_STARTED,
    );
    // 5 s of sound: two whole 2 s chunks, the third still being made.
    mic.play(5.0);
    rig.hub_recording("two chunks at the hub", id, DEADLINE, |r| r.chunks >= 2)
        .await;
    agent.kill9().await;
    mic.close();

    let (rec, _) = rig.store.recording(id).await.expect("the recording");
    assert!(!rec.is_final, "the box died before its last chunk");
    let acknowledged = rig.logged_records(id).await;
    assert_eq!(acknowledged.len() as u64, rec.chunks);
    assert_eq!(
        chain::check(&acknowledged).expect("an unbroken chain"),
        ChainEnd::Truncated {
            last_seq: rec.chunks - 1
        }
    );

    // The export needs no further vault pass: it checkpoints and time-stamps itself.
    let zip = rig.export(id, "export.zip").await;
    let (ok, report) = verify(&zip).await;
    assert!(ok, "a truncated recording is not a failure:\n{report}");
    let last = format!("records/{:06}.txt", rec.chunks - 1);
    let warnings: Vec<&str> = report.lines().filter(|l| l.starts_with('⚠')).collect();
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("truncated recording") && l.contains(&last)),
        "the export says where it stops ({last}):\n{report}"
    );
    assert!(
        !report.lines().any(|l| l.starts_with('✘')),
        "no failure:\n{report}"
    );
    assert!(
        report.contains("Result: export VERIFIED (1 warning)"),
        "{report}"
    );
    assert!(
        report.contains(&format!("chunks: {} (", rec.chunks)),
        "{report}"
    );
    let files = unpack(&zip);
    assert_export_holds(&files, &acknowledged);
    assert_export_custody(&files);
    let report_en = text(files.get("report.en.txt").expect("report.en.txt"));
    assert!(report_en.contains("truncated"), "{report_en}");
}

/// Sound played before the hub goes away (two whole chunks, a third begun),
/// while it is away (two more chunks), and after it is back; the recording's
/// maximum duration is their sum, so it ends with a final chunk.
const BEFORE_LOSS_S: u32 = 5;
const DURING_LOSS_S: u32 = 4;
const AFTER_LOSS_S: u32 = 2;

#[tokio::test]
async fn the_hub_lost_mid_recording_and_back_gets_every_chunk_once_in_order() {
    let mut mic_path = None;
    let mut rig = Rig::start("vigie-evidence-netloss", |dir| {
        let p = dir.path("mic.wav");
        mic_path = Some(p.clone());
        format!(
            "wav = \"{}\"\nmax_duration_s = {}",
            p.display(),
            BEFORE_LOSS_S + DURING_LOSS_S + AFTER_LOSS_S
        )
    })
    .await;
    let mic = LiveMic::new(&mic_path.expect("mic"));
    let state_dir = rig.dir.path("box");

    let mut agent = AgentProcess::start(&rig.dir, &rig.agent_config);
    agent.button("d").await;
    let id = id_after(
        &agent.line(RECORDING_STARTED, DEADLINE).await,
        RECORDING_STARTED,
    );
    mic.play(BEFORE_LOSS_S as f32);
    rig.hub_recording("two chunks at the hub", id, DEADLINE, |r| r.chunks >= 2)
        .await;

    // The hub goes away (database and port kept); the box records on.
    rig.hub.take().expect("hub").kill9().await;
    let before_loss = rig.logged_records(id).await.len() as u64;
    mic.play(DURING_LOSS_S as f32);
    let sealed_offline = eventually("two more chunks sealed while the hub is away", || {
        let seqs = boxed_chunks(&state_dir, id);
        async move { seqs.iter().any(|&s| s > before_loss).then_some(seqs) }
    })
    .await;
    assert!(
        sealed_offline.contains(&before_loss),
        "the box keeps what the hub has not acknowledged: {sealed_offline:?}"
    );
    assert_eq!(
        rig.logged_records(id).await.len() as u64,
        before_loss,
        "nothing reaches a hub that is away"
    );

    // The hub is back; the recording goes on to its maximum duration (the
    // recorder counts samples: it stops exactly at the end of what is played).
    rig.hub = Some(HubProcess::start(&rig.dir, &rig.config, rig.port).await);
    mic.play(AFTER_LOSS_S as f32);
    mic.close();
    let ended = agent.line(RECORDING_ENDED, DEADLINE).await;
    assert_eq!(id_after(&ended, RECORDING_ENDED), id);
    let rec = rig
        .hub_recording(
            "every chunk at the hub after the loss",
            id,
            RECONNECT_DEADLINE,
            |r| r.is_final,
        )
        .await;
    let logged = rig.logged_records(id).await;
    let seqs: Vec<u64> = logged.iter().map(|r| r.record.seq).collect();
    assert_eq!(
        seqs,
        (0..rec.chunks).collect::<Vec<_>>(),
        "every chunk logged once, in order"
    );
    assert!(
        rec.chunks > before_loss + 2,
        "chunks made during the loss and after it: {} chunks, {before_loss} before the loss",
        rec.chunks
    );
    assert_eq!(
        chain::check(&logged).expect("an unbroken chain"),
        ChainEnd::Final {
            last_seq: rec.chunks - 1
        }
    );
    // Nothing of the sound is missing: the chunks cover all that was played.
    let first = &logged[0].record;
    let last = &logged[logged.len() - 1].record;
    let covered_s = (last.mono_ms.1 - first.mono_ms.0) as f64 / 1_000.0;
    let played = f64::from(BEFORE_LOSS_S + DURING_LOSS_S + AFTER_LOSS_S);
    assert!(
        (covered_s - played).abs() < 0.1,
        "the chunks cover {covered_s} s of the {played} s played"
    );
    eventually("the box forgets the acknowledged chunks", || {
        let left = boxed_chunks(&state_dir, id);
        async move { left.is_empty().then_some(()) }
    })
    .await;
    agent.kill9().await;

    let zip = rig.export(id, "export.zip").await;
    let (ok, report) = verify(&zip).await;
    assert!(ok, "vigie verify refused the export:\n{report}");
    assert!(
        !report
            .lines()
            .any(|l| l.starts_with('✘') || l.starts_with('⚠')),
        "complete, no warning:\n{report}"
    );
    assert!(
        report.contains(&format!(
            "complete recording: records/{:06}.txt",
            rec.chunks - 1
        )),
        "{report}"
    );
    let files = unpack(&zip);
    assert_export_holds(&files, &logged);
}

/// A Region moved to the other backend (`vigie admin store copy`): an
/// export made before the move and one made after it both verify with the
/// Region's trust file, and record the same chunks.
#[tokio::test]
async fn exports_made_before_and_after_moving_the_store_both_verify() {
    let mut mic_path = None;
    let mut rig = Rig::start("vigie-evidence-move", |dir| {
        let p = dir.path("mic.wav");
        mic_path = Some(p.clone());
        format!("wav = \"{}\"\nmax_duration_s = 600", p.display())
    })
    .await;
    let mic = LiveMic::new(&mic_path.expect("mic"));
    let mut agent = AgentProcess::start(&rig.dir, &rig.agent_config);
    agent.button("d").await;
    let id = id_after(
        &agent.line(RECORDING_STARTED, DEADLINE).await,
        RECORDING_STARTED,
    );
    mic.play(5.0);
    rig.hub_recording("two chunks at the hub", id, DEADLINE, |r| r.chunks >= 2)
        .await;
    agent.kill9().await;
    mic.close();
    let before = rig.export(id, "before.zip").await;
    let (ok, report) = verify(&before).await;
    assert!(ok, "before the move:\n{report}");

    // Stop the hub, copy the store to the other backend, point the
    // configuration at the copy (same vault keys folder).
    let status = rig.hub.take().expect("hub").terminate().await;
    assert!(status.success(), "{status}");
    let config_text = std::fs::read_to_string(&rig.config).expect("config");
    let from_url = config_text
        .lines()
        .find_map(|l| l.strip_prefix("url = \"").and_then(|u| u.strip_suffix('"')))
        .map(str::to_string);
    let (from, to, store_lines) = match from_url {
        None => {
            let url = vigie_testkit::postgres::fresh_database().expect("a PostgreSQL database");
            (
                format!("sqlite:{}", rig.dir.path("hub.db").display()),
                url.clone(),
                format!(
                    "sqlite_path = \"{}\"\nurl = \"{url}\"\n",
                    rig.dir.path("hub.db").display()
                ),
            )
        }
        Some(url) => {
            let moved = rig.dir.path("moved.db");
            (
                url,
                format!("sqlite:{}", moved.display()),
                format!("sqlite_path = \"{}\"\n", moved.display()),
            )
        }
    };
    let copied = vigie(&[
        "admin",
        "--config",
        "/nonexistent.toml",
        "store",
        "copy",
        "--from",
        &from,
        "--to",
        &to,
    ])
    .await;
    assert!(
        copied.status.success(),
        "vigie admin store copy failed ({}):\n{}{}",
        copied.status,
        text(&copied.stdout),
        text(&copied.stderr)
    );
    assert!(
        text(&copied.stdout).contains("log_entries"),
        "{}",
        text(&copied.stdout)
    );
    let moved_config: String = config_text
        .lines()
        .filter(|l| !l.starts_with("sqlite_path = ") && !l.starts_with("url = "))
        .map(|l| {
            if l == "[store]" {
                format!("[store]\n{store_lines}")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&rig.config, moved_config).expect("config on the copy");
    let after = rig.export(id, "after.zip").await;
    let (ok, report) = verify(&after).await;
    assert!(ok, "after the move:\n{report}");
    let records = |zip: &Path| exported_records(&unpack(zip));
    assert_eq!(records(&before), records(&after), "the same sealed chunks");
}
