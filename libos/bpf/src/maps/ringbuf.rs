//! `BPF_MAP_TYPE_RINGBUF`: a lock-free multi-producer, single-consumer ring
//! of variable-length records, as Linux's BPF ring buffer.
//!
//! # Layout
//!
//! The ring is laid out as Linux maps it to user space, and
//! [`RingBuf::mapping_image`] produces exactly these bytes:
//!
//! | Offset | Size | Contents |
//! |--------|------|----------|
//! | [`CONSUMER_PAGE`] (0) | 4096 | consumer position, `u64` LE, then zero |
//! | [`PRODUCER_PAGE`] (4096) | 4096 | producer position, `u64` LE, then zero |
//! | [`DATA_OFFSET`] (8192) | `size` (a power of two) | records |
//!
//! Positions count bytes ever reserved/consumed; a position's offset in
//! the data area is `pos & (size - 1)`. A record is an 8-byte header and
//! its data, padded to a multiple of 8, and may wrap around the end of the
//! data area. The header is `u32 len` (bit 31 [`BUSY_BIT`]: reserved, not
//! yet committed; bit 30 [`DISCARD_BIT`]: discarded) and `u32 pg_off`, the
//! page offset of the header from the start of the mapping (never zero,
//! since two pages precede the data).
//!
//! # Protocol
//!
//! * *Reserve*: a producer claims `[prod, prod + total)` by compare-and-swap
//!   on the producer position (refused when it would overrun the consumer
//!   position by more than `size`), then writes a busy header there. No
//!   lock: any number of producers (threads, CPUs, [`RingBufMap`]s sharing
//!   the ring) reserve concurrently.
//! * *Submit*/*discard*: the data is written, then the header is
//!   published with release ordering, busy bit clear (discard bit set for
//!   a discard).
//! * *Consume* ([`RingBufConsumer`]): from the consumer position up to the
//!   producer position, stop at the first header that is busy (or not yet
//!   written: a zero word, as the consumer zeroes every byte it consumes
//!   before releasing it), hand over committed records, skip discarded
//!   ones, and publish the new consumer position with release ordering.
//!   Records are therefore delivered in reservation order.
//! * *Aborted runs*: the verifier makes a program release every
//!   reservation, but a run can still stop early (instruction budget, a
//!   helper error); the VM then calls [`Map::abort_run`], which discards the
//!   run's outstanding reservations so they cannot block the consumer.
//!
//! The data area is `AtomicU64` words, so all of this is safe Rust. A
//! program's reservation is written in a per-[`RingBufMap`] staging copy
//! (the map's value storage, twice the ring's size so a wrapped record is
//! contiguous, like Linux's double mapping) and copied into the ring at
//! submit; the staging copy is allocated with the map, so nothing
//! allocates at run time.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{Map, MapDef, MapError, MapKind, UpdateFlags};

/// Header bit: reserved, not yet submitted or discarded.
pub const BUSY_BIT: u32 = 1 << 31;
/// Header bit: discarded; consumers skip the record.
pub const DISCARD_BIT: u32 = 1 << 30;
/// Bytes of a record header.
pub const HEADER_SIZE: usize = 8;
/// Page size of the mapping layout.
pub const PAGE_SIZE: usize = 4096;
/// Offset of the consumer page in the mapping.
pub const CONSUMER_PAGE: usize = 0;
/// Offset of the producer page in the mapping.
pub const PRODUCER_PAGE: usize = PAGE_SIZE;
/// Offset of the data area in the mapping.
pub const DATA_OFFSET: usize = 2 * PAGE_SIZE;
/// Smallest data area.
pub const MIN_SIZE: u32 = 16;
/// Largest data area.
pub const MAX_SIZE: u32 = 1 << 30;
/// Most reservations one [`RingBufMap`] holds at once.
pub const MAX_RESERVATIONS: usize = 32;

/// `ringbuf_query` flag: bytes between consumer and producer positions.
pub const RB_AVAIL_DATA: u64 = 0;
/// `ringbuf_query` flag: the data area's size.
pub const RB_RING_SIZE: u64 = 1;
/// `ringbuf_query` flag: the consumer position.
pub const RB_CONS_POS: u64 = 2;
/// `ringbuf_query` flag: the producer position.
pub const RB_PROD_POS: u64 = 3;

