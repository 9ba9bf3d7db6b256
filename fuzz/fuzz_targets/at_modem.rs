//! AT responses as the box's modem client reads them
//! (`vigie_agent::modem::at::AtModem`, TS 27.007/27.005 in PDU mode): line
//! framing, final result codes, `+CME`/`+CMS ERROR`, unsolicited `+CMTI`,
//! the `> ` prompt, `+CPIN`/`+CSQ`/`+CREG` answers and the `+CMGR` PDU
//! handed to `decode_deliver`.
//!
//! Input: the modem's answers, separated by NUL bytes; the stand-in modem
//! gives the next one after each command line (CR) or PDU (Ctrl-Z) it
//! receives, and closes the port when none is left. The box asks what its
//! agent does: status, incoming SMS, send an SMS, incoming SMS again. Time
//! is Tokio's paused clock, so every deadline passes at once: an input that
//! would hang the box hangs the target.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigie_agent::modem::Modem;
use vigie_agent::modem::at::{AtModem, AtTimeouts};
use vigie_core::PhoneNumber;

const CTRL_Z: u8 = 0x1A;

fuzz_target!(|data: &[u8]| {
    let answers: Vec<Vec<u8>> = data.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let (port, mut modem_side) = tokio::io::duplex(64 * 1024);
        let fake = tokio::spawn(async move {
            let mut answers = answers.into_iter();
            let mut buf = [0u8; 1024];
            loop {
                let n = match modem_side.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                for _ in buf[..n].iter().filter(|&&b| b == b'\r' || b == CTRL_Z) {
                    let Some(answer) = answers.next() else {
                        return; // the port closes
                    };
                    if modem_side.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            }
        });
        let modem = AtModem::with_timeouts(
            port,
            AtTimeouts {
                command: Duration::from_secs(5),
                prompt: Duration::from_secs(5),
                send: Duration::from_secs(60),
                probe: Duration::from_secs(1),
            },
        );
        let to = PhoneNumber::parse("+33612345678").expect("a valid number");
        let _ = modem.status().await;
        let _ = modem.read_incoming().await;
        let _ = modem.send_sms(&to, "ALERTE Tabac du Port: 1 j'arrive").await;
        let _ = modem.read_incoming().await;
        let _ = modem.unsolicited();
        drop(modem);
        let _ = fake.await;
    });
});
