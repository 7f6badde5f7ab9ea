//! A time-series map for sensor samples (private type
//! [`MapKind::TimeSeries`], `0x8000_0001`).
//!
//! A sample is a `u64` timestamp (the key) and an `i64` value (the 8-byte
//! value). The map holds at most `max_entries` samples in a pre-allocated
//! ring, ordered by timestamp: appending a sample *older* than the newest
//! is rejected with [`MapError::OutOfOrder`] (equal timestamps are kept,
//! in arrival order), and appending to a full map evicts the oldest
//! sample. Window queries select samples with timestamps in `[t0, t1)` by
//! binary search, so they cost O(log n) plus the window's length.
//!
//! From programs:
//!
//! * `map_update_elem(map, &ts, &value, flags)`: with `BPF_ANY`, replaces
//!   the value of an existing sample with timestamp `ts` or appends one;
//!   `BPF_NOEXIST` only appends; `BPF_EXIST` only replaces.
//! * `map_lookup_elem(map, &ts)`: the first sample with timestamp `ts`.
//! * [`TS_PUSH`](super::TS_PUSH) (helper 2048) `(map, ts, value)`: appends;
//!   returns 0 or a negative errno (`-ERANGE` when out of order).
//! * [`TS_WINDOW`](super::TS_WINDOW) (helper 2049)
//!   `(map, t0, t1, out, out_size)`: writes the first `out_size` (at most
//!   32) bytes of the window's [`WindowStats`] (four little-endian `u64`s:
//!   count, min, max, mean) to `out` and returns the count.
//!
//! For C programs, the legacy definition is
//!
//! ```c
//! struct bpf_map_def SEC("maps") samples = {
//!     .type = 0x80000001,   /* EXO_MAP_TYPE_TIMESERIES */
//!     .key_size = 8,        /* u64 timestamp */
//!     .value_size = 8,      /* s64 sample */
//!     .max_entries = 1024,  /* capacity */
//! };
//! static long (*exo_ts_push)(void *map, u64 ts, s64 value) = (void *)2048;
//! static long (*exo_ts_window)(void *map, u64 t0, u64 t1, void *out, u32 size) = (void *)2049;
//! ```

use alloc::vec;
use alloc::vec::Vec;

use super::{Map, MapDef, MapError, MapKind, UpdateFlags};

/// Bytes of [`WindowStats`] as the window helper writes it.
pub const WINDOW_STATS_SIZE: usize = 32;

/// Count, minimum, maximum and mean of a window's sample values; all zero
/// for an empty window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowStats {
    /// Samples in the window.
    pub count: u64,
    /// Smallest value.
    pub min: i64,
    /// Largest value.
    pub max: i64,
    /// Mean value, rounded towards zero (computed without overflow).
    pub mean: i64,
}

impl WindowStats {
    /// The little-endian layout the window helper writes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; WINDOW_STATS_SIZE] {
        let mut out = [0u8; WINDOW_STATS_SIZE];
        out[0..8].copy_from_slice(&self.count.to_le_bytes());
        out[8..16].copy_from_slice(&self.min.to_le_bytes());
        out[16..24].copy_from_slice(&self.max.to_le_bytes());
        out[24..32].copy_from_slice(&self.mean.to_le_bytes());
        out
    }
}

/// A fixed-capacity, timestamp-ordered series of samples.
#[derive(Debug)]
pub struct TimeSeriesMap {
    def: MapDef,
    stamps: Vec<u64>,
    /// Sample values, 8 bytes each, at the same ring index as the stamps.
    values: Vec<u8>,
    /// Ring index of the oldest sample.
    head: usize,
    len: usize,
    evicted: u64,
}

impl TimeSeriesMap {
    /// A series of at most `capacity` samples.
    ///
    /// # Errors
    /// [`MapError::Invalid`] for no capacity, [`MapError::TooLarge`] if the
    /// storage exceeds 4 GiB.
    pub fn new(capacity: u32) -> Result<TimeSeriesMap, MapError> {
        if capacity == 0 {
            return Err(MapError::Invalid);
        }
        if capacity as usize > u32::MAX as usize / 8 {
            return Err(MapError::TooLarge);
        }
        Ok(TimeSeriesMap {
            def: MapDef {
                kind: MapKind::TimeSeries,
                key_size: 8,
                value_size: 8,
                max_entries: capacity,
            },
            stamps: vec![0; capacity as usize],
            values: vec![0; capacity as usize * 8],
            head: 0,
            len: 0,
            evicted: 0,
        })
    }

