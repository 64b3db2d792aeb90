//! Which symbols go on which connection, within the venue's limits, as symbols come and go.
//!
//! A symbol's topics are grouped by the URL that serves their channel (HTX puts books on
//! `/feed` and trades on `/ws`); in each group the symbol goes on the first connection with
//! room for all of its topics there, or on a new one. Removing a symbol frees its room; a
//! connection left with no topics is closed.

use std::collections::BTreeMap;
#[cfg(test)]
use std::collections::BTreeSet;

use md_core::{Channel, Listener, Symbol, SymbolInfo};

/// One connection's place in the allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    /// The connection's URL.
    pub url: String,
    /// Topics it carries now.
    pub topics: usize,
    /// The symbols with topics on it, and how many each has.
    pub symbols: BTreeMap<Symbol, usize>,
}

/// Where a symbol's topics went: a slot, and whether the slot is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placed {
    pub slot: u64,
    pub new: bool,
}

/// The topics of one symbol on one URL.
pub(crate) fn groups(
    listener: &dyn Listener,
    info: &SymbolInfo,
    channels: &[Channel],
) -> Vec<(String, usize)> {
    let mut groups: Vec<(String, usize)> = Vec::new();
    for &channel in channels {
        let topics = listener.topics(info, channel).len();
        if topics == 0 {
            continue;
        }
        let url = listener.ws_url(&[channel]);
        match groups.iter_mut().find(|(u, _)| *u == url) {
            Some((_, n)) => *n += topics,
            None => groups.push((url, topics)),
        }
    }
    groups
}

/// Every connection of one venue.
#[derive(Debug, Default)]
pub(crate) struct Allocator {
    max_topics: usize,
    slots: BTreeMap<u64, Slot>,
    next: u64,
}

impl Allocator {
    /// An allocator for connections of at most `max_topics` topics.
    pub(crate) fn new(max_topics: usize) -> Self {
        Self { max_topics: max_topics.max(1), slots: BTreeMap::new(), next: 1 }
    }

    /// Places a symbol's topic groups; a group larger than a whole connection still gets one
    /// of its own.
    pub(crate) fn place(&mut self, symbol: &Symbol, groups: &[(String, usize)]) -> Vec<Placed> {
        let mut placed = Vec::with_capacity(groups.len());
        for (url, topics) in groups {
            let room = self.slots.iter_mut().find(|(_, s)| {
                s.url == *url && !s.symbols.contains_key(symbol) && s.topics + topics <= self.max_topics
            });
            let (id, new) = match room {
                Some((id, _)) => (*id, false),
                None => {
                    let id = self.next;
                    self.next += 1;
                    self.slots.insert(id, Slot { url: url.clone(), topics: 0, symbols: BTreeMap::new() });
                    (id, true)
                }
            };
            if let Some(slot) = self.slots.get_mut(&id) {
                slot.topics += topics;
                slot.symbols.insert(symbol.clone(), *topics);
            }
            placed.push(Placed { slot: id, new });
        }
        placed
    }

    /// Frees a symbol's room. Returns each slot it was on and whether that slot is now empty
    /// (and forgotten).
    pub(crate) fn release(&mut self, symbol: &Symbol) -> Vec<(u64, bool)> {
        let mut freed = Vec::new();
        for (id, slot) in self.slots.iter_mut() {
            if let Some(topics) = slot.symbols.remove(symbol) {
                slot.topics -= topics;
                freed.push((*id, slot.symbols.is_empty()));
            }
        }
        for (id, empty) in &freed {
            if *empty {
                self.slots.remove(id);
            }
        }
        freed
    }

    /// The slot's URL.
    pub(crate) fn url(&self, slot: u64) -> Option<&str> {
        self.slots.get(&slot).map(|s| s.url.as_str())
    }

    /// Symbols placed anywhere.
    #[cfg(test)]
    pub(crate) fn symbols(&self) -> BTreeSet<Symbol> {
        self.slots.values().flat_map(|s| s.symbols.keys().cloned()).collect()
    }

    /// The slots, by id.
    #[cfg(test)]
    pub(crate) fn slots(&self) -> &BTreeMap<u64, Slot> {
        &self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(n: usize) -> Symbol {
        Symbol::new(&format!("S{n}"), "USDT")
    }

    #[test]
    fn fills_connections_then_opens_new_ones_and_frees_room() {
        let mut alloc = Allocator::new(5);
        let groups = [("ws://a".to_owned(), 2)];
        let slots: Vec<u64> = (0..5).map(|i| alloc.place(&sym(i), &groups)[0].slot).collect();
        assert_eq!(slots, [1, 1, 2, 2, 3], "two symbols of two topics fit in five");
        assert_eq!(alloc.release(&sym(4)), [(3, true)], "an emptied connection is closed");
        assert_eq!(alloc.release(&sym(0)), [(1, false)]);
        assert_eq!(alloc.place(&sym(9), &groups), [Placed { slot: 1, new: false }], "freed room is reused");
        assert_eq!(alloc.symbols().len(), 4);
    }

    #[test]
    fn groups_by_url_and_keeps_oversized_symbols_alone() {
        let mut alloc = Allocator::new(3);
        let both = [("ws://feed".to_owned(), 1), ("ws://ws".to_owned(), 1)];
        let placed = alloc.place(&sym(1), &both);
        assert_eq!(placed.len(), 2);
        assert_ne!(alloc.url(placed[0].slot), alloc.url(placed[1].slot));
        let huge = alloc.place(&sym(2), &[("ws://feed".to_owned(), 9)]);
        assert!(huge[0].new);
        assert_eq!(alloc.slots()[&huge[0].slot].topics, 9);
    }
}
