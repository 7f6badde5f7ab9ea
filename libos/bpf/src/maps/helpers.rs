//! The standard map helpers, with Linux's numbers: 1 `map_lookup_elem`,
//! 2 `map_update_elem`, 3 `map_delete_elem`.

use super::{MAX_KEY_SIZE, UpdateFlags};
use crate::helpers::{ArgType, Helper, HelperError, HelperProto, Helpers, RetType};
use crate::memory::{Memory, map_from_handle, map_value_address};

/// `bpf_map_lookup_elem`.
pub const MAP_LOOKUP_ELEM: u32 = 1;
/// `bpf_map_update_elem`.
pub const MAP_UPDATE_ELEM: u32 = 2;
/// `bpf_map_delete_elem`.
pub const MAP_DELETE_ELEM: u32 = 3;

pub(crate) fn register(helpers: &mut Helpers) {
    use ArgType::{MapHandle, MapKey, MapValue, None, Scalar};
    let entries = [
        (
            MAP_LOOKUP_ELEM,
            "map_lookup_elem",
            [MapHandle, MapKey, None, None, None],
            RetType::MapValueOrNull,
            lookup as crate::helpers::HelperFn,
        ),
        (
            MAP_UPDATE_ELEM,
            "map_update_elem",
            [MapHandle, MapKey, MapValue, Scalar, None],
            RetType::Scalar,
            update,
        ),
        (
            MAP_DELETE_ELEM,
            "map_delete_elem",
            [MapHandle, MapKey, None, None, None],
            RetType::Scalar,
            delete,
        ),
    ];
    for (id, name, args, ret, func) in entries {
        // Ids are in range, so this cannot fail.
        let _ = helpers.register(
            id,
            Helper {
                name,
                proto: HelperProto { args, ret },
                func,
            },
        );
    }
}

/// Copies the key at `addr` for map `handle`; returns the map index, the
/// key buffer and its length.
fn key(
    mem: &mut Memory<'_, '_>,
    handle: u64,
    addr: u64,
) -> Result<(u32, [u8; MAX_KEY_SIZE], usize), HelperError> {
    let index = map_from_handle(handle).ok_or(HelperError::BadMap(handle))?;
    let def = mem
        .maps()
        .and_then(|m| m.def(index))
        .ok_or(HelperError::BadMap(handle))?;
    let len = def.key_size as usize;
    let mut buf = [0u8; MAX_KEY_SIZE];
    buf[..len].copy_from_slice(mem.read(addr, len)?);
    Ok((index, buf, len))
}

fn lookup(
    mem: &mut Memory<'_, '_>,
    map: u64,
    key_addr: u64,
    _: u64,
    _: u64,
    _: u64,
) -> Result<u64, HelperError> {
    let (index, buf, len) = key(mem, map, key_addr)?;
    let maps = mem.maps().ok_or(HelperError::BadMap(map))?;
    let found = maps.get(index).and_then(|m| m.lookup(&buf[..len]));
    Ok(found.map_or(0, |offset| map_value_address(index, offset as u32)))
}

fn update(
    mem: &mut Memory<'_, '_>,
    map: u64,
    key_addr: u64,
    value_addr: u64,
    flags: u64,
    _: u64,
) -> Result<u64, HelperError> {
    let (index, buf, len) = key(mem, map, key_addr)?;
    let Some(flags) = UpdateFlags::from_raw(flags) else {
        return Ok(super::MapError::Invalid.errno() as u64);
    };
    let maps = mem.maps().ok_or(HelperError::BadMap(map))?;
    let value_size = maps.def(index).ok_or(HelperError::BadMap(map))?.value_size as usize;
    // Check the source first, so a fault cannot leave a half-made entry.
    mem.read(value_addr, value_size)?;
    let maps = mem.maps().ok_or(HelperError::BadMap(map))?;
    let map_ref = maps.get_mut(index).ok_or(HelperError::BadMap(map))?;
    match map_ref.prepare_update(&buf[..len], flags) {
        Ok(offset) => {
            mem.copy(
                map_value_address(index, offset as u32),
                value_addr,
                value_size,
            )?;
            Ok(0)
        }
        Err(e) => Ok(e.errno() as u64),
    }
}

fn delete(
    mem: &mut Memory<'_, '_>,
    map: u64,
    key_addr: u64,
    _: u64,
    _: u64,
    _: u64,
) -> Result<u64, HelperError> {
    let (index, buf, len) = key(mem, map, key_addr)?;
    let maps = mem.maps().ok_or(HelperError::BadMap(map))?;
    let map_ref = maps.get_mut(index).ok_or(HelperError::BadMap(map))?;
    Ok(match map_ref.delete(&buf[..len]) {
        Ok(()) => 0,
        Err(e) => e.errno() as u64,
    })
}