    /// Samples held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no samples.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Samples evicted to make room so far.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn cap(&self) -> usize {
        self.stamps.len()
    }

    /// Ring index of the `i`-th oldest sample.
    fn at(&self, i: usize) -> usize {
        (self.head + i) % self.cap()
    }

    fn value_at(&self, slot: usize) -> i64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.values[slot * 8..slot * 8 + 8]);
        i64::from_le_bytes(b)
    }

    /// The oldest and newest timestamps.
    #[must_use]
    pub fn span(&self) -> Option<(u64, u64)> {
        (self.len > 0).then(|| (self.stamps[self.head], self.stamps[self.at(self.len - 1)]))
    }

    /// Position (0 = oldest) of the first sample with timestamp `>= t`.
    fn lower_bound(&self, t: u64) -> usize {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.stamps[self.at(mid)] < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Appends a sample slot for timestamp `t` (evicting the oldest if
    /// full) and returns its ring index.
    fn append(&mut self, t: u64) -> Result<usize, MapError> {
        if let Some((_, newest)) = self.span()
            && t < newest
        {
            return Err(MapError::OutOfOrder);
        }
        if self.len == self.cap() {
            self.head = (self.head + 1) % self.cap();
            self.len -= 1;
            self.evicted += 1;
        }
        let slot = self.at(self.len);
        self.stamps[slot] = t;
        self.len += 1;
        Ok(slot)
    }

    /// Appends sample `(t, value)`.
    ///
    /// # Errors
    /// [`MapError::OutOfOrder`] if `t` is older than the newest sample.
    pub fn push(&mut self, t: u64, value: i64) -> Result<(), MapError> {
        let slot = self.append(t)?;
        self.values[slot * 8..slot * 8 + 8].copy_from_slice(&value.to_le_bytes());
        Ok(())
    }

    /// Samples with timestamps in `[t0, t1)`, oldest first.
    pub fn window(&self, t0: u64, t1: u64) -> impl Iterator<Item = (u64, i64)> + '_ {
        let start = self.lower_bound(t0);
        let end = self.lower_bound(t1).max(start);
        (start..end).map(move |i| {
            let slot = self.at(i);
            (self.stamps[slot], self.value_at(slot))
        })
    }

    /// Count, min, max and mean of the samples in `[t0, t1)`.
    #[must_use]
    pub fn stats(&self, t0: u64, t1: u64) -> WindowStats {
        let mut count = 0u64;
        let (mut min, mut max, mut sum) = (i64::MAX, i64::MIN, 0i128);
        for (_, v) in self.window(t0, t1) {
            count += 1;
            min = min.min(v);
            max = max.max(v);
            sum += i128::from(v);
        }
        if count == 0 {
            return WindowStats::default();
        }
        WindowStats {
            count,
            min,
            max,
            mean: (sum / i128::from(count)) as i64,
        }
    }

    fn key(key: &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(key.try_into().ok()?))
    }
}

impl Map for TimeSeriesMap {
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
        let t = TimeSeriesMap::key(key)?;
        let i = self.lower_bound(t);
        (i < self.len && self.stamps[self.at(i)] == t).then(|| self.at(i) * 8)
    }

    fn prepare_update(&mut self, key: &[u8], flags: UpdateFlags) -> Result<usize, MapError> {
        let t = TimeSeriesMap::key(key).ok_or(MapError::Invalid)?;
        match (self.lookup(key), flags) {
            (Some(_), UpdateFlags::NoExist) => Err(MapError::Exists),
            (Some(offset), _) => Ok(offset),
            (None, UpdateFlags::Exist) => Err(MapError::NotFound),
            (None, _) => Ok(self.append(t)? * 8),
        }
    }

    fn delete(&mut self, _key: &[u8]) -> Result<(), MapError> {
        Err(MapError::Invalid)
    }

    fn values(&self) -> &[u8] {
        &self.values
    }

    fn values_mut(&mut self) -> &mut [u8] {
        &mut self.values
    }
}
