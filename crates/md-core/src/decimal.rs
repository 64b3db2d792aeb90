//! Exact decimals parsed from a venue's text.
//!
//! Prices and quantities never pass through `f64`: a float cannot hold `0.1` exactly, and a
//! research dataset that drifted by one ulp per venue is no longer the venue's data. Every
//! number is parsed from the characters the venue sent, plain (`"0.35210000"`) or in
//! exponent form (`9.121E-7`, as HTX sends), and printing it gives back the same value.

pub use rust_decimal::Decimal;

use crate::error::ParseError;

/// The most significant digits a [`Decimal`] holds; longer text is refused rather than rounded.
pub const MAX_DIGITS: usize = 28;

/// Parses venue decimal text exactly.
///
/// Accepts `-?digits[.digits][(e|E)[+-]digits]` with at least one digit before the exponent.
/// Refuses everything else (empty text, `NaN`, `inf`, `1_000`, `+1`, `.`, whitespace) and any
/// value that would need rounding to fit 28 significant digits.
///
/// ```
/// use md_core::decimal::parse_decimal;
/// assert_eq!(parse_decimal("0.35210000").unwrap().to_string(), "0.35210000");
/// assert_eq!(parse_decimal("9.121E-7").unwrap().to_string(), "0.0000009121");
/// assert!(parse_decimal("NaN").is_err());
/// ```
pub fn parse_decimal(text: &str) -> Result<Decimal, ParseError> {
    match plain_prefix(text.as_bytes()) {
        Some((value, used)) if used == text.len() => Ok(value),
        _ => parse_general(text),
    }
}

/// The common case in one pass, from the start of `bytes`: `-?digits[.digits]` with at least
/// one digit and at most 19 in all (every venue's prices and sizes in practice), straight into
/// a u64 mantissa. Returns the value and the bytes it read; it stops at the first byte that is
/// neither a digit nor the first dot. `None` when there is no such prefix or it is too long:
/// [`parse_decimal`] then takes its general path, which gives the same answer for these inputs.
///
/// A JSON reader uses it on the bytes after a quote and checks that the closing quote follows,
/// so a decimal in a frame is read in one pass.
#[inline]
pub fn plain_prefix(bytes: &[u8]) -> Option<(Decimal, usize)> {
    let negative = bytes.first() == Some(&b'-');
    let mut i = usize::from(negative);
    let (mut mantissa, mut digits, mut frac, mut dot) = (0u64, 0usize, 0usize, false);
    while let Some(&b) = bytes.get(i) {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                digits += 1;
                frac += usize::from(dot);
            }
            b'.' if !dot => dot = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 || digits > 19 {
        return None;
    }
    // from_parts takes the 96-bit mantissa as three 32-bit words; 19 digits fit the low two.
    Some((Decimal::from_parts(mantissa as u32, (mantissa >> 32) as u32, 0, negative, frac as u32), i))
}

fn parse_general(text: &str) -> Result<Decimal, ParseError> {
    let bytes = text.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - frac_start;
    }
    if int_digits + frac_digits == 0 {
        return Err(ParseError::decimal(text, "no digits"));
    }
    let mantissa_end = i;
    if i == bytes.len() {
        if let Some(fast) = fast_plain(bytes, int_start, int_digits, frac_digits) {
            return Ok(fast);
        }
        if significant_digits(&text[int_start..mantissa_end]) > MAX_DIGITS {
            return Err(ParseError::decimal(text, "more than 28 significant digits"));
        }
        return Decimal::from_str_exact(text).map_err(|e| ParseError::decimal(text, e.to_string()));
    }
    if bytes[i] != b'e' && bytes[i] != b'E' {
        return Err(ParseError::decimal(text, "unexpected character"));
    }
    i += 1;
    let sign_start = i;
    if i < bytes.len() && (bytes[i] == b'-' || bytes[i] == b'+') {
        i += 1;
    }
    let exp_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if i == exp_start || i != bytes.len() {
        return Err(ParseError::decimal(text, "malformed exponent"));
    }
    scientific(text, &text[int_start..mantissa_end], &text[sign_start..])
}

/// Exponent form, done by hand: rust_decimal's `from_scientific` rounds long mantissas
/// silently, and we would rather refuse than round.
fn scientific(text: &str, mantissa: &str, exponent: &str) -> Result<Decimal, ParseError> {
    let exp: i64 = exponent
        .trim_start_matches('+')
        .parse()
        .map_err(|_| ParseError::decimal(text, "exponent out of range"))?;
    if significant_digits(mantissa) > MAX_DIGITS {
        return Err(ParseError::decimal(text, "more than 28 significant digits"));
    }
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits = String::with_capacity(int_part.len() + frac_part.len());
    digits.push_str(int_part);
    digits.push_str(frac_part);
    let scale = frac_part.len() as i64 - exp;
    let mut value: i128 = 0;
    for b in digits.bytes() {
        value = value * 10 + i128::from(b - b'0');
    }
    let negative = text.starts_with('-');
    let (value, scale) = if scale < 0 {
        let mut v = value;
        for _ in 0..(-scale) {
            v = v.checked_mul(10).ok_or_else(|| ParseError::decimal(text, "value out of range"))?;
        }
        (v, 0u32)
    } else {
        (value, scale as u32)
    };
    if scale > 28 {
        return Err(ParseError::decimal(text, "more than 28 decimal places"));
    }
    let signed = if negative { -value } else { value };
    Decimal::try_from_i128_with_scale(signed, scale).map_err(|e| ParseError::decimal(text, e.to_string()))
}

