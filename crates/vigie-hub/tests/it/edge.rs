//! The HTTP edge under slow and idle clients: headers and whole requests
//! have deadlines, idle keep-alive connections are closed, connections
//! past the cap are closed at once, and alarm intake keeps answering while
//! thousands of slow connections are held.

use crate::helpers::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use uuid::Uuid;

const FAST: &[(&str, &str)] = &[
    ("VIGIE__SERVER__HEADER_READ_TIMEOUT_S", "1"),
    ("VIGIE__SERVER__REQUEST_TIMEOUT_S", "1"),
];

async fn connect(h: &TestHub) -> TcpStream {
    TcpStream::connect(h.hub.addr).await.expect("connect")
}

/// Read until the hub closes the connection; what it sent before.
async fn until_closed(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the hub kept the connection open: {:?}",
        String::from_utf8_lossy(&got)
    );
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn headers_sent_too_slowly_are_cut_off() {
    let h = spawn_hub_configured("", "", FAST).await;
    let mut s = connect(&h).await;
    s.write_all(b"POST /v1/alarms HTTP/1.1\r\nHost: hub\r\n")
        .await
        .expect("write");
    until_closed(&mut s).await;
}

#[tokio::test]
async fn a_body_sent_too_slowly_gets_a_json_timeout() {
    let h = spawn_hub_configured("", "", FAST).await;
    let mut s = connect(&h).await;
    s.write_all(
        b"POST /v1/alarms HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"alarm",
    )
    .await
    .expect("write");
    let answer = until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let h = spawn_hub_configured("", "", FAST).await;
    let mut s = connect(&h).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        .await
        .expect("write");
    let answer = until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn past_the_cap_a_connection_is_closed_at_once_and_intake_resumes() {
    let mut env = FAST.to_vec();
    env.push(("VIGIE__SERVER__CONNECTIONS_MAX", "16"));
    let h = spawn_hub_configured("", "", &env).await;
    let shop = shop_with_two_tiers(&h, "E1").await;
    let dev = h.enroll(shop).await;
    // Sixteen idle connections fill the cap; wait until the hub holds them.
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(connect(&h).await);
    }
    let mut extra = loop {
        let mut s = connect(&h).await;
        let mut b = [0u8; 1];
        // Closed at once (EOF) once the cap is full.
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut b)).await {
            Ok(Ok(0)) => break s,
            _ => idle.push(s),
        }
    };
    assert_eq!(extra.read(&mut [0u8; 1]).await.expect("read"), 0);
    // The idle ones are cut after the header timeout: intake answers again.
    eventually("intake to answer again", || async {
        let (status, _) = h.press(&dev, Uuid::now_v7()).await;
        (status == 201).then_some(())
    })
    .await;
}

#[tokio::test]
async fn alarms_are_taken_while_two_thousand_slow_connections_are_held_then_cut() {
    let h = spawn_hub_configured("", "", FAST).await;
    let shop = shop_with_two_tiers(&h, "E2").await;
    let dev = h.enroll(shop).await;
    let mut slow = Vec::with_capacity(2_000);
    for i in 0..2_000 {
        let mut s = connect(&h).await;
        if i % 2 == 0 {
            // Half send a request line and stall; half send nothing.
            s.write_all(b"POST /v1/alarms HTTP/1.1\r\n")
                .await
                .expect("write");
        }
        slow.push(s);
    }
    for _ in 0..20 {
        let (status, body) = h.press(&dev, Uuid::now_v7()).await;
        assert_eq!(status, 201, "{body}");
    }
    // None of them is kept past the header deadline (without it they
    // would stay open, and enough of them exhaust the descriptors).
    for s in &mut slow {
        until_closed(s).await;
    }
}
