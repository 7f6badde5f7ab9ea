//! What generated code calls back into: the run's environment and the
//! out-of-line operations (memory accesses, helpers, BPF-to-BPF frames).
//!
//! Every atomic, and every load and store the generated code does not do
//! inline (see the backends: x86_64 inlines checked stack, context,
//! packet and map-value accesses against [`Env`]'s record of those
//! slices, both inline in-frame `r10` accesses), goes through
//! one of the functions here, which use the very [`Memory`] accessors the
//! interpreter uses; so JIT-compiled code
//! keeps the interpreter's guarantee that an access outside the lent
//! memory is a [`MemoryFault`](crate::MemoryFault), never undefined
//! behaviour. These functions are ordinary safe Rust with the ABI the
//! backend calls them with (`sysv64` on x86_64, the C ABI, AAPCS64, on
//! aarch64; see `callout!`); what generated code does with [`Env`]
//! directly is spill registers into it, read the status words and the
//! slice records, and keep the current frame's pointers, at offsets taken
//! from `offset_of!`.
//!
//! Each callout takes the op's slot index and re-reads the op from the
//! program, so the operand size, signedness, atomic operation or helper it
//! performs is exactly the interpreter's for that slot.

use core::mem::offset_of;

use crate::compile::Op;
use crate::interpreter::{ExecError, atomic_update};
use crate::maps::{ArrayMap, Map};
use crate::memory::{MAX_FRAMES, Memory, STACK_SIZE, frame_pointer};

/// The run finished normally; the entry function returned `r0`.
pub(crate) const STATUS_OK: u64 = 0;
/// [`Env::error`] holds the error.
pub(crate) const STATUS_ERROR: u64 = 1;
/// The budget ran out at the segment starting at [`Env::pc`], with
/// [`Env::remaining`] units left.
pub(crate) const STATUS_BUDGET: u64 = 2;
/// Control reached a non-instruction at [`Env::pc`].
pub(crate) const STATUS_BAD_PC: u64 = 3;

/// The per-run state generated code reaches through a callee-saved
/// register (`r12` on x86_64, `x24` on aarch64).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Env<'e, 'a, 'r> {
    /// Spill slots for the caller-saved host registers around a callout:
    /// BPF `r0`-`r5` in slots 0-5 on every backend (so [`call`] finds the
    /// helper arguments there), then backend-specific state.
    pub(crate) saved: [u64; 8],
    /// One of the `STATUS_*` values.
    pub(crate) status: u64,
    /// Slot index for [`STATUS_BUDGET`] and [`STATUS_BAD_PC`].
    pub(crate) pc: u64,
    /// Budget left at a [`STATUS_BUDGET`] exit.
    pub(crate) remaining: u64,
    /// BPF-to-BPF call depth (0 in the entry function).
    pub(crate) depth: u64,
    /// The instruction budget on entry.
    pub(crate) budget: u64,
    /// The host stack pointer after the prologue, for unwinding on errors.
    pub(crate) saved_sp: u64,
    /// The run's memory.
    pub(crate) memory: &'e mut Memory<'a, 'r>,
    /// The program's ops.
    pub(crate) ops: &'e [Op],
    /// The error, for [`STATUS_ERROR`].
    pub(crate) error: Option<ExecError>,
    /// Host address of the run's stack (every frame, [`STACK_SIZE`] bytes
    /// each): what inline stack accesses index.
    pub(crate) stack_ptr: u64,
    /// Frames in that stack.
    pub(crate) stack_frames: u64,
    /// The current frame's `r10` ([`frame_pointer`] of [`Env::depth`]),
    /// kept by generated code across BPF-to-BPF calls.
    pub(crate) fp_virtual: u64,
    /// Host address of the current frame's top (where `fp_virtual`
    /// points), kept with it.
    pub(crate) fp_host: u64,
    /// Host address and length of the context (`[0]`) and the packet
    /// (`[1]`), for inline loads.
    pub(crate) direct_read: [[u64; 2]; 2],
    /// The same for inline stores: the context's length is 0 unless the
    /// program may write it.
    pub(crate) direct_write: [[u64; 2]; 2],
    /// How many maps (at most [`DIRECT_MAPS`], the first ones) `maps`
    /// records; 0 when the program names no map (then `maps` is `None`).
    pub(crate) map_count: u64,
    /// The record of the maps' storage (kept apart, so a run without maps
    /// does not set it up).
    pub(crate) maps: Option<&'e mut MapTables>,
}