/// Keeps the two positions on separate cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// Bytes a record of `len` data bytes takes, header and padding included.
const fn record_size(len: u32) -> u64 {
    (len as u64 + HEADER_SIZE as u64 + 7) & !7
}

/// The shared ring: positions and data area. Producers reach it through
/// [`RingBufMap`]s (or [`RingBuf::output`]), the consumer through its
/// [`RingBufConsumer`].
#[derive(Debug)]
pub struct RingBuf {
    consumer_pos: Padded,
    producer_pos: Padded,
    data: Box<[AtomicU64]>,
    mask: u64,
    consumer_taken: AtomicBool,
}

/// A reservation in the ring: its position and data length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Producer position of the header.
    pub pos: u64,
    /// Data bytes.
    pub len: u32,
}

impl RingBuf {
    /// A ring with a data area of `size` bytes.
    ///
    /// # Errors
    /// [`MapError::Invalid`] unless `size` is a power of two between
    /// [`MIN_SIZE`] and [`MAX_SIZE`].
    pub fn new(size: u32) -> Result<Arc<RingBuf>, MapError> {
        if !size.is_power_of_two() || !(MIN_SIZE..=MAX_SIZE).contains(&size) {
            return Err(MapError::Invalid);
        }
        let data = (0..size / 8).map(|_| AtomicU64::new(0)).collect();
        Ok(Arc::new(RingBuf {
            consumer_pos: Padded::default(),
            producer_pos: Padded::default(),
            data,
            mask: u64::from(size) - 1,
            consumer_taken: AtomicBool::new(false),
        }))
    }

    /// Bytes in the data area.
    #[must_use]
    pub fn size(&self) -> u32 {
        (self.mask + 1) as u32
    }

    /// The consumer position.
    #[must_use]
    pub fn consumer_pos(&self) -> u64 {
        self.consumer_pos.0.load(Ordering::Acquire)
    }

    /// The producer position.
    #[must_use]
    pub fn producer_pos(&self) -> u64 {
        self.producer_pos.0.load(Ordering::Acquire)
    }

    /// What `ringbuf_query` reports for `flag` (0 for unknown flags).
    #[must_use]
    pub fn query(&self, flag: u64) -> u64 {
        match flag {
            RB_AVAIL_DATA => self.producer_pos().wrapping_sub(self.consumer_pos()),
            RB_RING_SIZE => u64::from(self.size()),
            RB_CONS_POS => self.consumer_pos(),
            RB_PROD_POS => self.producer_pos(),
            _ => 0,
        }
    }

    /// The one consumer of this ring; `None` once it has been taken.
    #[must_use]
    pub fn consumer(self: &Arc<RingBuf>) -> Option<RingBufConsumer> {
        if self.consumer_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(RingBufConsumer {
            ring: Arc::clone(self),
            scratch: Vec::new(),
        })
    }

    fn word(&self, pos: u64) -> &AtomicU64 {
        &self.data[((pos & self.mask) / 8) as usize]
    }

    /// Claims room for a record of `len` data bytes and marks it busy.
    ///
    /// # Errors
    /// [`MapError::Invalid`] for an empty record or one that cannot fit
    /// even an empty ring, [`MapError::NoSpace`] if the ring is full now.
    pub fn reserve(&self, len: u32) -> Result<Reservation, MapError> {
        let total = record_size(len);
        if len == 0 || len >= MAX_SIZE || total > self.mask + 1 {
            return Err(MapError::Invalid);
        }
        let mut prod = self.producer_pos.0.load(Ordering::Relaxed);
        loop {
            // Acquire: the consumer zeroed what it released before
            // publishing its position.
            let cons = self.consumer_pos.0.load(Ordering::Acquire);
            if prod.wrapping_add(total).wrapping_sub(cons) > self.mask + 1 {
                return Err(MapError::NoSpace);
            }
            match self.producer_pos.0.compare_exchange_weak(
                prod,
                prod.wrapping_add(total),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => prod = now,
            }
        }
        self.word(prod)
            .store(self.header(prod, len | BUSY_BIT), Ordering::Release);
        Ok(Reservation { pos: prod, len })
    }

