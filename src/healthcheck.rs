//! `taskgate healthcheck`: asks a server's `/readyz` (or `/healthz` with `--live`) and exits 0
//! on `200`. It lets a container health check run without curl or any other tool in the image.
//! It runs on the binary's async runtime, so it uses tokio's sockets, never blocking ones.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The whole check (connect, ask, read the status line) within this, inside the image's
/// `HEALTHCHECK --timeout=3s`.
const TIMEOUT: Duration = Duration::from_secs(2);

/// True when the server listening on `listen` answers `GET /readyz` (or, when `live`,
/// `GET /healthz`) with `200` within two seconds.
pub async fn check(listen: SocketAddr, live: bool) -> bool {
    // A server bound to every interface (0.0.0.0 or ::) is reached through loopback.
    let mut target = listen;
    if target.ip().is_unspecified() {
        target.set_ip(if listen.is_ipv4() {
            [127, 0, 0, 1].into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let path = if live { "/healthz" } else { "/readyz" };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    let probe = async {
        let mut stream = TcpStream::connect(target).await.ok()?;
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut status_line = [0u8; 12];
        stream.read_exact(&mut status_line).await.ok()?;
        Some(status_line.ends_with(b" 200"))
    };
    matches!(tokio::time::timeout(TIMEOUT, probe).await, Ok(Some(true)))
}
