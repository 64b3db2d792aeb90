//! WebSocket framing (RFC 6455 §5), pure: the header of a frame the venue sent, read from the
//! bytes received so far, and md's own frames, masked as a client's must be.

use super::WsError;

/// A continuation of a fragmented message.
pub(crate) const CONTINUATION: u8 = 0x0;
/// A text frame.
pub(crate) const TEXT: u8 = 0x1;
/// A binary frame.
pub(crate) const BINARY: u8 = 0x2;
/// A close frame.
pub(crate) const CLOSE: u8 = 0x8;
/// A ping.
pub(crate) const PING: u8 = 0x9;
/// A pong.
pub(crate) const PONG: u8 = 0xA;

/// The largest payload a control frame may carry (§5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The last frame of its message.
    pub fin: bool,
    /// What the frame is.
    pub opcode: u8,
    /// Bytes of header before the payload.
    pub header_len: usize,
    /// Bytes of payload.
    pub payload_len: usize,
}

impl Header {
    /// Header and payload together.
    pub(crate) fn frame_len(&self) -> usize {
        self.header_len + self.payload_len
    }
}

/// The header at the start of `buf`, a frame sent by the server; `None` until enough bytes have
/// arrived to read it. Refused: reserved bits (md negotiates no extension), unknown opcodes,
/// masked frames (a server never masks), fragmented or long control frames, and payloads over
/// `max_payload`, refused from the header before a byte of them is buffered.
pub(crate) fn decode_header(buf: &[u8], max_payload: usize) -> Result<Option<Header>, WsError> {
    let [first, second, ..] = *buf else { return Ok(None) };
    let fin = first & 0x80 != 0;
    let opcode = first & 0x0F;
    if first & 0x70 != 0 {
        return Err(WsError::Protocol("a frame with reserved bits set (no extension was agreed)"));
    }
    let control = opcode & 0x08 != 0;
    if !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG) {
        return Err(WsError::Protocol("a frame with a reserved opcode"));
    }
    if second & 0x80 != 0 {
        return Err(WsError::Protocol("a masked frame from the server"));
    }
    let (payload_len, header_len) = match second & 0x7F {
        126 => match buf.get(2..4) {
            Some(len) => (u64::from(u16::from_be_bytes([len[0], len[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(len) => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(len);
                if bytes[0] & 0x80 != 0 {
                    return Err(WsError::Protocol("a 64-bit length with its top bit set"));
                }
                (u64::from_be_bytes(bytes), 10)
            }
            None => return Ok(None),
        },
        len => (u64::from(len), 2),
    };
    if control && (!fin || payload_len > MAX_CONTROL_PAYLOAD as u64) {
        return Err(WsError::Protocol("a fragmented or over-long control frame"));
    }
    let payload_len = match usize::try_from(payload_len) {
        Ok(len) if len <= max_payload => len,
        _ => return Err(WsError::TooLarge { len: payload_len, max: max_payload }),
    };
    Ok(Some(Header { fin, opcode, header_len, payload_len }))
}

/// Appends one unfragmented frame of md's to `out`, its payload masked with `mask` (§5.3).
pub(crate) fn encode_client_frame(opcode: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(byte, key)| byte ^ key));
}

/// A close frame's payload: code and reason, or `None` for an empty one (§5.5.1).
pub(crate) fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::Protocol("a close frame with a one-byte payload")),
        [high, low, reason @ ..] => {
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Some((u16::from_be_bytes([*high, *low]), reason.to_owned())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(buf: &[u8]) -> Result<Option<Header>, WsError> {
        decode_header(buf, 1 << 20)
    }

    #[test]
    fn headers_of_the_three_length_forms_are_read_once_complete() {
        assert_eq!(header(&[]).unwrap(), None);
        assert_eq!(header(&[0x81]).unwrap(), None);
        let short = Header { fin: true, opcode: TEXT, header_len: 2, payload_len: 5 };
        assert_eq!(header(&[0x81, 5, b'h']).unwrap(), Some(short));
        assert_eq!(header(&[0x82, 126, 1]).unwrap(), None);
        let medium = Header { fin: true, opcode: BINARY, header_len: 4, payload_len: 300 };
        assert_eq!(header(&[0x82, 126, 1, 44]).unwrap(), Some(medium));
        assert_eq!(header(&[0x01, 127, 0, 0, 0, 0, 0, 1, 0]).unwrap(), None);
        let long = Header { fin: false, opcode: TEXT, header_len: 10, payload_len: 65_536 };
        assert_eq!(header(&[0x01, 127, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap(), Some(long));
    }

    #[test]
    fn frames_a_server_may_not_send_are_refused() {
        for (bytes, what) in [
            (&[0xC1, 0][..], "reserved bits"),
            (&[0x83, 0][..], "reserved opcode"),
            (&[0x81, 0x80][..], "masked"),
            (&[0x09, 0][..], "fragmented ping"),
            (&[0x89, 126, 0, 126][..], "long ping"),
        ] {
            assert!(matches!(header(bytes), Err(WsError::Protocol(_))), "{what}");
        }
    }

    #[test]
    fn a_payload_over_the_limit_is_refused_from_its_header() {
        let err = decode_header(&[0x82, 126, 4, 1], 1024).unwrap_err();
        assert!(matches!(err, WsError::TooLarge { len: 1025, max: 1024 }), "{err}");
        let huge = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(decode_header(&huge, usize::MAX), Err(WsError::Protocol(_))));
    }

    #[test]
    fn client_frames_are_masked_and_decode_back() {
        let mask = [1, 2, 3, 4];
        for len in [0usize, 5, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_client_frame(TEXT, &payload, mask, &mut out);
            // Read back as a server would: the mask bit set, the key after the length.
            let mut unmasked = out.clone();
            unmasked[1] &= 0x7F;
            let head = header(&unmasked).unwrap().unwrap();
            assert_eq!((head.opcode, head.payload_len, head.fin), (TEXT, len, true));
            assert_eq!(&out[head.header_len..head.header_len + 4], &mask);
            let body = &out[head.header_len + 4..];
            let decoded: Vec<u8> = body.iter().zip(mask.iter().cycle()).map(|(b, k)| b ^ k).collect();
            assert_eq!(decoded, payload, "{len}");
        }
    }

    #[test]
    fn close_payloads_give_code_and_reason() {
        assert_eq!(parse_close(&[]).unwrap(), None);
        assert_eq!(parse_close(&[0x03, 0xE8, b'b', b'y', b'e']).unwrap(), Some((1000, "bye".into())));
        assert!(parse_close(&[0x03]).is_err());
        assert!(matches!(parse_close(&[0x03, 0xE8, 0xFF]), Err(WsError::InvalidUtf8)));
    }
}
