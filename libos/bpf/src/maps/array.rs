//! `BPF_MAP_TYPE_ARRAY`: fixed entries indexed by a 4-byte key.

use alloc::vec;
use alloc::vec::Vec;

use super::{Map, MapDef, MapError, MapKind, UpdateFlags, storage_bytes};

/// An array map: `max_entries` zero-initialised values, keyed by a
/// little-endian `u32` index. Entries always exist, so they cannot be
/// deleted or created.
#[derive(Debug)]
pub struct ArrayMap {
    def: MapDef,
    values: Vec<u8>,
}

impl ArrayMap {
    /// An array of `max_entries` values of `value_size` bytes.
    ///
    /// # Errors
    /// [`MapError::Invalid`] for a zero size or no entries,
    /// [`MapError::TooLarge`] if the storage exceeds 4 GiB.
    pub fn new(value_size: u32, max_entries: u32) -> Result<ArrayMap, MapError> {
        let def = MapDef {
            kind: MapKind::Array,
            key_size: 4,
            value_size,
            max_entries,
        };
        if max_entries == 0 {
            return Err(MapError::Invalid);
        }
        let bytes = storage_bytes(&def, max_entries as usize)?;
        Ok(ArrayMap {
            def,
            values: vec![0; bytes],
        })
    }

    fn index(&self, key: &[u8]) -> Option<usize> {
        let key: [u8; 4] = key.try_into().ok()?;
        let index = u32::from_le_bytes(key);
        (index < self.def.max_entries).then(|| index as usize * self.def.value_size as usize)
    }
}

impl Map for ArrayMap {
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
        self.index(key)
    }

    fn prepare_update(&mut self, key: &[u8], flags: UpdateFlags) -> Result<usize, MapError> {
        let offset = self.index(key).ok_or(MapError::Invalid)?;
        match flags {
            UpdateFlags::NoExist => Err(MapError::Exists),
            UpdateFlags::Any | UpdateFlags::Exist => Ok(offset),
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

    fn direct_value(&self) -> Option<usize> {
        Some(0)
    }
}
