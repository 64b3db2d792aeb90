//! [`Batch`]: the unit that crosses every channel hop of the spine.
//!
//! A source publishes the packets of one read burst (every frame that was ready on the socket,
//! or one recorded chunk) as one batch, so that a hop costs one queue operation and at most
//! one task wake-up per burst instead of per packet. Subscribers share the batch: fanning out
//! to N consumers clones a pointer N times, never the packets.

use std::ops::Deref;
use std::sync::Arc;

use md_core::DataPacket;

/// Packets in the order their source produced them, shared by every subscriber.
#[derive(Debug, Clone, Default)]
pub struct Batch(Arc<Vec<DataPacket>>);

impl Batch {
    /// A batch of these packets.
    pub fn new(packets: Vec<DataPacket>) -> Self {
        Self(Arc::new(packets))
    }

    /// The packets.
    pub fn packets(&self) -> &[DataPacket] {
        &self.0
    }
}

impl Deref for Batch {
    type Target = [DataPacket];

    fn deref(&self) -> &[DataPacket] {
        &self.0
    }
}

impl From<Vec<DataPacket>> for Batch {
    fn from(packets: Vec<DataPacket>) -> Self {
        Self::new(packets)
    }
}
