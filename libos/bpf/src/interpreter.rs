//! Running a compiled program.
//!
//! The loop keeps the eleven registers in a 16-entry array indexed with
//! `r & 15` (so the index is provably in bounds and needs no check), fetches
//! one `Op` per step and dispatches it with a single `match`. Loads and
//! stores go through [`Memory`]'s checked accessors. A BPF-to-BPF call
//! saves the return slot and the callee-saved `r6`–`r9` and gives the
//! callee the next 512-byte stack frame (at most [`MAX_FRAMES`] deep,
//! zeroed on entry, as the entry frame is at the start of a run); `exit`
//! restores them. Every executed op consumes one unit of the
//! instruction budget, so a runaway program ends with
//! [`ExecError::BudgetExhausted`] rather than hanging its host.

use alloc::vec;
use alloc::vec::Vec;

use crate::compile::Op;
use crate::helpers::HelperError;
use crate::isa::{AtomicOp, JmpCond, Width};
use crate::maps::MapSet;
use crate::memory::{
    MAX_FRAMES, Memory, MemoryFault, Region, STACK_SIZE, context_address, frame_pointer,
    packet_address,
};
use crate::program::Program;

/// Default instruction budget of a [`Vm`].
pub const DEFAULT_BUDGET: u64 = 1 << 20;

/// Why a run stopped without returning a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// A load or store outside the program's memory.
    #[error("instruction {pc}: {fault}")]
    Memory {
        /// Slot index.
        pc: usize,
        /// The access.
        fault: MemoryFault,
    },
    /// The instruction budget ran out.
    #[error("instruction {pc}: instruction budget exhausted")]
    BudgetExhausted {
        /// Slot index of the instruction that would have exceeded it.
        pc: usize,
    },
    /// A BPF-to-BPF call beyond [`MAX_FRAMES`] frames.
    #[error("instruction {pc}: call depth exceeded")]
    CallDepthExceeded {
        /// Slot index of the call.
        pc: usize,
    },
    /// Control reached the second half of an `lddw`, or ran past the last
    /// instruction.
    #[error("instruction {pc}: not an instruction boundary")]
    BadPc {
        /// Slot index.
        pc: usize,
    },
    /// A helper aborted the program.
    #[error("instruction {pc}: helper {id} failed: {error}")]
    Helper {
        /// Slot index of the call.
        pc: usize,
        /// Helper id.
        id: u32,
        /// What went wrong.
        error: HelperError,
    },
    /// The context is shorter than the program's [`crate::ContextLayout`].
    #[error("context of {got} bytes is shorter than the {needed} the program was verified for")]
    ContextTooSmall {
        /// Bytes the layout declares.
        needed: usize,
        /// Bytes passed.
        got: usize,
    },
    /// The packet is longer than the address space allows (4 GiB).
    #[error("packet too large")]
    PacketTooLarge,
}

/// What one run may touch besides its stack.
#[derive(Debug, Default)]
pub struct Input<'a, 'r> {
    /// The context (`r1` on entry).
    pub context: Option<&'a mut [u8]>,
    /// The packet, for programs whose context layout has packet fields.
    pub packet: Option<&'a mut [u8]>,
    /// The maps the program was loaded against.
    pub maps: Option<&'a mut MapSet>,
    /// Extra regions, at [`crate::memory::region_address`].
    pub regions: Option<&'a mut [Region<'r>]>,
    /// The CPU the run is on: per-CPU maps use this CPU's slots, and
    /// `get_smp_processor_id` returns it.
    pub cpu: u32,
}

impl<'a, 'r> Input<'a, 'r> {
    /// An input with just a context.
    #[must_use]
    pub fn context(context: &'a mut [u8]) -> Input<'a, 'r> {
        Input {
            context: Some(context),
            ..Input::default()
        }
    }

    /// Adds a packet.
    #[must_use]
    pub fn with_packet(mut self, packet: &'a mut [u8]) -> Input<'a, 'r> {
        self.packet = Some(packet);
        self
    }

    /// Adds maps.
    #[must_use]
    pub fn with_maps(mut self, maps: &'a mut MapSet) -> Input<'a, 'r> {
        self.maps = Some(maps);
        self
    }

    /// Sets the CPU the run is on.
    #[must_use]
    pub fn on_cpu(mut self, cpu: u32) -> Input<'a, 'r> {
        self.cpu = cpu;
        self
    }

