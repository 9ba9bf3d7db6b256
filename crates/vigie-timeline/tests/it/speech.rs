//! Speech and raised voices found where the test script put them.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use vigie_timeline::{Timeline, ogg_opus_to_pcm, timeline};

/// How far a detected boundary may be from where the script put it.
const TOLERANCE_S: f32 = 0.5;
/// Share of each spoken passage that must be found as speech.
const SPEECH_COVERAGE_MIN: f32 = 0.8;

#[derive(Debug, Deserialize)]
struct Passage {
    name: String,
    kind: String,
    start: f32,
    end: f32,
}

#[derive(Debug, Deserialize)]
struct Script {
    duration: f32,
    passages: Vec<Passage>,
}

fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/audio/make_speech.sh")
}

fn make_speech(dir: &Path) -> (PathBuf, Script) {
    let wav = dir.join("speech.wav");
    let out = Command::new("bash")
        .arg(script_path())
        .arg(&wav)
        .output()
        .expect("run make_speech.sh (needs espeak-ng and sox)");
    assert!(
        out.status.success(),
        "make_speech.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script: Script = serde_json::from_slice(&out.stdout).expect("passages JSON");
    (wav, script)
}

fn read_wav(path: &Path) -> (Vec<i16>, u32) {
    let mut reader = hound::WavReader::open(path).expect("open wav");
    let rate = reader.spec().sample_rate;
    let pcm = reader
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .expect("samples");
    (pcm, rate)
}

fn overlap(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0.0)
}

fn covered(segments: &[(f32, f32)], span: (f32, f32)) -> f32 {
    segments.iter().map(|&s| overlap(s, span)).sum()
}

/// The checks shared by the WAV and the Opus round trip.
fn assert_matches_script(t: &Timeline, script: &Script) {
    for p in &script.passages {
        let span = (p.start, p.end);
        match p.kind.as_str() {
            "speech" | "shout" => {
                let found = covered(&t.speech, span) / (p.end - p.start);
                assert!(
                    found >= SPEECH_COVERAGE_MIN,
                    "{}: only {:.0} % found as speech in {t:?}",
                    p.name,
                    found * 100.0
                );
            }
            "silence" => {
                // Away from the edges, a silent gap holds no speech.
                let inner = (p.start + TOLERANCE_S, p.end - TOLERANCE_S);
                if inner.1 > inner.0 {
                    assert_eq!(
                        covered(&t.speech, inner),
                        0.0,
                        "{}: speech found in the silence: {t:?}",
                        p.name
                    );
                }
            }
            other => panic!("unknown passage kind {other}"),
        }
    }
    // Every detected segment starts and ends near a spoken passage.
    for &(a, b) in &t.speech {
        assert!(
            script.passages.iter().any(|p| p.kind != "silence"
                && a >= p.start - TOLERANCE_S
                && a <= p.end
                && b <= p.end + TOLERANCE_S),
            "speech segment {a}..{b} matches no spoken passage: {t:?}"
        );
    }
    let shout = script
        .passages
        .iter()
        .find(|p| p.kind == "shout")
        .expect("the script has a shout");
    assert!(!t.loud.is_empty(), "the shout was not found loud: {t:?}");
    for &(a, b) in &t.loud {
        assert!(
            a >= shout.start - TOLERANCE_S && b <= shout.end + TOLERANCE_S,
            "loud segment {a}..{b} outside the shout {}..{}: {t:?}",
            shout.start,
            shout.end
        );
    }
    let loud_share = covered(&t.loud, (shout.start, shout.end)) / (shout.end - shout.start);
    assert!(
        loud_share >= 0.5,
        "only {:.0} % of the shout is loud: {t:?}",
        loud_share * 100.0
    );
}

#[test]
fn speech_and_shout_found_where_the_script_put_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wav, script) = make_speech(dir.path());
    let (pcm, rate) = read_wav(&wav);
    assert_eq!(rate, 16_000);
    let t = timeline(&pcm, rate);
    println!("{}", serde_json::to_string(&t).expect("json"));
    assert_matches_script(&t, &script);

    // The same audio at 48 kHz gives the same passages (the timeline resamples).
    let wav48 = dir.path().join("speech48.wav");
    let status = Command::new("sox")
        .arg(&wav)
        .args(["-r", "48000"])
        .arg(&wav48)
        .status()
        .expect("sox");
    assert!(status.success());
    let (pcm48, rate48) = read_wav(&wav48);
    assert_matches_script(&timeline(&pcm48, rate48), &script);
}

#[test]
fn a_pure_tone_is_not_speech() {
    let rate = 16_000u32;
    for freq_hz in [200.0f32, 440.0, 1_000.0] {
        for amplitude in [1_000.0f32, 10_000.0, 30_000.0] {
            let tone: Vec<i16> = (0..rate * 4)
                .map(|n| {
                    let t = n as f32 / rate as f32;
                    (amplitude * (2.0 * std::f32::consts::PI * freq_hz * t).sin()) as i16
                })
                .collect();
            let t = timeline(&tone, rate);
            assert!(
                t.speech.is_empty(),
                "a {freq_hz} Hz tone at amplitude {amplitude} was taken for speech: {t:?}"
            );
            assert!(t.loud.is_empty(), "{t:?}");
        }
    }
}

#[test]
fn decodes_an_ogg_opus_file_from_an_independent_encoder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wav, script) = make_speech(dir.path());
    let ogg = dir.path().join("speech.opus");
    let out = Command::new("opusenc")
        .args(["--quiet", "--speech", "--bitrate", "20"])
        .arg(&wav)
        .arg(&ogg)
        .output()
        .expect("opusenc (opus-tools)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&ogg).expect("read ogg");
    let (pcm, rate) = ogg_opus_to_pcm(&bytes).expect("decode");
    assert_eq!(rate, 16_000, "decoded at the input rate named in OpusHead");
    let duration_s = pcm.len() as f32 / rate as f32;
    assert!(
        (duration_s - script.duration).abs() < 0.03,
        "decoded {duration_s} s, the WAV has {} s",
        script.duration
    );
    assert_matches_script(&timeline(&pcm, rate), &script);

    // A damaged file is an error, never a crash.
    let mut damaged = bytes.clone();
    damaged.truncate(40);
    assert!(
        ogg_opus_to_pcm(&damaged).is_err()
            || ogg_opus_to_pcm(&damaged).is_ok_and(|(p, _)| p.is_empty())
    );
}
