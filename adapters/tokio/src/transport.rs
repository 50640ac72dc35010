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
/// The read buffer a connection starts with; it doubles (up to
/// [`READ_CHUNK`]) each time a read fills it, so that busy connections
/// read in large chunks. A buffer of this size is given back while the
/// connection waits for bytes, so idle connections hold none.
const READ_START: usize = 8 << 10;
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
    /// Empty while waiting for bytes, unless grown.
    rbuf: Vec<u8>,
    /// The size `rbuf` has when in use.
    rsize: usize,
    /// The last read filled `rbuf`: grow it before the next.
    grow: bool,
    out: BytesMut,
    read_closed: bool,
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
            rbuf: Vec::new(),
            rsize: READ_START,
            grow: false,
            out: BytesMut::new(),
            read_closed: false,
            write_failed: false,
            needs_flush: false,
            cmds_closed: false,
            read_first: true,
            sleep: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
        }
    }

    /// The bytes of the last [`Wake::Read`].
    pub(crate) fn read_buf(&self, n: usize) -> &[u8] {
        &self.rbuf[..n]
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
        cmds: &mut mpsc::Receiver<C>,
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
            if !self.cmds_closed {
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
        if self.rbuf.len() != self.rsize {
            self.rbuf = vec![0; self.rsize];
        }
        let mut rb = ReadBuf::new(&mut self.rbuf);
        match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    self.read_closed = true;
                    return Some(Wake::Eof);
                }
                self.grow = n == self.rbuf.len() && n < READ_CHUNK;
                Some(Wake::Read(n))
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                cx.waker().wake_by_ref();
                None
            }
            Poll::Ready(Err(_)) => {
                self.read_closed = true;
                Some(Wake::Eof)
            }
            Poll::Pending => {
                if self.rsize == READ_START {
                    // Nothing to read: hold no buffer while waiting.
                    self.rbuf = Vec::new();
                }
                None
            }
        }
    }
}
