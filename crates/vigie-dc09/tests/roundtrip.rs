//! Property round-trips: encode then decode is the identity, for every
//! token, key size, prefix, account and x-data; and no mutation of a frame
//! is taken for another frame.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vigie_dc09::{
    Account, AdmCid, CidEvent, Content, DcsFunction, DcsPacket, DecodeOptions, Frame, Header, Key,
    Prefix, Qualifier, Seq, SiaCode, SiaDcs, Timestamp, Token, XData, decode,
};

fn hex_string(len: impl Into<proptest::sample::SizeRange>) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(b"0123456789abcdefABCDEF".to_vec()),
        len,
    )
    .prop_map(|b| String::from_utf8(b).unwrap_or_default())
}

fn account() -> impl Strategy<Value = Account> {
    prop_oneof![Just(String::new()), hex_string(3..=16)]
        .prop_map(|s| Account::new(&s).expect("generated account"))
}

fn prefix() -> impl Strategy<Value = Option<Prefix>> {
    proptest::option::of(hex_string(1..=6).prop_map(|s| Prefix::new(&s).expect("generated prefix")))
}

fn header() -> impl Strategy<Value = Header> {
    (
        0..=9999u16,
        prefix(),
        prefix(),
        proptest::option::of(account()),
    )
        .prop_map(|(seq, receiver, line, account)| Header {
            seq: Seq::new(seq).expect("in range"),
            receiver,
            line,
            account,
        })
}

fn free_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("delimiter", |b| !matches!(b, b'[' | b']' | b'\r' | b'\n')),
        0..max,
    )
}

fn xdata() -> impl Strategy<Value = Vec<XData>> {
    proptest::collection::vec(
        (b'A'..=b'Z', free_bytes(60))
            .prop_map(|(l, v)| XData::new(l, v).expect("generated x-data")),
        0..4,
    )
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0i64..253_402_300_799).prop_map(|s| Timestamp::from_unix_s(s).expect("in range"))
}

fn token() -> impl Strategy<Value = Token> {
    proptest::sample::select(vec![
        Token::SiaDcs,
        Token::AdmCid,
        Token::Null,
        Token::Xnm,
        Token::Ack,
        Token::Nak,
        Token::Duh,
    ])
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        token(),
        header(),
        free_bytes(200),
        xdata(),
        proptest::option::of(timestamp()),
    )
        .prop_map(|(token, header, data, xdata, timestamp)| Frame {
            token,
            encrypted: false,
            header,
            data,
            xdata,
            timestamp,
        })
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 16),
        proptest::collection::vec(any::<u8>(), 24),
        proptest::collection::vec(any::<u8>(), 32),
    ]
    .prop_map(|b| Key::from_bytes(&b).expect("key size"))
}

proptest! {
    #[test]
    fn plain_frames_round_trip(frame in frame()) {
        let bytes = frame.encode_plain().expect("encodes");
        prop_assert!(bytes.len() <= vigie_dc09::FRAME_BYTES_MAX);
        prop_assert_eq!(decode(&bytes, None, &DecodeOptions::default()), Ok(frame));
    }

    #[test]
    fn encrypted_frames_round_trip(mut frame in frame(), ts in timestamp(), key in key(), seed in any::<u64>()) {
        prop_assume!(frame.token.may_be_encrypted());
        frame.encrypted = true;
        frame.timestamp = Some(ts);
        let bytes = frame.encode_encrypted(&key, &mut StdRng::seed_from_u64(seed)).expect("encodes");
        prop_assert_eq!(decode(&bytes, Some(&key), &DecodeOptions::default()), Ok(frame));
    }

    #[test]
    fn a_changed_byte_is_never_another_frame(frame in frame(), at in any::<prop::sample::Index>(), to in any::<u8>()) {
        let mut bytes = frame.encode_plain().expect("encodes");
        let i = at.index(bytes.len());
        // A hex digit in another case is the same value.
        prop_assume!(!bytes[i].eq_ignore_ascii_case(&to));
        bytes[i] = to;
        prop_assert!(decode(&bytes, None, &DecodeOptions::default()).is_err());
    }

    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..600), key in key()) {
        let _ = decode(&bytes, Some(&key), &DecodeOptions { binary_crc: true });
        let mut framed = vec![b'\n'];
        framed.extend(&bytes);
        framed.push(b'\r');
        let _ = decode(&framed, Some(&key), &DecodeOptions::default());
    }

    #[test]
    fn contact_id_round_trips(
        acct in proptest::option::of(account()),
        q in proptest::sample::select(vec![Qualifier::New, Qualifier::Restore, Qualifier::StillPresent]),
        code in 0..=999u16, partition in 0..=99u8, zone in 0..=999u16, h in header(),
    ) {
        let cid = AdmCid { account: acct, event: CidEvent::new(q, code, partition, zone).expect("in range") };
        prop_assert_eq!(AdmCid::parse(&cid.to_data()), Ok(cid.clone()));
        let frame = Frame::new(Token::AdmCid, h, cid.to_data());
        let back = decode(&frame.encode_plain().expect("encodes"), None, &DecodeOptions::default());
        prop_assert_eq!(back.map(|f| f.content()), Ok(Ok(Content::Cid(cid))));
    }

    #[test]
    fn sia_dcs_round_trips(
        acct in proptest::option::of(account()),
        old in any::<bool>(),
        packets in proptest::collection::vec(packet(), 0..6),
        last in event(),
    ) {
        let mut packets = packets;
        packets.push(last);
        let function = if old { DcsFunction::Old } else { DcsFunction::New };
        let dcs = SiaDcs { account: acct, function, packets };
        prop_assert_eq!(SiaDcs::parse(&dcs.to_data()), Ok(dcs));
    }
}

fn event() -> impl Strategy<Value = DcsPacket> {
    let code = (b'A'..=b'Z', b'A'..=b'Z').prop_map(|(a, b)| {
        SiaCode::new(&String::from_utf8(vec![a, b]).unwrap_or_default()).expect("two capitals")
    });
    let address = proptest::collection::vec(
        proptest::sample::select(b"0123456789ABCDEF:-".to_vec()),
        0..6,
    )
    .prop_map(|b| String::from_utf8(b).unwrap_or_default());
    let text = proptest::option::of(proptest::collection::vec(
        any::<u8>().prop_filter("text", |b| {
            !matches!(b, b'^' | b'[' | b']' | b'|' | b'\r' | b'\n')
        }),
        0..20,
    ));
    (code, address, text).prop_map(|(code, address, text)| DcsPacket::Event {
        code,
        address,
        text,
    })
}

fn packet() -> impl Strategy<Value = DcsPacket> {
    let modifier = (
        b'a'..=b'z',
        b'a'..=b'z',
        proptest::collection::vec(proptest::sample::select(b"0123456789.:-".to_vec()), 0..6),
    )
        .prop_map(|(a, b, v)| DcsPacket::Modifier {
            name: [a, b],
            value: String::from_utf8(v).unwrap_or_default(),
        });
    prop_oneof![modifier, event()]
}
