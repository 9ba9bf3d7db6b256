//! SMPP PDUs from the SMSC as the hub decodes them: rusmpp's
//! `CommandCodec`, which the hub's rusmppc (vendor/rusmppc) runs without its
//! own length limit on each frame cut by `command_length` (16 bytes up to
//! 16 MiB; frames above the hub's `PDU_BYTES_MAX` are skipped unread), and
//! the `deliver_sm` fields `gateway::smpp::inbound_of` reads (ESM class,
//! data coding, short message, TLVs, source address). The stock codec with
//! its default limit is run over the same bytes as one stream.
//!
//! Not reached: the hub's own `inbound_of` and `decode` are private to
//! `gateway/smpp.rs` (see docs/benchmarks.md, fuzzing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rusmpp::tlvs::TlvValue;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::{Command, Pdu};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::Decoder;

/// `gateway::smpp::PDU_BYTES_MAX`: the largest message_payload and 4 KiB.
const PDU_BYTES_MAX: usize = 65_535 + 4_096;
const HEADER_BYTES: usize = 16;
const FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;

fn read_as_the_hub(command: &Command) -> usize {
    let _ = (command.id(), command.status(), command.sequence_number());
    let mut seen = 0;
    if let Some(Pdu::DeliverSm(deliver)) = command.pdu() {
        let _ = u8::from(deliver.esm_class);
        let _ = u8::from(deliver.data_coding);
        seen += deliver.short_message().as_ref().len();
        for tlv in deliver.tlvs() {
            match tlv.value() {
                Some(TlvValue::ReceiptedMessageId(id)) => seen += id.as_str().len(),
                Some(TlvValue::MessageState(state)) => seen += usize::from(u8::from(*state)),
                Some(TlvValue::MessagePayload(p)) => seen += p.value.as_ref().len(),
                _ => {}
            }
        }
        seen += deliver.source_addr.as_str().len();
    }
    seen
}

fuzz_target!(|data: &[u8]| {
    // Frame by frame, as the hub's link does.
    let mut rest = data;
    while rest.len() >= HEADER_BYTES {
        let length = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if !(HEADER_BYTES..=FRAME_BYTES_MAX).contains(&length) {
            break; // framing lost: the hub closes the link
        }
        if length > rest.len() {
            break; // waits for more bytes
        }
        let (frame, after) = rest.split_at(length);
        rest = after;
        if length > PDU_BYTES_MAX {
            continue; // discarded unread
        }
        let mut buf = BytesMut::from(frame);
        let mut codec = CommandCodec::new().without_max_length();
        if let Ok(Some(command)) = codec.decode(&mut buf) {
            let _ = read_as_the_hub(&command);
        }
    }
    // As one stream through the stock codec.
    let mut buf = BytesMut::from(data);
    let mut codec = CommandCodec::new();
    while let Ok(Some(command)) = codec.decode(&mut buf) {
        let _ = read_as_the_hub(&command);
    }
});
