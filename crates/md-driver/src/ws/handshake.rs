//! The client's opening handshake (RFC 6455 §4.1), pure: the upgrade request, and the check
//! of the server's answer, read from the bytes received so far.

use base64::Engine;
use sha1::{Digest, Sha1};

use super::WsError;

/// The GUID a server appends to the client's key before hashing it (§1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The most bytes a response head may take: a server that sends more is not a WebSocket server.
pub(crate) const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The upgrade request for `path_and_query` on `host` (with its port when not the default),
/// offering no extension and no subprotocol: the headers tungstenite sent, which every
/// venue md supports accepted.
pub(crate) fn request(host: &str, path_and_query: &str, key: &str) -> String {
    format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A request key: 16 random bytes, base64.
pub(crate) fn key(random: [u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(random)
}

/// The `Sec-WebSocket-Accept` a server must answer `key` with.
pub(crate) fn accept_for(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// A header value as text (empty when absent or not UTF-8).
fn text(value: Option<&[u8]>) -> &str {
    value.and_then(|v| std::str::from_utf8(v).ok()).unwrap_or("")
}

/// Checks the server's response head at the start of `buf`: `Ok(None)` until it is complete,
/// then the length of the head (bytes after it are the first frames). Anything but a `101`
/// that upgrades to WebSocket with the right accept key and no extension is refused, saying
/// what came instead (a venue's 403 or 429 is an answer worth reading in the log).
pub(crate) fn check_response(buf: &[u8], key: &str) -> Result<Option<usize>, WsError> {
    // As many as tungstenite allowed: venues behind CDNs send a good few.
    let mut headers = [httparse::EMPTY_HEADER; 124];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_RESPONSE_HEAD => {
            return Err(WsError::Handshake(format!("a response head over {MAX_RESPONSE_HEAD} bytes")))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(WsError::Handshake(format!("a response that is not HTTP: {e}"))),
    };
    let code = response.code.unwrap_or(0);
    if code != 101 {
        let reason = response.reason.unwrap_or("");
        return Err(WsError::Handshake(format!("HTTP {code} {reason} instead of 101 Switching Protocols")));
    }
    let headers: &[httparse::Header<'_>] = response.headers;
    let header = |name: &str| headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
    if !text(header("upgrade")).eq_ignore_ascii_case("websocket") {
        return Err(WsError::Handshake("the 101 does not upgrade to websocket".into()));
    }
    let connection = text(header("connection"));
    if !connection.split(',').any(|token| token.trim().eq_ignore_ascii_case("upgrade")) {
        return Err(WsError::Handshake("the 101 has no `Connection: upgrade`".into()));
    }
    if text(header("sec-websocket-accept")) != accept_for(key) {
        return Err(WsError::Handshake("the 101's Sec-WebSocket-Accept does not match the key".into()));
    }
    if header("sec-websocket-extensions").is_some() {
        return Err(WsError::Handshake("the server chose an extension md did not offer".into()));
    }
    Ok(Some(head_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key and accept of RFC 6455 §1.3.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn response(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{extra}\r\n"
        )
    }

    #[test]
    fn the_accept_key_is_the_rfc_example() {
        assert_eq!(accept_for(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(key([0; 16]), "AAAAAAAAAAAAAAAAAAAAAA==");
    }

    #[test]
    fn a_good_101_is_accepted_and_the_bytes_after_it_are_left() {
        let head = response("");
        let mut bytes = head.clone().into_bytes();
        bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        assert_eq!(check_response(&bytes, KEY).unwrap(), Some(head.len()));
        assert_eq!(check_response(&bytes[..head.len() - 1], KEY).unwrap(), None);
    }

    #[test]
    fn anything_else_is_refused_saying_what_came() {
        let refused = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\n\r\n";
        let err = check_response(refused.as_bytes(), KEY).unwrap_err().to_string();
        assert!(err.contains("429 Too Many Requests"), "{err}");
        let wrong_key = response("").replace("s3pP", "AAAA");
        assert!(check_response(wrong_key.as_bytes(), KEY).is_err());
        let extension = response("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert!(check_response(extension.as_bytes(), KEY).is_err());
        assert!(check_response(b"SSH-2.0-OpenSSH\r\n\r\n", KEY).is_err());
        let endless = vec![b'a'; MAX_RESPONSE_HEAD];
        let mut head = b"HTTP/1.1 101 OK\r\nX: ".to_vec();
        head.extend_from_slice(&endless);
        assert!(check_response(&head, KEY).is_err());
    }

    #[test]
    fn the_request_names_host_path_and_key() {
        let request = request("127.0.0.1:9000", "/ws?a=1", KEY);
        assert!(request.starts_with("GET /ws?a=1 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n"));
        assert!(request.contains("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
        assert!(request.ends_with("\r\n\r\n"));
    }
}
