//! The client against tungstenite's server (an independent implementation of the same RFC) and
//! against raw TCP servers that write exactly the bytes a test needs.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::*;

const LIMIT: usize = 1 << 20;

async fn next(client: &mut WsClient) -> Incoming {
    tokio::time::timeout(Duration::from_secs(5), client.next()).await.unwrap().unwrap().unwrap()
}

/// A tungstenite server for one connection on a loopback port: its address, and `serve`'s
/// result once it has run on the upgraded socket.
async fn tungstenite_server<F, T>(
    serve: impl FnOnce(Ws) -> F + Send + 'static,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<T>)
where
    F: std::future::Future<Output = T> + Send,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        serve(tokio_tungstenite::accept_async(stream).await.unwrap()).await
    });
    (addr, server)
}

/// The server side of a tungstenite connection.
type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// One fragment of a message, as tungstenite writes it raw.
fn fragment(opcode: OpCode, fin: bool, payload: &'static str) -> Message {
    let header = FrameHeader { is_final: fin, opcode, ..FrameHeader::default() };
    Message::Frame(Frame::from_payload(header, payload.into()))
}

#[tokio::test]
async fn talks_to_tungstenite_both_ways() {
    let (addr, server) = tungstenite_server(|mut ws| async move {
        let Some(Ok(Message::Text(subscribe))) = ws.next().await else { panic!("no text from md") };
        ws.send(Message::text(format!("ack {subscribe}"))).await.unwrap();
        ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
        ws.send(Message::text("x".repeat(70_000))).await.unwrap();
        ws.send(fragment(OpCode::Data(Data::Text), false, "frag")).await.unwrap();
        ws.send(Message::Ping("beat".into())).await.unwrap();
        ws.send(fragment(OpCode::Data(Data::Continue), false, "men")).await.unwrap();
        ws.send(fragment(OpCode::Data(Data::Continue), true, "ted")).await.unwrap();
        // md's pong, then its normal close.
        let pong = ws.next().await.unwrap().unwrap();
        let close_frame = CloseFrame { code: 4000.into(), reason: "bye".into() };
        ws.send(Message::Close(Some(close_frame))).await.unwrap();
        pong
    })
    .await;
    let mut client = WsClient::connect(&format!("ws://{addr}/path?x=1"), LIMIT).await.unwrap();
    client.send_text(r#"{"op":"subscribe"}"#).await.unwrap();
    assert_eq!(next(&mut client).await, Incoming::Text(r#"ack {"op":"subscribe"}"#.into()));
    assert_eq!(next(&mut client).await, Incoming::Binary(Bytes::from_static(&[0, 1, 2, 255])));
    assert_eq!(next(&mut client).await, Incoming::Text("x".repeat(70_000).into()));
    // A ping between fragments comes out at once; the message when its last fragment is in.
    assert_eq!(next(&mut client).await, Incoming::Ping(Bytes::from_static(b"beat")));
    client.send_pong(b"beat").await.unwrap();
    assert_eq!(next(&mut client).await, Incoming::Text("fragmented".into()));
    assert_eq!(next(&mut client).await, Incoming::Close(Some((4000, "bye".into()))));
    assert_eq!(server.await.unwrap(), Message::Pong("beat".into()));
}

#[tokio::test]
async fn a_clean_close_reaches_the_server() {
    let (addr, server) = tungstenite_server(|mut ws| async move { ws.next().await.unwrap().unwrap() }).await;
    let mut client = WsClient::connect(&format!("ws://{addr}"), LIMIT).await.unwrap();
    client.close().await.unwrap();
    let Message::Close(Some(close)) = server.await.unwrap() else { panic!("no close frame") };
    assert_eq!(u16::from(close.code), 1000);
}

/// A server that answers the upgrade itself, then writes `head_and_frames` right behind its
/// 101, all in pieces of `piece` bytes.
async fn raw_server(head_and_frames: Vec<u8>, piece: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).await.unwrap();
            request.push(byte[0]);
        }
        let request = String::from_utf8(request).unwrap();
        let key = request.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap();
        let accept = handshake::accept_for(key);
        let mut bytes = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes();
        bytes.extend_from_slice(&head_and_frames);
        for chunk in bytes.chunks(piece) {
            stream.write_all(chunk).await.unwrap();
            stream.flush().await.unwrap();
            if piece < 8 {
                tokio::task::yield_now().await;
            }
        }
        // Hold the connection open until the client has read what it needs.
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    format!("ws://{addr}/")
}

fn text_frame(text: &str) -> Vec<u8> {
    let mut frame = vec![0x81];
    match text.len() {
        len if len < 126 => frame.push(len as u8),
        len => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(text.as_bytes());
    frame
}

#[tokio::test]
async fn frames_written_with_the_101_are_not_lost() {
    // Binance's combined streams start sending as soon as the upgrade is answered.
    let frames = [text_frame("first"), text_frame("second")].concat();
    let url = raw_server(frames, usize::MAX).await;
    let mut client = WsClient::connect(&url, LIMIT).await.unwrap();
    assert_eq!(next(&mut client).await, Incoming::Text("first".into()));
    assert_eq!(next(&mut client).await, Incoming::Text("second".into()));
}

#[tokio::test]
async fn frames_arriving_a_byte_at_a_time_come_out_whole() {
    let long = "y".repeat(300);
    let frames = [text_frame("a"), text_frame(&long), vec![0x82, 0x00]].concat();
    let url = raw_server(frames, 1).await;
    let mut client = WsClient::connect(&url, LIMIT).await.unwrap();
    assert_eq!(next(&mut client).await, Incoming::Text("a".into()));
    assert_eq!(next(&mut client).await, Incoming::Text(long.into()));
    assert_eq!(next(&mut client).await, Incoming::Binary(Bytes::new()));
}

#[tokio::test]
async fn a_message_over_the_limit_or_not_utf8_is_an_error() {
    let url = raw_server(text_frame(&"z".repeat(2_000)), usize::MAX).await;
    let mut client = WsClient::connect(&url, 1_000).await.unwrap();
    let err = client.next().await.unwrap().unwrap_err();
    assert!(matches!(err, WsError::TooLarge { len: 2_000, max: 1_000 }), "{err}");

    let url = raw_server(vec![0x81, 0x02, 0xC3, 0x28], usize::MAX).await;
    let mut client = WsClient::connect(&url, LIMIT).await.unwrap();
    assert!(matches!(client.next().await.unwrap(), Err(WsError::InvalidUtf8)));

    // Fragments that add up to more than the limit.
    let fragments = [vec![0x01, 100], vec![b'f'; 100], vec![0x80, 100], vec![b'g'; 100]].concat();
    let url = raw_server(fragments, usize::MAX).await;
    let mut client = WsClient::connect(&url, 150).await.unwrap();
    assert!(matches!(client.next().await.unwrap(), Err(WsError::TooLarge { len: 200, max: 150 })));
}

#[tokio::test]
async fn a_server_that_refuses_the_upgrade_is_named() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request).await.unwrap();
        stream.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n").await.unwrap();
    });
    let err = WsClient::connect(&format!("ws://{addr}/"), LIMIT).await.unwrap_err().to_string();
    assert!(err.contains("HTTP 403 Forbidden"), "{err}");
}

