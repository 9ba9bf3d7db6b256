//! The timeline's integration tests, on French speech made by espeak-ng and
//! sox (`tests/peers/audio/make_speech.sh`).

mod fuzz_regressions;
mod speech;
