//! Real-server ids (`DestConfig::id`): a slot in the low `DEST_SLOT_BITS` bits, which indexes
//! the workers' per-server arrays, and the slot's generation above it.
//!
//! Slots of removed servers are reused, so those arrays stay as large as the largest table
//! configured, however many servers were added and removed since the start (health checkers
//! that remove and re-add servers, tables restored after a clear). A reused slot gets the next
//! generation, so the sessions a removed server leaves behind (they finish on their own) never
//! count for the server that gets its slot next. Freed slots are reused oldest first, and only
//! while more than [`QUARANTINE`] of them are free: a slot then comes back at most once per
//! `QUARANTINE` removals, and its generation (12 bits) repeats only after `4096 * QUARANTINE`
//! (4.2M) removals; a session that outlives that many would count for the wrong server. (When
//! all `DEST_SLOTS - 1` slots exist, free slots are reused without the quarantine.)

use dataplane::snapshot::{dest_slot, DEST_SLOTS, DEST_SLOT_BITS};
use std::collections::VecDeque;

/// Free slots kept out of use before the oldest is handed out again. Each costs the workers
/// 80 bytes, and their arrays grow (doubling, copied while a worker installs a table) to hold
/// the largest table plus these.
pub const QUARANTINE: usize = 1024;

const GENERATIONS: u32 = 1 << (32 - DEST_SLOT_BITS);

#[derive(Debug, Clone)]
pub struct DestIds {
    /// Per slot that exists: its current generation and whether a server holds it. Slot 0 is
    /// never handed out (ids start at 1, as in the configuration file).
    slots: Vec<(u32, bool)>,
    /// Free slots, oldest first.
    free: VecDeque<u32>,
}

impl DestIds {
    /// An allocator in which the ids `in_use` (those of the configured table) are taken.
    pub fn new(in_use: impl IntoIterator<Item = u32>) -> DestIds {
        let mut slots = vec![(0, true)];
        for id in in_use {
            let slot = dest_slot(id);
            if slots.len() <= slot {
                slots.resize(slot + 1, (0, false));
            }
            slots[slot] = (id >> DEST_SLOT_BITS, true);
        }
        let free = (0..slots.len() as u32)
            .filter(|&s| !slots[s as usize].1)
            .collect();
        DestIds { slots, free }
    }

    /// A fresh id: a new slot while the quarantine fills, then the oldest free slot with its
    /// next generation. None when every slot is held.
    pub fn allocate(&mut self) -> Option<u32> {
        let grow = self.free.len() <= QUARANTINE && self.slots.len() < DEST_SLOTS as usize;
        let slot = if grow {
            self.slots.push((0, true));
            self.slots.len() - 1
        } else {
            let slot = self.free.pop_front()? as usize;
            let (generation, held) = &mut self.slots[slot];
            *generation = (*generation + 1) % GENERATIONS;
            *held = true;
            slot
        };
        Some(slot as u32 | self.slots[slot].0 << DEST_SLOT_BITS)
    }

    /// Gives `id` back; an id that is not held (already released, or of an older generation)
    /// is ignored.
    pub fn release(&mut self, id: u32) {
        let slot = dest_slot(id);
        if let Some((generation, held)) = self.slots.get_mut(slot) {
            if *held && slot != 0 && *generation == id >> DEST_SLOT_BITS {
                *held = false;
                self.free.push_back(slot as u32);
            }
        }
    }

    /// Slots that exist (the length of the workers' per-server arrays).
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_start_after_the_configured_ones_and_are_never_held_twice() {
        let mut ids = DestIds::new([1, 2, 3]);
        let a = ids.allocate().unwrap();
        assert_eq!(a, 4, "a new slot, generation 0");
        let mut held: HashSet<u32> = [1, 2, 3, a].into();
        let mut live: Vec<u32> = held.iter().copied().collect();
        // Remove and add servers, many more times than there are slots.
        for round in 0..200_000u32 {
            let gone = live.swap_remove((round as usize * 7919) % live.len());
            ids.release(gone);
            held.remove(&gone);
            for _ in 0..(1 + round % 2) {
                let id = ids.allocate().unwrap();
                assert!(held.insert(id), "{id:#x} handed out while held");
                assert!(
                    held.iter()
                        .filter(|&&h| dest_slot(h) == dest_slot(id))
                        .count()
                        == 1,
                    "slot of {id:#x} held twice"
                );
                live.push(id);
            }
            if live.len() > 50 {
                let gone = live.swap_remove(0);
                ids.release(gone);
                held.remove(&gone);
            }
        }
        assert!(
            ids.slots() <= 50 + 2 + QUARANTINE + 1,
            "the slots stay bounded by the table plus the quarantine: {}",
            ids.slots()
        );
    }

    #[test]
    fn a_reused_slot_gets_the_next_generation_after_the_quarantine() {
        let mut ids = DestIds::new([]);
        let first = ids.allocate().unwrap();
        ids.release(first);
        // While fewer than QUARANTINE slots are free, new slots are made.
        let mut others = Vec::new();
        for _ in 0..QUARANTINE {
            others.push(ids.allocate().unwrap());
        }
        assert!(others.iter().all(|&id| dest_slot(id) != dest_slot(first)));
        for id in others {
            ids.release(id);
        }
        let reused = ids.allocate().unwrap();
        assert_eq!(
            dest_slot(reused),
            dest_slot(first),
            "oldest free slot first"
        );
        assert_eq!(reused >> DEST_SLOT_BITS, (first >> DEST_SLOT_BITS) + 1);
        assert_ne!(reused, first);
    }

    #[test]
    fn releasing_a_stale_or_unknown_id_changes_nothing() {
        let mut ids = DestIds::new([5]);
        let before = ids.free.len();
        ids.release(5 | 1 << DEST_SLOT_BITS);
        ids.release(999);
        ids.release(0);
        assert_eq!(ids.free.len(), before);
        ids.release(5);
        ids.release(5);
        assert_eq!(ids.free.len(), before + 1, "released once");
    }
}
