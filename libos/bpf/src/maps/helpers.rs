//! The map helpers, with Linux's numbers where Linux has the helper:
//! 1 `map_lookup_elem`, 2 `map_update_elem`, 3 `map_delete_elem`,
//! 8 `get_smp_processor_id`, 130 `ringbuf_output`, 131 `ringbuf_reserve`,
//! 132 `ringbuf_submit`, 133 `ringbuf_discard`, 134 `ringbuf_query`; and
//! the private time-series helpers 2048 [`TS_PUSH`] and 2049
//! [`TS_WINDOW`] (see [`super::timeseries`]).

use super::ringbuf::RingBufMap;
use super::timeseries::{TimeSeriesMap, WINDOW_STATS_SIZE};
use super::{MAX_KEY_SIZE, MapError, UpdateFlags};
use crate::helpers::{ArgType, Helper, HelperError, HelperFn, HelperProto, Helpers, RetType};
use crate::memory::{Memory, map_from_handle, map_from_value_address, map_value_address};

/// `bpf_map_lookup_elem`.
pub const MAP_LOOKUP_ELEM: u32 = 1;
/// `bpf_map_update_elem`.
pub const MAP_UPDATE_ELEM: u32 = 2;
/// `bpf_map_delete_elem`.
pub const MAP_DELETE_ELEM: u32 = 3;
/// `bpf_get_smp_processor_id`: the run's [`crate::Input::cpu`].
pub const GET_SMP_PROCESSOR_ID: u32 = 8;
/// `bpf_ringbuf_output(map, data, size, flags)`.
pub const RINGBUF_OUTPUT: u32 = 130;
/// `bpf_ringbuf_reserve(map, size, flags)`: a record of the constant
/// `size`, or null.
pub const RINGBUF_RESERVE: u32 = 131;
/// `bpf_ringbuf_submit(record, flags)`.
pub const RINGBUF_SUBMIT: u32 = 132;
/// `bpf_ringbuf_discard(record, flags)`.
pub const RINGBUF_DISCARD: u32 = 133;
/// `bpf_ringbuf_query(map, flags)`.
pub const RINGBUF_QUERY: u32 = 134;
/// Private: `exo_ts_push(map, timestamp, value)` appends a sample.
pub const TS_PUSH: u32 = 2048;
/// Private: `exo_ts_window(map, t0, t1, out, out_size)` writes the
/// [`super::WindowStats`] of `[t0, t1)` and returns the count.
pub const TS_WINDOW: u32 = 2049;

