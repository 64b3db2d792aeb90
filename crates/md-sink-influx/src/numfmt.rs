//! Exact decimal text without going through `fmt` (the encoder's hot path).

use md_core::Decimal;

/// Appends the same text as `Decimal`'s `Display` (plain notation, the value's own scale).
#[inline]
pub(crate) fn push_decimal(value: &Decimal, out: &mut Vec<u8>) {
    let mantissa = value.mantissa();
    let scale = value.scale() as usize;
    let mut buf = itoa::Buffer::new();
    let abs = mantissa.unsigned_abs();
    // u128 division is several times slower than u64, and venue numbers fit in u64.
    let digits = match u64::try_from(abs) {
        Ok(small) => buf.format(small).as_bytes(),
        Err(_) => buf.format(abs).as_bytes(),
    };
    if value.is_sign_negative() && (mantissa != 0 || rust_decimal_prints_negative_zero()) {
        out.push(b'-');
    }
    if scale == 0 {
        out.extend_from_slice(digits);
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    } else {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + scale - digits.len(), b'0');
        out.extend_from_slice(digits);
    }
}

/// rust_decimal prints a negative zero as `-0`; kept in one place so the test pins it.
#[inline]
const fn rust_decimal_prints_negative_zero() -> bool {
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn text(d: &Decimal) -> String {
        let mut out = Vec::new();
        push_decimal(d, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn matches_display_on_edges() {
        let mut neg_zero = Decimal::new(0, 3);
        neg_zero.set_sign_negative(true);
        for d in [
            Decimal::new(0, 0),
            Decimal::new(5, 3),
            Decimal::new(-5, 3),
            Decimal::new(12345, 2),
            Decimal::new(100, 0),
            Decimal::MAX,
            Decimal::MIN,
            Decimal::from_i128_with_scale(1, 28),
            neg_zero,
        ] {
            assert_eq!(text(&d), d.to_string());
        }
    }

    proptest! {
        #[test]
        fn matches_display(lo in any::<u32>(), mid in any::<u32>(), hi in any::<u32>(), neg: bool, scale in 0u32..=28) {
            let d = Decimal::from_parts(lo, mid, hi, neg, scale);
            prop_assert_eq!(text(&d), d.to_string());
        }
    }
}
