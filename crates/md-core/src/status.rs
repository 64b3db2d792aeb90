//! [`Status`]: connection and book state, in-band with the data, with typed reasons.
//!
//! A status packet always names the connection it concerns ([`ConnId`]) and, through the
//! packet's `symbol`, the one symbol it concerns: when a connection carrying 200 books drops,
//! 200 `Disconnected` packets go out, so a consumer (and a researcher reading the database)
//! can tell exactly which books and trade streams have a hole, even on a venue spread over
//! many connections.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decimal::Decimal;
use crate::error::BookError;

/// One WebSocket connection (one socket session) of a driver, unique within the process.
/// A reconnect gets a new id, so a replay can tell sessions apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Connection and book state, emitted by the driver so that gaps are never silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// The connection carrying the symbol is up and its subscriptions are sent.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// The connection carrying the symbol went down: its trades stop until `Connected`, its
    /// book until `Resynced`.
    Disconnected {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: DisconnectReason,
    },
    /// The symbol's book missed updates or failed a check and was discarded until `Resynced`.
    GapDetected {
        /// The connection.
        conn: ConnId,
        /// What was wrong.
        gap: Gap,
    },
    /// The symbol's book was rebuilt from a fresh snapshot after a gap or a reconnect.
    Resynced {
        /// The connection.
        conn: ConnId,
    },
    /// The symbol was added to a running driver; its book follows once synced.
    Subscribed {
        /// The connection it was placed on.
        conn: ConnId,
    },
    /// The symbol was removed from a running driver: no more packets for it.
    Unsubscribed {
        /// The connection it was on.
        conn: ConnId,
        /// Why.
        reason: Removal,
    },
}

impl Status {
    /// The connection the status concerns.
    pub fn conn(&self) -> ConnId {
        match self {
            Self::Connected { conn }
            | Self::Disconnected { conn, .. }
            | Self::GapDetected { conn, .. }
            | Self::Resynced { conn }
            | Self::Subscribed { conn }
            | Self::Unsubscribed { conn, .. } => *conn,
        }
    }

