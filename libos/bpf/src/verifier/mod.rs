//! The streaming verifier: one forward pass per function, with state kept
//! only where control flow needs it.
//!
//! # Design
//!
//! Linux's verifier explores paths and keeps many states per instruction
//! for pruning; its memory grows with program complexity. This one is an
//! abstract interpreter over the instructions *in program order*:
//!
//! * The *current* state flows from each instruction to the next.
//! * A forward jump records the state on its taken edge at the target
//!   (joining it with any state already recorded there); when the pass
//!   reaches the target it joins that entry into the current state and
//!   drops it. A block's state therefore lives only while it is needed.
//! * An instruction reached by neither fall-through nor a recorded jump is
//!   unreachable and refused. (A branch the verifier proves never taken
//!   still makes its target *structurally* reachable; the target is then
//!   checked as dead code.)
//! * A backward jump must close a bounded loop (see *Loops* below): at the
//!   loop header the state is widened to an invariant, the body is checked
//!   once under it, and at the backward jump the state must be covered by
//!   it.
//! * Functions (BPF-to-BPF calls) are checked one at a time, callers
//!   first; a callee's entry state is the join of its call sites' argument
//!   registers. Recursion and more than [`MAX_FRAMES`] nested frames are
//!   refused.
//!
//! Memory is the structural pre-pass's bitmaps (a few bits per slot) plus
//! one state per outstanding forward-jump target and per enclosing loop.
//! Nothing is allocated per instruction, and bytecode is decoded on the
//! fly rather than copied.
//!
//! Registers are typed as scalar, pointer to context, stack, packet, map
//! value or ring buffer record (possibly null), packet end or map handle, with known bits and
//! signed/unsigned bounds for scalars and pointer offsets. Refused are: reads of uninitialised
//! registers or stack bytes, writes to `r10`, memory accesses outside their
//! region or through possibly-null or non-pointer values, pointer arithmetic
//! other than adding or subtracting scalars, storing pointers anywhere but
//! whole stack slots, helper calls whose arguments do not match the
//! helper's [`HelperProto`](crate::helpers::HelperProto), unreachable code,
//! jumps out of range, across functions or into the middle of `lddw`,
//! falling off a function's end, unbounded loops, stack use beyond 512
//! bytes per frame, and ring buffer reservations not released exactly once.
//!
//! # References
//!
//! `ringbuf_reserve` returns a possibly-null record and makes the state
//! hold a reference, tagged with the call's slot index. Testing the record
//! against null drops the reference on the null edge; `ringbuf_submit` or
//! `ringbuf_discard` drops it, after which every copy of the pointer is
//! unusable ([`VerifyErrorKind::ReservationReleased`]). Where paths merge,
//! a reference held on only one of them is kept but poisoned: it can no
//! longer be used or released, so a program must release a reservation on
//! the path that made it. A function exiting with a reference still held
//! is refused with [`VerifyErrorKind::ReservationLeak`], which names the
//! reserving instruction. References do not cross BPF-to-BPF calls.
//!
//! # Loops
//!
//! A backward jump at `back` to `header` closes the loop `[header, back]`.
//! It is accepted when:
//!
//! 1. the loop is entered only through `header` (no jump from outside lands
//!    in `(header, back]`), and `header` has no other backward jump;
//! 2. the backward jump is conditional, `if c OP bound goto header` (either
//!    operand order), where
//! 3. the *counter* `c` is written exactly once in the body, by
//!    `c += k` or `c -= k` with a constant `k != 0`, at an instruction no
//!    path from `header` to `back` can skip (no jump from before it lands
//!    after it) and that no inner loop contains;
//! 4. `bound` is an immediate, or a register the body never writes that
//!    holds a known constant on entry;
//! 5. `c` holds a known constant on entry; and
//! 6. stepping `c` by `k` from its start makes `OP` false after finitely
//!    many steps *without overflowing* in the width and signedness the
//!    comparison sees (so `!=` needs the distance to be a multiple of `k`).
//!
//! The trip count and the counter's range at the header follow from 5 and
//! 6. The header's invariant is the entry state with every register the
//! body writes widened to an unknown scalar (or made unreadable, if it held
//! a pointer), stack slots the body writes through `r10` widened the same
//! way, and the counter given its range. The body is verified once under
//! it; at the backward jump the state on the taken edge must be covered by
//! it (the counter excepted, which rule 6 covers), or the program is
//! refused. So a pointer advanced through a loop is refused; derive it
//! from a counter instead (`p = base + i`).
//!
//! # Stack memory passed to functions
//!
//! A callee sees a stack pointer argument as plain memory reaching up to
//! the caller's frame top: its accesses are bounds-checked, not
//! initialisation-checked, and after the call the caller counts those
//! bytes as initialised. This is sound for memory safety and leaks nothing
//! because the interpreter zeroes every frame when it is entered.

