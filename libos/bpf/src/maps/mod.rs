//! Maps: key/value stores shared between programs and the embedder.
//!
//! A map owns one flat byte buffer holding all its values; a program sees a
//! value as a window of that buffer at a virtual address (see
//! [`crate::memory`]), so `bpf_map_lookup_elem` can hand out a pointer
//! without `unsafe` and every access through it stays bounds-checked.
//! Storage is allocated once, when the map is created: an update never
//! allocates, which keeps a program's run time free of the allocator.
//!
//! Maps are addressed by their index in a [`MapSet`]; that index is the
//! "file descriptor" of `lddw rX, map` (both the fd and the index pseudo
//! forms name it).
//!
//! # Kinds
//!
//! | Type | `bpf_map_type` | Helpers |
//! |------|----------------|---------|
//! | [`HashMap`] | 1 `HASH` | 1, 2, 3 |
//! | [`ArrayMap`] | 2 `ARRAY` | 1, 2 |
//! | [`PerCpuHashMap`] | 5 `PERCPU_HASH` | 1, 2, 3 (the calling CPU's slot) |
//! | [`PerCpuArrayMap`] | 6 `PERCPU_ARRAY` | 1, 2 (the calling CPU's slot) |
//! | [`LruHashMap`] | 9 `LRU_HASH` | 1, 2, 3 |
//! | [`RingBufMap`] | 27 `RINGBUF` | 130–134 |
//! | [`TimeSeriesMap`] | `0x8000_0001` (private) | 1, 2, [`TS_PUSH`], [`TS_WINDOW`] |
//!
//! The calling CPU is [`crate::Input::cpu`]; helper 8
//! (`get_smp_processor_id`) returns it.
//!
//! # Allocation rule (elastic and pre-allocated maps)
//!
//! In the `embedded` profile every map allocates all of its storage when
//! it is created (hash maps use open addressing in a table of twice
//! `max_entries` slots), so running programs never allocates. Without
//! `embedded` (the `full` profile), [`HashMap::new`] makes an *elastic*
//! table instead: chained buckets whose node pool and bucket array grow on
//! demand up to `max_entries`, so a large but sparse map costs memory in
//! proportion to its entries. Growth moves the value buffer, but programs
//! address values by (map, offset), which growth keeps stable, so a pointer
//! from `map_lookup_elem` stays valid. [`HashMap::preallocated`] gives the
//! embedded behaviour in either profile. All other map kinds are always
//! pre-allocated.

mod array;
mod hash;
pub(crate) mod helpers;
mod lru;
mod percpu;
pub mod ringbuf;
pub mod timeseries;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::Any;

pub use array::ArrayMap;
pub use hash::HashMap;
pub use helpers::{
    GET_SMP_PROCESSOR_ID, MAP_DELETE_ELEM, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, RINGBUF_DISCARD,
    RINGBUF_OUTPUT, RINGBUF_QUERY, RINGBUF_RESERVE, RINGBUF_SUBMIT, TS_PUSH, TS_WINDOW,
};
pub use lru::LruHashMap;
pub use percpu::{PerCpuArrayMap, PerCpuHashMap};
pub use ringbuf::{RingBuf, RingBufConsumer, RingBufMap};
pub use timeseries::{TimeSeriesMap, WindowStats};

/// Largest key a helper copies out of program memory.
pub const MAX_KEY_SIZE: usize = 256;

/// Map types, numbered as Linux's `bpf_map_type` (private types have the
/// top bit set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MapKind {
    /// `BPF_MAP_TYPE_HASH`.
    Hash = 1,
    /// `BPF_MAP_TYPE_ARRAY`.
    Array = 2,
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    PerCpuHash = 5,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    PerCpuArray = 6,
    /// `BPF_MAP_TYPE_LRU_HASH`.
    LruHash = 9,
    /// `BPF_MAP_TYPE_RINGBUF`.
    RingBuf = 27,
    /// The private time-series map ([`TimeSeriesMap`]).
    TimeSeries = 0x8000_0001,
}

