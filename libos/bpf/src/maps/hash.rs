//! `BPF_MAP_TYPE_HASH`: open addressing with linear probing, pre-allocated.
//!
//! The table has a power-of-two number of slots, at least twice
//! `max_entries`, so probes stay short and an insert never fails for want
//! of a free slot while the entry count is within `max_entries`. Deleting
//! leaves a tombstone; a slot's value bytes stay where they are, so a
//! pointer a program got from a lookup stays a valid (if stale) address, as
//! with Linux's RCU-freed elements.

use alloc::vec;
use alloc::vec::Vec;

use super::{Map, MapDef, MapError, MapKind, UpdateFlags, storage_bytes};

const EMPTY: u8 = 0;
const FULL: u8 = 1;
const TOMBSTONE: u8 = 2;

/// A hash map with fixed-size keys and values.
#[derive(Debug)]
pub struct HashMap {
    def: MapDef,
    mask: usize,
    len: usize,
    state: Vec<u8>,
    keys: Vec<u8>,
    values: Vec<u8>,
}

/// FNV-1a: simple, and good enough for the short keys maps hold.
fn hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ (h >> 29)
}

impl HashMap {
    /// A hash map of up to `max_entries` entries.
    ///
    /// # Errors
    /// [`MapError::Invalid`] for zero or oversized key or value sizes or no
    /// entries, [`MapError::TooLarge`] if the storage exceeds 4 GiB.
    pub fn new(key_size: u32, value_size: u32, max_entries: u32) -> Result<HashMap, MapError> {
        let def = MapDef {
            kind: MapKind::Hash,
            key_size,
            value_size,
            max_entries,
        };
        if max_entries == 0 {
            return Err(MapError::Invalid);
        }
        let slots = (max_entries as usize)
            .checked_mul(2)
            .and_then(usize::checked_next_power_of_two)
            .ok_or(MapError::TooLarge)?;
        let bytes = storage_bytes(&def, slots)?;
        Ok(HashMap {
            def,
            mask: slots - 1,
            len: 0,
            state: vec![EMPTY; slots],
            keys: vec![0; slots * key_size as usize],
            values: vec![0; bytes],
        })
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn key_at(&self, slot: usize) -> &[u8] {
        let k = self.def.key_size as usize;
        &self.keys[slot * k..(slot + 1) * k]
    }

    /// The slot holding `key`, or else the first free slot on its probe
    /// path (`Err`), if any.
    fn probe(&self, key: &[u8]) -> Result<usize, Option<usize>> {
        let mut slot = hash(key) as usize & self.mask;
        let mut free = None;
        for _ in 0..=self.mask {
            match self.state[slot] {
                EMPTY => return Err(free.or(Some(slot))),
                FULL if self.key_at(slot) == key => return Ok(slot),
                TOMBSTONE if free.is_none() => free = Some(slot),
                _ => {}
            }
            slot = (slot + 1) & self.mask;
        }
        Err(free)
    }

    fn value_offset(&self, slot: usize) -> usize {
        slot * self.def.value_size as usize
    }
}

impl Map for HashMap {
    fn def(&self) -> MapDef {
        self.def
    }

    fn lookup(&self, key: &[u8]) -> Option<usize> {
        if key.len() != self.def.key_size as usize {
            return None;
        }
        self.probe(key).ok().map(|slot| self.value_offset(slot))
    }

    fn prepare_update(&mut self, key: &[u8], flags: UpdateFlags) -> Result<usize, MapError> {
        if key.len() != self.def.key_size as usize {
            return Err(MapError::Invalid);
        }
        match (self.probe(key), flags) {
            (Ok(_), UpdateFlags::NoExist) => Err(MapError::Exists),
            (Ok(slot), _) => Ok(self.value_offset(slot)),
            (Err(_), UpdateFlags::Exist) => Err(MapError::NotFound),
            (Err(free), _) => {
                let slot = free.ok_or(MapError::Full)?;
                if self.len >= self.def.max_entries as usize {
                    return Err(MapError::Full);
                }
                let k = self.def.key_size as usize;
                self.keys[slot * k..(slot + 1) * k].copy_from_slice(key);
                self.state[slot] = FULL;
                self.len += 1;
                Ok(self.value_offset(slot))
            }
        }
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), MapError> {
        if key.len() != self.def.key_size as usize {
            return Err(MapError::Invalid);
        }
        let slot = self.probe(key).map_err(|_| MapError::NotFound)?;
        self.state[slot] = TOMBSTONE;
        self.len -= 1;
        Ok(())
    }

    fn values(&self) -> &[u8] {
        &self.values
    }

    fn values_mut(&mut self) -> &mut [u8] {
        &mut self.values
    }
}
