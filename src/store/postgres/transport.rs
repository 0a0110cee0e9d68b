//! The byte stream under every TCP connection to the server, with a client-side deadline.
//!
//! The server's own `statement_timeout` / `lock_timeout` bound a statement only while the server
//! runs: a frozen server (a stopped postmaster or backend, a peer that accepts the connection and
//! never answers) leaves a plain socket read waiting forever, and TCP keepalives cannot see it
//! (the server's kernel still acknowledges). So every TCP connection goes through [`Guarded`]: it
//! follows the protocol's message framing on both directions, knows when the client is waiting
//! for an answer (from the startup message until the first ReadyForQuery, then from each Query
//! or Sync sent until its ReadyForQuery), and fails the read with `TimedOut` when nothing
//! arrives for the deadline while it waits. The client then reports the connection lost
//! ([`Error::Connect`](crate::error::Error::Connect)) and the store reconnects on the next call.
//! Idle connections are never timed out.
//!
//! It is plugged in as the `postgres` crate's TLS hook (the only place the crate hands out the
//! socket): the crate is told "direct TLS, required", and [`Transport`] decides what the stream
//! is: it sends PostgreSQL's SSLRequest itself and, per libpq's sslmode ([`Tls`], resolved in
//! `tls.rs`), runs the rustls handshake, stays in plain TCP, or refuses.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use postgres::Socket;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The TLS a connection must have (libpq's sslmode, resolved by [`super::tls`]).
#[derive(Clone)]
pub(crate) enum Tls {
    /// Plain TCP (sslmode disable / allow).
    Off,
    /// Ask for TLS; plain TCP when the server declines (sslmode prefer).
    Prefer(Arc<rustls::ClientConfig>),
    /// TLS or no connection (require, verify-ca, verify-full; the config verifies).
    Require(Arc<rustls::ClientConfig>),
}

/// Makes the [`Guarded`] stream of one connection.
#[derive(Clone)]
pub(crate) struct Transport {
    /// Deadline while connecting (startup and authentication).
    connect: Duration,
    /// Deadline for each answer once connected, in ms (0: none). Shared so that the connection
    /// can set it after reading the session's `statement_timeout` back.
    response_ms: Arc<AtomicU64>,
    tls: Tls,
    /// The host name the certificate must be for (set per host by the crate).
    domain: String,
}

impl Transport {
    pub(crate) fn new(connect: Duration, response_ms: Arc<AtomicU64>, tls: Tls) -> Transport {
        Transport { connect, response_ms, tls, domain: String::new() }
    }
}

impl MakeTlsConnect<Socket> for Transport {
    type Stream = Guarded;
    type TlsConnect = Transport;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Transport> {
        let mut t = self.clone();
        t.domain = domain.to_string();
        Ok(t)
    }
}

/// PostgreSQL's SSLRequest message: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

impl Transport {
    async fn open(self, mut stream: Socket) -> io::Result<Guarded> {
        let (config, required) = match &self.tls {
            Tls::Off => return Ok(Guarded::new(Inner::Plain(stream), self)),
            Tls::Prefer(c) => (Arc::clone(c), false),
            Tls::Require(c) => (Arc::clone(c), true),
        };
        let limit = self.connect;
        let timed_out = || {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the server sent nothing for {:.1} s (connect_timeout) while asked for TLS",
                    limit.as_secs_f64()
                ),
            )
        };
        let ask = async {
            stream.write_all(&SSL_REQUEST).await?;
            let mut answer = [0u8; 1];
            stream.read_exact(&mut answer).await?;
            Ok::<u8, io::Error>(answer[0])
        };
        let answer = tokio::time::timeout(limit, ask).await.map_err(|_| timed_out())??;
        match answer {
            b'S' => {
                let name = ServerName::try_from(self.domain.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("TLS host name: {e}")))?;
                let handshake = tokio_rustls::TlsConnector::from(config).connect(name, stream);
                let tls = tokio::time::timeout(limit, handshake).await.map_err(|_| timed_out())??;
                Ok(Guarded::new(Inner::Tls(Box::new(tls)), self))
            }
            b'N' if !required => Ok(Guarded::new(Inner::Plain(stream), self)),
            b'N' => Err(io::Error::other(
                "the server does not support TLS, and the sslmode requires it (refused rather than sent unencrypted)",
            )),
            other => Err(io::Error::other(format!("unexpected answer {other} to the TLS request"))),
        }
    }
}

impl TlsConnect<Socket> for Transport {
    type Stream = Guarded;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Guarded>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(self.open(stream))
    }
}

/// The byte stream itself: plain TCP or TLS over it.
enum Inner {
    Plain(Socket),
    Tls(Box<tokio_rustls::client::TlsStream<Socket>>),
}

