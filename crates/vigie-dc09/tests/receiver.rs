//! What a receiver answers, stimulus by stimulus (the fault probe of the
//! design notes, §6.6), and what a transmitter makes of the answer: the
//! decisions the hub's receiver and forwarder take on top of this crate.

use rand::SeedableRng;
use rand::rngs::StdRng;
use vigie_dc09::{
    Account, Answer, Content, DecodeOptions, ErrorKind, Frame, Head, Header, Key, Qualifier, Reply,
    Seq, TimeWindow, Timestamp, Token,
};

/// The receiver's clock in these tests: 2026-12-01 21:33:14 UTC.
const NOW_UNIX_S: i64 = 1_796_160_794;

fn at(offset_s: i64) -> Timestamp {
    Timestamp::from_unix_s(NOW_UNIX_S + offset_s).expect("in range")
}

fn key() -> Key {
    Key::from_ascii("0123456789ABCDEF").expect("key")
}

fn cid(seq: u16, event: &str, ts: Option<Timestamp>) -> Frame {
    let header = Header::new(
        Seq::new(seq).expect("seq"),
        Account::new("AB12").expect("account"),
    );
    let mut f = Frame::new(Token::AdmCid, header, format!("#AB12|{event}").into_bytes());
    f.timestamp = ts;
    f
}

/// A receiver's reply to one frame, as bytes (None: silence), following the
/// rules the crate's errors and window encode.
fn receive(bytes: &[u8], key: Option<&Key>) -> Option<Vec<u8>> {
    let window = TimeWindow::default();
    let head = match Head::parse(bytes, &DecodeOptions::default()) {
        Ok(head) => head,
        Err(e) => return answer(&e),
    };
    let frame = match head.open(key) {
        Ok(frame) => frame,
        Err(e) => return answer(&e),
    };
    if let Some(ts) = frame.timestamp
        && window.check(ts, NOW_UNIX_S).is_err()
    {
        return Some(Frame::nak(at(0)).encode_plain().expect("nak"));
    }
    if frame.content().is_err() {
        return Some(Frame::duh(&frame.header).encode_plain().expect("duh"));
    }
    let ack = Frame::ack_for(&frame, at(0));
    Some(match key {
        Some(k) if ack.encrypted => ack
            .encode_encrypted(k, &mut StdRng::seed_from_u64(1))
            .expect("*ack"),
        _ => ack.encode_plain().expect("ack"),
    })
}

fn answer(e: &vigie_dc09::DecodeError) -> Option<Vec<u8>> {
    match e.answer() {
        Answer::Silence => None,
        Answer::Duh(h) => Some(Frame::duh(h).encode_plain().expect("duh")),
    }
}

fn token_of(reply: &Option<Vec<u8>>, key: Option<&Key>) -> Option<(Token, Reply)> {
    let bytes = reply.as_ref()?;
    let reply = Reply::parse(bytes, key).expect("a reply the transmitter reads");
    let token = match reply {
        Reply::Ack { .. } => Token::Ack,
        Reply::Nak { .. } => Token::Nak,
        Reply::Duh { .. } => Token::Duh,
    };
    Some((token, reply))
}

#[test]
fn the_probe_plain_and_encrypted() {
    for key in [None, Some(key())] {
        let k = key.as_ref();
        let send = |f: Frame| {
            let mut f = f;
            match k {
                Some(k) => {
                    f.encrypted = true;
                    f.timestamp = f.timestamp.or(Some(at(0)));
                    f.encode_encrypted(k, &mut StdRng::seed_from_u64(9))
                        .expect("encodes")
                }
                None => f.encode_plain().expect("encodes"),
            }
        };
        let tokens = |bytes: Vec<u8>| token_of(&receive(&bytes, k), k).map(|(t, _)| t);

        let fresh = send(cid(1, "1120 01 001", Some(at(0))));
        assert_eq!(tokens(fresh.clone()), Some(Token::Ack), "fresh");
        assert_eq!(
            tokens(fresh),
            Some(Token::Ack),
            "same seq again (the receiver dedups, and ACKs)"
        );
        assert_eq!(
            tokens(send(cid(2, "1120 01 001", Some(at(-60))))),
            Some(Token::Nak),
            "-60 s"
        );
        assert_eq!(
            tokens(send(cid(3, "1120 01 001", Some(at(30))))),
            Some(Token::Nak),
            "+30 s"
        );
        assert_eq!(
            tokens(send(cid(4, "1999 01 001", None))),
            Some(Token::Ack),
            "unknown code is an event"
        );
        assert_eq!(
            tokens(send(cid(5, "6120 01 001", None))),
            Some(Token::Ack),
            "qualifier 6"
        );
        assert_eq!(
            tokens(send(cid(6, "1602 00 000", None))),
            Some(Token::Ack),
            "periodic test"
        );
        let null = Frame::new(
            Token::Null,
            Header::new(Seq::new(7).expect("seq"), Account::new("AB12").expect("a")),
            Vec::new(),
        );
        assert_eq!(tokens(send(null)), Some(Token::Ack), "NULL");
        let mut bad = send(cid(8, "1121 01 001", None));
        bad[1] = if bad[1] == b'0' { b'1' } else { b'0' };
        assert_eq!(receive(&bad, k), None, "bad CRC: silence");
        assert_eq!(
            tokens(send(cid(9, "2120 01 001", None))),
            Some(Token::Duh),
            "qualifier 2"
        );
    }
}