/// What a run records of its first maps for inline access, by map index.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct MapTables {
    /// Host address and length of the value storage as `Map::values`
    /// gives it, for inline loads.
    pub(crate) read: [[u64; 2]; DIRECT_MAPS],
    /// The same from `Map::values_mut`, for inline stores.
    pub(crate) write: [[u64; 2]; DIRECT_MAPS],
    /// `[max_entries, value_size]` of an [`ArrayMap`] (whose lookup
    /// generated code may do inline), `[0, 0]` for any other map.
    pub(crate) array: [[u64; 2]; DIRECT_MAPS],
}

impl MapTables {
    /// Nothing recorded yet.
    pub(crate) const fn new() -> Self {
        Self {
            read: [[0; 2]; DIRECT_MAPS],
            write: [[0; 2]; DIRECT_MAPS],
            array: [[0; 2]; DIRECT_MAPS],
        }
    }
}

/// Maps whose value storage a run records for inline access (programs
/// rarely use more; the rest take the callouts).
pub(crate) const DIRECT_MAPS: usize = 8;

type StaticEnv = Env<'static, 'static, 'static>;

/// Offsets of the fields generated code touches.
pub(crate) const SAVED: i32 = offset_of!(StaticEnv, saved) as i32;
pub(crate) const STATUS: i32 = offset_of!(StaticEnv, status) as i32;
pub(crate) const PC: i32 = offset_of!(StaticEnv, pc) as i32;
pub(crate) const REMAINING: i32 = offset_of!(StaticEnv, remaining) as i32;
pub(crate) const DEPTH: i32 = offset_of!(StaticEnv, depth) as i32;
pub(crate) const BUDGET: i32 = offset_of!(StaticEnv, budget) as i32;
pub(crate) const SAVED_SP: i32 = offset_of!(StaticEnv, saved_sp) as i32;
/// Offsets of the fields behind the inline memory accesses (the aarch64
/// backend inlines only `r10`-relative ones, with the frame fields).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) mod direct {
    use super::{StaticEnv, offset_of};
    pub(crate) const STACK_PTR: i32 = offset_of!(StaticEnv, stack_ptr) as i32;
    pub(crate) const STACK_FRAMES: i32 = offset_of!(StaticEnv, stack_frames) as i32;
    pub(crate) const FP_VIRTUAL: i32 = offset_of!(StaticEnv, fp_virtual) as i32;
    pub(crate) const FP_HOST: i32 = offset_of!(StaticEnv, fp_host) as i32;
    pub(crate) const DIRECT_READ: i32 = offset_of!(StaticEnv, direct_read) as i32;
    pub(crate) const DIRECT_WRITE: i32 = offset_of!(StaticEnv, direct_write) as i32;
    pub(crate) const MAP_COUNT: i32 = offset_of!(StaticEnv, map_count) as i32;
    pub(crate) const MAP_TABLES: i32 = offset_of!(StaticEnv, maps) as i32;
    /// Offsets inside [`MapTables`](super::MapTables).
    pub(crate) const MAP_READ: i32 = offset_of!(super::MapTables, read) as i32;
    pub(crate) const MAP_WRITE: i32 = offset_of!(super::MapTables, write) as i32;
    pub(crate) const MAP_ARRAY: i32 = offset_of!(super::MapTables, array) as i32;
}

