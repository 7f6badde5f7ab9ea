//! The abstract machine state: a type and a value (or offset) per register,
//! and what each stack byte holds.
//!
//! Two operations make the streaming design work: [`State::join`] merges
//! the states of two edges into one that describes both (at a branch
//! target), and [`State::contains`] tells whether one state is covered by
//! another (at a loop's back edge, against the loop header's assumption).

use alloc::vec::Vec;

use super::scalar::Scalar;
use crate::isa::Reg;
use crate::memory::STACK_SIZE;

/// What a register holds. Pointer kinds keep their byte offset in the
/// register's [`Scalar`]; `Scalar` keeps the value there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Never written on some path, or written with conflicting types on
    /// paths that merged: unreadable.
    Uninit,
    /// A number.
    Scalar,
    /// Into the context; offset from its start.
    Context,
    /// Into this function's stack frame; offset from the frame top (`r10`).
    Stack,
    /// Into `size` bytes of memory from offset 0: a caller's stack, as a
    /// BPF-to-BPF callee sees a pointer argument.
    Mem { size: u32 },
    /// A map handle from `lddw`.
    MapHandle { map: u32 },
    /// Into a value of `map`; if `nullable`, it may be null and must be
    /// tested first. Registers with the same `id` are copies of one
    /// lookup result, so testing one tests all.
    MapValue { map: u32, id: u32, nullable: bool },
    /// Into the packet. Registers with the same `id` share a base: the
    /// register is `base + fixed`, and `[base, base + range)` is known to
    /// lie inside the packet.
    Packet { id: u32, fixed: i32, range: u32 },
    /// One past the packet's last byte.
    PacketEnd,
    /// Into a ring buffer reservation of `size` bytes in `map`; `id` names
    /// the reservation (see [`Held`]). If `nullable`, it may be null.
    RingBufRecord {
        map: u32,
        id: u32,
        size: u32,
        nullable: bool,
    },
}

/// A reference the program holds and must release: a ring buffer
/// reservation, made at instruction `pc`. `poisoned` if some path that
/// merged here had already released it: then it can be neither used nor
/// released (and is leaked on the other path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    pub id: u32,
    pub pc: u32,
    pub poisoned: bool,
}

/// One register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RegState {
    pub kind: Kind,
    pub val: Scalar,
}

impl RegState {
    pub const UNINIT: RegState = RegState {
        kind: Kind::Uninit,
        val: Scalar::UNKNOWN,
    };

    pub const fn scalar(val: Scalar) -> RegState {
        RegState {
            kind: Kind::Scalar,
            val,
        }
    }

    pub const fn pointer(kind: Kind, offset: Scalar) -> RegState {
        RegState { kind, val: offset }
    }

    pub fn is_init(&self) -> bool {
        self.kind != Kind::Uninit
    }

    pub fn is_scalar(&self) -> bool {
        self.kind == Kind::Scalar
    }

    pub fn is_pointer(&self) -> bool {
        !matches!(self.kind, Kind::Uninit | Kind::Scalar)
    }

    /// Describes both; `fresh` supplies ids for merged packet pointers
    /// whose bases differ.
    pub fn join(&self, o: &RegState, fresh: &mut impl FnMut() -> u32) -> RegState {
        let val = self.val.join(&o.val);
        let kind = match (self.kind, o.kind) {
            (a, b) if a == b => a,
            (
                Kind::MapValue {
                    map: m1,
                    id: i1,
                    nullable: n1,
                },
                Kind::MapValue {
                    map: m2,
                    id: i2,
                    nullable: n2,
                },
            ) if m1 == m2 => Kind::MapValue {
                map: m1,
                id: if i1 == i2 { i1 } else { fresh() },
                nullable: n1 || n2,
            },
            (
                Kind::Packet {
                    id: i1,
                    fixed: f1,
                    range: r1,
                },
                Kind::Packet {
                    id: i2,
                    fixed: f2,
                    range: r2,
                },
            ) => {
                if i1 == i2 && f1 == f2 {
                    Kind::Packet {
                        id: i1,
                        fixed: f1,
                        range: r1.min(r2),
                    }
                } else {
                    Kind::Packet {
                        id: fresh(),
                        fixed: 0,
                        range: 0,
                    }
                }
            }
            (Kind::Mem { size: s1 }, Kind::Mem { size: s2 }) => Kind::Mem { size: s1.min(s2) },
            (
                Kind::RingBufRecord {
                    map: m1,
                    id: i1,
                    size: s1,
                    nullable: n1,
                },
                Kind::RingBufRecord {
                    map: m2,
                    id: i2,
                    size: s2,
                    nullable: n2,
                },
            ) if m1 == m2 && i1 == i2 && s1 == s2 => Kind::RingBufRecord {
                map: m1,
                id: i1,
                size: s1,
                nullable: n1 || n2,
            },
            _ => return RegState::UNINIT,
        };
        RegState { kind, val }
    }

