//! A TCP listener for the HTTP API that holds at most `MAX_CONNECTIONS` open at once, so
//! that a client opening sockets without end cannot use up the file descriptors the
//! chargers' and meters' sockets need. The connection past the cap waits in the kernel's
//! backlog until one closes.
//!
//! Slots come back: a connection that has not been answered within `ANSWER_TIMEOUT` of
//! its accept or of its last answer is closed (an idle keep-alive socket, a socket that
//! never sends a request, a request head trickled a byte at a time), and one address on
//! the LAN holds at most `MAX_PER_ADDRESS` of them, so neither idle sockets nor one
//! client's keep-alive pool can lock the operator out (issue 17). Loopback peers (the
//! gateway itself, a local reverse proxy) are not capped per address.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Open HTTP connections at most (an operator's browser uses a handful).
pub const MAX_CONNECTIONS: usize = 64;
/// Open connections from one LAN address at most: a browser opens six per host.
pub const MAX_PER_ADDRESS: usize = 8;
/// A connection gets its next answer within this time or is closed. Every API answer is
/// a store read that gives up with a 503 after `api::STORE_WAIT` (5 s), so an answer
/// that takes longer is not coming; the rest covers a slow client sending its head.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug)]
pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    per_address: AddressCaps,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, max: usize) -> Self {
        Self {
            inner,
            slots: Arc::new(Semaphore::new(max)),
            per_address: AddressCaps::default(),
        }
    }
}

/// Open connections per peer address.
#[derive(Debug, Default, Clone)]
struct AddressCaps {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl AddressCaps {
    /// Counts a connection from `ip`; `None` when that address already holds its share.
    fn admit(&self, ip: IpAddr) -> Option<AddressSlot> {
        if !ip.is_loopback() {
            let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
            let count = counts.entry(ip).or_default();
            if *count >= MAX_PER_ADDRESS {
                return None;
            }
            *count += 1;
        }
        Some(AddressSlot {
            ip,
            counts: Arc::clone(&self.counts),
        })
    }
}

/// One connection's share of its address's cap, given back on drop.
#[derive(Debug)]
struct AddressSlot {
    ip: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if self.ip.is_loopback() {
            return;
        }
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// An accepted connection; its slots free when it is dropped.
#[derive(Debug)]
pub struct LimitedStream {
    stream: TcpStream,
    /// When the connection is closed unless it is answered first.
    deadline: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
    _address: AddressSlot,
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut refused = 0u64;
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let Some(address) = self.per_address.admit(addr.ip()) else {
                        // Closed at once; logged at the first and then every 1000th, so a
                        // flood cannot fill the journal.
                        if refused.is_multiple_of(1000) {
                            tracing::warn!(peer = %addr.ip(), refused = refused + 1, "HTTP connections per address at the cap, closing");
                        }
                        refused += 1;
                        continue;
                    };
                    return (
                        LimitedStream {
                            stream,
                            deadline: Box::pin(tokio::time::sleep(ANSWER_TIMEOUT)),
                            _slot: slot,
                            _address: address,
                        },
                        addr,
                    );
                }
                // Out of descriptors or a connection reset before accept: wait a little
                // rather than spin (as axum's own listener does).
                Err(e) => {
                    tracing::warn!("HTTP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request answered in time",
                ))),
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            // An answer is going out: the next one is due `ANSWER_TIMEOUT` from now.
            self.deadline
                .as_mut()
                .reset(Instant::now() + ANSWER_TIMEOUT);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lan_address_holds_its_share_and_gets_it_back() {
        let caps = AddressCaps::default();
        let laptop: IpAddr = "192.168.1.77".parse().unwrap();
        let other: IpAddr = "192.168.1.78".parse().unwrap();
        let mut held: Vec<_> = (0..MAX_PER_ADDRESS)
            .map(|_| caps.admit(laptop).expect("within the share"))
            .collect();
        assert!(caps.admit(laptop).is_none(), "past the share");
        assert!(
            caps.admit(other).is_some(),
            "another address is not affected"
        );
        held.pop();
        assert!(
            caps.admit(laptop).is_some(),
            "a closed connection frees its place"
        );
        drop(held);
        assert!(
            caps.counts
                .lock()
                .unwrap()
                .get(&laptop)
                .is_none_or(|n| *n <= 1)
        );
        // The gateway itself (a local reverse proxy) is not capped per address.
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let many: Vec<_> = (0..MAX_PER_ADDRESS * 3)
            .filter_map(|_| caps.admit(local))
            .collect();
        assert_eq!(many.len(), MAX_PER_ADDRESS * 3);
    }
}