    /// `connected`, `disconnected`, `gap`, `resynced`, `subscribed` or `unsubscribed`.
    pub fn event(&self) -> &'static str {
        match self {
            Self::Connected { .. } => "connected",
            Self::Disconnected { .. } => "disconnected",
            Self::GapDetected { .. } => "gap",
            Self::Resynced { .. } => "resynced",
            Self::Subscribed { .. } => "subscribed",
            Self::Unsubscribed { .. } => "unsubscribed",
        }
    }

    /// A short machine-readable reason (`silent`, `sequence`, `delisted`, ...), empty when the
    /// event needs none.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Disconnected { reason, .. } => reason.code(),
            Self::GapDetected { gap, .. } => gap.code(),
            Self::Unsubscribed { reason, .. } => reason.code(),
            _ => "",
        }
    }

    /// Human-readable detail (the venue's words, the refused sequence), empty when none.
    pub fn detail(&self) -> String {
        match self {
            Self::Disconnected { reason, .. } => reason.to_string(),
            Self::GapDetected { gap, .. } => gap.to_string(),
            _ => String::new(),
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The connection could not be opened (DNS, TCP, TLS, handshake, timeout).
    ConnectFailed {
        /// What failed.
        detail: String,
    },
    /// The venue closed the connection (a close frame, or the TCP stream ended).
    ClosedByVenue {
        /// The close code, when the venue sent a close frame.
        close_code: Option<u16>,
        /// The close reason or how it ended.
        detail: String,
    },
    /// Reading failed (reset, protocol error, a frame over the size limit).
    ReadFailed {
        /// The error.
        detail: String,
    },
    /// Writing a subscription, heartbeat or reply failed.
    SendFailed {
        /// The error.
        detail: String,
    },
    /// No frame arrived for the liveness timeout.
    Silent {
        /// The timeout, in milliseconds.
        timeout_ms: u64,
    },
    /// The venue announced it would close the connection (Binance `serverShutdown`).
    VenueShutdown,
    /// md reconnected before the venue's connection lifetime ran out (Binance 24 h).
    Rotation,
    /// md is stopping.
    Cancelled,
    /// Every symbol of the connection was removed: md closed it.
    Emptied,
}

impl DisconnectReason {
    /// A short code: `connect_failed`, `closed_by_venue`, `read_failed`, `send_failed`,
    /// `silent`, `venue_shutdown`, `rotation`, `cancelled`, `emptied`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ConnectFailed { .. } => "connect_failed",
            Self::ClosedByVenue { .. } => "closed_by_venue",
            Self::ReadFailed { .. } => "read_failed",
            Self::SendFailed { .. } => "send_failed",
            Self::Silent { .. } => "silent",
            Self::VenueShutdown => "venue_shutdown",
            Self::Rotation => "rotation",
            Self::Cancelled => "cancelled",
            Self::Emptied => "emptied",
        }
    }

    /// Whether the next connection should wait for the backoff delay (a failure) rather than
    /// start at once (a planned move).
    pub fn is_failure(&self) -> bool {
        !matches!(self, Self::VenueShutdown | Self::Rotation | Self::Cancelled | Self::Emptied)
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConnectFailed { detail } => write!(f, "connect failed: {detail}"),
            Self::ClosedByVenue { close_code: Some(code), detail } => {
                write!(f, "closed by the venue ({code}): {detail}")
            }
            Self::ClosedByVenue { close_code: None, detail } => write!(f, "closed by the venue: {detail}"),
            Self::ReadFailed { detail } => write!(f, "read failed: {detail}"),
            Self::SendFailed { detail } => write!(f, "send failed: {detail}"),
            Self::Silent { timeout_ms } => write!(f, "no frame for {:.1}s", *timeout_ms as f64 / 1000.0),
            Self::VenueShutdown => f.write_str("the venue announced a shutdown"),
            Self::Rotation => f.write_str("planned rotation before the venue's connection lifetime"),
            Self::Cancelled => f.write_str("md is stopping"),
            Self::Emptied => f.write_str("every symbol of the connection was removed"),
        }
    }
}

/// What a book found wrong, so that it was discarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Gap {
    /// An incremental did not continue the book's sequence: updates were missed.
    Sequence {
        /// The book's last applied sequence.
        book_seq: u64,
        /// The refused update's first id, if the venue gives one.
        first: Option<u64>,
        /// The refused update's last id.
        last: u64,
        /// The refused update's link to its predecessor, if the venue gives one.
        prev: Option<u64>,
    },
    /// After an update the best bid was at or above the best ask.
    Crossed {
        /// Best bid.
        bid: Decimal,
        /// Best ask.
        ask: Decimal,
    },
    /// More incrementals waited for a snapshot than the book may queue.
    PendingOverflow {
        /// How many had waited.
        dropped: usize,
    },
    /// A periodic cross-check found the book different from a fresh venue snapshot (venues
    /// whose incrementals carry no sequence, where a lost update cannot be seen otherwise):
    /// the book, turned back to the snapshot's time, was compared level by level.
    CrossCheck {
        /// The snapshot's sequence (its time in µs, under `SeqRule::Timestamped`).
        snapshot_seq: u64,
        /// The book's last applied sequence when it was compared.
        book_seq: u64,
        /// Levels the venue had and the book lacked.
        missing: usize,
        /// Levels the book had and the venue lacked.
        extra: usize,
        /// Levels at the same price with another quantity.
        differing: usize,
    },
}