mod cfg;
mod check;
mod loops;
mod scalar;
mod state;

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

pub use cfg::LoopReason;

use crate::decode::{DecodeErrorKind, decode_at, slot_count};
use crate::isa::Reg;
use crate::memory::MAX_FRAMES;
use crate::program::Config;
use cfg::{Cfg, Flow};
use check::Step;
use scalar::Scalar;
use state::{Kind, RegState, State};

/// Most slots in a program.
pub const MAX_INSNS: usize = 1 << 16;

/// Most forward-jump targets with a recorded state at once; beyond this a
/// program is refused as too complex (it bounds the verifier's memory).
pub const MAX_PENDING: usize = 64;

/// Why a program was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyErrorKind {
    /// Malformed bytecode.
    #[error("{0}")]
    Decode(DecodeErrorKind),
    /// More than [`MAX_INSNS`] slots.
    #[error("program too large")]
    TooLarge,
    /// More than [`MAX_PENDING`] jump targets waiting at once.
    #[error("too many pending branch states")]
    TooComplex,
    /// A jump or call target outside the program.
    #[error("jump out of range")]
    JumpOutOfRange,
    /// A jump or call into the second half of an `lddw`.
    #[error("jump into the middle of lddw")]
    JumpIntoLddw,
    /// A jump from one function into another.
    #[error("jump across functions")]
    JumpAcrossFunctions,
    /// Control can run past the function's last instruction.
    #[error("control falls off the end of the function")]
    FallsOffEnd,
    /// No path reaches the instruction.
    #[error("unreachable instruction")]
    Unreachable,
    /// A function calls itself, directly or not.
    #[error("recursive call")]
    RecursiveCall,
    /// Calls nest deeper than the runtime's frames.
    #[error("call nesting deeper than {MAX_FRAMES} frames")]
    CallTooDeep,
    /// A register read before any write on some path.
    #[error("{0} is uninitialised (or holds conflicting types from merged paths)")]
    UninitRegister(Reg),
    /// Stack bytes read before any write on some path.
    #[error("read of uninitialised stack at r10{0:+}")]
    UninitStack(i64),
    /// A write to `r10`.
    #[error("r10 is read-only")]
    FramePointerWrite,
    /// A stack access below the 512-byte frame.
    #[error("stack access at r10{0:+} exceeds the 512-byte frame")]
    StackTooLarge(i64),
    /// A stack access at or above the frame pointer, or with an unbounded
    /// offset.
    #[error("stack access at r10{0:+} is out of bounds")]
    StackOutOfBounds(i64),
    /// An access outside the context, a map value, a packet's checked
    /// range, or memory passed to a function.
    #[error("access to {region} at offset {offset} size {size} is out of bounds")]
    OutOfBounds {
        /// What was accessed.
        region: &'static str,
        /// Lowest offset accessed.
        offset: i64,
        /// Bytes.
        size: u64,
    },
    /// A context access at a variable offset.
    #[error("context access at a variable offset")]
    VariableContextOffset,
    /// A store into read-only memory (context, packet or packet fields).
    #[error("store into read-only {0}")]
    ReadOnly(&'static str),
    /// A dereference of a pointer that may be null.
    #[error("possible null dereference of {0}")]
    NullDereference(Reg),
    /// A dereference of a scalar, map handle or packet end.
    #[error("{0} is not a dereferenceable pointer")]
    NotAPointer(Reg),
    /// Arithmetic a pointer does not allow.
    #[error("invalid pointer arithmetic on {0}")]
    PointerArithmetic(Reg),
    /// A pointer stored where it would become a number (outside a whole
    /// stack slot), truncated, or returned.
    #[error("pointer leak through {0}")]
    PointerLeak(Reg),
    /// No helper has this id.
    #[error("unknown helper {0}")]
    UnknownHelper(i32),
    /// A helper argument does not match the helper's signature.
    #[error("helper argument r{arg}: {reason}")]
    HelperArg {
        /// Argument register, 1 to 5.
        arg: u8,
        /// What is wrong.
        reason: &'static str,
    },
    /// No map has this fd/index, or it has no direct value at the offset.
    #[error("unknown map {0} (or no direct value access at that offset)")]
    UnknownMap(i32),
    /// A backward jump that does not close a provably bounded loop.
    #[error("unbounded loop: {0}")]
    UnboundedLoop(LoopReason),
    /// The loop body changes state its header's invariant assumed.
    #[error("loop body does not preserve the loop invariant")]
    LoopNotInvariant,
    /// A ring buffer reservation still held when the function exits on
    /// some path (neither submitted nor discarded).
    #[error(
        "ring buffer reservation made at instruction {reserved_at} is not submitted or discarded on every path"
    )]
    ReservationLeak {
        /// Slot index of the `ringbuf_reserve` call.
        reserved_at: usize,
    },
    /// A use or release of a ring buffer record that was already submitted
    /// or discarded (on some path).
    #[error("{0} points to a ring buffer record already submitted or discarded (on some path)")]
    ReservationReleased(Reg),
    /// A valid instruction the runtime does not implement.
    #[error("unsupported instruction")]
    Unsupported,
}

