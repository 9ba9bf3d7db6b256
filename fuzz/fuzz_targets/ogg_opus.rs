//! Ogg pages and the Opus stream in them, as the hub reads a recording for
//! an export's timeline (`vigie_timeline::ogg_opus_to_pcm`, then
//! `vigie_timeline::timeline` over what it decoded, as `vault::export`
//! does).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((pcm, rate_hz)) = vigie_timeline::ogg_opus_to_pcm(data) {
        assert!(pcm.len() <= vigie_timeline::PCM_SAMPLES_MAX);
        let _ = vigie_timeline::timeline(&pcm, rate_hz);
    }
});
