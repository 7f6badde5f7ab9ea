//! `BPF_MAP_TYPE_HASH`, in two layouts: pre-allocated open addressing
//! (always available; the only one in the `embedded` profile) and an
//! elastic chained table that grows on demand (the default outside
//! `embedded`). See the allocation rule in [`crate::maps`].
//!
//! *Open addressing*: the table has a power-of-two number of slots, at
//! least twice `max_entries`, so probes stay short and an insert never
//! fails for want of a free slot while the entry count is within
//! `max_entries`. Deleting leaves a tombstone; a slot's value bytes stay
//! where they are, so a pointer a program got from a lookup stays a valid
//! (if stale) address, as with Linux's RCU-freed elements.
//!
//! *Chained*: entries are nodes in a pool that grows by one node per new
//! entry (reusing deleted nodes first), hashed into a power-of-two bucket
//! array that doubles when the load factor passes 1. A node's value stays
//! at the same offset for the node's life, so growth never invalidates a
//! program's pointer.

use alloc::vec;
use alloc::vec::Vec;

use super::{Map, MapDef, MapError, MapKind, UpdateFlags, storage_bytes};

const EMPTY: u8 = 0;
const FULL: u8 = 1;
const TOMBSTONE: u8 = 2;
/// End of a chain / free list.
#[cfg(not(feature = "embedded"))]
const NIL: u32 = u32::MAX;

/// FNV-1a: simple, and good enough for the short keys maps hold.
pub(crate) fn hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ (h >> 29)
}

#[derive(Debug)]
struct Open {
    mask: usize,
    state: Vec<u8>,
    keys: Vec<u8>,
}

#[cfg(not(feature = "embedded"))]
#[derive(Debug)]
struct Chained {
    buckets: Vec<u32>,
    /// Per node: next node in its chain (or in the free list), and whether
    /// it holds an entry.
    next: Vec<u32>,
    live: Vec<bool>,
    keys: Vec<u8>,
    free: u32,
}

#[derive(Debug)]
enum Table {
    Open(Open),
    #[cfg(not(feature = "embedded"))]
    Chained(Chained),
}

/// A hash map with fixed-size keys and values.
#[derive(Debug)]
pub struct HashMap {
    def: MapDef,
    len: usize,
    table: Table,
    values: Vec<u8>,
}

impl HashMap {
    /// A hash map of up to `max_entries` entries, laid out as the build's
    /// profile prefers: [`HashMap::preallocated`] in `embedded`, otherwise
    /// [`HashMap::elastic`].
    ///
    /// # Errors
    /// [`MapError::Invalid`] for zero or oversized key or value sizes or no
    /// entries, [`MapError::TooLarge`] if the storage exceeds 4 GiB.
    pub fn new(key_size: u32, value_size: u32, max_entries: u32) -> Result<HashMap, MapError> {
        #[cfg(feature = "embedded")]
        return HashMap::preallocated(key_size, value_size, max_entries);
        #[cfg(not(feature = "embedded"))]
        return HashMap::elastic(key_size, value_size, max_entries);
    }