pub(crate) fn register(helpers: &mut Helpers) {
    use ArgType::{
        ConstSize, MapHandle, MapKey, MapValue, None, ReadMem, RingBuf, RingBufRecord, Scalar,
        Size, TimeSeries, WriteMem,
    };
    let entries: [(u32, &'static str, [ArgType; 5], RetType, HelperFn); 11] = [
        (
            MAP_LOOKUP_ELEM,
            "map_lookup_elem",
            [MapHandle, MapKey, None, None, None],
            RetType::MapValueOrNull,
            lookup,
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
        (
            GET_SMP_PROCESSOR_ID,
            "get_smp_processor_id",
            [None; 5],
            RetType::Scalar,
            cpu,
        ),
        (
            RINGBUF_OUTPUT,
            "ringbuf_output",
            [RingBuf, ReadMem, Size, Scalar, None],
            RetType::Scalar,
            ringbuf_output,
        ),
        (
            RINGBUF_RESERVE,
            "ringbuf_reserve",
            [RingBuf, ConstSize, Scalar, None, None],
            RetType::RingBufRecordOrNull,
            ringbuf_reserve,
        ),
        (
            RINGBUF_SUBMIT,
            "ringbuf_submit",
            [RingBufRecord, Scalar, None, None, None],
            RetType::Scalar,
            ringbuf_submit,
        ),
        (
            RINGBUF_DISCARD,
            "ringbuf_discard",
            [RingBufRecord, Scalar, None, None, None],
            RetType::Scalar,
            ringbuf_discard,
        ),
        (
            RINGBUF_QUERY,
            "ringbuf_query",
            [RingBuf, Scalar, None, None, None],
            RetType::Scalar,
            ringbuf_query,
        ),
        (
            TS_PUSH,
            "exo_ts_push",
            [TimeSeries, Scalar, Scalar, None, None],
            RetType::Scalar,
            ts_push,
        ),
        (
            TS_WINDOW,
            "exo_ts_window",
            [TimeSeries, Scalar, Scalar, WriteMem, Size],
            RetType::Scalar,
            ts_window,
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

fn errno(e: MapError) -> u64 {
    e.errno() as u64
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

/// Whether `f` is this runtime's `map_lookup_elem`, whose array-map case
/// the x86_64 JIT may do inline (an embedder could register another
/// function under the same id).
#[cfg(feature = "jit")]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn is_map_lookup(f: HelperFn) -> bool {
    core::ptr::fn_addr_eq(f, lookup as HelperFn)
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
    let cpu = mem.cpu();
    let maps = mem.maps().ok_or(HelperError::BadMap(map))?;
    let found = maps
        .get_mut(index)
        .and_then(|m| m.lookup_on(&buf[..len], cpu));
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
        return Ok(errno(MapError::Invalid));
    };
    let cpu = mem.cpu();
    let maps = mem.maps().ok_or(HelperError::BadMap(map))?;
    let value_size = maps.def(index).ok_or(HelperError::BadMap(map))?.value_size as usize;
    // Check the source first, so a fault cannot leave a half-made entry.
    mem.read(value_addr, value_size)?;
    let maps = mem.maps().ok_or(HelperError::BadMap(map))?;
    let map_ref = maps.get_mut(index).ok_or(HelperError::BadMap(map))?;
    match map_ref.prepare_update_on(&buf[..len], flags, cpu) {
        Ok(offset) => {
            mem.copy(
                map_value_address(index, offset as u32),
                value_addr,
                value_size,
            )?;
            Ok(0)
        }
        Err(e) => Ok(errno(e)),
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
        Err(e) => errno(e),
    })
}

fn cpu(
    mem: &mut Memory<'_, '_>,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
) -> Result<u64, HelperError> {
    Ok(u64::from(mem.cpu()))
}

/// The ring buffer map behind `handle`, and its index.
fn ring<'m>(
    mem: &'m mut Memory<'_, '_>,
    handle: u64,
) -> Result<(u32, &'m mut RingBufMap), HelperError> {
    let index = map_from_handle(handle).ok_or(HelperError::BadMap(handle))?;
    let ring = mem
        .maps()
        .and_then(|m| m.get_as_mut::<RingBufMap>(index))
        .ok_or(HelperError::BadMap(handle))?;
    Ok((index, ring))
}

fn ringbuf_output(
    mem: &mut Memory<'_, '_>,
    map: u64,
    data: u64,
    size: u64,
    _flags: u64,
    _: u64,
) -> Result<u64, HelperError> {
    let Ok(len) = u32::try_from(size) else {
        return Ok(errno(MapError::Invalid));
    };
    mem.read(data, len as usize)?;
    let (index, ring) = ring(mem, map)?;
    let offset = match ring.reserve(len) {
        Ok(offset) => offset,
        Err(e) => return Ok(errno(e)),
    };
    let copied = mem.copy(map_value_address(index, offset as u32), data, len as usize);
    let (_, ring) = self::ring(mem, map)?;
    // The source was checked above; discard rather than leak on a fault.
    ring.finish(offset, copied.is_err())?;
    copied?;
    Ok(0)
}

fn ringbuf_reserve(
    mem: &mut Memory<'_, '_>,
    map: u64,
    size: u64,
    _flags: u64,
    _: u64,
    _: u64,
) -> Result<u64, HelperError> {
    let (index, ring) = ring(mem, map)?;
    let Ok(len) = u32::try_from(size) else {
        return Ok(0);
    };
    Ok(ring
        .reserve(len)
        .map_or(0, |offset| map_value_address(index, offset as u32)))
}

fn finish(mem: &mut Memory<'_, '_>, record: u64, discard: bool) -> Result<u64, HelperError> {
    let (index, offset) = map_from_value_address(record).ok_or(HelperError::BadMap(record))?;
    let ring = mem
        .maps()
        .and_then(|m| m.get_as_mut::<RingBufMap>(index))
        .ok_or(HelperError::BadMap(record))?;
    ring.finish(offset as usize, discard)?;
    Ok(0)
}

fn ringbuf_submit(
    mem: &mut Memory<'_, '_>,
    record: u64,
    _flags: u64,
    _: u64,
    _: u64,
    _: u64,
) -> Result<u64, HelperError> {
    finish(mem, record, false)
}

fn ringbuf_discard(
    mem: &mut Memory<'_, '_>,
    record: u64,
    _flags: u64,
    _: u64,
    _: u64,
    _: u64,
) -> Result<u64, HelperError> {
    finish(mem, record, true)
}

fn ringbuf_query(
    mem: &mut Memory<'_, '_>,
    map: u64,
    flag: u64,
    _: u64,
    _: u64,
    _: u64,
) -> Result<u64, HelperError> {
    let (_, ring) = ring(mem, map)?;
    Ok(ring.ring().query(flag))
}

fn series<'m>(
    mem: &'m mut Memory<'_, '_>,
    handle: u64,
) -> Result<&'m mut TimeSeriesMap, HelperError> {
    let index = map_from_handle(handle).ok_or(HelperError::BadMap(handle))?;
    mem.maps()
        .and_then(|m| m.get_as_mut::<TimeSeriesMap>(index))
        .ok_or(HelperError::BadMap(handle))
}

fn ts_push(
    mem: &mut Memory<'_, '_>,
    map: u64,
    t: u64,
    value: u64,
    _: u64,
    _: u64,
) -> Result<u64, HelperError> {
    Ok(match series(mem, map)?.push(t, value as i64) {
        Ok(()) => 0,
        Err(e) => errno(e),
    })
}

fn ts_window(
    mem: &mut Memory<'_, '_>,
    map: u64,
    t0: u64,
    t1: u64,
    out: u64,
    size: u64,
) -> Result<u64, HelperError> {
    let stats = series(mem, map)?.stats(t0, t1);
    let n = usize::try_from(size).map_or(WINDOW_STATS_SIZE, |s| s.min(WINDOW_STATS_SIZE));
    mem.write(out, &stats.to_bytes()[..n])?;
    Ok(stats.count)
}
