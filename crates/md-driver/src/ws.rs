//! md's own WebSocket client: the opening handshake, TLS, and framing, and nothing md does not
//! use (no extension, no subprotocol, no server side).
//!
//! Why not tungstenite, which md-sim and md-bench still serve with: md reads hundreds of
//! thousands of frames a second per connection, and tungstenite's read path cost about 1,700
//! instructions a frame (callgrind, Bybit): its header decoding, a copy-on-read compatibility
//! layer that swaps wakers at every poll, and zeroing up to 128 KiB of buffer before each read.
//! Here a frame is a header decoded in place and a slice of the read buffer (no copy, no
//! zeroing); the UTF-8 check of a text frame, which RFC 6455 requires, stays.
//!
//! Every frame is handed to the session as it is: pings too, which the session answers with
//! [`WsClient::send_pong`] itself, so that the tap sees every message md sends.

mod frame;
mod handshake;

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
// Shared bytes checked as UTF-8 once, that read as `&str` without a second check: md-driver
// forbids `unsafe`, which making that type here would take.
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Free space kept in the read buffer before each read: one read takes whatever the socket
/// holds, up to this much.
const READ_CHUNK: usize = 128 * 1024;

/// Why a WebSocket connection could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WsError {
    /// The URL is not `ws://` or `wss://` with a host.
    #[error("not a WebSocket URL: {0}")]
    Url(String),
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The host name is not one TLS can verify.
    #[error("TLS server name {0:?}: {1}")]
    ServerName(String, #[source] rustls::pki_types::InvalidDnsNameError),
    /// The server did not upgrade the connection.
    #[error("WebSocket handshake: {0}")]
    Handshake(String),
    /// The server broke the framing rules.
    #[error("WebSocket protocol: {0}")]
    Protocol(&'static str),
    /// A message longer than the configured limit.
    #[error("a WebSocket message of {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A text message (or close reason) that is not UTF-8.
    #[error("a WebSocket text message that is not UTF-8")]
    InvalidUtf8,
    /// The system's random source failed (mask and handshake keys come from it).
    #[error("random source: {0}")]
    Random(getrandom::Error),
}

/// One message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A text message, checked UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping; answer it with [`WsClient::send_pong`].
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The server is closing: its code and reason, if it gave them.
    Close(Option<(u16, String)>),
}

/// The byte stream under the WebSocket: plain TCP, or TLS over it.
#[derive(Debug)]
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An open WebSocket connection to a server.
#[derive(Debug)]
pub(crate) struct WsClient {
    io: Io,
    /// Bytes read and not yet taken as frames; frames are split off it without a copy.
    read: BytesMut,
    /// The first fragments of a message whose last has not arrived: its opcode and payload.
    partial: Option<(u8, BytesMut)>,
    max_message: usize,
    /// md's outgoing frame, encoded here before it is written.
    write: Vec<u8>,
}

impl WsClient {
    /// Connects to `url` (`ws://` or `wss://`), TLS verified against the Mozilla roots, and
    /// upgrades. Messages (and frames) over `max_message` bytes will be refused.
    pub(crate) async fn connect(url: &str, max_message: usize) -> Result<Self, WsError> {
        Self::connect_with(url, max_message, tls_config()).await
    }

    /// [`WsClient::connect`] with its own TLS configuration (tests trust a test CA with it).
    async fn connect_with(
        url: &str,
        max_message: usize,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self, WsError> {
        let target = Target::parse(url)?;
        let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
        // Frames md sends are small and each wants to leave at once.
        tcp.set_nodelay(true)?;
        let io = if target.tls {
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| WsError::ServerName(target.host.clone(), e))?;
            let connector = tokio_rustls::TlsConnector::from(tls);
            Io::Tls(Box::new(connector.connect(name, tcp).await?))
        } else {
            Io::Plain(tcp)
        };
        let mut client = Self {
            io,
            read: BytesMut::with_capacity(READ_CHUNK),
            partial: None,
            max_message,
            write: Vec::new(),
        };
        client.handshake(&target).await?;
        Ok(client)
    }

    async fn handshake(&mut self, target: &Target) -> Result<(), WsError> {
        let key = handshake::key(random()?);
        let request = handshake::request(&target.authority, &target.path_and_query, &key);
        self.io.write_all(request.as_bytes()).await?;
        self.io.flush().await?;
        loop {
            if let Some(head_len) = handshake::check_response(&self.read, &key)? {
                // What follows the head is already the stream's first frames.
                self.read.advance(head_len);
                return Ok(());
            }
            if std::future::poll_fn(|cx| self.poll_read(cx)).await? == 0 {
                return Err(WsError::Handshake("the server closed the connection before answering".into()));
            }
        }
    }

