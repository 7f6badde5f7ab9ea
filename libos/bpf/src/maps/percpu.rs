//! `BPF_MAP_TYPE_PERCPU_ARRAY` and `BPF_MAP_TYPE_PERCPU_HASH`: one value
//! slot per CPU for every entry.
//!
//! The CPU count is fixed when the map is created. An entry's slots are
//! stored together, CPU 0 first, so the entry occupies
//! `value_size * cpus` bytes of [`Map::values`]. Programs only ever see the
//! slot of the CPU they run on ([`crate::Input::cpu`]): `map_lookup_elem`
//! and `map_update_elem` pick it, so no two CPUs write the same bytes. The
//! host reads every CPU's value with `get_all`/`get_cpu`; the
//! [`Map`] trait's CPU-less [`Map::lookup`] and [`Map::get`] mean CPU 0,
//! and [`Map::update`] takes either one value (stored on every CPU) or
//! `cpus` values back to back, as Linux's user-space API does.

use alloc::vec;
use alloc::vec::Vec;

use super::{HashMap, Map, MapDef, MapError, MapKind, UpdateFlags, storage_bytes};

fn stride(value_size: u32, cpus: u32) -> Result<u32, MapError> {
    if cpus == 0 || value_size == 0 {
        return Err(MapError::Invalid);
    }
    value_size.checked_mul(cpus).ok_or(MapError::TooLarge)
}

fn check_cpu(cpu: u32, cpus: u32) -> Option<usize> {
    (cpu < cpus).then_some(cpu as usize)
}

/// Writes `value` into the `cpus` slots at `offset`: one value for all
/// CPUs, or one per CPU.
fn store_all(
    values: &mut [u8],
    offset: usize,
    value: &[u8],
    value_size: usize,
    cpus: usize,
) -> Result<(), MapError> {
    let slots = &mut values[offset..offset + value_size * cpus];
    if value.len() == value_size {
        for slot in slots.chunks_exact_mut(value_size) {
            slot.copy_from_slice(value);
        }
    } else if value.len() == value_size * cpus {
        slots.copy_from_slice(value);
    } else {
        return Err(MapError::Invalid);
    }
    Ok(())
}

/// A per-CPU array.
#[derive(Debug)]
pub struct PerCpuArrayMap {
    def: MapDef,
    cpus: u32,
    values: Vec<u8>,
}

impl PerCpuArrayMap {
    /// An array of `max_entries` entries of `value_size` bytes on each of
    /// `cpus` CPUs, zero-initialised.
    ///
    /// # Errors
    /// [`MapError::Invalid`] for zero sizes, entries or CPUs,
    /// [`MapError::TooLarge`] if the storage exceeds 4 GiB.
    pub fn new(value_size: u32, max_entries: u32, cpus: u32) -> Result<PerCpuArrayMap, MapError> {
        let def = MapDef {
            kind: MapKind::PerCpuArray,
            key_size: 4,
            value_size,
            max_entries,
        };
        let inner = MapDef {
            value_size: stride(value_size, cpus)?,
            ..def
        };
        if max_entries == 0 {
            return Err(MapError::Invalid);
        }
        let bytes = storage_bytes(&inner, max_entries as usize)?;
        Ok(PerCpuArrayMap {
            def,
            cpus,
            values: vec![0; bytes],
        })
    }

    /// CPUs.
    #[must_use]
    pub fn cpus(&self) -> u32 {
        self.cpus
    }

    fn entry(&self, key: &[u8]) -> Option<usize> {
        let index = u32::from_le_bytes(key.try_into().ok()?);
        (index < self.def.max_entries)
            .then(|| index as usize * self.def.value_size as usize * self.cpus as usize)
    }

    /// Every CPU's value for `key`, CPU 0 first (`value_size * cpus`
    /// bytes).
    #[must_use]
    pub fn get_all(&self, key: &[u8]) -> Option<&[u8]> {
        let at = self.entry(key)?;
        self.values
            .get(at..at + self.def.value_size as usize * self.cpus as usize)
    }

    /// CPU `cpu`'s value for `key`.
    #[must_use]
    pub fn get_cpu(&self, key: &[u8], cpu: u32) -> Option<&[u8]> {
        let v = self.def.value_size as usize;
        let at = self.entry(key)? + check_cpu(cpu, self.cpus)? * v;
        self.values.get(at..at + v)
    }
}

