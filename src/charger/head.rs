//! The HTTP upgrade request head, read before tungstenite sees the socket, and the stream
//! that replays it to tungstenite.
//!
//! tungstenite's handshake callback is synchronous, but checking a `password-hash` takes
//! argon2 (off the runtime, `verify.rs`). So the listener reads the head itself (at most
//! `MAX_REQUEST_HEAD` bytes; the caller bounds the time), decides, and then hands
//! tungstenite a `Replay` of the bytes already read with the verdict precomputed. Must
//! never decide anything about the request: that is `handshake.rs`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::limits::MAX_REQUEST_HEAD;

/// Headers a WebSocket upgrade request carries; more is not a charger.
const MAX_HEADERS: usize = 32;

/// What the handshake decision needs from the request head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHead {
    pub path: String,
    /// Every `Sec-WebSocket-Protocol` header's value (each may be a comma list).
    pub subprotocols: Vec<String>,
    pub authorization: Option<String>,
}

/// Why no head was read; the socket is just closed.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("closed before the request head ended")]
    Closed,
    #[error("request head longer than {MAX_REQUEST_HEAD} bytes")]
    TooLong,
    #[error("not an HTTP request: {0}")]
    Malformed(httparse::Error),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads until the head is complete; returns it and every byte read (the head and
/// anything the client sent after it), for `Replay`.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(RequestHead, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(head) = parse(&buf)? {
            return Ok((head, buf));
        }
        if buf.len() >= MAX_REQUEST_HEAD {
            return Err(HeadError::TooLong);
        }
    }
}

/// The head, once `buf` holds all of it.
pub fn parse(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf).map_err(HeadError::Malformed)? {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(_) => {}
    }
    let text = |value: &[u8]| std::str::from_utf8(value).ok().map(str::to_string);
    let mut head = RequestHead {
        path: request.path.unwrap_or_default().to_string(),
        ..RequestHead::default()
    };
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("sec-websocket-protocol") {
            head.subprotocols.extend(text(header.value));
        } else if header.name.eq_ignore_ascii_case("authorization") {
            head.authorization = text(header.value);
        }
    }
    Ok(Some(head))
}

/// A stream that first yields `prefix`, then reads from `inner`; writes go to `inner`.
#[derive(Debug)]
pub struct Replay<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Replay<S> {
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let rest = &this.prefix[this.at..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "GET /ocpp/CP-1 HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\
        sec-websocket-protocol: ocpp2.0.1\r\nAuthorization: Basic Q1AtMTpw\r\n\r\n";

    #[tokio::test]
    async fn a_head_in_pieces_is_read_and_replayed_with_what_follows() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let sent = format!("{HEAD}after");
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for piece in sent.as_bytes().chunks(7) {
                client.write_all(piece).await.unwrap();
            }
            client
        });
        let (head, bytes) = read_head(&mut server).await.unwrap();
        assert_eq!(head.path, "/ocpp/CP-1");
        assert_eq!(head.subprotocols, ["ocpp1.6", "ocpp2.0.1"]);
        assert_eq!(head.authorization.as_deref(), Some("Basic Q1AtMTpw"));
        drop(writer.await.unwrap());
        let mut replay = Replay::new(bytes, server);
        let mut all = String::new();
        replay.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, format!("{HEAD}after"));
    }

    #[tokio::test]
    async fn an_endless_head_is_cut_off() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = client.write_all(b"GET / HTTP/1.1\r\n").await;
            while client
                .write_all(b"X-Pad: aaaaaaaaaaaaaaaa\r\n")
                .await
                .is_ok()
            {}
        });
        assert!(matches!(
            read_head(&mut server).await,
            Err(HeadError::TooLong | HeadError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"\x16\x03\x01 not http\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
    }
}
