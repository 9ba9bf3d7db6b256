//! Device JSON bodies, both ways: what the hub reads from a box (enrolment,
//! alarms, direct SMS reports, heartbeats, cancels, recording requests,
//! chunk uploads) and what a box reads from the hub, with
//! `serde_json::from_slice` as `api::device::parse_json` does; then the
//! phone numbers a box reports. A value read must write and read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use vigie_core::PhoneNumber;
use vigie_proto::wire::*;

fn round_trip<T: DeserializeOwned + Serialize>(data: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(data).ok()?;
    let bytes = serde_json::to_vec(&value).expect("a parsed body serialises");
    let _: T = serde_json::from_slice(&bytes).expect("a serialised body parses");
    Some(value)
}

fn phones(direct: &[DirectSms]) {
    for sms in direct {
        let _ = PhoneNumber::parse(&sms.phone);
    }
}

fuzz_target!(|data: &[u8]| {
    // Box → hub.
    let _ = round_trip::<EnrollRequest>(data);
    if let Some(raise) = round_trip::<RaiseAlarm>(data) {
        phones(&raise.direct_sms);
    }
    if let Some(report) = round_trip::<DirectReport>(data) {
        phones(&report.direct_sms);
    }
    let _ = round_trip::<Heartbeat>(data);
    let _ = round_trip::<CancelAlarm>(data);
    let _ = round_trip::<RequestRecording>(data);
    let _ = round_trip::<UploadChunk>(data);
    // Hub → box.
    let _ = round_trip::<EnrollResponse>(data);
    let _ = round_trip::<HeartbeatAck>(data);
    let _ = round_trip::<DeviceConfig>(data);
    let _ = round_trip::<AlarmReceipt>(data);
    let _ = round_trip::<ErrorBody>(data);
    let _ = round_trip::<ChunkReceipt>(data);
});
