//! Book levels and decimals straight from the frame's text.
//!
//! Binance and Bybit send `["price","qty"]` strings, HTX sends bare JSON numbers
//! (`[9.121E-7, 2.0E-4]`). Both are read through `RawValue`, i.e. as the characters the venue
//! sent, and parsed exactly: no `f64` ever sees a price.

use std::fmt;

use md_core::decimal::{parse_decimal, Decimal};
use md_core::Level;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A decimal field given as a JSON string or a JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dec(pub Decimal);

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw: &RawValue = Deserialize::deserialize(deserializer)?;
        decimal_from_raw(raw.get()).map(Dec).map_err(de::Error::custom)
    }
}

fn decimal_from_raw(raw: &str) -> Result<Decimal, md_core::ParseError> {
    let text = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner,
        None => raw,
    };
    parse_decimal(text)
}

/// A list of `[price, qty, ...]` levels; extra elements (order counts, order ids) are ignored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Levels(pub Vec<Level>);

impl<'de> Deserialize<'de> for Levels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(LevelsVisitor)
    }
}

struct LevelsVisitor;

impl<'de> Visitor<'de> for LevelsVisitor {
    type Value = Levels;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of [price, quantity] levels")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Levels, A::Error> {
        let mut levels = Vec::with_capacity(seq.size_hint().unwrap_or(8).min(1024));
        while let Some(LevelWire(level)) = seq.next_element()? {
            levels.push(level);
        }
        Ok(Levels(levels))
    }
}

struct LevelWire(Level);

impl<'de> Deserialize<'de> for LevelWire {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(LevelVisitor)
    }
}

struct LevelVisitor;

impl<'de> Visitor<'de> for LevelVisitor {
    type Value = LevelWire;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a [price, quantity] pair")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LevelWire, A::Error> {
        let Dec(price) = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let Dec(qty) = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if qty.is_sign_negative() {
            return Err(de::Error::custom(format!("negative quantity {qty}")));
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(LevelWire(Level::new(price, qty)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn strings_numbers_and_extras() {
        let Levels(l) =
            serde_json::from_str(r#"[["0.35210000","75848.74"],[9.121E-7, 2.0E-4, 3],["1","0",[]]]"#)
                .unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].price.to_string(), "0.35210000");
        assert_eq!(l[1].price.to_string(), "0.0000009121");
        assert_eq!(l[1].qty.to_string(), "0.00020");
        assert!(l[2].qty.is_zero());
    }

    #[test]
    fn bad_levels_are_errors() {
        for bad in [
            r#"[["1"]]"#,
            r#"[["x","1"]]"#,
            r#"[[true,"1"]]"#,
            r#"[["1","-2"]]"#,
            r#"[{"p":"1"}]"#,
            r#"[["NaN","1"]]"#,
        ] {
            assert!(serde_json::from_str::<Levels>(bad).is_err(), "{bad}");
        }
    }
}
