//! The box's integration tests: one binary, one module per concern.

mod agent;
mod hostile_hub;
mod modem;
mod recorder;
mod recording;

/// Bind `addr` again after a server on it stopped. Another test may hold
/// the port for a moment (the OS hands out freed ports): retry with a deadline.
pub(crate) async fn rebind(addr: std::net::SocketAddr) -> tokio::net::TcpListener {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "cannot bind {addr} again: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
