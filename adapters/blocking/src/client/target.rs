//! Where a channel connects: `http://host:port`, `host:port`, or
//! `unix:/path` (`unix:///path`).

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::transport::Transport;

/// Makes a new transport for each connection attempt, within a timeout.
pub(crate) type Connector =
    Arc<dyn Fn(Duration) -> io::Result<Box<dyn Transport>> + Send + Sync + 'static>;

/// A parsed target.
pub(crate) struct Target {
    pub(crate) connector: Connector,
    pub(crate) authority: String,
    pub(crate) scheme: &'static str,
    /// The host and port of a TCP target, for TLS over TCP.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) tcp: Option<(String, u16)>,
}

/// Connect to `host:port` (each address it resolves to, in turn).
pub(crate) fn connect_tcp(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the host resolved to no address")
    }))
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

pub(crate) fn parse(target: &str) -> io::Result<Target> {
    if let Some(path) = target.strip_prefix("unix:") {
        return unix(path.strip_prefix("//").unwrap_or(path));
    }
    let (scheme, rest) = match target.split_once("://") {
        Some(("http", rest)) => ("http", rest),
        Some(("https", rest)) => ("https", rest),
        Some((other, _)) => return Err(invalid(format!("{target}: unknown scheme {other}"))),
        None => ("http", target),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(invalid(format!("{target}: no host")));
    }
    let (host, port) =
        split_host_port(authority).ok_or_else(|| invalid(format!("{target}: bad host or port")))?;
    let has_port = match authority.strip_prefix('[') {
        Some(rest) => rest.contains("]:"),
        None => authority.contains(':'),
    };
    let port = if scheme == "https" && !has_port {
        443
    } else {
        port
    };
    let host_owned = host.to_string();
    let connector: Connector = Arc::new(move |timeout| {
        Ok(Box::new(connect_tcp(&host_owned, port, timeout)?) as Box<dyn Transport>)
    });
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:{port}")
    };
    Ok(Target {
        connector,
        authority,
        scheme,
        tcp: Some((host.to_string(), port)),
    })
}

fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 80,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, port.parse().ok()?)),
        None => Some((authority, 80)),
    }
}

#[cfg(unix)]
fn unix(path: &str) -> io::Result<Target> {
    if path.is_empty() {
        return Err(invalid("unix: target without a path".to_string()));
    }
    let path = std::path::PathBuf::from(path);
    let connector: Connector = Arc::new(move |_timeout| {
        let s = std::os::unix::net::UnixStream::connect(&path)?;
        Ok(Box::new(s) as Box<dyn Transport>)
    });
    Ok(Target {
        connector,
        authority: "localhost".to_string(),
        scheme: "http",
        tcp: None,
    })
}

#[cfg(not(unix))]
fn unix(_path: &str) -> io::Result<Target> {
    Err(invalid("unix sockets need a unix platform".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            split_host_port("127.0.0.1:50051"),
            Some(("127.0.0.1", 50051))
        );
        assert_eq!(split_host_port("[::1]:7"), Some(("::1", 7)));
        assert_eq!(split_host_port("example.com"), Some(("example.com", 80)));
        assert_eq!(split_host_port("h:x"), None);
        let t = parse("http://127.0.0.1:50052").unwrap();
        assert_eq!(t.authority, "127.0.0.1:50052");
        assert!(parse("ftp://x:1").is_err());
        assert!(parse("http://").is_err());
    }
}