    /// The next message; `None` once the server has closed the stream. Cancel-safe: a message
    /// is only taken out of the buffer by the poll that returns it.
    pub(crate) async fn next(&mut self) -> Option<Result<Incoming, WsError>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Polls for the next message (see [`WsClient::next`]).
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming, WsError>>> {
        loop {
            match self.take_message() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            match self.poll_read(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => return Poll::Ready(None),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(WsError::Io(e)))),
            }
        }
    }

    /// One read into the buffer's free space (never zeroed first); 0 at the end of the stream.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.read.capacity() - self.read.len() < READ_CHUNK / 4 {
            self.read.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read)
    }

    /// The next whole message in the buffer, if one is there.
    fn take_message(&mut self) -> Result<Option<Incoming>, WsError> {
        loop {
            let Some(head) = frame::decode_header(&self.read, self.max_message)? else { return Ok(None) };
            if self.read.len() < head.frame_len() {
                // Room for the rest of the frame, so that the reads to come can complete it.
                self.read.reserve(head.frame_len() - self.read.len());
                return Ok(None);
            }
            let mut payload = self.read.split_to(head.frame_len());
            payload.advance(head.header_len);
            match head.opcode {
                frame::TEXT | frame::BINARY if self.partial.is_some() => {
                    return Err(WsError::Protocol("a new message inside a fragmented one"));
                }
                frame::TEXT | frame::BINARY if head.fin => return complete(head.opcode, payload).map(Some),
                frame::TEXT | frame::BINARY => self.partial = Some((head.opcode, payload)),
                frame::CONTINUATION => {
                    let Some((opcode, mut message)) = self.partial.take() else {
                        return Err(WsError::Protocol("a continuation frame outside a fragmented message"));
                    };
                    let len = message.len() + payload.len();
                    if len > self.max_message {
                        return Err(WsError::TooLarge { len: len as u64, max: self.max_message });
                    }
                    message.extend_from_slice(&payload);
                    if head.fin {
                        return complete(opcode, message).map(Some);
                    }
                    self.partial = Some((opcode, message));
                }
                frame::PING => return Ok(Some(Incoming::Ping(payload.freeze()))),
                frame::PONG => return Ok(Some(Incoming::Pong(payload.freeze()))),
                _ => return frame::parse_close(&payload).map(|close| Some(Incoming::Close(close))),
            }
        }
    }

    /// Sends a text message.
    pub(crate) async fn send_text(&mut self, text: &str) -> Result<(), WsError> {
        self.send(frame::TEXT, text.as_bytes()).await
    }

    /// Answers a ping.
    pub(crate) async fn send_pong(&mut self, payload: &[u8]) -> Result<(), WsError> {
        self.send(frame::PONG, payload).await
    }

    /// Closes cleanly: a normal close (1000), then the end of md's side of the stream. The
    /// server's answer is not waited for (the caller bounds this with its close timeout).
    pub(crate) async fn close(&mut self) -> Result<(), WsError> {
        self.send(frame::CLOSE, &1000u16.to_be_bytes()).await?;
        self.io.shutdown().await?;
        Ok(())
    }

    async fn send(&mut self, opcode: u8, payload: &[u8]) -> Result<(), WsError> {
        self.write.clear();
        let mask = random::<4>()?;
        frame::encode_client_frame(opcode, payload, mask, &mut self.write);
        self.io.write_all(&self.write).await?;
        self.io.flush().await?;
        Ok(())
    }
}

/// A finished message of `opcode`.
fn complete(opcode: u8, payload: BytesMut) -> Result<Incoming, WsError> {
    if opcode == frame::TEXT {
        Utf8Bytes::try_from(payload.freeze()).map(Incoming::Text).map_err(|_| WsError::InvalidUtf8)
    } else {
        Ok(Incoming::Binary(payload.freeze()))
    }
}

/// `N` bytes from the system's random source: RFC 6455 asks for unpredictable mask keys.
fn random<const N: usize>() -> Result<[u8; N], WsError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(WsError::Random)?;
    Ok(bytes)
}

/// The TLS client configuration: the Mozilla root certificates, built once.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
        // The ring provider supports the default protocol versions; failing that is a build
        // mistake, and every connection would fail the same way.
        Arc::new(config.unwrap_or_else(|e| panic!("rustls with ring refused its own defaults: {e}")))
    }))
}

/// Where a URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    tls: bool,
    /// The host to resolve and verify (an IPv6 address without its brackets).
    host: String,
    port: u16,
    /// `host[:port]` as the URL wrote it, for the `Host` header.
    authority: String,
    path_and_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, WsError> {
        let bad = || WsError::Url(url.to_owned());
        let (tls, rest) = if let Some(rest) = url.strip_prefix("wss://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("ws://") {
            (false, rest)
        } else {
            return Err(bad());
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path_and_query = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        let path_and_query = path_and_query.split('#').next().unwrap_or("/").to_owned();
        if authority.contains('@') {
            return Err(bad());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                (host, Some(port.parse::<u16>().map_err(|_| bad())?))
            }
            _ => (authority, None),
        };
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if host.is_empty() {
            return Err(bad());
        }
        let port = port.unwrap_or(if tls { 443 } else { 80 });
        Ok(Self { tls, host: host.to_owned(), port, authority: authority.to_owned(), path_and_query })
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests;