impl Map for PerCpuArrayMap {
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
        self.entry(key)
    }

    fn lookup_on(&mut self, key: &[u8], cpu: u32) -> Option<usize> {
        Some(self.entry(key)? + check_cpu(cpu, self.cpus)? * self.def.value_size as usize)
    }

    fn prepare_update(&mut self, key: &[u8], flags: UpdateFlags) -> Result<usize, MapError> {
        self.prepare_update_on(key, flags, 0)
    }

    fn prepare_update_on(
        &mut self,
        key: &[u8],
        flags: UpdateFlags,
        cpu: u32,
    ) -> Result<usize, MapError> {
        if flags == UpdateFlags::NoExist {
            return Err(MapError::Exists);
        }
        self.lookup_on(key, cpu).ok_or(MapError::Invalid)
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

    fn update(&mut self, key: &[u8], value: &[u8], flags: UpdateFlags) -> Result<(), MapError> {
        if flags == UpdateFlags::NoExist {
            return Err(MapError::Exists);
        }
        let at = self.entry(key).ok_or(MapError::Invalid)?;
        let (v, cpus) = (self.def.value_size as usize, self.cpus as usize);
        store_all(&mut self.values, at, value, v, cpus)
    }
}

/// A per-CPU hash map: the key set is shared, each entry has a value slot
/// per CPU. Creating an entry from a program zeroes the other CPUs' slots.
#[derive(Debug)]
pub struct PerCpuHashMap {
    def: MapDef,
    cpus: u32,
    /// Keys and whole entries (`value_size * cpus` bytes each).
    inner: HashMap,
}

impl PerCpuHashMap {
    /// A per-CPU hash map of up to `max_entries` entries on `cpus` CPUs,
    /// laid out as [`HashMap::new`] would in this profile.
    ///
    /// # Errors
    /// As [`HashMap::new`], and [`MapError::Invalid`] for no CPUs.
    pub fn new(
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        cpus: u32,
    ) -> Result<PerCpuHashMap, MapError> {
        let inner = HashMap::new(key_size, stride(value_size, cpus)?, max_entries)?;
        Ok(PerCpuHashMap {
            def: MapDef {
                kind: MapKind::PerCpuHash,
                key_size,
                value_size,
                max_entries,
            },
            cpus,
            inner,
        })
    }

    /// CPUs.
    #[must_use]
    pub fn cpus(&self) -> u32 {
        self.cpus
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the map has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Every CPU's value for `key`, CPU 0 first (`value_size * cpus`
    /// bytes).
    #[must_use]
    pub fn get_all(&self, key: &[u8]) -> Option<&[u8]> {
        self.inner.get(key)
    }

    /// CPU `cpu`'s value for `key`.
    #[must_use]
    pub fn get_cpu(&self, key: &[u8], cpu: u32) -> Option<&[u8]> {
        let v = self.def.value_size as usize;
        let c = check_cpu(cpu, self.cpus)?;
        self.get_all(key)?.get(c * v..(c + 1) * v)
    }
}

impl Map for PerCpuHashMap {
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
        self.inner.lookup(key)
    }

    fn lookup_on(&mut self, key: &[u8], cpu: u32) -> Option<usize> {
        let c = check_cpu(cpu, self.cpus)?;
        Some(self.inner.lookup(key)? + c * self.def.value_size as usize)
    }

    fn prepare_update(&mut self, key: &[u8], flags: UpdateFlags) -> Result<usize, MapError> {
        self.prepare_update_on(key, flags, 0)
    }

    fn prepare_update_on(
        &mut self,
        key: &[u8],
        flags: UpdateFlags,
        cpu: u32,
    ) -> Result<usize, MapError> {
        let c = check_cpu(cpu, self.cpus).ok_or(MapError::Invalid)?;
        let existed = self.inner.lookup(key).is_some();
        let at = self.inner.prepare_update(key, flags)?;
        let whole = self.def.value_size as usize * self.cpus as usize;
        if !existed {
            self.inner.values_mut()[at..at + whole].fill(0);
        }
        Ok(at + c * self.def.value_size as usize)
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), MapError> {
        self.inner.delete(key)
    }

    fn values(&self) -> &[u8] {
        self.inner.values()
    }

    fn values_mut(&mut self) -> &mut [u8] {
        self.inner.values_mut()
    }

    fn update(&mut self, key: &[u8], value: &[u8], flags: UpdateFlags) -> Result<(), MapError> {
        let (v, cpus) = (self.def.value_size as usize, self.cpus as usize);
        if value.len() != v && value.len() != v * cpus {
            return Err(MapError::Invalid);
        }
        let at = self.inner.prepare_update(key, flags)?;
        store_all(self.inner.values_mut(), at, value, v, cpus)
    }
}