/// A refusal, at a slot index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("instruction {index}: {kind}")]
pub struct VerifyError {
    /// Slot index of the offending instruction.
    pub index: usize,
    /// Why.
    pub kind: VerifyErrorKind,
}

/// What a successful verification looked at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyStats {
    /// Instructions checked (each once).
    pub instructions: usize,
    /// Most jump targets with a recorded state at once.
    pub peak_pending: usize,
    /// Functions.
    pub functions: usize,
    /// Loops proved bounded.
    pub loops: usize,
    /// Most abstract states held at once (the current one, recorded
    /// jump-target states, loop invariants and function entries).
    pub peak_states: usize,
    /// Bytes of the structural pre-pass (bitmaps and per-function and
    /// per-loop tables), held for the whole verification.
    pub structure_bytes: usize,
}

impl VerifyStats {
    /// An estimate of the verifier's peak heap use in bytes: the
    /// structural tables plus [`VerifyStats::peak_states`] abstract
    /// states (not counting the few spilled-register lists a state may
    /// carry).
    #[must_use]
    pub fn peak_bytes_estimate(&self) -> usize {
        self.structure_bytes + self.peak_states * size_of::<State>()
    }
}

/// The state recorded for a jump target or function entry.
#[derive(Clone, Debug)]
enum Entry {
    /// Structurally reachable, but only along edges proved never taken.
    Dead,
    /// The joined state of the live edges.
    Live(Box<State>),
}

/// The state flowing into the next instruction.
#[derive(Debug)]
enum Cur {
    /// No edge at all.
    Unreached,
    /// Only dead edges.
    Dead,
    /// Live.
    Live(Box<State>),
}

/// An enclosing loop.
#[derive(Debug)]
struct Active {
    back: usize,
    /// Counter register and header invariant; `None` if the loop is dead.
    invariant: Option<(Reg, Box<State>)>,
}