/// Plain text of at most 19 digits (every venue's prices and sizes in practice) fits a u64
/// mantissa: build the decimal directly instead of through rust_decimal's general parser.
fn fast_plain(bytes: &[u8], int_start: usize, int_digits: usize, frac_digits: usize) -> Option<Decimal> {
    if int_digits + frac_digits > 19 || frac_digits > 28 {
        return None;
    }
    let mut mantissa: u64 = 0;
    for &b in &bytes[int_start..] {
        if b != b'.' {
            mantissa = mantissa * 10 + u64::from(b - b'0');
        }
    }
    let negative = int_start == 1;
    // from_parts takes the 96-bit mantissa as three 32-bit words; 19 digits fit the low two.
    Some(Decimal::from_parts(mantissa as u32, (mantissa >> 32) as u32, 0, negative, frac_digits as u32))
}

fn significant_digits(mantissa: &str) -> usize {
    let digits = mantissa.bytes().filter(u8::is_ascii_digit);
    digits.skip_while(|&b| b == b'0').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_keeps_its_scale() {
        for text in ["0.35210000", "75848.74", "0", "-1.5", "100", "0.00000001", "1234567890.123456789"] {
            assert_eq!(parse_decimal(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn exponent_forms_are_exact() {
        assert_eq!(parse_decimal("9.121E-7").unwrap().to_string(), "0.0000009121");
        assert_eq!(parse_decimal("2.0E-4").unwrap().to_string(), "0.00020");
        assert_eq!(parse_decimal("1E-8").unwrap().to_string(), "0.00000001");
        assert_eq!(parse_decimal("1.5e3").unwrap().to_string(), "1500");
        assert_eq!(parse_decimal("1.5E+3").unwrap().to_string(), "1500");
        assert_eq!(parse_decimal("-5.33E-4").unwrap().to_string(), "-0.000533");
    }

    #[test]
    fn htx_long_mantissa_is_exact() {
        let d = parse_decimal("26.755973959140651643").unwrap();
        assert_eq!(d.to_string(), "26.755973959140651643");
    }

    #[test]
    fn bad_text_is_an_error() {
        for text in [
            "",
            "-",
            ".",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "Infinity",
            "1_000",
            "+1",
            " 1",
            "1 ",
            "1e",
            "1e+",
            "e5",
            "1.2.3",
            "0x10",
            "1,5",
            "--1",
            "1E-99",
            "12345678901234567890123456789",
        ] {
            assert!(parse_decimal(text).is_err(), "{text:?} should be refused");
        }
    }

    proptest! {
        #[test]
        fn print_parse_round_trips(mantissa in any::<i64>(), scale in 0u32..=18) {
            let d = Decimal::new(mantissa, scale);
            let text = d.to_string();
            let parsed = parse_decimal(&text).unwrap();
            prop_assert_eq!(parsed, d);
            prop_assert_eq!(parsed.to_string(), text);
        }

        #[test]
        fn exponent_equals_plain(mantissa in 0u64..10_000_000_000, exp in -12i32..=8) {
            let text = format!("{mantissa}E{exp}");
            let parsed = parse_decimal(&text).unwrap();
            let expected = if exp >= 0 {
                Decimal::from(mantissa) * Decimal::from(10u64.pow(exp as u32))
            } else {
                Decimal::new(mantissa as i64, (-exp) as u32)
            };
            prop_assert_eq!(parsed, expected);
        }

        #[test]
        fn fast_path_agrees_with_rust_decimal(int in "-?[0-9]{1,12}", frac in "[0-9]{0,12}") {
            let text = if frac.is_empty() { int.clone() } else { format!("{int}.{frac}") };
            let expected = <Decimal as std::str::FromStr>::from_str(&text).unwrap();
            let parsed = parse_decimal(&text).unwrap();
            prop_assert_eq!(parsed, expected);
            prop_assert_eq!(parsed.to_string(), expected.to_string());
        }

        #[test]
        fn the_one_pass_path_agrees_with_the_general_one(text in "-?[0-9.]{0,22}") {
            let fast = parse_decimal(&text).map_err(|e| e.to_string());
            let general = parse_general(&text).map_err(|e| e.to_string());
            match (&fast, &general) {
                (Ok(a), Ok(b)) => prop_assert!(a == b && a.to_string() == b.to_string(), "{text}: {a} {b}"),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "{text}: {fast:?} vs {general:?}"),
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,24}") {
            let _ = parse_decimal(&text);
        }

        #[test]
        fn garbage_with_letters_is_refused(prefix in "[0-9]{0,5}", junk in "[a-df-zA-DF-Z_ ]{1,3}", suffix in "[0-9]{0,5}") {
            let text = format!("{prefix}{junk}{suffix}");
            prop_assert!(parse_decimal(&text).is_err());
        }
    }
}
