//! Python `bytes` literals (`b'\x1f\x8b…'`), as cryptofeed writes binary frames (their `repr`).

/// Decodes a Python bytes literal — `b'…'` or `b"…"` (or `B`), as `repr(bytes)` prints one —
/// into its bytes, with Python's escape rules: `\\ \' \" \a \b \f \n \r \t \v`, `\xhh`
/// (exactly two hex digits), octal `\o`, `\oo`, `\ooo` (at most `\377`), a backslash before a
/// newline dropped, and any other backslash kept as it is (Python keeps `\q` as two bytes).
/// Non-ASCII characters, an unescaped closing quote inside, and a missing one are refused.
pub fn parse_python_bytes(text: &str) -> Result<Vec<u8>, String> {
    let b = text.as_bytes();
    let quote = match b {
        [b'b' | b'B', q @ (b'\'' | b'"'), ..] => *q,
        _ => return Err("not a Python bytes literal (expected b'...' or b\"...\")".into()),
    };
    if b.len() < 3 || b[b.len() - 1] != quote {
        return Err("Python bytes literal without its closing quote".into());
    }
    let body = &b[2..b.len() - 1];
    let mut out = Vec::with_capacity(body.len() / 2);
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if !c.is_ascii() {
            return Err(format!("non-ASCII byte 0x{c:02x} in a bytes literal at offset {}", i + 2));
        }
        if c == quote {
            return Err(format!("unescaped quote inside the bytes literal at offset {}", i + 2));
        }
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = body.get(i + 1) else {
            return Err("the bytes literal ends in a lone backslash".into());
        };
        i += 2;
        match e {
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'\n' => {}
            b'x' => {
                let hex = body.get(i..i + 2).and_then(|h| std::str::from_utf8(h).ok());
                let value = hex.filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                let value = value.and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(value) = value else {
                    return Err(format!("bad \\x escape at offset {} (two hex digits expected)", i));
                };
                out.push(value);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut value = u32::from(e - b'0');
                let mut n = 1;
                while n < 3 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                            n += 1;
                        }
                        _ => break,
                    }
                }
                let Ok(value) = u8::try_from(value) else {
                    return Err(format!("octal escape above \\377 before offset {}", i + 2));
                };
                out.push(value);
            }
            other if other.is_ascii() => {
                out.push(b'\\');
                out.push(other);
            }
            other => return Err(format!("non-ASCII byte 0x{other:02x} in a bytes literal")),
        }
    }
    Ok(out)
}
