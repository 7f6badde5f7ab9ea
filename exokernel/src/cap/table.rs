//! `CapTable`: one environment's fixed-capacity capability space, with
//! lock-free reads.
//!
//! Each slot holds a capability record in plain atomics plus a generation
//! counter. The generation is the slot's version number: odd means live,
//! even means dead (free or revoked), and it only ever grows, so a
//! `(slot, generation)` pair names one incarnation of one capability for
//! the life of the boot. Writers (publish on allocation, kill on
//! revocation) run under the capability space's tree lock; readers never
//! lock and never write shared memory — they follow the seqlock protocol in
//! [`CapSpace`](super::space::CapSpace) to get a consistent snapshot.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use super::capability::{Badge, Capability};
use super::error::CapError;
use super::handle::EnvId;
use super::level::Level;
use super::resource::{Resource, ResourceKind, Span};
use super::rights::Rights;
use super::sync::{AtomicU32, AtomicU64, Ordering, fence};

/// The last generation a slot may be published at; a slot whose dead
/// generation reaches `RETIRED` is never reused, so generations never wrap.
pub(crate) const RETIRED: u64 = u64::MAX - 1;

/// Whether generation `generation` denotes a live capability.
pub(crate) const fn is_live(generation: u64) -> bool {
    generation & 1 == 1
}

/// One capability slot. All fields are atomics so readers may race with a
/// writer without undefined behaviour; the generation protocol makes such
/// racing reads detectable and discarded.
pub(crate) struct Slot {
    generation: AtomicU64,
    /// `kind | level << 8 | rights << 32`.
    word0: AtomicU64,
    object: AtomicU64,
    base: AtomicU64,
    len: AtomicU64,
    badge: AtomicU64,
}

/// A snapshot of a slot's record fields, possibly torn until the caller has
/// validated it against the generation.
#[derive(Clone, Copy)]
pub(crate) struct RawRecord {
    word0: u64,
    object: u64,
    base: u64,
    len: u64,
    badge: u64,
}

impl RawRecord {
    /// Decodes a validated snapshot.
    ///
    /// # Errors
    /// [`CapError::Corrupt`] if the fields do not form a capability (only
    /// possible if kernel memory was corrupted).
    pub(crate) fn decode(self) -> Result<Capability, CapError> {
        let kind =
            ResourceKind::from_wire((self.word0 & 0xff) as u8).map_err(|_| CapError::Corrupt)?;
        let level = Level::new(((self.word0 >> 8) & 0xff) as u8).map_err(|_| CapError::Corrupt)?;
        let rights = Rights::from_wire((self.word0 >> 32) as u32).map_err(|_| CapError::Corrupt)?;
        let span = Span {
            kind,
            object: self.object,
            base: self.base,
            len: self.len,
        };
        let resource = Resource::from_span(span).map_err(|_| CapError::Corrupt)?;
        Ok(Capability {
            resource,
            rights,
            level,
            badge: Badge(self.badge),
        })
    }
}

impl Slot {
    fn new() -> Self {
        Self {
            generation: AtomicU64::new(0),
            word0: AtomicU64::new(0),
            object: AtomicU64::new(0),
            base: AtomicU64::new(0),
            len: AtomicU64::new(0),
            badge: AtomicU64::new(0),
        }
    }

    /// The generation, with the caller's ordering.
    pub(crate) fn generation(&self, order: Ordering) -> u64 {
        self.generation.load(order)
    }

    /// Reads the record fields (relaxed; validate with the generation).
    pub(crate) fn load_record(&self) -> RawRecord {
        RawRecord {
            word0: self.word0.load(Ordering::Relaxed),
            object: self.object.load(Ordering::Relaxed),
            base: self.base.load(Ordering::Relaxed),
            len: self.len.load(Ordering::Relaxed),
            badge: self.badge.load(Ordering::Relaxed),
        }
    }

