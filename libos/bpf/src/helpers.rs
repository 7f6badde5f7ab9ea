//! Helper functions: what a program may call, by number.
//!
//! A helper is a plain Rust function taking the five argument registers
//! and the run's [`Memory`] (so it can read and write the program's memory
//! through the same checked accessors as the interpreter), registered
//! under its id together with a [`HelperProto`] the verifier checks every
//! call against. Program loading resolves each `call` to the function
//! pointer once, so a call at run time is an indirect call, not a lookup.

use alloc::vec::Vec;

use crate::maps::MapError;
use crate::memory::{Memory, MemoryFault};

/// A helper's implementation: `r0 = f(memory, r1, r2, r3, r4, r5)`.
pub type HelperFn = fn(&mut Memory<'_, '_>, u64, u64, u64, u64, u64) -> Result<u64, HelperError>;

/// A failure that aborts the program (as opposed to an error code the
/// helper returns in `r0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelperError {
    /// An argument pointed outside the program's memory.
    #[error(transparent)]
    Memory(#[from] MemoryFault),
    /// An argument was not a map handle, or named a map this run lacks.
    #[error("bad map handle {0:#x}")]
    BadMap(u64),
    /// A map operation failed in a way the helper cannot report in `r0`.
    #[error(transparent)]
    Map(#[from] MapError),
    /// The embedder's own failure code.
    #[error("helper failed with code {0}")]
    Failed(u32),
}

/// What the verifier requires of one helper argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    /// Unused: the register is not looked at.
    None,
    /// Any initialised value, pointer or scalar.
    Anything,
    /// A scalar.
    Scalar,
    /// A map handle (`lddw rX, map`) of a map with keys (any kind but a
    /// ring buffer).
    MapHandle,
    /// A map handle of a ring buffer ([`crate::maps::RingBufMap`]).
    RingBuf,
    /// A map handle of a time series ([`crate::maps::TimeSeriesMap`]).
    TimeSeries,
    /// A scalar the verifier knows exactly, between 1 and 2^28: the size of
    /// a ring buffer reservation.
    ConstSize,
    /// A non-null record from `ringbuf_reserve`, unmodified; the call
    /// releases the reservation (submits or discards it).
    RingBufRecord,
    /// A pointer to `key_size` initialised, readable bytes, for the map in
    /// the preceding [`ArgType::MapHandle`] argument.
    MapKey,
    /// A pointer to `value_size` initialised, readable bytes, for the map in
    /// the preceding [`ArgType::MapHandle`] argument.
    MapValue,
    /// A pointer to initialised, readable memory whose length is the next
    /// argument (which must be [`ArgType::Size`]).
    ReadMem,
    /// A pointer to writable memory whose length is the next argument
    /// (which must be [`ArgType::Size`]); on the stack, the bytes count as
    /// initialised afterwards.
    WriteMem,
    /// A scalar with a known upper bound: the length for the preceding
    /// memory argument.
    Size,
    /// The context pointer, unmodified.
    Context,
}

/// What a helper returns in `r0`, for the verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetType {
    /// A scalar.
    Scalar,
    /// A pointer to a value of the map in the first [`ArgType::MapHandle`]
    /// argument, or null: the program must test it before use.
    MapValueOrNull,
    /// A reservation in the ring buffer of the first [`ArgType::RingBuf`]
    /// argument, of the [`ArgType::ConstSize`] argument's bytes, or null:
    /// the program must test it, and then release it exactly once
    /// ([`ArgType::RingBufRecord`]) on every path.
    RingBufRecordOrNull,
}

/// A helper's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperProto {
    /// `r1` to `r5`.
    pub args: [ArgType; 5],
    /// `r0`.
    pub ret: RetType,
}

/// A registered helper.
#[derive(Clone, Copy, Debug)]
pub struct Helper {
    /// Name, for messages.
    pub name: &'static str,
    /// Signature the verifier checks calls against.
    pub proto: HelperProto,
    /// Implementation.
    pub func: HelperFn,
}

/// Helpers by id.
#[derive(Clone, Debug, Default)]
pub struct Helpers {
    by_id: Vec<Option<Helper>>,
}

/// Highest helper id accepted (keeps the id-indexed table small).
pub const MAX_HELPER_ID: u32 = 4095;

impl Helpers {
    /// No helpers.
    #[must_use]
    pub const fn new() -> Helpers {
        Helpers { by_id: Vec::new() }
    }

    /// The map helpers: 1 `map_lookup_elem`, 2 `map_update_elem`,
    /// 3 `map_delete_elem`, 8 `get_smp_processor_id`, 130–134 the ring
    /// buffer helpers, and the private time-series helpers 2048 and 2049
    /// (see [`crate::maps`]).
    #[must_use]
    pub fn with_maps() -> Helpers {
        let mut h = Helpers::new();
        crate::maps::helpers::register(&mut h);
        h
    }

    /// Registers `helper` as `id`, replacing (and returning) any helper
    /// already there.
    ///
    /// # Errors
    /// `Err(helper)` if `id` exceeds [`MAX_HELPER_ID`].
    pub fn register(&mut self, id: u32, helper: Helper) -> Result<Option<Helper>, Helper> {
        if id > MAX_HELPER_ID {
            return Err(helper);
        }
        let id = id as usize;
        if self.by_id.len() <= id {
            self.by_id.resize(id + 1, None);
        }
        Ok(self.by_id[id].replace(helper))
    }

    /// The helper registered as `id`.
    #[must_use]
    pub fn get(&self, id: i32) -> Option<&Helper> {
        usize::try_from(id)
            .ok()
            .and_then(|id| self.by_id.get(id))
            .and_then(Option::as_ref)
    }
}
