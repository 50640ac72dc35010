//! Where a channel connects: parsed targets and the [`Connector`] trait
//! for anything else (TLS, custom transports, in-memory pipes).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use crate::transport::BoxIo;

/// The future a [`Connector`] returns.
pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send + 'a>>;

/// Makes the transports a channel runs its connections over.
pub trait Connector: Send + Sync + 'static {
    /// Open one transport.
    fn connect(&self) -> ConnectFuture<'_>;
}

/// A target string that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTarget(pub String);

impl fmt::Display for InvalidTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid target: {}", self.0)
    }
}

impl std::error::Error for InvalidTarget {}

/// A parsed target: `http://host:port`, `https://host:port` (TLS, with
/// the `tls` feature and `ChannelBuilder::tls`),
/// or `unix:/path` (also `unix:///path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// TCP to `host:port`, cleartext HTTP/2.
    Tcp {
        /// Host name or address (IPv6 in brackets).
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix domain socket.
    Unix {
        /// The socket's path.
        path: String,
    },
}

impl Target {
    /// Parse a target string.
    pub fn parse(target: &str) -> Result<Target, InvalidTarget> {
        let bad = |why: &str| InvalidTarget(format!("{target}: {why}"));
        if let Some(rest) = target.strip_prefix("unix:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("empty socket path"));
            }
            return Ok(Target::Unix {
                path: path.to_string(),
            });
        }
        let (rest, default_port) = if let Some(r) = target.strip_prefix("http://") {
            (r, 80)
        } else if let Some(r) = target.strip_prefix("https://") {
            (r, 443)
        } else if target.contains("://") {
            return Err(bad("unsupported scheme"));
        } else {
            (target, 80)
        };
        let hostport = rest.split('/').next().unwrap_or("");
        if hostport.is_empty() {
            return Err(bad("missing host"));
        }
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad port"))?;
        Ok(Target::Tcp {
            host: host.to_string(),
            port: port.unwrap_or(default_port),
        })
    }

    /// The `:authority` requests to this target carry.
    pub fn authority(&self) -> String {
        match self {
            Target::Tcp { host, port } => format!("{host}:{port}"),
            Target::Unix { .. } => "localhost".to_string(),
        }
    }

    /// The host name, for TLS server name verification.
    pub fn host(&self) -> &str {
        match self {
            Target::Tcp { host, .. } => host.trim_start_matches('[').trim_end_matches(']'),
            Target::Unix { .. } => "localhost",
        }
    }
}

/// Whether a target string asks for TLS.
pub(crate) fn is_https(target: &str) -> bool {
    target.starts_with("https://")
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
pub(crate) fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if s.starts_with('[') {
        let end = s.find(']')?;
        let host = &s[..=end];
        let rest = &s[end + 1..];
        if rest.is_empty() {
            return Some((host, None));
        }
        let port = rest.strip_prefix(':')?.parse().ok()?;
        return Some((host, Some(port)));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((s, None)),
    }
}

impl Connector for Target {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            match self {
                Target::Tcp { host, port } => {
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    let s = tokio::net::TcpStream::connect((host, *port)).await?;
                    s.set_nodelay(true)?;
                    Ok(Box::new(s) as BoxIo)
                }
                #[cfg(unix)]
                Target::Unix { path } => {
                    let s = tokio::net::UnixStream::connect(path).await?;
                    Ok(Box::new(s) as BoxIo)
                }
                #[cfg(not(unix))]
                Target::Unix { .. } => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "unix sockets are not available here",
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("http://127.0.0.1:50051").unwrap(),
            Target::Tcp {
                host: "127.0.0.1".into(),
                port: 50051
            }
        );
        assert_eq!(
            Target::parse("localhost:7").unwrap().authority(),
            "localhost:7"
        );
        assert_eq!(
            Target::parse("http://[::1]:9").unwrap().authority(),
            "[::1]:9"
        );
        assert_eq!(
            Target::parse("unix:///tmp/x.sock").unwrap(),
            Target::Unix {
                path: "/tmp/x.sock".into()
            }
        );
        assert!(Target::parse("http://h:notaport").is_err());
        assert!(Target::parse("ftp://h:1").is_err());
        assert_eq!(
            Target::parse("https://example.com").unwrap().authority(),
            "example.com:443"
        );
        assert!(is_https("https://a:1"));
        assert!(Target::parse("http://").is_err());
    }
}
