//! Inputs the `ogg_opus` fuzz target (fuzz/) found, kept as files so the
//! faults stay fixed. Fuzzing builds of the `ogg` crate skip the page CRC;
//! these files have their CRCs recomputed so that they read here too.

/// Its last page's granule position is 0x3bc7…, whose product with the
/// decoding rate overflowed 64 bits (a panic where overflow checks are on,
/// a wrong trim otherwise). Decoding must answer, error or PCM, not panic.
#[test]
fn a_huge_granule_position_does_not_overflow() {
    let bytes = include_bytes!("../fuzz/granule-overflow.ogg");
    match vigie_timeline::ogg_opus_to_pcm(bytes) {
        // The granule asks for more samples than were decoded: all are kept.
        Ok((pcm, rate)) => assert!(rate > 0 && pcm.len() <= vigie_timeline::PCM_SAMPLES_MAX),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
