//! RFC 3161 time-stamp tokens and replies, and the PEM chains they are
//! checked against (`vigie_evidence::tsa`): the first byte picks what the
//! input stands for, the fixtures of `tests/peers/tsa/fixtures` (made with
//! `openssl ts`) fill in the rest, so every check past the DER decoding is
//! reached: imprint, nonce, signed attributes, ESSCertID, the signature
//! (ECDSA and RSA), the critical `timeStamping` usage, the chain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_evidence::tsa::{check_reply, parse_response, verify_token, verify_token_with_nonce};
use vigie_evidence::verify::rfc3161_check;

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!("../../tests/peers/tsa/fixtures/", $path)).as_slice()
    };
}

const CHECKPOINT: &[u8] = fixture!("checkpoint.txt");
const EC_TOKEN: &[u8] = fixture!("ec/token.der");
const EC_CA: &[u8] = fixture!("ec/ca.crt");
const EC_TSA: &[u8] = fixture!("ec/tsa.crt");
const RSA_CA: &[u8] = fixture!("rsa/ca.crt");

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    match which % 4 {
        // A reply as the TSA sends it to the hub.
        0 => {
            let _ = parse_response(input);
            let _ = check_reply(input, CHECKPOINT, 0x1234_5678_9abc_def0);
        }
        // A token (or a whole reply) in an export, against each known root.
        1 => {
            for chain in [EC_CA, RSA_CA] {
                let _ = verify_token(CHECKPOINT, input, chain);
            }
            let chain = [EC_TSA, EC_CA].concat();
            let _ = verify_token_with_nonce(CHECKPOINT, input, &chain, 1);
        }
        // `keys/tsa-chain.pem` in an export, against the fixture's token.
        2 => {
            let _ = verify_token(CHECKPOINT, EC_TOKEN, input);
        }
        // The checkpoint itself (what the imprint covers), as `vigie verify` runs it.
        _ => {
            let _ = rfc3161_check(input, EC_TOKEN, EC_CA);
        }
    }
});
