//! Golden vectors from siadc09 1.0.1 and pysiaalarm 3.2.2 (made by
//! `fixtures/make_vectors.py`, committed), and the frames to refuse.

use serde_json::Value;
use vigie_dc09::{
    Answer, DecodeOptions, ErrorKind, Frame, Head, Key, Reply, Seq, Timestamp, XData, decode,
};

const SIADC09: &str = include_str!("fixtures/siadc09.json");
const PYSIAALARM: &str = include_str!("fixtures/pysiaalarm.json");
const NEGATIVE: &str = include_str!("fixtures/negative.json");

fn vectors(text: &str) -> Vec<Value> {
    match serde_json::from_str(text) {
        Ok(Value::Array(v)) => v,
        other => panic!("fixture is not a JSON array: {other:?}"),
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("fixture hex"))
        .collect()
}

fn str_of(v: &Value) -> Option<&str> {
    v.as_str()
}

fn key_of(v: &Value) -> Option<Key> {
    v["key_hex"]
        .as_str()
        .map(|k| Key::from_bytes(&hex(k)).expect("fixture key"))
}

/// Checks a decoded frame against the fixture's `expect`.
fn check(name: &str, frame: &Frame, e: &Value) {
    assert_eq!(
        frame.token.as_str(),
        e["token"].as_str().expect("token"),
        "{name}: token"
    );
    assert_eq!(
        frame.encrypted,
        e["encrypted"].as_bool().expect("encrypted"),
        "{name}: encrypted"
    );
    assert_eq!(
        u64::from(frame.header.seq.get()),
        e["seq"].as_u64().expect("seq"),
        "{name}: seq"
    );
    let prefix = |p: &Option<vigie_dc09::Prefix>| p.as_ref().map(|p| p.as_str().to_owned());
    assert_eq!(
        prefix(&frame.header.receiver).as_deref(),
        str_of(&e["receiver"]),
        "{name}: R"
    );
    assert_eq!(
        prefix(&frame.header.line).as_deref(),
        str_of(&e["line"]),
        "{name}: L"
    );
    let account = frame.header.account.as_ref().map(|a| a.as_str());
    assert_eq!(account, str_of(&e["account"]), "{name}: account");
    assert_eq!(
        frame.data,
        e["data"].as_str().expect("data").as_bytes(),
        "{name}: data"
    );
    let xdata: Vec<(char, Vec<u8>)> = frame
        .xdata
        .iter()
        .map(|x| (x.letter(), x.value().to_vec()))
        .collect();
    let want: Vec<(char, Vec<u8>)> = e["xdata"]
        .as_array()
        .expect("xdata")
        .iter()
        .map(|x| {
            let letter = x[0]
                .as_str()
                .and_then(|s| s.chars().next())
                .expect("letter");
            (letter, x[1].as_str().expect("value").as_bytes().to_vec())
        })
        .collect();
    assert_eq!(xdata, want, "{name}: x-data");
    let ts = frame.timestamp.map(|t| t.to_string());
    assert_eq!(ts.as_deref(), str_of(&e["timestamp"]), "{name}: timestamp");
}