impl MapKind {
    /// The kind numbered `raw`, if this runtime has it.
    #[must_use]
    pub const fn from_raw(raw: u32) -> Option<MapKind> {
        Some(match raw {
            1 => MapKind::Hash,
            2 => MapKind::Array,
            5 => MapKind::PerCpuHash,
            6 => MapKind::PerCpuArray,
            9 => MapKind::LruHash,
            27 => MapKind::RingBuf,
            0x8000_0001 => MapKind::TimeSeries,
            _ => return None,
        })
    }

    /// Whether programs reach it through the key/value helpers (1, 2, 3);
    /// a ring buffer has its own.
    #[must_use]
    pub const fn has_keys(self) -> bool {
        !matches!(self, MapKind::RingBuf)
    }
}

/// A map's shape, which the verifier uses to type pointers into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// The type.
    pub kind: MapKind,
    /// Bytes in a key.
    pub key_size: u32,
    /// Bytes in a value.
    pub value_size: u32,
    /// Most entries.
    pub max_entries: u32,
}

/// `map_update_elem` flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateFlags {
    /// `BPF_ANY`: create or replace.
    Any,
    /// `BPF_NOEXIST`: create only.
    NoExist,
    /// `BPF_EXIST`: replace only.
    Exist,
}

impl UpdateFlags {
    /// The flags named by a helper argument.
    #[must_use]
    pub const fn from_raw(flags: u64) -> Option<UpdateFlags> {
        match flags {
            0 => Some(UpdateFlags::Any),
            1 => Some(UpdateFlags::NoExist),
            2 => Some(UpdateFlags::Exist),
            _ => None,
        }
    }
}

/// Why a map operation failed; [`MapError::errno`] is what helpers return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// No entry for the key.
    #[error("no such entry")]
    NotFound,
    /// `NoExist` and the key is present.
    #[error("entry exists")]
    Exists,
    /// The map is full.
    #[error("map is full")]
    Full,
    /// Bad key or value size, index out of range, bad flags, or an
    /// operation the map type does not support.
    #[error("invalid argument")]
    Invalid,
    /// The map's storage would not fit in the address space.
    #[error("map too large")]
    TooLarge,
    /// A time-series sample older than the newest one.
    #[error("sample older than the newest")]
    OutOfOrder,
    /// No room in a ring buffer.
    #[error("no space")]
    NoSpace,
}

impl MapError {
    /// The negative errno Linux helpers return for this error.
    #[must_use]
    pub const fn errno(self) -> i64 {
        match self {
            MapError::NotFound => -2,
            MapError::Exists => -17,
            MapError::Full => -7,
            MapError::Invalid | MapError::TooLarge => -22,
            MapError::OutOfOrder => -34,
            MapError::NoSpace => -28,
        }
    }
}

/// A map. Values live in one buffer, [`Map::values`], at the offsets that
/// [`Map::lookup`] and [`Map::prepare_update`] return.
pub trait Map: core::fmt::Debug + Send + Any {
    /// The map's shape.
    fn def(&self) -> MapDef;

    /// The map as [`Any`], to reach its own API (see [`MapSet::get_as`]).
    fn as_any(&self) -> &dyn Any;

    /// The map as [`Any`], for writing.
    fn as_any_mut(&mut self) -> &mut dyn Any;

    /// What `map_lookup_elem` does on CPU `cpu`: like [`Map::lookup`], but
    /// a per-CPU map picks that CPU's slot and an LRU map refreshes the
    /// entry's recency.
    fn lookup_on(&mut self, key: &[u8], cpu: u32) -> Option<usize> {
        let _ = cpu;
        self.lookup(key)
    }

    /// What `map_update_elem` does on CPU `cpu`: like
    /// [`Map::prepare_update`], but a per-CPU map picks that CPU's slot.
    ///
    /// # Errors
    /// As [`Map::prepare_update`].
    fn prepare_update_on(
        &mut self,
        key: &[u8],
        flags: UpdateFlags,
        cpu: u32,
    ) -> Result<usize, MapError> {
        let _ = cpu;
        self.prepare_update(key, flags)
    }

    /// Offset in [`Map::values`] of the value for `key`, if present.
    fn lookup(&self, key: &[u8]) -> Option<usize>;

    /// Finds or creates the entry for `key` as `flags` allow and returns
    /// the offset of its value, for the caller to overwrite.
    ///
    /// # Errors
    /// [`MapError`] per `flags`, a full map, or a bad key.
    fn prepare_update(&mut self, key: &[u8], flags: UpdateFlags) -> Result<usize, MapError>;