#[test]
fn urls_give_host_port_and_path() {
    let t = Target::parse("wss://stream.binance.com:9443/stream?streams=a@trade").unwrap();
    assert_eq!((t.tls, t.host.as_str(), t.port), (true, "stream.binance.com", 9443));
    assert_eq!(
        (t.authority.as_str(), t.path_and_query.as_str()),
        ("stream.binance.com:9443", "/stream?streams=a@trade")
    );
    let t = Target::parse("wss://ws.bitstamp.net").unwrap();
    assert_eq!((t.port, t.path_and_query.as_str()), (443, "/"));
    let t = Target::parse("ws://[::1]:8080?x").unwrap();
    assert_eq!((t.host.as_str(), t.port, t.path_and_query.as_str()), ("::1", 8080, "/?x"));
    let t = Target::parse("ws://127.0.0.1/ws#frag").unwrap();
    assert_eq!((t.port, t.path_and_query.as_str()), (80, "/ws"));
    for bad in ["http://x", "ws://", "ws://:80/", "ws://host:port/", "ws://user@host/"] {
        assert!(Target::parse(bad).is_err(), "{bad}");
    }
}

/// A TLS server for `localhost` with a certificate of md's test CA (`testdata/`, made with
/// openssl for these tests only, valid until 2126), sending one text message.
async fn tls_server() -> u16 {
    let cert = rustls::pki_types::CertificateDer::from(include_bytes!("testdata/leaf.der").to_vec());
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(include_bytes!("testdata/leaf.key.der").to_vec()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else { return };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else { return };
                let _ = ws.send(Message::text("over tls")).await;
                let _ = ws.next().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn wss_is_verified_tls() {
    let port = tls_server().await;
    let url = format!("wss://localhost:{port}/");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(include_bytes!("testdata/ca.der").to_vec())).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let trusting = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut client = WsClient::connect_with(&url, LIMIT, Arc::new(trusting)).await.unwrap();
    assert_eq!(next(&mut client).await, Incoming::Text("over tls".into()));
    client.close().await.unwrap();
    // The Mozilla roots md ships with do not know the test CA: verification is on.
    let err = WsClient::connect(&url, LIMIT).await.unwrap_err().to_string();
    assert!(err.contains("certificate"), "{err}");
}