/// Verifies `bytecode` against `config`.
///
/// # Errors
/// The first [`VerifyError`] found.
pub fn verify(bytecode: &[u8], config: &Config<'_>) -> Result<VerifyStats, VerifyError> {
    let n = slot_count(bytecode).map_err(|e| VerifyError {
        index: e.index,
        kind: VerifyErrorKind::Decode(e.kind),
    })?;
    if n > MAX_INSNS {
        return Err(VerifyError {
            index: MAX_INSNS,
            kind: VerifyErrorKind::TooLarge,
        });
    }
    let cfg = Cfg::build(bytecode, n)?;
    let mut entries: Vec<Option<Entry>> = vec![None; cfg.funcs.len()];
    let mut main = State::entry();
    main.set(
        Reg::R1,
        RegState::pointer(Kind::Context, Scalar::constant(0)),
    );
    entries[0] = Some(Entry::Live(Box::new(main)));
    let mut v = Verifier {
        bytes: bytecode,
        config,
        cfg: &cfg,
        next_id: 1,
        entries,
        stats: VerifyStats {
            functions: cfg.funcs.len(),
            structure_bytes: cfg.heap_bytes(),
            ..VerifyStats::default()
        },
        held: 0,
    };
    for &f in &cfg.order {
        v.function(f as usize)?;
    }
    Ok(v.stats)
}

pub(crate) struct Verifier<'a> {
    bytes: &'a [u8],
    config: &'a Config<'a>,
    cfg: &'a Cfg,
    next_id: u32,
    /// Entry state of each function, filled by its callers.
    entries: Vec<Option<Entry>>,
    stats: VerifyStats,
    /// States held outside `pending` (current, loop invariants, function
    /// entries), for [`VerifyStats::peak_states`].
    held: usize,
}

fn join_into(slot: &mut Option<Entry>, incoming: Entry, fresh: &mut impl FnMut() -> u32) {
    *slot = Some(match (slot.take(), incoming) {
        (None, e) | (Some(Entry::Dead), e) | (Some(e), Entry::Dead) => e,
        (Some(Entry::Live(a)), Entry::Live(b)) => Entry::Live(Box::new(a.join(&b, fresh))),
    });
}