    /// Removes the entry for `key`.
    ///
    /// # Errors
    /// [`MapError::NotFound`], or [`MapError::Invalid`] if the map type
    /// cannot delete.
    fn delete(&mut self, key: &[u8]) -> Result<(), MapError>;

    /// All value storage.
    fn values(&self) -> &[u8];

    /// All value storage, for writing.
    fn values_mut(&mut self) -> &mut [u8];

    /// Called when a run that could use this map stops with an error:
    /// releases whatever the run still held. A ring buffer discards its
    /// outstanding reservations, so a record reserved by a program that
    /// then faulted or ran out of budget cannot block the consumer.
    fn abort_run(&mut self) {}

    /// Offset of the value a `lddw rX, map_value` pseudo instruction
    /// addresses, if the map supports direct value access.
    fn direct_value(&self) -> Option<usize> {
        None
    }

    /// Sets the value for `key` to `value`.
    ///
    /// # Errors
    /// As [`Map::prepare_update`], or [`MapError::Invalid`] if `value` has
    /// the wrong size.
    fn update(&mut self, key: &[u8], value: &[u8], flags: UpdateFlags) -> Result<(), MapError> {
        if value.len() != self.def().value_size as usize {
            return Err(MapError::Invalid);
        }
        let offset = self.prepare_update(key, flags)?;
        self.values_mut()[offset..offset + value.len()].copy_from_slice(value);
        Ok(())
    }

    /// A copy of the value for `key`, if present.
    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let offset = self.lookup(key)?;
        self.values()
            .get(offset..offset + self.def().value_size as usize)
    }
}

/// The maps a program may use, by index.
#[derive(Debug, Default)]
pub struct MapSet {
    maps: Vec<Box<dyn Map>>,
}

impl MapSet {
    /// An empty set.
    #[must_use]
    pub const fn new() -> MapSet {
        MapSet { maps: Vec::new() }
    }

    /// Adds `map` and returns its index (its "fd" in bytecode).
    pub fn insert(&mut self, map: Box<dyn Map>) -> u32 {
        self.maps.push(map);
        (self.maps.len() - 1) as u32
    }

    /// Map `index`.
    #[must_use]
    pub fn get(&self, index: u32) -> Option<&dyn Map> {
        self.maps.get(index as usize).map(|m| &**m)
    }

    /// Map `index`, for updating.
    pub fn get_mut(&mut self, index: u32) -> Option<&mut (dyn Map + 'static)> {
        self.maps.get_mut(index as usize).map(|m| &mut **m)
    }

    /// Map `index` as its concrete type `M`, for the type's own API (a
    /// ring buffer's consumer, a time series' window queries, per-CPU
    /// values).
    #[must_use]
    pub fn get_as<M: Map>(&self, index: u32) -> Option<&M> {
        self.get(index)?.as_any().downcast_ref()
    }

    /// Map `index` as its concrete type `M`, for writing.
    pub fn get_as_mut<M: Map>(&mut self, index: u32) -> Option<&mut M> {
        self.get_mut(index)?.as_any_mut().downcast_mut()
    }

    /// The shape of map `index`.
    #[must_use]
    pub fn def(&self, index: u32) -> Option<MapDef> {
        self.get(index).map(|m| m.def())
    }

    /// Tells every map a run stopped with an error ([`Map::abort_run`]);
    /// the VM does this itself.
    pub fn abort_run(&mut self) {
        for m in &mut self.maps {
            m.abort_run();
        }
    }

    /// Number of maps.
    #[must_use]
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// Whether there are no maps.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }
}

/// Checks a definition's sizes and returns the bytes of value storage.
fn storage_bytes(def: &MapDef, entries: usize) -> Result<usize, MapError> {
    if def.key_size == 0 || def.key_size as usize > MAX_KEY_SIZE || def.value_size == 0 {
        return Err(MapError::Invalid);
    }
    let bytes = (def.value_size as usize)
        .checked_mul(entries)
        .ok_or(MapError::TooLarge)?;
    if bytes > u32::MAX as usize {
        return Err(MapError::TooLarge);
    }
    Ok(bytes)
}