#[test]
fn encrypted_ack_answers_with_the_request_seq_and_time() {
    let k = key();
    let mut request = cid(42, "1121 01 005", Some(at(-5)));
    request.encrypted = true;
    let bytes = request
        .encode_encrypted(&k, &mut StdRng::seed_from_u64(3))
        .expect("encodes");
    let reply = receive(&bytes, Some(&k));
    let (_, reply) = token_of(&reply, Some(&k)).expect("a reply");
    assert_eq!(
        reply,
        Reply::Ack {
            header: request.header.clone(),
            encrypted: true,
            timestamp: Some(at(0))
        }
    );
    assert!(reply.answers(&request.header));
    // The ACK to a duress code: user 005, never any feedback towards the premises (the hub's rule).
    let frame = vigie_dc09::decode(&bytes, Some(&k), &DecodeOptions::default()).expect("decodes");
    let Ok(Content::Cid(cid)) = frame.content() else {
        panic!("CID")
    };
    assert_eq!(
        (cid.event.code(), cid.event.zone(), cid.event.qualifier()),
        (121, 5, Qualifier::New)
    );
}

#[test]
fn unknown_token_and_wrong_key_get_duh_with_the_header() {
    // A valid DC-09 token Vigie does not read.
    let span = br#""SIA-PUL"0031L0#AB12[]"#;
    let mut bytes =
        format!("\n{:04X}0{:03X}", vigie_dc09::crc16_arc(span), span.len()).into_bytes();
    bytes.extend(span);
    bytes.push(b'\r');
    let err = Head::parse(&bytes, &DecodeOptions::default()).expect_err("unknown token");
    assert_eq!(
        err.kind(),
        &ErrorKind::UnknownToken {
            token: "SIA-PUL".to_owned()
        }
    );
    let Answer::Duh(h) = err.answer() else {
        panic!("DUH")
    };
    assert_eq!(
        (h.seq.get(), h.account.as_ref().map(|a| a.as_str())),
        (31, Some("AB12"))
    );
    let duh = receive(&bytes, None);
    assert_eq!(token_of(&duh, None).map(|(t, _)| t), Some(Token::Duh));

    let mut request = cid(5, "1120 01 001", Some(at(0)));
    request.encrypted = true;
    let bytes = request
        .encode_encrypted(&key(), &mut StdRng::seed_from_u64(4))
        .expect("encodes");
    let wrong = Key::from_ascii("0123456789ABCDEX").expect("key");
    let reply = receive(&bytes, Some(&wrong));
    let Some((Token::Duh, Reply::Duh { header })) = token_of(&reply, None) else {
        panic!("DUH")
    };
    assert_eq!(header, request.header);
}

#[test]
fn nak_tells_the_transmitter_its_offset() {
    let stale = cid(2, "1120 01 001", Some(at(-60)))
        .encode_plain()
        .expect("encodes");
    let (token, reply) = token_of(&receive(&stale, None), None).expect("reply");
    assert_eq!(token, Token::Nak);
    let Reply::Nak { receiver_time } = reply else {
        panic!("NAK")
    };
    // The transmitter's clock (at(-60)) is 60 s slow; resent with the same seq, corrected.
    assert_eq!(receiver_time.unix_s() - at(-60).unix_s(), 60);
    let resent = cid(2, "1120 01 001", Some(receiver_time))
        .encode_plain()
        .expect("encodes");
    assert_eq!(
        token_of(&receive(&resent, None), None).map(|(t, _)| t),
        Some(Token::Ack)
    );
}

#[test]
fn limits_are_enforced_on_encode() {
    let mut f = cid(1, "1120 01 001", None);
    f.xdata.push(
        vigie_dc09::XData::new(b'V', vec![b'a'; vigie_dc09::BODY_BYTES_MAX]).expect("x-data"),
    );
    assert!(matches!(
        f.encode_plain(),
        Err(vigie_dc09::EncodeError::TooLong { .. })
    ));
    let mut nak = Frame::nak(at(0));
    nak.encrypted = true;
    assert_eq!(
        nak.encode_encrypted(&key(), &mut StdRng::seed_from_u64(1)),
        Err(vigie_dc09::EncodeError::NeverEncrypted(Token::Nak))
    );
    let mut no_ts = cid(1, "1120 01 001", None);
    no_ts.encrypted = true;
    assert_eq!(
        no_ts.encode_encrypted(&key(), &mut StdRng::seed_from_u64(1)),
        Err(vigie_dc09::EncodeError::NoTimestamp)
    );
    assert_eq!(Seq::new(10_000), Err(vigie_dc09::FieldError::Seq(10_000)));
}