    fn header(&self, pos: u64, len_bits: u32) -> u64 {
        let pg_off = ((pos & self.mask) as usize + DATA_OFFSET) / PAGE_SIZE;
        u64::from(len_bits) | (pg_off as u64) << 32
    }

    /// Writes `data` (the reservation's length, at most) into the record
    /// and publishes it, or discards it.
    pub fn commit(&self, r: Reservation, data: &[u8], discard: bool) {
        if !discard {
            let body = r.pos.wrapping_add(HEADER_SIZE as u64);
            let len = (r.len as usize).min(data.len());
            for (i, chunk) in data[..len].chunks(8).enumerate() {
                let mut w = [0u8; 8];
                w[..chunk.len()].copy_from_slice(chunk);
                self.word(body.wrapping_add(8 * i as u64))
                    .store(u64::from_le_bytes(w), Ordering::Relaxed);
            }
        }
        let bits = if discard { r.len | DISCARD_BIT } else { r.len };
        self.word(r.pos)
            .store(self.header(r.pos, bits), Ordering::Release);
    }

    /// Reserves, fills and submits one record (`ringbuf_output` from the
    /// host side).
    ///
    /// # Errors
    /// As [`RingBuf::reserve`].
    pub fn output(&self, data: &[u8]) -> Result<(), MapError> {
        let len = u32::try_from(data.len()).map_err(|_| MapError::Invalid)?;
        let r = self.reserve(len)?;
        self.commit(r, data, false);
        Ok(())
    }

    /// The ring as the bytes of its memory-mappable layout (see the module
    /// docs): consumer page, producer page, data area.
    #[must_use]
    pub fn mapping_image(&self) -> Vec<u8> {
        let mut out = vec![0u8; DATA_OFFSET + self.data.len() * 8];
        out[CONSUMER_PAGE..CONSUMER_PAGE + 8].copy_from_slice(&self.consumer_pos().to_le_bytes());
        out[PRODUCER_PAGE..PRODUCER_PAGE + 8].copy_from_slice(&self.producer_pos().to_le_bytes());
        for (i, w) in self.data.iter().enumerate() {
            let at = DATA_OFFSET + 8 * i;
            out[at..at + 8].copy_from_slice(&w.load(Ordering::Acquire).to_le_bytes());
        }
        out
    }
}

/// The consumer side of a [`RingBuf`] (there is one per ring).
#[derive(Debug)]
pub struct RingBufConsumer {
    ring: Arc<RingBuf>,
    scratch: Vec<u8>,
}

impl RingBufConsumer {
    /// The ring.
    #[must_use]
    pub fn ring(&self) -> &Arc<RingBuf> {
        &self.ring
    }

    /// Hands every committed record, in order, to `f`, skipping discarded
    /// ones, up to the first record still busy; advances the consumer
    /// position past what it read. Returns the number of records handed
    /// over.
    pub fn consume(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let ring = &*self.ring;
        let mut cons = ring.consumer_pos.0.load(Ordering::Relaxed);
        let prod = ring.producer_pos.0.load(Ordering::Acquire);
        let mut delivered = 0;
        while cons != prod {
            let header = ring.word(cons).load(Ordering::Acquire);
            let bits = header as u32;
            if header == 0 || bits & BUSY_BIT != 0 {
                break;
            }
            let len = bits & !(BUSY_BIT | DISCARD_BIT);
            let total = record_size(len);
            if bits & DISCARD_BIT == 0 {
                self.scratch.clear();
                let body = cons.wrapping_add(HEADER_SIZE as u64);
                for i in 0..u64::from(len).div_ceil(8) {
                    let w = ring.word(body.wrapping_add(8 * i)).load(Ordering::Relaxed);
                    self.scratch.extend_from_slice(&w.to_le_bytes());
                }
                f(&self.scratch[..len as usize]);
                delivered += 1;
            }
            // Zero what was consumed, so a producer's header-to-be reads as
            // "not yet written" until it is.
            for i in 0..total / 8 {
                ring.word(cons.wrapping_add(8 * i))
                    .store(0, Ordering::Relaxed);
            }
            cons = cons.wrapping_add(total);
            ring.consumer_pos.0.store(cons, Ordering::Release);
        }
        delivered
    }
}