impl AsyncRead for Inner {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Inner {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, data),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Follows the length-prefixed message framing of one direction of the protocol.
#[derive(Default)]
struct Framer {
    /// The first message of the frontend (the startup message) has no type byte.
    untyped_first: bool,
    seen_first: bool,
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
}

impl Framer {
    /// Feed bytes; calls `on_message(type)` for each message header completed.
    fn feed(&mut self, mut data: &[u8], mut on_message: impl FnMut(u8)) {
        while !data.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len());
                self.body_left -= n;
                data = &data[n..];
                continue;
            }
            let untyped = self.untyped_first && !self.seen_first;
            let need = if untyped { 4 } else { 5 };
            let n = (need - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
            self.header_len += n;
            data = &data[n..];
            if self.header_len == need {
                let (kind, len_bytes) = if untyped {
                    (0u8, [self.header[0], self.header[1], self.header[2], self.header[3]])
                } else {
                    (self.header[0], [self.header[1], self.header[2], self.header[3], self.header[4]])
                };
                let len = u32::from_be_bytes(len_bytes) as usize;
                self.body_left = len.saturating_sub(4);
                self.header_len = 0;
                self.seen_first = true;
                on_message(kind);
            }
        }
    }
}

/// A TCP stream that fails a read with `TimedOut` when the server sends nothing for the deadline
/// while the client waits for its answer.
pub(crate) struct Guarded {
    inner: Inner,
    transport: Transport,
    /// Still connecting (no ReadyForQuery yet): the connect deadline applies.
    starting: bool,
    /// Queries / Syncs sent whose ReadyForQuery has not arrived.
    pending: u64,
    /// When the server last sent something, or the client started waiting.
    last_progress: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    sent: Framer,
    received: Framer,
}

impl Guarded {
    fn new(inner: Inner, transport: Transport) -> Guarded {
        Guarded {
            inner,
            transport,
            starting: true,
            pending: 0,
            last_progress: Instant::now(),
            sleep: None,
            sent: Framer { untyped_first: true, ..Framer::default() },
            received: Framer::default(),
        }
    }

    /// The deadline that applies now (None: not waiting for the server, or no deadline).
    fn deadline(&self) -> Option<Duration> {
        if self.starting {
            return Some(self.transport.connect);
        }
        if self.pending == 0 {
            return None;
        }
        match self.transport.response_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }
}

impl TlsStream for Guarded {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let got = &buf.filled()[before..];
                if !got.is_empty() {
                    this.last_progress = Instant::now();
                    let (starting, pending) = (&mut this.starting, &mut this.pending);
                    this.received.feed(got, |kind| {
                        if kind == b'Z' {
                            if *starting {
                                *starting = false;
                            } else {
                                *pending = pending.saturating_sub(1);
                            }
                        }
                    });
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(limit) = this.deadline() else {
                    this.sleep = None;
                    return Poll::Pending;
                };
                let at = this.last_progress + limit;
                let sleep = match &mut this.sleep {
                    Some(s) => {
                        if s.deadline() != at {
                            s.as_mut().reset(at);
                        }
                        s
                    }
                    None => this.sleep.insert(Box::pin(tokio::time::sleep_until(at))),
                };
                if sleep.as_mut().poll(cx).is_ready() {
                    let what = if this.starting { "connect_timeout" } else { "statement_timeout plus a margin" };
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the server sent nothing for {:.1} s ({what})", limit.as_secs_f64()),
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let out = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &out {
            let was_waiting = this.pending > 0;
            let pending = &mut this.pending;
            this.sent.feed(&data[..*n], |kind| {
                if kind == b'Q' || kind == b'S' {
                    *pending += 1;
                }
            });
            if !was_waiting && this.pending > 0 {
                // The client starts waiting now; make the read side arm its timer.
                this.last_progress = Instant::now();
                cx.waker().wake_by_ref();
            }
        }
        out
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::Framer;

    #[test]
    fn framer_counts_messages_across_arbitrary_chunks() {
        // startup (untyped, 8 bytes), then Q (len 9: "abcd\0"), then S (len 4).
        let mut bytes = vec![0, 0, 0, 8, 0, 3, 0, 0];
        bytes.extend_from_slice(&[b'Q', 0, 0, 0, 9, b'a', b'b', b'c', b'd', 0]);
        bytes.extend_from_slice(&[b'S', 0, 0, 0, 4]);
        for chunk in 1..=bytes.len() {
            let mut f = Framer { untyped_first: true, ..Framer::default() };
            let mut kinds = Vec::new();
            for part in bytes.chunks(chunk) {
                f.feed(part, |k| kinds.push(k));
            }
            assert_eq!(kinds, vec![0, b'Q', b'S'], "chunk size {chunk}");
        }
    }
}