/// Defines a callout with the ABI generated code calls it with: `sysv64`
/// on x86_64 (whatever the target's default C ABI is, as on UEFI), the C
/// ABI (AAPCS64) elsewhere.
macro_rules! callout {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> u64 $body:block) => {
        $(#[$meta])*
        #[cfg(target_arch = "x86_64")]
        pub(crate) extern "sysv64" fn $name($($arg: $ty),*) -> u64 $body

        $(#[$meta])*
        #[cfg(not(target_arch = "x86_64"))]
        pub(crate) extern "C" fn $name($($arg: $ty),*) -> u64 $body
    };
}

impl<'e, 'a, 'r> Env<'e, 'a, 'r> {
    /// The environment of a run over `memory` of `ops` with `budget`.
    ///
    /// It records where the stack, context and packet slices of `memory`
    /// lie, so generated code may access them inline within those bounds
    /// (the callouts handle every other address, and every address those
    /// bounds reject); [`Env::record_map_shapes`] adds the maps.
    pub(crate) fn new(memory: &'e mut Memory<'a, 'r>, ops: &'e [Op], budget: u64) -> Self {
        let context = [
            memory.context.as_mut_ptr() as u64,
            memory.context.len() as u64,
        ];
        let packet = [
            memory.packet.as_mut_ptr() as u64,
            memory.packet.len() as u64,
        ];
        let writable_context = if memory.context_writable {
            context
        } else {
            [context[0], 0]
        };
        let stack_ptr = memory.stack.as_mut_ptr() as u64;
        Env {
            saved: [0; 8],
            status: STATUS_OK,
            pc: 0,
            remaining: 0,
            depth: 0,
            budget,
            saved_sp: 0,
            stack_ptr,
            stack_frames: (memory.stack.len() / STACK_SIZE) as u64,
            fp_virtual: frame_pointer(0),
            fp_host: stack_ptr + STACK_SIZE as u64,
            direct_read: [context, packet],
            direct_write: [writable_context, packet],
            map_count: 0,
            maps: None,
            memory,
            ops,
            error: None,
        }
    }

    /// Records the run's first [`DIRECT_MAPS`] maps in `tables` (for a
    /// program that names a map): their shapes and where their value
    /// storage lies.
    pub(crate) fn record_map_shapes(&mut self, tables: &'e mut MapTables) {
        let Some(set) = self.memory.maps.as_deref() else {
            return;
        };
        let count = set.len().min(DIRECT_MAPS);
        for (i, slot) in tables.array.iter_mut().take(count).enumerate() {
            if let Some(array) = set.get_as::<ArrayMap>(i as u32) {
                let def = array.def();
                *slot = [u64::from(def.max_entries), u64::from(def.value_size)];
            }
        }
        self.map_count = count as u64;
        self.maps = Some(tables);
        self.record_maps();
    }

    /// Records where the maps' value storage lies now. Only helpers can
    /// move it (a hash map growing on update), so [`call`] records it
    /// again after each one.
    fn record_maps(&mut self) {
        let count = self.map_count as usize;
        let (Some(set), Some(tables)) = (self.memory.maps.as_deref_mut(), self.maps.as_deref_mut())
        else {
            return;
        };
        for i in 0..count {
            if let Some(map) = set.get_mut(i as u32) {
                let read = map.values();
                tables.read[i] = [read.as_ptr() as u64, read.len() as u64];
                let write = map.values_mut();
                tables.write[i] = [write.as_mut_ptr() as u64, write.len() as u64];
            }
        }
    }
}

impl Env<'_, '_, '_> {
    fn fail(&mut self, error: ExecError) -> u64 {
        self.error = Some(error);
        self.status = STATUS_ERROR;
        0
    }

    fn op(&self, pc: u64) -> Option<Op> {
        self.ops.get(usize::try_from(pc).ok()?).copied()
    }
}

callout! {
    /// `ldx` at slot `pc` from `addr`; returns the loaded, extended value.
    fn load(env: &mut Env<'_, '_, '_>, pc: u64, addr: u64) -> u64 {
        let op = env.op(pc);
        let m = &env.memory;
        let value = match op {
            Some(Op::Ldx8 { .. }) => m.load::<1>(addr).map(|b| u64::from(b[0])),
            Some(Op::Ldx16 { .. }) => m.load(addr).map(|b| u64::from(u16::from_le_bytes(b))),
            Some(Op::Ldx32 { .. }) => m.load(addr).map(|b| u64::from(u32::from_le_bytes(b))),
            Some(Op::Ldx64 { .. }) => m.load(addr).map(u64::from_le_bytes),
            Some(Op::LdxSx8 { .. }) => m.load::<1>(addr).map(|b| b[0] as i8 as i64 as u64),
            Some(Op::LdxSx16 { .. }) => m.load(addr).map(|b| i16::from_le_bytes(b) as i64 as u64),
            Some(Op::LdxSx32 { .. }) => m.load(addr).map(|b| i32::from_le_bytes(b) as i64 as u64),
            _ => return env.fail(ExecError::BadPc { pc: pc as usize }),
        };
        value.unwrap_or_else(|fault| {
            env.fail(ExecError::Memory {
                pc: pc as usize,
                fault,
            })
        })
    }
}

