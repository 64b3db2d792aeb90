//! Decimal text as each venue writes it. Values are fixed-point integers (`value` units of
//! `10^-scale`), never floats, so the text is exact and the client's parse gives back the
//! simulator's own number.

use md_core::Decimal;

/// The exact decimal of a fixed-point value.
pub(crate) fn decimal(value: i64, scale: u32) -> Decimal {
    Decimal::new(value, scale)
}

fn pow10(n: u32) -> i64 {
    10_i64.saturating_pow(n)
}

/// Fixed decimals, as Binance writes them: `fixed(1685004, 2, 8)` = `"16850.04000000"`.
pub(crate) fn fixed(value: i64, scale: u32, decimals: u32) -> String {
    let (value, scale) = if decimals >= scale {
        (value.saturating_mul(pow10(decimals - scale)), decimals)
    } else {
        (value / pow10(scale - decimals), decimals)
    };
    if scale == 0 {
        return value.to_string();
    }
    let unit = pow10(scale);
    let width = scale as usize;
    format!("{}.{:0width$}", value / unit, value % unit)
}

/// Shortest plain text, as Bybit writes it: `"43774"`, `"0.0026"`, `"0"`.
pub(crate) fn plain(value: i64, scale: u32) -> String {
    let text = fixed(value, scale, scale);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A JSON number as HTX writes it (Java's `Double.toString`): `9144.0`, `0.033785`, and
/// exponent form below 0.001 (`2.0E-4`, `5.33E-4`), which clients must parse exactly.
pub(crate) fn htx(value: i64, scale: u32) -> String {
    if value == 0 {
        return "0.0".into();
    }
    if value > 0 && scale >= 3 && value < pow10(scale - 3) {
        let mut digits = value;
        let mut scale = i64::from(scale);
        while digits % 10 == 0 {
            digits /= 10;
            scale -= 1;
        }
        let text = digits.to_string();
        let exponent = text.len() as i64 - 1 - scale;
        let (first, rest) = text.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        return format!("{first}.{rest}E{exponent}");
    }
    let text = plain(value, scale);
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_number_forms() {
        assert_eq!(fixed(1_685_004, 2, 8), "16850.04000000");
        assert_eq!(fixed(0, 6, 8), "0.00000000");
        assert_eq!(fixed(26, 6, 8), "0.00002600");
        assert_eq!(plain(4_377_400, 2), "43774");
        assert_eq!(plain(2600, 6), "0.0026");
        assert_eq!(plain(0, 6), "0");
        assert_eq!(htx(200, 6), "2.0E-4");
        assert_eq!(htx(533, 6), "5.33E-4");
        assert_eq!(htx(2, 6), "2.0E-6");
        assert_eq!(htx(914_400, 2), "9144.0");
        assert_eq!(htx(33_785, 6), "0.033785");
        assert_eq!(htx(1000, 6), "0.001");
        assert_eq!(htx(0, 6), "0.0");
        for (v, s) in [(200, 6), (533, 6), (914_400, 2), (33_785, 6), (7, 4)] {
            let parsed = md_core::parse_decimal(&htx(v, s)).ok();
            assert_eq!(parsed, Some(decimal(v, s)), "{v} {s}");
            assert_eq!(md_core::parse_decimal(&fixed(v, s, 8)).ok(), Some(decimal(v, s)));
            assert_eq!(md_core::parse_decimal(&plain(v, s)).ok(), Some(decimal(v, s)));
        }
    }
}
