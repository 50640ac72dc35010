//! Moving bytes between a transport and a connection state machine: the
//! one place where the drivers wait, for bytes from the peer, room to
//! write, commands from the application, the doorbell, or the core's next
//! timer, whichever comes first.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Sleep;

/// Any bidirectional byte stream a connection can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A boxed transport, as connectors return it.
pub type BoxIo = Box<dyn Io>;

/// The most bytes read from the transport at once.
const READ_CHUNK: usize = 64 << 10;
/// The heap read buffer's first size; it doubles (up to [`READ_CHUNK`])
/// each time a read fills it, so that busy connections read in large
/// chunks. When a read would wait and the last one filled less than half
/// of it, the burst is taken as over: the buffer is given back.
const READ_START: usize = 8 << 10;
/// Reads start in a small buffer inside the transport; one that fills it
/// moves the connection to a heap buffer until the bytes stop coming. Idle
/// and lightly used connections so hold no heap buffer, and waiting costs
/// no allocation.
const PROBE: usize = 512;
/// Output is gathered from `poll_transmit` up to about this many bytes
/// before it is written.
const WRITE_BATCH: usize = 256 << 10;

/// How long closing waits to write the last bytes (a GOAWAY, say) to a
/// peer that may not be reading; then the transport is dropped anyway.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// What woke the driver.
pub(crate) enum Wake<C> {
    /// `n` bytes were read into [`Transport::read_buf`].
    Read(usize),
    /// The peer closed its side, or the transport failed.
    Eof,
    /// Everything gathered was written: gather more.
    Wrote,
    /// The doorbell rang.
    Bell,
    /// A command from the application.
    Cmd(C),
    /// The core's timer is due.
    Timer,
}