callout! {
    /// `st`/`stx` at slot `pc` of `value` to `addr`.
    fn store(
        env: &mut Env<'_, '_, '_>,
        pc: u64,
        addr: u64,
        value: u64,
    ) -> u64 {
        let b = value.to_le_bytes();
        let op = env.op(pc);
        let m = &mut env.memory;
        let result = match op {
            Some(Op::St8 { .. } | Op::Stx8 { .. }) => m.store::<1>(addr, [b[0]]),
            Some(Op::St16 { .. } | Op::Stx16 { .. }) => m.store::<2>(addr, [b[0], b[1]]),
            Some(Op::St32 { .. } | Op::Stx32 { .. }) => m.store::<4>(addr, [b[0], b[1], b[2], b[3]]),
            Some(Op::St64 { .. } | Op::Stx64 { .. }) => m.store::<8>(addr, b),
            _ => return env.fail(ExecError::BadPc { pc: pc as usize }),
        };
        match result {
            Ok(()) => 0,
            Err(fault) => env.fail(ExecError::Memory {
                pc: pc as usize,
                fault,
            }),
        }
    }
}

callout! {
    /// The atomic at slot `pc` on `addr`, with the source register's value
    /// `src` and `r0`. Returns the value the op writes back to a register:
    /// the new `r0` for `cmpxchg`, the new source register for the other
    /// fetching ops, unused otherwise.
    fn atomic(
        env: &mut Env<'_, '_, '_>,
        pc: u64,
        addr: u64,
        src: u64,
        r0: u64,
    ) -> u64 {
        let (op, s, wide) = match env.op(pc) {
            Some(Op::Atomic32 { op, s, .. }) => (op, s, false),
            Some(Op::Atomic64 { op, s, .. }) => (op, s, true),
            _ => return env.fail(ExecError::BadPc { pc: pc as usize }),
        };
        let s = usize::from(s & 15);
        let mut regs = [0u64; 16];
        regs[s] = src;
        regs[0] = r0;
        let result = if wide {
            atomic_update::<8>(env.memory, &mut regs, op, addr, s)
        } else {
            atomic_update::<4>(env.memory, &mut regs, op, addr, s)
        };
        match result {
            Ok(()) if op == crate::isa::AtomicOp::CmpXchg => regs[0],
            Ok(()) => regs[s],
            Err(fault) => env.fail(ExecError::Memory {
                pc: pc as usize,
                fault,
            }),
        }
    }
}

callout! {
    /// The helper call at slot `pc`, with `r1`-`r5` from the spill slots.
    fn call(env: &mut Env<'_, '_, '_>, pc: u64) -> u64 {
        let Some(Op::Call { f, id }) = env.op(pc) else {
            return env.fail(ExecError::BadPc { pc: pc as usize });
        };
        let [_, r1, r2, r3, r4, r5, ..] = env.saved;
        let result = f(env.memory, r1, r2, r3, r4, r5);
        if env.map_count != 0 {
            env.record_maps();
        }
        match result {
            Ok(value) => value,
            Err(error) => env.fail(ExecError::Helper {
                pc: pc as usize,
                id,
                error,
            }),
        }
    }
}

callout! {
    /// Entering a BPF-to-BPF call at slot `pc`: checks and bumps the depth,
    /// zeroes the callee's stack frame, returns its frame pointer.
    fn enter(env: &mut Env<'_, '_, '_>, pc: u64) -> u64 {
        let depth = env.depth as usize;
        if depth + 1 >= MAX_FRAMES {
            return env.fail(ExecError::CallDepthExceeded { pc: pc as usize });
        }
        let depth = depth + 1;
        env.depth = depth as u64;
        if let Some(frame) = env
            .memory
            .stack
            .get_mut(depth * STACK_SIZE..(depth + 1) * STACK_SIZE)
        {
            frame.fill(0);
        }
        frame_pointer(depth)
    }
}