    /// Writes `cap` into this dead slot and makes it live; returns the new
    /// (odd) generation, or `None` if the slot is retired.
    ///
    /// Caller holds the tree lock and took the slot off a free list.
    pub(crate) fn publish(&self, cap: &Capability) -> Option<u64> {
        let dead = self.generation.load(Ordering::Relaxed);
        if is_live(dead) || dead >= RETIRED {
            return None;
        }
        let span = cap.resource.span();
        let word0 = u64::from(span.kind as u8)
            | u64::from(cap.level.get()) << 8
            | u64::from(cap.rights.bits()) << 32;
        // Seqlock writer: the slot's "dead" generation (stored by the kill
        // that freed it, which happens-before us through the tree lock) is
        // ordered before the field stores, so a reader that sees any new
        // field value also sees the generation move (fence–fence sync).
        fence(Ordering::Release);
        self.word0.store(word0, Ordering::Relaxed);
        self.object.store(span.object, Ordering::Relaxed);
        self.base.store(span.base, Ordering::Relaxed);
        self.len.store(span.len, Ordering::Relaxed);
        self.badge.store(cap.badge.0, Ordering::Relaxed);
        let live = dead + 1;
        self.generation.store(live, Ordering::Release);
        Some(live)
    }

    /// Kills a live slot (generation to the next even value); returns
    /// whether the slot may be reused.
    ///
    /// Caller holds the tree lock and, when killing several slots that
    /// must die together (a revocation), is inside the revocation seqlock
    /// window (sequence odd, release fence issued).
    pub(crate) fn kill(&self) -> bool {
        let live = self.generation.load(Ordering::Relaxed);
        let dead = live.saturating_add(1);
        self.generation.store(dead, Ordering::Relaxed);
        dead < RETIRED
    }
}

/// One environment's capability table.
pub struct CapTable {
    env: EnvId,
    /// 0 while unregistered, else clearance level + 1.
    clearance: AtomicU32,
    slots: Box<[Slot]>,
}

impl CapTable {
    /// An unregistered table of `capacity` dead slots.
    ///
    /// # Errors
    /// [`CapError::InvalidConfig`] if the allocation fails.
    pub(crate) fn new(env: EnvId, capacity: u32) -> Result<Self, CapError> {
        let capacity = usize::try_from(capacity).map_err(|_| CapError::InvalidConfig)?;
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(capacity)
            .map_err(|_| CapError::InvalidConfig)?;
        slots.extend((0..capacity).map(|_| Slot::new()));
        Ok(Self {
            env,
            clearance: AtomicU32::new(0),
            slots: slots.into_boxed_slice(),
        })
    }

    /// The environment this table belongs to.
    #[must_use]
    pub fn env(&self) -> EnvId {
        self.env
    }

    /// Number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The environment's clearance, or `None` if it is not registered.
    #[must_use]
    pub fn clearance(&self) -> Option<Level> {
        match self.clearance.load(Ordering::Acquire) {
            0 => None,
            n => u8::try_from(n - 1).ok().and_then(|l| Level::new(l).ok()),
        }
    }

    /// Registers the environment at `level`. Caller holds the tree lock.
    pub(crate) fn set_clearance(&self, level: Level) {
        self.clearance
            .store(u32::from(level.get()) + 1, Ordering::Release);
    }

    /// Unregisters the environment. Caller holds the tree lock.
    pub(crate) fn clear_clearance(&self) {
        self.clearance.store(0, Ordering::Release);
    }

    /// Slot `index`.
    ///
    /// # Errors
    /// [`CapError::BadIndex`] if it is outside the table.
    pub(crate) fn slot(&self, index: u32) -> Result<&Slot, CapError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.slots.get(i))
            .ok_or(CapError::BadIndex(index))
    }
}

impl fmt::Debug for CapTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapTable")
            .field("env", &self.env)
            .field("capacity", &self.slots.len())
            .field("clearance", &self.clearance())
            .finish()
    }
}