    /// Adds embedder regions.
    #[must_use]
    pub fn with_regions(mut self, regions: &'a mut [Region<'r>]) -> Input<'a, 'r> {
        self.regions = Some(regions);
        self
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Frame {
    ret: usize,
    saved: [u64; 4],
}

/// An execution engine: the stack for all frames and the budget. Reusable
/// across runs and programs; allocates only in [`Vm::new`].
#[derive(Debug)]
pub struct Vm {
    stack: Vec<u8>,
    budget: u64,
}

impl Default for Vm {
    fn default() -> Self {
        Vm::new()
    }
}

impl Vm {
    /// A VM with [`DEFAULT_BUDGET`].
    #[must_use]
    pub fn new() -> Vm {
        Vm {
            stack: vec![0; STACK_SIZE * MAX_FRAMES],
            budget: DEFAULT_BUDGET,
        }
    }

    /// Sets the most instructions one run may execute.
    #[must_use]
    pub fn with_budget(mut self, budget: u64) -> Vm {
        self.budget = budget;
        self
    }

    /// The instruction budget.
    #[must_use]
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Runs `program` and returns its `r0`.
    ///
    /// Each stack frame is zeroed when it is entered, so a run never sees
    /// another run's stack bytes.
    ///
    /// # Errors
    /// Any [`ExecError`].
    pub fn run(&mut self, program: &Program, input: Input<'_, '_>) -> Result<u64, ExecError> {
        self.with_memory(program, input, |memory, budget| {
            execute(program.ops(), memory, budget)
        })
    }

    /// Builds the run's [`Memory`] from `input` (after checking the context
    /// and filling in the packet fields) and calls `engine` with it and the
    /// budget.
    pub(crate) fn with_memory(
        &mut self,
        program: &Program,
        input: Input<'_, '_>,
        engine: impl FnOnce(&mut Memory<'_, '_>, u64) -> Result<u64, ExecError>,
    ) -> Result<u64, ExecError> {
        let layout = program.context_layout();
        let mut no_context = [0u8; 0];
        let mut no_packet = [0u8; 0];
        let mut no_regions: [Region<'_>; 0] = [];
        let context = input.context.unwrap_or(&mut no_context);
        if context.len() < layout.size as usize {
            return Err(ExecError::ContextTooSmall {
                needed: layout.size as usize,
                got: context.len(),
            });
        }
        let packet = input.packet.unwrap_or(&mut no_packet);
        let packet_len = u32::try_from(packet.len()).map_err(|_| ExecError::PacketTooLarge)?;
        if let Some(fields) = layout.packet {
            for (field, value) in [
                (fields.data, packet_address(0)),
                (fields.data_end, packet_address(packet_len)),
            ] {
                let at = field as usize;
                if let Some(slot) = context.get_mut(at..at + 8) {
                    slot.copy_from_slice(&value.to_le_bytes());
                }
            }
        }
        let mut memory = Memory {
            stack: &mut self.stack,
            context,
            context_writable: layout.writable,
            packet,
            regions: input.regions.unwrap_or(&mut no_regions),
            maps: input.maps,
            cpu: input.cpu,
        };
        // Frames are zeroed on entry: no run can read another's stack bytes.
        if let Some(frame) = memory.stack.get_mut(..STACK_SIZE) {
            frame.fill(0);
        }
        let result = engine(&mut memory, self.budget);
        if result.is_err()
            && let Some(maps) = memory.maps.as_deref_mut()
        {
            // A run cut short may hold ring buffer reservations.
            maps.abort_run();
        }
        result
    }
}

#[inline(always)]
fn r(i: u8) -> usize {
    usize::from(i & 15)
}

#[inline(always)]
fn addr(base: u64, off: i16) -> u64 {
    base.wrapping_add(off as i64 as u64)
}

fn jmp32(cond: JmpCond, a: u64, b: u64) -> bool {
    cond.holds(Width::W32, a, b)
}

pub(crate) fn atomic_update<const N: usize>(
    memory: &mut Memory<'_, '_>,
    regs: &mut [u64; 16],
    op: AtomicOp,
    at: u64,
    s: usize,
) -> Result<(), MemoryFault> {
    let mask = if N == 4 {
        u64::from(u32::MAX)
    } else {
        u64::MAX
    };
    let bytes = memory.read_mut(at, N)?;
    let mut buf = [0u8; 8];
    buf[..N].copy_from_slice(bytes);
    let old = u64::from_le_bytes(buf);
    let src = regs[s] & mask;
    let new = match op {
        AtomicOp::Add | AtomicOp::FetchAdd => old.wrapping_add(src),
        AtomicOp::Or | AtomicOp::FetchOr => old | src,
        AtomicOp::And | AtomicOp::FetchAnd => old & src,
        AtomicOp::Xor | AtomicOp::FetchXor => old ^ src,
        AtomicOp::Xchg => src,
        AtomicOp::CmpXchg => {
            if regs[0] & mask == old {
                src
            } else {
                old
            }
        }
    } & mask;
    bytes.copy_from_slice(&new.to_le_bytes()[..N]);
    match op {
        AtomicOp::CmpXchg => regs[0] = old,
        op if op.fetches() => regs[s] = old,
        _ => {}
    }
    Ok(())
}

/// The interpreter loop.
fn execute(ops: &[Op], memory: &mut Memory<'_, '_>, budget: u64) -> Result<u64, ExecError> {
    let mut regs = [0u64; 16];
    regs[1] = context_address(0);
    regs[10] = frame_pointer(0);
    let mut frames = [Frame::default(); MAX_FRAMES];
    let mut depth = 0usize;
    let mut remaining = budget;
    let mut pc = 0usize;
    loop {
        let Some(&op) = ops.get(pc) else {
            return Err(ExecError::BadPc { pc });
        };
        if remaining == 0 {
            return Err(ExecError::BudgetExhausted { pc });
        }
        remaining -= 1;
        let this = pc;
        pc += 1;
        let fault = |fault| ExecError::Memory { pc: this, fault };
        macro_rules! load {
            ($d:expr, $s:expr, $off:expr, $n:literal, $conv:expr) => {{
                let bytes = memory.load::<$n>(addr(regs[r($s)], $off)).map_err(fault)?;
                regs[r($d)] = $conv(bytes);
            }};
        }
        macro_rules! store {
            ($d:expr, $off:expr, $v:expr, $n:literal) => {{
                let v: u64 = $v;
                let mut b = [0u8; $n];
                b.copy_from_slice(&v.to_le_bytes()[..$n]);
                memory
                    .store::<$n>(addr(regs[r($d)], $off), b)
                    .map_err(fault)?;
            }};
        }
        macro_rules! branch {
            ($cond:expr, $t:expr) => {
                if $cond {
                    pc = $t as usize;
                }
            };
        }
        match op {
            Op::Add64K { d, k } => regs[r(d)] = regs[r(d)].wrapping_add(k),
            Op::Add64X { d, s } => regs[r(d)] = regs[r(d)].wrapping_add(regs[r(s)]),
            Op::Sub64K { d, k } => regs[r(d)] = regs[r(d)].wrapping_sub(k),
            Op::Sub64X { d, s } => regs[r(d)] = regs[r(d)].wrapping_sub(regs[r(s)]),
            Op::Mul64K { d, k } => regs[r(d)] = regs[r(d)].wrapping_mul(k),
            Op::Mul64X { d, s } => regs[r(d)] = regs[r(d)].wrapping_mul(regs[r(s)]),
            Op::Div64K { d, k } => regs[r(d)] /= k,
            Op::Div64X { d, s } => regs[r(d)] = regs[r(d)].checked_div(regs[r(s)]).unwrap_or(0),
            Op::SDiv64K { d, k } => regs[r(d)] = (regs[r(d)] as i64).wrapping_div(k as i64) as u64,
            Op::SDiv64X { d, s } => {
                let b = regs[r(s)] as i64;
                regs[r(d)] = if b == 0 {
                    0
                } else {
                    (regs[r(d)] as i64).wrapping_div(b) as u64
                };
            }
            Op::Mod64K { d, k } => regs[r(d)] %= k,
            Op::Mod64X { d, s } => {
                let b = regs[r(s)];
                if b != 0 {
                    regs[r(d)] %= b;
                }
            }
            Op::SMod64K { d, k } => regs[r(d)] = (regs[r(d)] as i64).wrapping_rem(k as i64) as u64,
            Op::SMod64X { d, s } => {
                let b = regs[r(s)] as i64;
                if b != 0 {
                    regs[r(d)] = (regs[r(d)] as i64).wrapping_rem(b) as u64;
                }
            }
            Op::Or64K { d, k } => regs[r(d)] |= k,
            Op::Or64X { d, s } => regs[r(d)] |= regs[r(s)],
            Op::And64K { d, k } => regs[r(d)] &= k,
            Op::And64X { d, s } => regs[r(d)] &= regs[r(s)],
            Op::Lsh64K { d, k } => regs[r(d)] <<= k,
            Op::Lsh64X { d, s } => regs[r(d)] <<= regs[r(s)] & 63,
            Op::Rsh64K { d, k } => regs[r(d)] >>= k,
            Op::Rsh64X { d, s } => regs[r(d)] >>= regs[r(s)] & 63,
            Op::Arsh64K { d, k } => regs[r(d)] = ((regs[r(d)] as i64) >> k) as u64,
            Op::Arsh64X { d, s } => regs[r(d)] = ((regs[r(d)] as i64) >> (regs[r(s)] & 63)) as u64,
            Op::Xor64K { d, k } => regs[r(d)] ^= k,
            Op::Xor64X { d, s } => regs[r(d)] ^= regs[r(s)],
            Op::Mov64K { d, k } => regs[r(d)] = k,
            Op::Mov64X { d, s } => regs[r(d)] = regs[r(s)],
            Op::Neg64 { d } => regs[r(d)] = regs[r(d)].wrapping_neg(),
            Op::Add32K { d, k } => regs[r(d)] = u64::from((regs[r(d)] as u32).wrapping_add(k)),
            Op::Add32X { d, s } => {
                regs[r(d)] = u64::from((regs[r(d)] as u32).wrapping_add(regs[r(s)] as u32));
            }
            Op::Sub32K { d, k } => regs[r(d)] = u64::from((regs[r(d)] as u32).wrapping_sub(k)),
            Op::Sub32X { d, s } => {
                regs[r(d)] = u64::from((regs[r(d)] as u32).wrapping_sub(regs[r(s)] as u32));
            }
            Op::Mul32K { d, k } => regs[r(d)] = u64::from((regs[r(d)] as u32).wrapping_mul(k)),
            Op::Mul32X { d, s } => {
                regs[r(d)] = u64::from((regs[r(d)] as u32).wrapping_mul(regs[r(s)] as u32));
            }
            Op::Div32K { d, k } => regs[r(d)] = u64::from(regs[r(d)] as u32 / k),
            Op::Div32X { d, s } => {
                regs[r(d)] = u64::from(
                    (regs[r(d)] as u32)
                        .checked_div(regs[r(s)] as u32)
                        .unwrap_or(0),
                );
            }
            Op::SDiv32K { d, k } => {
                regs[r(d)] = u64::from((regs[r(d)] as i32).wrapping_div(k as i32) as u32);
            }
            Op::SDiv32X { d, s } => {
                let b = regs[r(s)] as i32;
                regs[r(d)] = if b == 0 {
                    0
                } else {
                    u64::from((regs[r(d)] as i32).wrapping_div(b) as u32)
                };
            }
            Op::Mod32K { d, k } => regs[r(d)] = u64::from(regs[r(d)] as u32 % k),
            Op::Mod32X { d, s } => {
                let (a, b) = (regs[r(d)] as u32, regs[r(s)] as u32);
                regs[r(d)] = u64::from(if b == 0 { a } else { a % b });
            }
            Op::SMod32K { d, k } => {
                regs[r(d)] = u64::from((regs[r(d)] as i32).wrapping_rem(k as i32) as u32);
            }
            Op::SMod32X { d, s } => {
                let (a, b) = (regs[r(d)] as i32, regs[r(s)] as i32);
                regs[r(d)] = u64::from(if b == 0 { a } else { a.wrapping_rem(b) } as u32);
            }
            Op::Or32K { d, k } => regs[r(d)] = u64::from(regs[r(d)] as u32 | k),
            Op::Or32X { d, s } => regs[r(d)] = u64::from(regs[r(d)] as u32 | regs[r(s)] as u32),
            Op::And32K { d, k } => regs[r(d)] = u64::from(regs[r(d)] as u32 & k),
            Op::And32X { d, s } => regs[r(d)] = u64::from(regs[r(d)] as u32 & regs[r(s)] as u32),
            Op::Lsh32K { d, k } => regs[r(d)] = u64::from((regs[r(d)] as u32) << k),
            Op::Lsh32X { d, s } => {
                regs[r(d)] = u64::from((regs[r(d)] as u32) << (regs[r(s)] & 31));
            }
            Op::Rsh32K { d, k } => regs[r(d)] = u64::from(regs[r(d)] as u32 >> k),
            Op::Rsh32X { d, s } => regs[r(d)] = u64::from(regs[r(d)] as u32 >> (regs[r(s)] & 31)),
            Op::Arsh32K { d, k } => regs[r(d)] = u64::from(((regs[r(d)] as i32) >> k) as u32),
            Op::Arsh32X { d, s } => {
                regs[r(d)] = u64::from(((regs[r(d)] as i32) >> (regs[r(s)] & 31)) as u32);
            }
            Op::Xor32K { d, k } => regs[r(d)] = u64::from(regs[r(d)] as u32 ^ k),
            Op::Xor32X { d, s } => regs[r(d)] = u64::from(regs[r(d)] as u32 ^ regs[r(s)] as u32),
            Op::Mov32K { d, k } => regs[r(d)] = u64::from(k),
            Op::Mov32X { d, s } => regs[r(d)] = u64::from(regs[r(s)] as u32),
            Op::Neg32 { d } => regs[r(d)] = u64::from((regs[r(d)] as u32).wrapping_neg()),
            Op::MovSx64B { d, s } => regs[r(d)] = regs[r(s)] as i8 as i64 as u64,
            Op::MovSx64H { d, s } => regs[r(d)] = regs[r(s)] as i16 as i64 as u64,
            Op::MovSx64W { d, s } => regs[r(d)] = regs[r(s)] as i32 as i64 as u64,
            Op::MovSx32B { d, s } => regs[r(d)] = u64::from(regs[r(s)] as i8 as i32 as u32),
            Op::MovSx32H { d, s } => regs[r(d)] = u64::from(regs[r(s)] as i16 as i32 as u32),
            Op::Zext16 { d } => regs[r(d)] = u64::from(regs[r(d)] as u16),
            Op::Zext32 { d } => regs[r(d)] = u64::from(regs[r(d)] as u32),
            Op::Swap16 { d } => regs[r(d)] = u64::from((regs[r(d)] as u16).swap_bytes()),
            Op::Swap32 { d } => regs[r(d)] = u64::from((regs[r(d)] as u32).swap_bytes()),
            Op::Swap64 { d } => regs[r(d)] = regs[r(d)].swap_bytes(),
            Op::Nop => {}
            Op::Ja { t } => pc = t as usize,
            Op::JeqK { d, k, t } => branch!(regs[r(d)] == k, t),
            Op::JeqX { d, s, t } => branch!(regs[r(d)] == regs[r(s)], t),
            Op::JgtK { d, k, t } => branch!(regs[r(d)] > k, t),
            Op::JgtX { d, s, t } => branch!(regs[r(d)] > regs[r(s)], t),
            Op::JgeK { d, k, t } => branch!(regs[r(d)] >= k, t),
            Op::JgeX { d, s, t } => branch!(regs[r(d)] >= regs[r(s)], t),
            Op::JsetK { d, k, t } => branch!(regs[r(d)] & k != 0, t),
            Op::JsetX { d, s, t } => branch!(regs[r(d)] & regs[r(s)] != 0, t),
            Op::JneK { d, k, t } => branch!(regs[r(d)] != k, t),
            Op::JneX { d, s, t } => branch!(regs[r(d)] != regs[r(s)], t),
            Op::JsgtK { d, k, t } => branch!((regs[r(d)] as i64) > k as i64, t),
            Op::JsgtX { d, s, t } => branch!((regs[r(d)] as i64) > regs[r(s)] as i64, t),
            Op::JsgeK { d, k, t } => branch!((regs[r(d)] as i64) >= k as i64, t),
            Op::JsgeX { d, s, t } => branch!((regs[r(d)] as i64) >= regs[r(s)] as i64, t),
            Op::JltK { d, k, t } => branch!(regs[r(d)] < k, t),
            Op::JltX { d, s, t } => branch!(regs[r(d)] < regs[r(s)], t),
            Op::JleK { d, k, t } => branch!(regs[r(d)] <= k, t),
            Op::JleX { d, s, t } => branch!(regs[r(d)] <= regs[r(s)], t),
            Op::JsltK { d, k, t } => branch!((regs[r(d)] as i64) < k as i64, t),
            Op::JsltX { d, s, t } => branch!((regs[r(d)] as i64) < regs[r(s)] as i64, t),
            Op::JsleK { d, k, t } => branch!((regs[r(d)] as i64) <= k as i64, t),
            Op::JsleX { d, s, t } => branch!((regs[r(d)] as i64) <= regs[r(s)] as i64, t),
            Op::Jmp32K { cond, d, k, t } => branch!(jmp32(cond, regs[r(d)], u64::from(k)), t),
            Op::Jmp32X { cond, d, s, t } => branch!(jmp32(cond, regs[r(d)], regs[r(s)]), t),
            Op::Call { f, id } => {
                regs[0] =
                    f(memory, regs[1], regs[2], regs[3], regs[4], regs[5]).map_err(|error| {
                        ExecError::Helper {
                            pc: this,
                            id,
                            error,
                        }
                    })?;
            }
            Op::CallLocal { t } => {
                if depth + 1 >= MAX_FRAMES {
                    return Err(ExecError::CallDepthExceeded { pc: this });
                }
                frames[depth] = Frame {
                    ret: pc,
                    saved: [regs[6], regs[7], regs[8], regs[9]],
                };
                depth += 1;
                if let Some(frame) = memory
                    .stack
                    .get_mut(depth * STACK_SIZE..(depth + 1) * STACK_SIZE)
                {
                    frame.fill(0);
                }
                regs[10] = frame_pointer(depth);
                pc = t as usize;
            }
            Op::Exit => {
                if depth == 0 {
                    return Ok(regs[0]);
                }
                depth -= 1;
                let frame = frames[depth];
                regs[6..10].copy_from_slice(&frame.saved);
                regs[10] = frame_pointer(depth);
                pc = frame.ret;
            }
            Op::Ldx8 { d, s, off } => load!(d, s, off, 1, |b: [u8; 1]| u64::from(b[0])),
            Op::Ldx16 { d, s, off } => load!(d, s, off, 2, |b| u64::from(u16::from_le_bytes(b))),
            Op::Ldx32 { d, s, off } => load!(d, s, off, 4, |b| u64::from(u32::from_le_bytes(b))),
            Op::Ldx64 { d, s, off } => load!(d, s, off, 8, u64::from_le_bytes),
            Op::LdxSx8 { d, s, off } => load!(d, s, off, 1, |b: [u8; 1]| b[0] as i8 as i64 as u64),
            Op::LdxSx16 { d, s, off } => {
                load!(d, s, off, 2, |b| i16::from_le_bytes(b) as i64 as u64);
            }
            Op::LdxSx32 { d, s, off } => {
                load!(d, s, off, 4, |b| i32::from_le_bytes(b) as i64 as u64);
            }
            Op::St8 { d, off, k } => store!(d, off, k, 1),
            Op::St16 { d, off, k } => store!(d, off, k, 2),
            Op::St32 { d, off, k } => store!(d, off, k, 4),
            Op::St64 { d, off, k } => store!(d, off, k, 8),
            Op::Stx8 { d, s, off } => store!(d, off, regs[r(s)], 1),
            Op::Stx16 { d, s, off } => store!(d, off, regs[r(s)], 2),
            Op::Stx32 { d, s, off } => store!(d, off, regs[r(s)], 4),
            Op::Stx64 { d, s, off } => store!(d, off, regs[r(s)], 8),
            Op::Atomic32 { op, d, s, off } => {
                let at = addr(regs[r(d)], off);
                atomic_update::<4>(memory, &mut regs, op, at, r(s)).map_err(fault)?;
            }
            Op::Atomic64 { op, d, s, off } => {
                let at = addr(regs[r(d)], off);
                atomic_update::<8>(memory, &mut regs, op, at, r(s)).map_err(fault)?;
            }
            Op::Lddw { d, k } => {
                regs[r(d)] = k;
                pc += 1;
            }
            Op::LddwTail | Op::FellOff => return Err(ExecError::BadPc { pc: this }),
        }
    }
}