    /// Whether every value `o` may be, `self` allows too.
    pub fn contains(&self, o: &RegState) -> bool {
        let kinds = match (self.kind, o.kind) {
            (Kind::Uninit, _) => return true,
            (a, b) if a == b => true,
            (
                Kind::MapValue {
                    map: m1,
                    id: i1,
                    nullable: n1,
                },
                Kind::MapValue {
                    map: m2,
                    id: i2,
                    nullable: n2,
                },
            ) => m1 == m2 && i1 == i2 && (n1 || !n2),
            (
                Kind::Packet {
                    id: i1,
                    fixed: f1,
                    range: r1,
                },
                Kind::Packet {
                    id: i2,
                    fixed: f2,
                    range: r2,
                },
            ) => i1 == i2 && f1 == f2 && r2 >= r1,
            (Kind::Mem { size: s1 }, Kind::Mem { size: s2 }) => s2 >= s1,
            (
                Kind::RingBufRecord {
                    map: m1,
                    id: i1,
                    size: s1,
                    nullable: n1,
                },
                Kind::RingBufRecord {
                    map: m2,
                    id: i2,
                    size: s2,
                    nullable: n2,
                },
            ) => m1 == m2 && i1 == i2 && s1 == s2 && (n1 || !n2),
            _ => false,
        };
        kinds && self.val.contains(&o.val)
    }
}

/// Stack slots of 8 bytes in a frame.
pub(crate) const SLOTS: usize = STACK_SIZE / 8;

/// One frame's stack: which bytes are initialised, and which 8-byte slots
/// hold a spilled register (kept sorted by slot, and sparse: most programs
/// spill little).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stack {
    init: [u64; SLOTS / 8],
    spills: Vec<(u8, RegState)>,
}

impl Stack {
    pub const fn new() -> Stack {
        Stack {
            init: [0; SLOTS / 8],
            spills: Vec::new(),
        }
    }

    /// Byte index in the frame (0 = lowest) of offset `off` from the top.
    fn byte(off: i64) -> usize {
        (STACK_SIZE as i64 + off) as usize
    }

    pub fn is_init(&self, off: i64, len: usize) -> bool {
        let start = Stack::byte(off);
        (start..start + len).all(|b| self.init[b / 64] >> (b % 64) & 1 != 0)
    }

    pub fn mark_init(&mut self, off: i64, len: usize) {
        let start = Stack::byte(off);
        for b in start..start + len {
            self.init[b / 64] |= 1 << (b % 64);
        }
    }

    /// Forgets spills overlapping `[off, off + len)`.
    pub fn clobber(&mut self, off: i64, len: usize) {
        let start = Stack::byte(off);
        let end = start + len;
        self.spills.retain(|&(slot, _)| {
            let s = usize::from(slot) * 8;
            s + 8 <= start || end <= s
        });
    }

    /// The register spilled at offset `off` (8-aligned).
    pub fn spill(&self, off: i64) -> Option<&RegState> {
        let slot = (Stack::byte(off) / 8) as u8;
        self.spills
            .binary_search_by_key(&slot, |&(s, _)| s)
            .ok()
            .map(|i| &self.spills[i].1)
    }

    /// Spills `reg` to the 8-aligned offset `off`.
    pub fn set_spill(&mut self, off: i64, reg: RegState) {
        let slot = (Stack::byte(off) / 8) as u8;
        self.mark_init(off, 8);
        match self.spills.binary_search_by_key(&slot, |&(s, _)| s) {
            Ok(i) => self.spills[i].1 = reg,
            Err(i) => self.spills.insert(i, (slot, reg)),
        }
    }