#[test]
fn siadc09_frames_decode_and_plain_ones_encode_byte_for_byte() {
    let all = vectors(SIADC09);
    assert_eq!(all.len(), 25);
    let mut encrypted = 0;
    for v in &all {
        let name = v["name"].as_str().expect("name");
        let bytes = hex(v["frame_hex"].as_str().expect("frame"));
        let key = key_of(v);
        let frame = decode(&bytes, key.as_ref(), &DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check(name, &frame, &v["expect"]);
        if frame.encrypted {
            encrypted += 1;
            // The cipher text is siadc09's lower-case hex; without the key it is DUH.
            let head = Head::parse(&bytes, &DecodeOptions::default()).expect("envelope");
            let err = head.open(None).expect_err("no key");
            assert_eq!(err.kind(), &ErrorKind::NoKey, "{name}");
            assert_eq!(err.answer(), Answer::Duh(&frame.header), "{name}");
        } else {
            assert_eq!(
                frame.encode_plain().as_deref(),
                Ok(&bytes[..]),
                "{name}: re-encoded"
            );
        }
    }
    assert_eq!(
        encrypted, 12,
        "four encrypted messages for each of the three key sizes"
    );
}

#[test]
fn the_design_notes_reference_frame() {
    let frame = Frame::new(
        vigie_dc09::Token::AdmCid,
        vigie_dc09::Header::new(
            Seq::FIRST,
            vigie_dc09::Account::new("AB12").expect("account"),
        ),
        b"#AB12|1120 01 001".to_vec(),
    );
    assert_eq!(
        frame.encode_plain().expect("encodes"),
        b"\nC2800027\"ADM-CID\"0001L0#AB12[#AB12|1120 01 001]\r".to_vec()
    );
}

#[test]
fn siadc09_keeps_leading_zeros_only_in_the_data() {
    let v = vectors(SIADC09)
        .into_iter()
        .find(|v| v["name"] == "account 0123 (siadc09 writes #123)");
    let v = v.expect("vector");
    let frame = decode(
        &hex(v["frame_hex"].as_str().expect("hex")),
        None,
        &DecodeOptions::default(),
    )
    .expect("decodes");
    assert_eq!(
        frame.header.account.as_ref().map(|a| a.as_str()),
        Some("123")
    );
    let Ok(vigie_dc09::Content::Cid(cid)) = frame.content() else {
        panic!("a CID event")
    };
    assert_eq!(cid.account.as_ref().map(|a| a.as_str()), Some("0123"));
}

#[test]
fn a_wrong_key_is_a_decrypt_error_never_an_event() {
    let wrong = Key::from_ascii("FEDCBA9876543210").expect("key");
    for v in vectors(SIADC09).iter().chain(&vectors(PYSIAALARM)) {
        let Some(key) = key_of(v) else { continue };
        let bytes = hex(v["frame_hex"].as_str().expect("hex"));
        // Every vector's key is the right one; a key of another size too is wrong.
        for other in [wrong.clone(), Key::from_bytes(&[7u8; 32]).expect("key")] {
            if other == key {
                continue;
            }
            let err =
                decode(&bytes, Some(&other), &DecodeOptions::default()).expect_err("wrong key");
            assert!(
                matches!(err.kind(), ErrorKind::Decrypt(_)),
                "{}: {err}",
                v["name"]
            );
            assert!(matches!(err.answer(), Answer::Duh(_)));
        }
    }
}

#[test]
fn pysiaalarm_replies_parse() {
    let all = vectors(PYSIAALARM);
    assert_eq!(all.len(), 6);
    for v in &all {
        let name = v["name"].as_str().expect("name");
        let bytes = hex(v["frame_hex"].as_str().expect("hex"));
        let key = key_of(v);
        let frame = decode(&bytes, key.as_ref(), &DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check(name, &frame, &v["expect"]);
        let reply = Reply::parse(&bytes, key.as_ref()).unwrap_or_else(|e| panic!("{name}: {e}"));
        match reply {
            Reply::Nak { receiver_time } => {
                assert_eq!(receiver_time.to_string(), "21:33:14,12-01-2026", "{name}");
            }
            Reply::Ack { ref header, .. } => {
                assert!(reply.answers(header), "{name}");
                let mut other = header.clone();
                other.seq = other.seq.next();
                assert!(!reply.answers(&other), "{name}: another seq is no answer");
            }
            Reply::Duh { .. } => panic!("{name}: pysiaalarm sent no DUH here"),
        }
    }
}

#[test]
fn vigie_nak_is_the_form_every_peer_sends() {
    let now = Timestamp::parse(b"21:33:14,12-01-2026").expect("ts");
    let nak = Frame::nak(now).encode_plain().expect("encodes");
    let text = String::from_utf8(nak.clone()).expect("ascii");
    assert_eq!(
        &text[9..text.len() - 1],
        "\"NAK\"0000R0L0A0[]_21:33:14,12-01-2026"
    );
    let back = decode(&nak, None, &DecodeOptions::default()).expect("decodes");
    assert_eq!(back, Frame::nak(now));
}

fn kind_name(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Crc { .. } => "Crc",
        ErrorKind::Length { .. } => "Length",
        ErrorKind::LengthOverMax { .. } => "LengthOverMax",
        ErrorKind::LfInside { .. } => "LfInside",
        ErrorKind::CrInside { .. } => "CrInside",
        ErrorKind::NoEndCr => "NoEndCr",
        ErrorKind::NoStartLf => "NoStartLf",
        ErrorKind::CrcField => "CrcField",
        ErrorKind::TooShort { .. } => "TooShort",
        ErrorKind::BinaryCrc => "BinaryCrc",
        _ => "other",
    }
}

#[test]
fn negative_fixtures_are_refused_without_reply() {
    let all = vectors(NEGATIVE);
    assert_eq!(all.len(), 13);
    for v in &all {
        let name = v["name"].as_str().expect("name");
        let bytes = hex(v["frame_hex"].as_str().expect("hex"));
        let options = DecodeOptions {
            binary_crc: v["binary_crc"].as_bool().expect("flag"),
        };
        let result = Head::parse(&bytes, &options);
        match v["error"].as_str() {
            Some(want) => {
                let err = result.expect_err(name);
                assert_eq!(kind_name(err.kind()), want, "{name}: {err}");
                assert_eq!(
                    err.answer(),
                    Answer::Silence,
                    "{name}: no reply to a broken envelope"
                );
            }
            None => {
                let head = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(head.crc_form, vigie_dc09::CrcForm::Binary);
                check(name, &head.open(None).expect("opens"), &v["expect"]);
            }
        }
    }
}

#[test]
fn binary_crc_replies_are_made_from_hex_ones() {
    let ack = b"\nAA9E0012\"ACK\"0012L0#AB12[]\r";
    let binary = vigie_dc09::to_binary_crc(ack).expect("a hex-CRC frame");
    assert_eq!(&binary[..3], b"\n\xAA\x9E");
    let frame = decode(&binary, None, &DecodeOptions { binary_crc: true }).expect("decodes");
    assert_eq!(frame.header.seq.get(), 12);
}

#[test]
fn x_data_verification_link() {
    let v = vectors(SIADC09)
        .into_iter()
        .find(|v| v["name"] == "receiver, line, x-data, seq 9999");
    let bytes = hex(v.expect("vector")["frame_hex"].as_str().expect("hex"));
    let frame = decode(&bytes, None, &DecodeOptions::default()).expect("decodes");
    let link = XData::new(b'V', b"https://vigie.example/a/0190f1".to_vec()).expect("x-data");
    assert_eq!(frame.xdata.first(), Some(&link));
    assert_eq!(frame.header.seq.next(), Seq::FIRST, "9999 wraps to 0001");
}