pub(crate) struct Transport<T> {
    io: T,
    /// The small inline buffer reads use first (see [`PROBE`]).
    probe: [u8; PROBE],
    /// The last read's bytes are in `probe`, not `rbuf`.
    from_probe: bool,
    /// Reads go to `rbuf` (allocated on use) rather than `probe`.
    heap: bool,
    /// The heap buffer; empty while not in use.
    rbuf: Vec<u8>,
    /// How much the last heap read filled.
    last_fill: usize,
    /// The size `rbuf` has when in use.
    rsize: usize,
    /// The last read filled `rbuf`: grow it before the next.
    grow: bool,
    out: BytesMut,
    read_closed: bool,
    /// Why reading ended, if it ended with an error (a TLS alert, say).
    read_error: Option<io::Error>,
    write_failed: bool,
    needs_flush: bool,
    cmds_closed: bool,
    read_first: bool,
    sleep: Pin<Box<Sleep>>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Transport<T> {
    pub(crate) fn new(io: T) -> Self {
        Transport {
            io,
            probe: [0; PROBE],
            from_probe: false,
            heap: false,
            rbuf: Vec::new(),
            last_fill: 0,
            rsize: READ_START,
            grow: false,
            out: BytesMut::new(),
            read_closed: false,
            read_error: None,
            write_failed: false,
            needs_flush: false,
            cmds_closed: false,
            read_first: true,
            sleep: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
        }
    }

    /// The bytes of the last [`Wake::Read`].
    pub(crate) fn read_buf(&self, n: usize) -> &[u8] {
        if self.from_probe {
            &self.probe[..n]
        } else {
            &self.rbuf[..n]
        }
    }

    /// Gather output with `transmit` (a connection's `poll_transmit`).
    pub(crate) fn gather(&mut self, mut transmit: impl FnMut(&mut BytesMut) -> usize) {
        if self.write_failed {
            // Nowhere to write: drain and drop.
            let mut sink = BytesMut::new();
            while transmit(&mut sink) > 0 {
                sink.clear();
            }
            return;
        }
        while self.out.len() < WRITE_BATCH && transmit(&mut self.out) > 0 {}
    }

    /// The error reading ended with, if it did not end cleanly.
    pub(crate) fn read_error(&self) -> Option<&io::Error> {
        self.read_error.as_ref()
    }

    /// Whether the transport can no longer carry bytes either way.
    pub(crate) fn is_dead(&self) -> bool {
        self.read_closed && self.write_failed
    }

    /// Write what is gathered, flush, and shut the write side, for at
    /// most [`CLOSE_GRACE`]: a peer that does not read cannot keep a
    /// connection we have ended.
    pub(crate) async fn close(&mut self) {
        use tokio::io::AsyncWriteExt;
        if !self.write_failed {
            let io = &mut self.io;
            let out = &self.out;
            let _ = tokio::time::timeout(CLOSE_GRACE, async move {
                let _ = io.write_all(out).await;
                let _ = io.flush().await;
                let _ = io.shutdown().await;
            })
            .await;
        }
        self.out.clear();
    }

    /// Wait for the next thing to do. Writing happens in here, alongside
    /// reading, so that two peers that both write a lot never wait on
    /// each other.
    pub(crate) async fn wait<C>(
        &mut self,
        mut cmds: Option<&mut mpsc::Receiver<C>>,
        bell: &mut mpsc::Receiver<()>,
        timer: Option<Instant>,
    ) -> Wake<C> {
        if let Some(at) = timer {
            self.sleep
                .as_mut()
                .reset(tokio::time::Instant::from_std(at));
        }
        // Take turns: reading first, then commands and timers first, so a
        // peer that keeps sending cannot starve the application's commands
        // (nor the application the peer).
        let read_first = self.read_first;
        self.read_first = !self.read_first;
        poll_fn(|cx| {
            // Write first: freeing the peer's receive side helps both.
            while !self.write_failed && !self.out.is_empty() {
                match Pin::new(&mut self.io).poll_write(cx, &self.out) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                        self.write_failed = true;
                        self.out.clear();
                        return Poll::Ready(Wake::Eof);
                    }
                    Poll::Ready(Ok(n)) => {
                        self.out.advance(n);
                        self.needs_flush = true;
                        if self.out.is_empty() {
                            return Poll::Ready(Wake::Wrote);
                        }
                    }
                    Poll::Pending => break,
                }
            }
            if self.needs_flush && self.out.is_empty() && !self.write_failed {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.needs_flush = false,
                    Poll::Ready(Err(_)) => {
                        self.write_failed = true;
                        return Poll::Ready(Wake::Eof);
                    }
                    Poll::Pending => {}
                }
            }
            if read_first {
                if let Some(w) = self.poll_read(cx) {
                    return Poll::Ready(w);
                }
            }
            if let Poll::Ready(Some(())) = bell.poll_recv(cx) {
                return Poll::Ready(Wake::Bell);
            }
            if let (false, Some(cmds)) = (self.cmds_closed, cmds.as_deref_mut()) {
                match cmds.poll_recv(cx) {
                    Poll::Ready(Some(c)) => return Poll::Ready(Wake::Cmd(c)),
                    Poll::Ready(None) => {
                        // Every handle is gone: the caller may now close
                        // an idle connection, so say so once.
                        self.cmds_closed = true;
                        return Poll::Ready(Wake::Bell);
                    }
                    Poll::Pending => {}
                }
            }
            if timer.is_some() && self.sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Timer);
            }
            if !read_first {
                if let Some(w) = self.poll_read(cx) {
                    return Poll::Ready(w);
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Read into the buffer if the transport has bytes.
    fn poll_read<C>(&mut self, cx: &mut Context<'_>) -> Option<Wake<C>> {
        if self.read_closed {
            return None;
        }
        if self.grow {
            // The last read's bytes have been handed on by now.
            self.grow = false;
            self.rsize = (self.rsize * 2).min(READ_CHUNK);
            self.rbuf = Vec::new();
        }
        if self.heap && self.rbuf.len() != self.rsize {
            self.rbuf = vec![0; self.rsize];
        }
        let heap = self.heap;
        let buf: &mut [u8] = if heap {
            &mut self.rbuf
        } else {
            &mut self.probe
        };
        let mut rb = ReadBuf::new(buf);
        let polled = Pin::new(&mut self.io).poll_read(cx, &mut rb);
        let n = rb.filled().len();
        let capacity = rb.capacity();
        match polled {
            Poll::Ready(Ok(())) => {
                if n == 0 {
                    self.read_closed = true;
                    return Some(Wake::Eof);
                }
                self.from_probe = !heap;
                if heap {
                    self.last_fill = n;
                    self.grow = n == capacity && n < READ_CHUNK;
                } else if n == capacity {
                    // More may be waiting: read into the heap buffer next.
                    self.heap = true;
                }
                Some(Wake::Read(n))
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                cx.waker().wake_by_ref();
                None
            }
            Poll::Ready(Err(e)) => {
                self.read_closed = true;
                self.read_error = Some(e);
                Some(Wake::Eof)
            }
            Poll::Pending => {
                if heap && self.last_fill * 2 <= self.rsize {
                    // The last read did not fill half the buffer: the burst
                    // is over. Back to the inline buffer and the first size.
                    self.heap = false;
                    self.rsize = READ_START;
                    self.rbuf = Vec::new();
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Every byte arrives, in order, whatever the sizes of the writes:
    /// under the inline buffer, exactly its size, just over, and bulk that
    /// grows the heap buffer; and a quiet connection ends up holding no
    /// heap buffer.
    #[tokio::test]
    async fn reads_pass_every_byte_and_idle_holds_no_buffer() {
        let (mut peer, ours) = tokio::io::duplex(1 << 20);
        let sizes = [
            100,
            PROBE,
            PROBE + 1,
            3 * PROBE,
            200_000,
            7,
            READ_CHUNK + 5,
            1,
        ];
        let total: usize = sizes.iter().sum();
        let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let writer = {
            let data = data.clone();
            tokio::spawn(async move {
                let mut at = 0;
                for n in sizes {
                    peer.write_all(&data[at..at + n]).await.unwrap();
                    peer.flush().await.unwrap();
                    at += n;
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
                peer
            })
        };
        let mut t = Transport::new(ours);
        let (_tx, mut cmds) = mpsc::channel::<()>(1);
        let (_bell_tx, mut bell) = mpsc::channel::<()>(1);
        let mut got = Vec::new();
        while got.len() < total {
            match t.wait(Some(&mut cmds), &mut bell, None).await {
                Wake::Read(n) => got.extend_from_slice(t.read_buf(n)),
                Wake::Eof => break,
                _ => {}
            }
        }
        assert_eq!(got.len(), total);
        assert!(got == data, "bytes differ");
        // The last write was one byte: the next wait finds nothing, and
        // the connection goes back to the inline buffer.
        let _peer = writer.await.unwrap();
        let waited = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            t.wait(Some(&mut cmds), &mut bell, None),
        )
        .await;
        assert!(waited.is_err(), "nothing more to read");
        assert!(!t.heap);
        assert!(t.rbuf.capacity() == 0);
    }
}