    /// A hash map whose whole storage is allocated now (open addressing):
    /// no later operation allocates.
    ///
    /// # Errors
    /// As [`HashMap::new`].
    pub fn preallocated(
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Result<HashMap, MapError> {
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
            len: 0,
            table: Table::Open(Open {
                mask: slots - 1,
                state: vec![EMPTY; slots],
                keys: vec![0; slots * key_size as usize],
            }),
            values: vec![0; bytes],
        })
    }

    /// A hash map that starts small and grows (chained buckets) as entries
    /// are added, up to `max_entries`. Inserting a new key may allocate.
    ///
    /// # Errors
    /// As [`HashMap::new`].
    #[cfg(not(feature = "embedded"))]
    pub fn elastic(key_size: u32, value_size: u32, max_entries: u32) -> Result<HashMap, MapError> {
        let def = MapDef {
            kind: MapKind::Hash,
            key_size,
            value_size,
            max_entries,
        };
        if max_entries == 0 {
            return Err(MapError::Invalid);
        }
        // Check the largest size now, so growth cannot fail on it later.
        storage_bytes(&def, max_entries as usize)?;
        Ok(HashMap {
            def,
            len: 0,
            table: Table::Chained(Chained {
                buckets: vec![NIL; 8],
                next: Vec::new(),
                live: Vec::new(),
                keys: Vec::new(),
                free: NIL,
            }),
            values: Vec::new(),
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

    /// Whether the storage grows on demand ([`HashMap::elastic`]).
    #[must_use]
    pub fn is_elastic(&self) -> bool {
        !matches!(self.table, Table::Open(_))
    }

    /// Bytes of value storage currently allocated.
    #[must_use]
    pub fn value_storage(&self) -> usize {
        self.values.len()
    }

    fn find(&self, key: &[u8]) -> Option<usize> {
        let k = self.def.key_size as usize;
        match &self.table {
            Table::Open(t) => t.probe(key, k).ok(),
            #[cfg(not(feature = "embedded"))]
            Table::Chained(t) => t.find(key, k).map(|n| n as usize),
        }
    }

    fn value_offset(&self, slot: usize) -> usize {
        slot * self.def.value_size as usize
    }
}

impl Open {
    fn key_at(&self, slot: usize, k: usize) -> &[u8] {
        &self.keys[slot * k..(slot + 1) * k]
    }

    /// The slot holding `key`, or else the first free slot on its probe
    /// path (`Err`), if any.
    fn probe(&self, key: &[u8], k: usize) -> Result<usize, Option<usize>> {
        let mut slot = hash(key) as usize & self.mask;
        let mut free = None;
        for _ in 0..=self.mask {
            match self.state[slot] {
                EMPTY => return Err(free.or(Some(slot))),
                FULL if self.key_at(slot, k) == key => return Ok(slot),
                TOMBSTONE if free.is_none() => free = Some(slot),
                _ => {}
            }
            slot = (slot + 1) & self.mask;
        }
        Err(free)
    }
}

#[cfg(not(feature = "embedded"))]
impl Chained {
    fn bucket(&self, key: &[u8]) -> usize {
        hash(key) as usize & (self.buckets.len() - 1)
    }

    fn key_at(&self, node: u32, k: usize) -> &[u8] {
        let n = node as usize;
        &self.keys[n * k..(n + 1) * k]
    }

    fn find(&self, key: &[u8], k: usize) -> Option<u32> {
        let mut n = self.buckets[self.bucket(key)];
        while n != NIL {
            if self.key_at(n, k) == key {
                return Some(n);
            }
            n = self.next[n as usize];
        }
        None
    }

    /// Doubles the bucket array and rehashes every live node.
    fn grow(&mut self, k: usize) {
        let size = self.buckets.len() * 2;
        self.buckets = vec![NIL; size];
        for n in 0..self.live.len() {
            if self.live[n] {
                let b = hash(&self.keys[n * k..(n + 1) * k]) as usize & (size - 1);
                self.next[n] = self.buckets[b];
                self.buckets[b] = n as u32;
            }
        }
    }
}

impl Map for HashMap {
    fn def(&self) -> MapDef {
        self.def
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn core::any::Any {
        self
    }

    fn lookup(&self, key: &[u8]) -> Option<usize> {
        if key.len() != self.def.key_size as usize {
            return None;
        }
        self.find(key).map(|slot| self.value_offset(slot))
    }

    fn prepare_update(&mut self, key: &[u8], flags: UpdateFlags) -> Result<usize, MapError> {
        let k = self.def.key_size as usize;
        if key.len() != k {
            return Err(MapError::Invalid);
        }
        let found = self.find(key);
        match (found, flags) {
            (Some(_), UpdateFlags::NoExist) => return Err(MapError::Exists),
            (Some(slot), _) => return Ok(self.value_offset(slot)),
            (None, UpdateFlags::Exist) => return Err(MapError::NotFound),
            (None, _) => {}
        }
        if self.len >= self.def.max_entries as usize {
            return Err(MapError::Full);
        }
        let value_size = self.def.value_size as usize;
        let slot = match &mut self.table {
            Table::Open(t) => {
                let slot = t.probe(key, k).err().flatten().ok_or(MapError::Full)?;
                t.keys[slot * k..(slot + 1) * k].copy_from_slice(key);
                t.state[slot] = FULL;
                slot
            }
            #[cfg(not(feature = "embedded"))]
            Table::Chained(t) => {
                if self.len >= t.buckets.len() {
                    t.grow(k);
                }
                let node = if t.free == NIL {
                    let n = t.live.len();
                    t.next.push(NIL);
                    t.live.push(false);
                    t.keys.resize((n + 1) * k, 0);
                    self.values.resize((n + 1) * value_size, 0);
                    n as u32
                } else {
                    let n = t.free;
                    t.free = t.next[n as usize];
                    n
                };
                let n = node as usize;
                t.keys[n * k..(n + 1) * k].copy_from_slice(key);
                t.live[n] = true;
                let b = t.bucket(key);
                t.next[n] = t.buckets[b];
                t.buckets[b] = node;
                n
            }
        };
        self.len += 1;
        Ok(slot * value_size)
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), MapError> {
        let k = self.def.key_size as usize;
        if key.len() != k {
            return Err(MapError::Invalid);
        }
        match &mut self.table {
            Table::Open(t) => {
                let slot = t.probe(key, k).map_err(|_| MapError::NotFound)?;
                t.state[slot] = TOMBSTONE;
            }
            #[cfg(not(feature = "embedded"))]
            Table::Chained(t) => {
                let b = t.bucket(key);
                let mut prev = NIL;
                let mut n = t.buckets[b];
                while n != NIL && t.key_at(n, k) != key {
                    prev = n;
                    n = t.next[n as usize];
                }
                if n == NIL {
                    return Err(MapError::NotFound);
                }
                let after = t.next[n as usize];
                if prev == NIL {
                    t.buckets[b] = after;
                } else {
                    t.next[prev as usize] = after;
                }
                t.live[n as usize] = false;
                t.next[n as usize] = t.free;
                t.free = n;
            }
        }
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
