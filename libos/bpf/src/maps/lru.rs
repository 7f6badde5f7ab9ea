//! `BPF_MAP_TYPE_LRU_HASH`: a fixed-capacity hash map that evicts its
//! least recently used entry to make room.
//!
//! Storage is pre-allocated: a pool of `max_entries` nodes, each on one
//! bucket chain (buckets: the next power of two at or above
//! `max_entries`) and on one doubly-linked recency list. A program's
//! lookup or update moves the entry to the front; an insert into a full
//! map unlinks the entry at the back and reuses its node. Every operation
//! is O(1) (expected, for the chain walk) and none allocates. Host lookups
//! ([`Map::lookup`], [`Map::get`]) do not change recency;
//! [`LruHashMap::touch`] does.

use alloc::vec;
use alloc::vec::Vec;

use super::hash::hash;
use super::{Map, MapDef, MapError, MapKind, UpdateFlags, storage_bytes};

const NIL: u32 = u32::MAX;

/// An LRU hash map.
#[derive(Debug)]
pub struct LruHashMap {
    def: MapDef,
    buckets: Vec<u32>,
    /// Bucket chain link of each node (free list link when unused).
    chain: Vec<u32>,
    /// Recency list links: `newer` points towards the head.
    newer: Vec<u32>,
    older: Vec<u32>,
    keys: Vec<u8>,
    values: Vec<u8>,
    /// Most recently used node.
    head: u32,
    /// Least recently used node.
    tail: u32,
    free: u32,
    len: usize,
    evictions: u64,
}

impl LruHashMap {
    /// An LRU map of `max_entries` entries.
    ///
    /// # Errors
    /// [`MapError::Invalid`] for zero or oversized key or value sizes or no
    /// entries, [`MapError::TooLarge`] if the storage exceeds 4 GiB.
    pub fn new(key_size: u32, value_size: u32, max_entries: u32) -> Result<LruHashMap, MapError> {
        let def = MapDef {
            kind: MapKind::LruHash,
            key_size,
            value_size,
            max_entries,
        };
        if max_entries == 0 || max_entries == NIL {
            return Err(MapError::Invalid);
        }
        let n = max_entries as usize;
        let bytes = storage_bytes(&def, n)?;
        let buckets = n.checked_next_power_of_two().ok_or(MapError::TooLarge)?;
        // The free list threads every node through `chain`.
        let chain = (1..=n as u32)
            .map(|i| if i as usize == n { NIL } else { i })
            .collect();
        Ok(LruHashMap {
            def,
            buckets: vec![NIL; buckets],
            chain,
            newer: vec![NIL; n],
            older: vec![NIL; n],
            keys: vec![0; n * key_size as usize],
            values: vec![0; bytes],
            head: NIL,
            tail: NIL,
            free: 0,
            len: 0,
            evictions: 0,
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

    /// Entries evicted to make room so far.
    #[must_use]
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Marks `key` as just used (as a program's lookup does); returns
    /// whether it is present.
    pub fn touch(&mut self, key: &[u8]) -> bool {
        self.lookup_on(key, 0).is_some()
    }

    /// Keys from most to least recently used.
    pub fn keys_by_recency(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let k = self.def.key_size as usize;
        let mut n = self.head;
        core::iter::from_fn(move || {
            if n == NIL {
                return None;
            }
            let i = n as usize;
            n = self.older[i];
            Some(&self.keys[i * k..(i + 1) * k])
        })
    }

    fn bucket(&self, key: &[u8]) -> usize {
        hash(key) as usize & (self.buckets.len() - 1)
    }

    fn key_at(&self, node: u32) -> &[u8] {
        let k = self.def.key_size as usize;
        &self.keys[node as usize * k..(node as usize + 1) * k]
    }

    fn find(&self, key: &[u8]) -> Option<u32> {
        if key.len() != self.def.key_size as usize {
            return None;
        }
        let mut n = self.buckets[self.bucket(key)];
        while n != NIL {
            if self.key_at(n) == key {
                return Some(n);
            }
            n = self.chain[n as usize];
        }
        None
    }

    fn unlink_recency(&mut self, n: u32) {
        let (a, b) = (self.newer[n as usize], self.older[n as usize]);
        if a == NIL {
            self.head = b;
        } else {
            self.older[a as usize] = b;
        }
        if b == NIL {
            self.tail = a;
        } else {
            self.newer[b as usize] = a;
        }
    }

    fn push_front(&mut self, n: u32) {
        self.newer[n as usize] = NIL;
        self.older[n as usize] = self.head;
        if self.head != NIL {
            self.newer[self.head as usize] = n;
        }
        self.head = n;
        if self.tail == NIL {
            self.tail = n;
        }
    }

    fn refresh(&mut self, n: u32) {
        if self.head != n {
            self.unlink_recency(n);
            self.push_front(n);
        }
    }

    /// Removes node `n` from its bucket chain and the recency list and
    /// returns it to the free list.
    fn remove(&mut self, n: u32) {
        let b = self.bucket(self.key_at(n));
        let mut prev = NIL;
        let mut cur = self.buckets[b];
        while cur != n {
            prev = cur;
            cur = self.chain[cur as usize];
        }
        let after = self.chain[n as usize];
        if prev == NIL {
            self.buckets[b] = after;
        } else {
            self.chain[prev as usize] = after;
        }
        self.unlink_recency(n);
        self.chain[n as usize] = self.free;
        self.free = n;
        self.len -= 1;
    }

    fn offset(&self, n: u32) -> usize {
        n as usize * self.def.value_size as usize
    }
}

impl Map for LruHashMap {
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
        self.find(key).map(|n| self.offset(n))
    }

    fn lookup_on(&mut self, key: &[u8], _cpu: u32) -> Option<usize> {
        let n = self.find(key)?;
        self.refresh(n);
        Some(self.offset(n))
    }

    fn prepare_update(&mut self, key: &[u8], flags: UpdateFlags) -> Result<usize, MapError> {
        if key.len() != self.def.key_size as usize {
            return Err(MapError::Invalid);
        }
        match (self.find(key), flags) {
            (Some(_), UpdateFlags::NoExist) => return Err(MapError::Exists),
            (Some(n), _) => {
                self.refresh(n);
                return Ok(self.offset(n));
            }
            (None, UpdateFlags::Exist) => return Err(MapError::NotFound),
            (None, _) => {}
        }
        if self.free == NIL {
            let victim = self.tail;
            self.remove(victim);
            self.evictions += 1;
        }
        let n = self.free;
        self.free = self.chain[n as usize];
        let k = self.def.key_size as usize;
        self.keys[n as usize * k..(n as usize + 1) * k].copy_from_slice(key);
        let b = self.bucket(key);
        self.chain[n as usize] = self.buckets[b];
        self.buckets[b] = n;
        self.push_front(n);
        self.len += 1;
        Ok(self.offset(n))
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), MapError> {
        if key.len() != self.def.key_size as usize {
            return Err(MapError::Invalid);
        }
        let n = self.find(key).ok_or(MapError::NotFound)?;
        self.remove(n);
        Ok(())
    }

    fn values(&self) -> &[u8] {
        &self.values
    }

    fn values_mut(&mut self) -> &mut [u8] {
        &mut self.values
    }
}
