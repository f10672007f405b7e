//! `taskgate healthcheck`: asks a server's `/readyz` (or `/healthz` with `--live`) and exits 0
//! on `200`. It lets a container health check run without curl or any other tool in the image.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// True when the server listening on `listen` answers `GET /readyz` (or, when `live`,
/// `GET /healthz`) with `200`.
pub fn check(listen: SocketAddr, live: bool) -> bool {
    // A server bound to every interface (0.0.0.0 or ::) is reached through loopback.
    let mut target = listen;
    if target.ip().is_unspecified() {
        target.set_ip(if listen.is_ipv4() {
            [127, 0, 0, 1].into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let timeout = Duration::from_secs(2);
    let Ok(mut stream) = TcpStream::connect_timeout(&target, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let path = if live { "/healthz" } else { "/readyz" };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status_line = [0u8; 12];
    stream.read_exact(&mut status_line).is_ok() && status_line.ends_with(b" 200")
}
