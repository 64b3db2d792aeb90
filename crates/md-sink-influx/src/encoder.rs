//! [`InfluxEncoder`]: the [`LineEncoder`] as the sink core's [`Encoder`], shared by the
//! [`crate::Buffer`] and [`crate::LineFiles`].

use md_core::{DataPacket, Payload};
use md_pipeline::sink::core::{Encoder, Route};
use md_pipeline::BoxError;

use crate::encode::{LineEncoder, SchemaConfig, Target};
use crate::error::InfluxError;

/// The target a payload is stored in; `None` for a kind this crate does not know yet
/// (counted by the core as an unknown kind, never skipped silently).
pub fn target_of(payload: &Payload) -> Option<Target> {
    match payload {
        Payload::Trade(_) | Payload::BookDelta(_) | Payload::Status(_) => Some(Target::Incremental),
        Payload::BookSnapshot(_) => Some(Target::Snapshot),
        _ => None,
    }
}

/// Packets to lines in the lane of their [`Target`] (lane index = [`Target::index`]).
#[derive(Debug)]
pub struct InfluxEncoder {
    lines: LineEncoder,
}

impl InfluxEncoder {
    /// An encoder for a schema; refuses measurement names that cannot be written.
    pub fn new(schema: &SchemaConfig) -> Result<Self, InfluxError> {
        Ok(Self { lines: LineEncoder::new(schema)? })
    }
}

impl Encoder for InfluxEncoder {
    fn route(&self, packet: &DataPacket) -> Route {
        match target_of(&packet.data) {
            Some(target) => Route::Lane(target.index()),
            // Counted by the core and logged once per kind: never skipped silently.
            None => Route::Unknown,
        }
    }

    fn encode(&mut self, packet: &DataPacket, _lane: usize, out: &mut Vec<u8>) -> Result<bool, BoxError> {
        match self.lines.encode(packet, out) {
            Ok(target) => Ok(target.is_some()),
            Err(e) => Err(Box::new(e)),
        }
    }

    fn adjustments(&self) -> u64 {
        self.lines.bumps()
    }
}