/// A producer's handle on a [`RingBuf`], as a map programs use through
/// the ring buffer helpers (130–134). Several maps (one per [`super::MapSet`],
/// thread or CPU) may share one ring.
#[derive(Debug)]
pub struct RingBufMap {
    ring: Arc<RingBuf>,
    /// Staging copy of the data area, twice its size: a record reserved at
    /// offset `o` is written at `[o + 8, o + 8 + len)`.
    staging: Vec<u8>,
    pending: [Option<Reservation>; MAX_RESERVATIONS],
}

impl RingBufMap {
    /// A new ring of `size` bytes with this map as a producer.
    ///
    /// # Errors
    /// As [`RingBuf::new`].
    pub fn new(size: u32) -> Result<RingBufMap, MapError> {
        Ok(RingBufMap::attach(RingBuf::new(size)?))
    }

    /// Another producer of `ring`.
    #[must_use]
    pub fn attach(ring: Arc<RingBuf>) -> RingBufMap {
        let size = ring.size() as usize;
        RingBufMap {
            ring,
            staging: vec![0; 2 * size],
            pending: [None; MAX_RESERVATIONS],
        }
    }

    /// The shared ring.
    #[must_use]
    pub fn ring(&self) -> &Arc<RingBuf> {
        &self.ring
    }

    /// Reservations held and not yet submitted or discarded.
    #[must_use]
    pub fn outstanding(&self) -> usize {
        self.pending.iter().flatten().count()
    }

    /// Reserves a record of `len` bytes; returns the offset of its data in
    /// [`Map::values`].
    ///
    /// # Errors
    /// As [`RingBuf::reserve`], or [`MapError::NoSpace`] with
    /// [`MAX_RESERVATIONS`] outstanding.
    pub fn reserve(&mut self, len: u32) -> Result<usize, MapError> {
        let slot = self
            .pending
            .iter()
            .position(Option::is_none)
            .ok_or(MapError::NoSpace)?;
        let r = self.ring.reserve(len)?;
        self.pending[slot] = Some(r);
        Ok((r.pos & self.ring.mask) as usize + HEADER_SIZE)
    }

    /// Submits (or discards) the reservation whose data is at `offset` in
    /// [`Map::values`].
    ///
    /// # Errors
    /// [`MapError::NotFound`] if no reservation of this map's is there.
    pub fn finish(&mut self, offset: usize, discard: bool) -> Result<(), MapError> {
        let mask = self.ring.mask;
        let slot = self
            .pending
            .iter()
            .position(|r| r.is_some_and(|r| (r.pos & mask) as usize + HEADER_SIZE == offset))
            .ok_or(MapError::NotFound)?;
        let Some(r) = self.pending[slot].take() else {
            return Err(MapError::NotFound);
        };
        let data = &self.staging[offset..offset + r.len as usize];
        self.ring.commit(r, data, discard);
        Ok(())
    }

    /// Reserves, fills and submits one record.
    ///
    /// # Errors
    /// As [`RingBuf::reserve`].
    pub fn output(&self, data: &[u8]) -> Result<(), MapError> {
        self.ring.output(data)
    }

    /// Discards every outstanding reservation; returns how many there
    /// were.
    pub fn discard_outstanding(&mut self) -> usize {
        let mut n = 0;
        for r in self.pending.iter_mut().filter_map(Option::take) {
            self.ring.commit(r, &[], true);
            n += 1;
        }
        n
    }
}

impl Map for RingBufMap {
    fn def(&self) -> MapDef {
        MapDef {
            kind: MapKind::RingBuf,
            key_size: 0,
            value_size: 0,
            max_entries: self.ring.size(),
        }
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn core::any::Any {
        self
    }

    fn lookup(&self, _key: &[u8]) -> Option<usize> {
        None
    }

    fn prepare_update(&mut self, _key: &[u8], _flags: UpdateFlags) -> Result<usize, MapError> {
        Err(MapError::Invalid)
    }

    fn delete(&mut self, _key: &[u8]) -> Result<(), MapError> {
        Err(MapError::Invalid)
    }

    fn abort_run(&mut self) {
        self.discard_outstanding();
    }

    fn values(&self) -> &[u8] {
        &self.staging
    }

    fn values_mut(&mut self) -> &mut [u8] {
        &mut self.staging
    }
}