    pub fn spills_mut(&mut self) -> impl Iterator<Item = &mut RegState> {
        self.spills.iter_mut().map(|(_, r)| r)
    }

    /// Keeps only the spills `keep` accepts (given their frame offsets).
    pub fn retain_spills(&mut self, mut keep: impl FnMut(i64, &mut RegState) -> bool) {
        self.spills
            .retain_mut(|(slot, r)| keep(i64::from(*slot) * 8 - STACK_SIZE as i64, r));
    }

    fn join(&self, o: &Stack, fresh: &mut impl FnMut() -> u32) -> Stack {
        let mut init = [0; SLOTS / 8];
        for (i, w) in init.iter_mut().enumerate() {
            *w = self.init[i] & o.init[i];
        }
        let mut spills = Vec::new();
        for (slot, a) in &self.spills {
            if let Ok(j) = o.spills.binary_search_by_key(slot, |&(s, _)| s) {
                let r = a.join(&o.spills[j].1, fresh);
                if r.is_init() {
                    spills.push((*slot, r));
                }
            }
        }
        Stack { init, spills }
    }

    fn contains(&self, o: &Stack) -> bool {
        let init_ok = self.init.iter().zip(&o.init).all(|(a, b)| a & !b == 0);
        init_ok
            && self.spills.iter().all(|(slot, a)| {
                match o.spills.binary_search_by_key(slot, |&(s, _)| s) {
                    Ok(j) => a.contains(&o.spills[j].1),
                    // `o` holds plain initialised bytes there: an unknown
                    // scalar, which only an unknown-scalar spill covers.
                    Err(_) => a.contains(&RegState::scalar(Scalar::UNKNOWN)),
                }
            })
    }
}

/// Registers and stack of the function being verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct State {
    pub regs: [RegState; Reg::COUNT],
    pub stack: Stack,
    /// References held (ring buffer reservations), in acquisition order.
    pub refs: Vec<Held>,
}

impl State {
    /// Entry state of a function: `r10` is the frame pointer, the rest is
    /// uninitialised.
    pub fn entry() -> State {
        let mut regs = [RegState::UNINIT; Reg::COUNT];
        regs[10] = RegState::pointer(Kind::Stack, Scalar::constant(0));
        State {
            regs,
            stack: Stack::new(),
            refs: Vec::new(),
        }
    }

    pub fn reg(&self, r: Reg) -> &RegState {
        &self.regs[r.index()]
    }

    pub fn set(&mut self, r: Reg, v: RegState) {
        self.regs[r.index()] = v;
    }

    pub fn join(&self, o: &State, fresh: &mut impl FnMut() -> u32) -> State {
        let mut regs = [RegState::UNINIT; Reg::COUNT];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = self.regs[i].join(&o.regs[i], fresh);
        }
        // A reference held on only one path is released on the other:
        // keep it (so the leak is reported) but poison it (so it cannot be
        // released twice).
        let mut refs: Vec<Held> = Vec::new();
        for h in self.refs.iter().chain(&o.refs) {
            if refs.iter().any(|r| r.id == h.id) {
                continue;
            }
            let mine = self.refs.iter().find(|r| r.id == h.id);
            let theirs = o.refs.iter().find(|r| r.id == h.id);
            let poisoned = match (mine, theirs) {
                (Some(a), Some(b)) => a.poisoned || b.poisoned,
                _ => true,
            };
            refs.push(Held { poisoned, ..*h });
        }
        State {
            regs,
            stack: self.stack.join(&o.stack, fresh),
            refs,
        }
    }

    pub fn contains(&self, o: &State) -> bool {
        self.regs.iter().zip(&o.regs).all(|(a, b)| a.contains(b))
            && self.stack.contains(&o.stack)
            && self.refs == o.refs
    }

    /// The reference `id`, if held and usable.
    pub fn holds(&self, id: u32) -> bool {
        self.refs.iter().any(|r| r.id == id && !r.poisoned)
    }

    /// Drops reference `id`.
    pub fn release(&mut self, id: u32) {
        self.refs.retain(|r| r.id != id);
    }

    /// Every register and spill, for id-based updates.
    pub fn for_each_reg(&mut self, mut f: impl FnMut(&mut RegState)) {
        for r in &mut self.regs {
            f(r);
        }
        for r in self.stack.spills_mut() {
            f(r);
        }
    }
}
