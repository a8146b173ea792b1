//! Serving connections: the accept loop, with the bounds a hostile or broken client must not
//! be able to lift (hardening findings 1 and 7).
//!
//! - **Headers** must arrive within `header_seconds` of the connection opening, or of the
//!   previous response on a kept-alive connection (hyper's header-read timeout, which also
//!   ends idle keep-alive connections); so must a new connection's first byte, which hyper's
//!   timeout does not cover.
//! - **A stalled reader**: a response whose bytes the client does not take for
//!   `write_stall_seconds` ends the connection. The response body is dropped with it, and so
//!   the query feeding it (its database connection goes back to the pool) — a client that stops
//!   reading costs only its own request, for a bounded time.
//! - **Connections per client address** are capped; a connection over the cap is closed at
//!   once, before any byte is read.
//!
//! axum's own `serve` offers none of these knobs, so the loop is written here on hyper-util,
//! with the same graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The bounds of the accept loop (`[server]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Seconds a client has to send a request's headers (and that a kept-alive connection may
    /// stay idle).
    pub header_seconds: u64,
    /// Seconds a response may wait for the client to take its bytes.
    pub write_stall_seconds: u64,
    /// Connections one client address may hold open at once (0: no limit).
    pub connections_per_address: usize,
    /// Addresses the per-address cap does not apply to: the authenticating proxies in front,
    /// through which every user's connections come.
    pub uncapped: Vec<IpAddr>,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            header_seconds: 30,
            write_stall_seconds: 60,
            connections_per_address: 128,
            uncapped: Vec::new(),
        }
    }
}

/// Open connections by client address.
#[derive(Default)]
struct Connections(Mutex<HashMap<IpAddr, usize>>);

/// One open connection, counted until dropped.
struct Counted {
    all: Arc<Connections>,
    ip: IpAddr,
}

impl Connections {
    fn open(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<Counted> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if limit > 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(Counted {
            all: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut map = self.all.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight finish.
/// The peer's address reaches the handlers as `ConnectInfo<SocketAddr>`, so identity headers
/// are believed only from a configured proxy.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    settings: ConnectionSettings,
) -> io::Result<()> {
    let connections = Arc::new(Connections::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout(&settings));
    let stall = Duration::from_secs(settings.write_stall_seconds.max(1));
    let header = header_timeout(&settings);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or the like: wait a little rather than spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let cap = if settings.uncapped.contains(&peer.ip().to_canonical()) {
            0
        } else {
            settings.connections_per_address
        };
        let Some(counted) = connections.open(peer.ip(), cap) else {
            tracing::info!(peer = %peer, "too many connections from one address; closed");
            drop(tcp);
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY: {e}");
        }
        let service = TowerToHyperService::new(tower::util::MapRequest::new(
            app.clone(),
            move |request: hyper::Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            },
        ));
        let io = TokioIo::new(StallGuard::new(tcp, stall, header));
        let connection = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _counted = counted;
            if let Err(e) = connection.await {
                tracing::debug!(peer = %peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn header_timeout(settings: &ConnectionSettings) -> Duration {
    Duration::from_secs(settings.header_seconds.max(1))
}

/// A socket whose writes may not stay blocked (the client not reading) for longer than
/// `limit`: past it, writing fails and the connection ends. Its first byte must also arrive
/// within `first_byte`: hyper-util reads the first bytes to tell HTTP/1 from HTTP/2 before
/// HTTP/1's header timeout starts, and that read has no timeout of its own, so a connection
/// that never sends anything would otherwise stay open for ever.
struct StallGuard<T> {
    inner: T,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    first_byte: Option<Pin<Box<Sleep>>>,
}

impl<T> StallGuard<T> {
    fn new(inner: T, limit: Duration, first_byte: Duration) -> Self {
        StallGuard {
            inner,
            limit,
            stalled: None,
            first_byte: Some(Box::pin(tokio::time::sleep(first_byte))),
        }
    }

    /// A write made no progress: start (or check) the clock.
    fn pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let got_bytes = buf.filled().len() > before;
        if let Some(timer) = self.first_byte.as_mut() {
            match &polled {
                Poll::Ready(_) if got_bytes => self.first_byte = None,
                Poll::Pending if timer.as_mut().poll(cx).is_ready() => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent nothing",
                    )));
                }
                _ => {}
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.pending(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.pending(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => match self.pending(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