impl Verifier<'_> {
    pub(crate) fn fresh_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn record(
        &mut self,
        pending: &mut Vec<(u32, Entry)>,
        at: usize,
        e: Entry,
    ) -> Result<(), VerifyErrorKind> {
        let mut id = self.next_id;
        let mut fresh = || {
            id += 1;
            id
        };
        if let Some(slot) = pending.iter_mut().find(|(t, _)| *t as usize == at) {
            let mut tmp = Some(core::mem::replace(&mut slot.1, Entry::Dead));
            join_into(&mut tmp, e, &mut fresh);
            slot.1 = tmp.unwrap_or(Entry::Dead);
        } else {
            if pending.len() >= MAX_PENDING {
                return Err(VerifyErrorKind::TooComplex);
            }
            pending.push((at as u32, e));
            self.stats.peak_pending = self.stats.peak_pending.max(pending.len());
        }
        self.next_id = id;
        let live = pending
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Live(_)))
            .count();
        self.stats.peak_states = self.stats.peak_states.max(live + self.held);
        Ok(())
    }

    fn function(&mut self, f: usize) -> Result<(), VerifyError> {
        let (start, end) = self.cfg.func_range(f);
        let mut cur = match self.entries[f].take() {
            Some(Entry::Live(s)) => Cur::Live(s),
            Some(Entry::Dead) => Cur::Dead,
            None => Cur::Unreached,
        };
        let mut pending: Vec<(u32, Entry)> = Vec::new();
        let mut active: Vec<Active> = Vec::new();
        let entry_states = 1 + self
            .entries
            .iter()
            .filter(|e| matches!(e, Some(Entry::Live(_))))
            .count();
        self.held = entry_states;
        self.stats.peak_states = self.stats.peak_states.max(self.held);
        let mut pc = start;
        while pc < end {
            let err = |kind| VerifyError { index: pc, kind };
            let insn =
                decode_at(self.bytes, pc).map_err(|e| err(VerifyErrorKind::Decode(e.kind)))?;
            if let Some(i) = pending.iter().position(|(t, _)| *t as usize == pc) {
                let (_, e) = pending.swap_remove(i);
                cur = match (cur, e) {
                    (Cur::Unreached | Cur::Dead, Entry::Live(s)) => Cur::Live(s),
                    (Cur::Unreached | Cur::Dead, Entry::Dead) => Cur::Dead,
                    (Cur::Live(s), Entry::Dead) => Cur::Live(s),
                    (Cur::Live(a), Entry::Live(b)) => {
                        let mut id = self.next_id;
                        let joined = a.join(&b, &mut || {
                            id += 1;
                            id
                        });
                        self.next_id = id;
                        Cur::Live(Box::new(joined))
                    }
                };
            }
            if let Cur::Unreached = cur {
                return Err(err(VerifyErrorKind::Unreachable));
            }
            if let Some(l) = self.cfg.loop_at(pc) {
                let back = l.back as usize;
                let info = loops::analyze(self.bytes, self.cfg, l).map_err(|r| VerifyError {
                    index: back,
                    kind: VerifyErrorKind::UnboundedLoop(r),
                })?;
                let invariant = match &mut cur {
                    Cur::Live(s) => {
                        let h = loops::invariant(&info, s).map_err(|r| VerifyError {
                            index: back,
                            kind: VerifyErrorKind::UnboundedLoop(r),
                        })?;
                        **s = h.clone();
                        self.stats.loops += 1;
                        Some((info.counter, Box::new(h)))
                    }
                    _ => None,
                };
                if invariant.is_some() {
                    self.held += 1;
                    self.stats.peak_states = self.stats.peak_states.max(self.held);
                }
                active.push(Active { back, invariant });
            }
            self.stats.instructions += 1;
            let flow = cfg::flow(&insn, pc, self.cfg.n).map_err(err)?;
            let next = pc + insn.slots();
            match cur {
                Cur::Unreached => {}
                Cur::Dead => {
                    match flow {
                        Flow::Jump(t) | Flow::Branch(t) if t > pc => {
                            self.record(&mut pending, t, Entry::Dead).map_err(err)?;
                        }
                        Flow::Jump(_) | Flow::Branch(_) => {
                            self.close_loop(&mut active, pc, None)?
                        }
                        _ => {}
                    }
                    if matches!(flow, Flow::Jump(_) | Flow::Exit) {
                        cur = Cur::Unreached;
                    }
                }
                Cur::Live(ref mut s) => {
                    let step = self.step(f, pc, &insn, s).map_err(err)?;
                    match (flow, step) {
                        (Flow::Exit, _) => cur = Cur::Unreached,
                        (Flow::Jump(t), _) => {
                            let Cur::Live(s) = core::mem::replace(&mut cur, Cur::Unreached) else {
                                unreachable!("matched Live above");
                            };
                            if t > pc {
                                self.record(&mut pending, t, Entry::Live(s)).map_err(err)?;
                            } else {
                                self.close_loop(&mut active, pc, Some(&s))?;
                            }
                        }
                        (Flow::Branch(t), Step::Branch { taken, fall }) => {
                            if t > pc {
                                let e = taken.map_or(Entry::Dead, Entry::Live);
                                self.record(&mut pending, t, e).map_err(err)?;
                            } else {
                                self.close_loop(&mut active, pc, taken.as_deref())?;
                            }
                            if !fall {
                                cur = Cur::Dead;
                            }
                        }
                        _ => {}
                    }
                }
            }
            pc = next;
        }
        debug_assert!(pending.is_empty(), "targets lie inside the function");
        Ok(())
    }

    /// At the backward jump `pc`: checks the taken edge's state against the
    /// innermost loop's invariant and leaves the loop.
    fn close_loop(
        &mut self,
        active: &mut Vec<Active>,
        pc: usize,
        taken: Option<&State>,
    ) -> Result<(), VerifyError> {
        let Some(l) = active.pop() else {
            return Ok(());
        };
        if l.invariant.is_some() {
            self.held -= 1;
        }
        debug_assert_eq!(l.back, pc, "loops nest, so the innermost closes first");
        if let (Some((counter, h)), Some(t)) = (l.invariant, taken) {
            let mut t = t.clone();
            // The counter's values are covered by the loop rule itself.
            t.set(counter, *h.reg(counter));
            if !h.contains(&t) {
                return Err(VerifyError {
                    index: pc,
                    kind: VerifyErrorKind::LoopNotInvariant,
                });
            }
        }
        Ok(())
    }
}