impl Gap {
    /// `sequence`, `crossed`, `pending_overflow` or `cross_check`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Sequence { .. } => "sequence",
            Self::Crossed { .. } => "crossed",
            Self::PendingOverflow { .. } => "pending_overflow",
            Self::CrossCheck { .. } => "cross_check",
        }
    }

    /// The gap a book error stands for; `None` for [`BookError::NotSynced`], which is a book
    /// still waiting for its snapshot, not a gap.
    pub fn from_book_error(err: &BookError) -> Option<Self> {
        match err {
            BookError::Gap { book_seq, update } => Some(Self::Sequence {
                book_seq: *book_seq,
                first: update.first,
                last: update.last,
                prev: update.prev,
            }),
            BookError::Crossed { bid, ask } => Some(Self::Crossed { bid: *bid, ask: *ask }),
            BookError::PendingOverflow(n) => Some(Self::PendingOverflow { dropped: *n }),
            BookError::Mismatch(diff) => Some(Self::CrossCheck {
                snapshot_seq: diff.snapshot_seq,
                book_seq: diff.book_seq,
                missing: diff.missing,
                extra: diff.extra,
                differing: diff.differing,
            }),
            BookError::NotSynced => None,
        }
    }
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sequence { book_seq, first, last, prev } => {
                write!(f, "sequence gap: book at {book_seq}, update")?;
                if let Some(first) = first {
                    write!(f, " first {first}")?;
                }
                write!(f, " last {last}")?;
                if let Some(prev) = prev {
                    write!(f, " prev {prev}")?;
                }
                Ok(())
            }
            Self::Crossed { bid, ask } => write!(f, "crossed book: best bid {bid} >= best ask {ask}"),
            Self::PendingOverflow { dropped } => write!(f, "{dropped} incrementals waited for a snapshot"),
            Self::CrossCheck { snapshot_seq, book_seq, missing, extra, differing } => write!(
                f,
                "cross-check failed: the book (at {book_seq}) differs from the venue's snapshot at \
                 {snapshot_seq}; levels: {missing} missing, {extra} extra, {differing} with another quantity"
            ),
        }
    }
}

/// Why a symbol was removed from a running driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Removal {
    /// A consumer asked for it (the last client of the book server left, a command).
    Requested,
    /// The venue no longer lists it as trading.
    Delisted,
}

impl Removal {
    /// `requested` or `delisted`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Delisted => "delisted",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn status_round_trips_through_json_with_its_reason() {
        let status =
            Status::Disconnected { conn: ConnId(7), reason: DisconnectReason::Silent { timeout_ms: 1500 } };
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(
            json,
            r#"{"status":"disconnected","conn":7,"reason":{"code":"silent","timeout_ms":1500}}"#
        );
        assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), status);
        assert_eq!((status.event(), status.reason(), status.conn()), ("disconnected", "silent", ConnId(7)));
        assert_eq!(status.detail(), "no frame for 1.5s");
    }

    #[test]
    fn book_errors_become_gaps_except_not_synced() {
        let err =
            BookError::Gap { book_seq: 5, update: crate::Sequence { first: Some(7), last: 9, prev: None } };
        let gap = Gap::from_book_error(&err).unwrap();
        assert_eq!(gap.to_string(), "sequence gap: book at 5, update first 7 last 9");
        assert!(Gap::from_book_error(&BookError::NotSynced).is_none());
    }

    #[test]
    fn a_failed_cross_check_says_what_differed() {
        let diff =
            crate::book::CheckDiff { snapshot_seq: 100, book_seq: 130, missing: 1, extra: 0, differing: 2 };
        let gap = Gap::from_book_error(&BookError::Mismatch(diff)).unwrap();
        assert_eq!(gap.code(), "cross_check");
        assert_eq!(
            gap.to_string(),
            "cross-check failed: the book (at 130) differs from the venue's snapshot at 100; levels: \
             1 missing, 0 extra, 2 with another quantity"
        );
        let json = serde_json::to_string(&Status::GapDetected { conn: ConnId(3), gap: gap.clone() }).unwrap();
        assert!(json.contains(r#""code":"cross_check""#), "{json}");
        assert_eq!(
            serde_json::from_str::<Status>(&json).unwrap(),
            Status::GapDetected { conn: ConnId(3), gap }
        );
    }
}
