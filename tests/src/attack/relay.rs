//! A TCP relay between a client and a server that a test can cut, to kill
//! a connection's transport mid-call from either side.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

/// The sockets of the one connection relayed.
#[derive(Default)]
struct Pair {
    client: Option<TcpStream>,
    server: Option<TcpStream>,
}

/// Forwards the first connection made to it to `upstream`.
pub struct Relay {
    /// Where the client connects.
    pub addr: SocketAddr,
    pair: Arc<Mutex<Pair>>,
}

impl Relay {
    /// Listen on 127.0.0.1 and relay to `upstream`.
    pub fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay binds");
        let addr = listener.local_addr().expect("relay address");
        let pair: Arc<Mutex<Pair>> = Arc::default();
        let p = pair.clone();
        thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let Ok(server) = TcpStream::connect(upstream) else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            {
                let mut g = p.lock().unwrap_or_else(PoisonError::into_inner);
                g.client = client.try_clone().ok();
                g.server = server.try_clone().ok();
            }
            for (from, to) in [
                (client.try_clone(), server.try_clone()),
                (server.try_clone(), client.try_clone()),
            ] {
                if let (Ok(from), Ok(to)) = (from, to) {
                    thread::spawn(move || forward(from, to));
                }
            }
        });
        Relay { addr, pair }
    }

    fn with(&self, f: impl FnOnce(&Pair)) {
        f(&self.pair.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Kill the transport: both sockets shut in both directions. Each
    /// side sees its connection end (end of file, or a reset if it was
    /// writing).
    pub fn cut(&self) {
        self.with(|p| {
            for s in [&p.client, &p.server].into_iter().flatten() {
                let _ = s.shutdown(Shutdown::Both);
            }
        });
    }

    /// Half-close towards the server: it reads end of file while it can
    /// still write (the client's side of a half-closed TCP connection).
    pub fn half_close_to_server(&self) {
        self.with(|p| {
            if let Some(s) = &p.server {
                let _ = s.shutdown(Shutdown::Write);
            }
        });
    }

    /// Half-close towards the client: it reads end of file while it can
    /// still write.
    pub fn half_close_to_client(&self) {
        self.with(|p| {
            if let Some(s) = &p.client {
                let _ = s.shutdown(Shutdown::Write);
            }
        });
    }
}

fn forward(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
