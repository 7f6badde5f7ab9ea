//! Architecture-independent facts about the lowered ops that every JIT
//! backend needs: which ops are ALU operations or conditional branches
//! (and with which operands), which are register-only, and where the
//! instruction budget's segments start. Both backends charge the budget
//! from the same [`segments`], so they stop at exactly the same op.

use alloc::vec::Vec;

use crate::compile::Op;
use crate::isa::{AluOp, JmpCond, Width};

/// A second operand.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Src {
    /// An immediate, in its final (extended or masked) form.
    K(u64),
    /// A BPF register.
    X(u8),
}

/// The operation, width, destination and source of an ALU op.
pub(crate) fn alu_of(op: Op) -> Option<(AluOp, Width, u8, Src)> {
    use AluOp::*;
    use Src::{K, X};
    use Width::{W32 as D, W64 as Q};
    let k32 = |k: u32| K(u64::from(k));
    Some(match op {
        Op::Add64K { d, k } => (Add, Q, d, K(k)),
        Op::Add64X { d, s } => (Add, Q, d, X(s)),
        Op::Sub64K { d, k } => (Sub, Q, d, K(k)),
        Op::Sub64X { d, s } => (Sub, Q, d, X(s)),
        Op::Mul64K { d, k } => (Mul, Q, d, K(k)),
        Op::Mul64X { d, s } => (Mul, Q, d, X(s)),
        Op::Div64K { d, k } => (Div, Q, d, K(k)),
        Op::Div64X { d, s } => (Div, Q, d, X(s)),
        Op::SDiv64K { d, k } => (SDiv, Q, d, K(k)),
        Op::SDiv64X { d, s } => (SDiv, Q, d, X(s)),
        Op::Mod64K { d, k } => (Mod, Q, d, K(k)),
        Op::Mod64X { d, s } => (Mod, Q, d, X(s)),
        Op::SMod64K { d, k } => (SMod, Q, d, K(k)),
        Op::SMod64X { d, s } => (SMod, Q, d, X(s)),
        Op::Or64K { d, k } => (Or, Q, d, K(k)),
        Op::Or64X { d, s } => (Or, Q, d, X(s)),
        Op::And64K { d, k } => (And, Q, d, K(k)),
        Op::And64X { d, s } => (And, Q, d, X(s)),
        Op::Lsh64K { d, k } => (Lsh, Q, d, k32(k)),
        Op::Lsh64X { d, s } => (Lsh, Q, d, X(s)),
        Op::Rsh64K { d, k } => (Rsh, Q, d, k32(k)),
        Op::Rsh64X { d, s } => (Rsh, Q, d, X(s)),
        Op::Arsh64K { d, k } => (Arsh, Q, d, k32(k)),
        Op::Arsh64X { d, s } => (Arsh, Q, d, X(s)),
        Op::Xor64K { d, k } => (Xor, Q, d, K(k)),
        Op::Xor64X { d, s } => (Xor, Q, d, X(s)),
        Op::Mov64K { d, k } => (Mov, Q, d, K(k)),
        Op::Mov64X { d, s } => (Mov, Q, d, X(s)),
        Op::Add32K { d, k } => (Add, D, d, k32(k)),
        Op::Add32X { d, s } => (Add, D, d, X(s)),
        Op::Sub32K { d, k } => (Sub, D, d, k32(k)),
        Op::Sub32X { d, s } => (Sub, D, d, X(s)),
        Op::Mul32K { d, k } => (Mul, D, d, k32(k)),
        Op::Mul32X { d, s } => (Mul, D, d, X(s)),
        Op::Div32K { d, k } => (Div, D, d, k32(k)),
        Op::Div32X { d, s } => (Div, D, d, X(s)),
        Op::SDiv32K { d, k } => (SDiv, D, d, k32(k)),
        Op::SDiv32X { d, s } => (SDiv, D, d, X(s)),
        Op::Mod32K { d, k } => (Mod, D, d, k32(k)),
        Op::Mod32X { d, s } => (Mod, D, d, X(s)),
        Op::SMod32K { d, k } => (SMod, D, d, k32(k)),
        Op::SMod32X { d, s } => (SMod, D, d, X(s)),
        Op::Or32K { d, k } => (Or, D, d, k32(k)),
        Op::Or32X { d, s } => (Or, D, d, X(s)),
        Op::And32K { d, k } => (And, D, d, k32(k)),
        Op::And32X { d, s } => (And, D, d, X(s)),
        Op::Lsh32K { d, k } => (Lsh, D, d, k32(k)),
        Op::Lsh32X { d, s } => (Lsh, D, d, X(s)),
        Op::Rsh32K { d, k } => (Rsh, D, d, k32(k)),
        Op::Rsh32X { d, s } => (Rsh, D, d, X(s)),
        Op::Arsh32K { d, k } => (Arsh, D, d, k32(k)),
        Op::Arsh32X { d, s } => (Arsh, D, d, X(s)),
        Op::Xor32K { d, k } => (Xor, D, d, k32(k)),
        Op::Xor32X { d, s } => (Xor, D, d, X(s)),
        Op::Mov32K { d, k } => (Mov, D, d, k32(k)),
        Op::Mov32X { d, s } => (Mov, D, d, X(s)),
        _ => return None,
    })
}

/// The condition, width, operands and target of a conditional branch.
pub(crate) fn branch_of(op: Op) -> Option<(JmpCond, Width, u8, Src, u32)> {
    use JmpCond::*;
    use Src::{K, X};
    use Width::{W32 as D, W64 as Q};
    Some(match op {
        Op::JeqK { d, k, t } => (Eq, Q, d, K(k), t),
        Op::JeqX { d, s, t } => (Eq, Q, d, X(s), t),
        Op::JgtK { d, k, t } => (Gt, Q, d, K(k), t),
        Op::JgtX { d, s, t } => (Gt, Q, d, X(s), t),
        Op::JgeK { d, k, t } => (Ge, Q, d, K(k), t),
        Op::JgeX { d, s, t } => (Ge, Q, d, X(s), t),
        Op::JsetK { d, k, t } => (Set, Q, d, K(k), t),
        Op::JsetX { d, s, t } => (Set, Q, d, X(s), t),
        Op::JneK { d, k, t } => (Ne, Q, d, K(k), t),
        Op::JneX { d, s, t } => (Ne, Q, d, X(s), t),
        Op::JsgtK { d, k, t } => (Sgt, Q, d, K(k), t),
        Op::JsgtX { d, s, t } => (Sgt, Q, d, X(s), t),
        Op::JsgeK { d, k, t } => (Sge, Q, d, K(k), t),
        Op::JsgeX { d, s, t } => (Sge, Q, d, X(s), t),
        Op::JltK { d, k, t } => (Lt, Q, d, K(k), t),
        Op::JltX { d, s, t } => (Lt, Q, d, X(s), t),
        Op::JleK { d, k, t } => (Le, Q, d, K(k), t),
        Op::JleX { d, s, t } => (Le, Q, d, X(s), t),
        Op::JsltK { d, k, t } => (Slt, Q, d, K(k), t),
        Op::JsltX { d, s, t } => (Slt, Q, d, X(s), t),
        Op::JsleK { d, k, t } => (Sle, Q, d, K(k), t),
        Op::JsleX { d, s, t } => (Sle, Q, d, X(s), t),
        Op::Jmp32K { cond, d, k, t } => (cond, D, d, K(u64::from(k)), t),
        Op::Jmp32X { cond, d, s, t } => (cond, D, d, X(s), t),
        _ => return None,
    })
}

/// An argument of a callout, loaded into the backend's argument registers
/// in turn.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg {
    /// A BPF register's value.
    Reg(u8),
    /// A BPF register plus an offset.
    Addr(u8, i16),
    /// A constant.
    Imm(u64),
}

/// A load or store, as both backends emit it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Access {
    /// `ldx`: `bytes` from `s + off` into `d`, sign-extended if `signed`.
    Load {
        d: u8,
        s: u8,
        off: i16,
        bytes: u8,
        signed: bool,
    },
    /// `st`/`stx`: the low `bytes` of `value` to `d + off`.
    Store {
        d: u8,
        off: i16,
        value: Arg,
        bytes: u8,
    },
}

impl Access {
    /// Base register, offset and size of the bytes touched.
    pub(crate) fn address(self) -> (u8, i16, u8) {
        match self {
            Access::Load { s, off, bytes, .. } => (s, off, bytes),
            Access::Store { d, off, bytes, .. } => (d, off, bytes),
        }
    }
}

/// The load or store `op` is, if it is one (atomics are not).
pub(crate) fn access_of(op: Op) -> Option<Access> {
    let load = |d, s, off, bytes, signed| Access::Load {
        d,
        s,
        off,
        bytes,
        signed,
    };
    let store = |d, off, value, bytes| Access::Store {
        d,
        off,
        value,
        bytes,
    };
    Some(match op {
        Op::Ldx8 { d, s, off } => load(d, s, off, 1, false),
        Op::Ldx16 { d, s, off } => load(d, s, off, 2, false),
        Op::Ldx32 { d, s, off } => load(d, s, off, 4, false),
        Op::Ldx64 { d, s, off } => load(d, s, off, 8, false),
        Op::LdxSx8 { d, s, off } => load(d, s, off, 1, true),
        Op::LdxSx16 { d, s, off } => load(d, s, off, 2, true),
        Op::LdxSx32 { d, s, off } => load(d, s, off, 4, true),
        Op::St8 { d, off, k } => store(d, off, Arg::Imm(k), 1),
        Op::St16 { d, off, k } => store(d, off, Arg::Imm(k), 2),
        Op::St32 { d, off, k } => store(d, off, Arg::Imm(k), 4),
        Op::St64 { d, off, k } => store(d, off, Arg::Imm(k), 8),
        Op::Stx8 { d, s, off } => store(d, off, Arg::Reg(s), 1),
        Op::Stx16 { d, s, off } => store(d, off, Arg::Reg(s), 2),
        Op::Stx32 { d, s, off } => store(d, off, Arg::Reg(s), 4),
        Op::Stx64 { d, s, off } => store(d, off, Arg::Reg(s), 8),
        _ => return None,
    })
}

/// The target of a jump, conditional branch or BPF-to-BPF call.
pub(crate) fn target_of(op: Op) -> Option<u32> {
    match op {
        Op::Ja { t } | Op::CallLocal { t } => Some(t),
        _ => branch_of(op).map(|(.., t)| t),
    }
}

/// Register-only ops, which cannot fail or leave the straight line.
pub(crate) fn is_pure(op: Op) -> bool {
    alu_of(op).is_some()
        || matches!(
            op,
            Op::Neg64 { .. }
                | Op::Neg32 { .. }
                | Op::MovSx64B { .. }
                | Op::MovSx64H { .. }
                | Op::MovSx64W { .. }
                | Op::MovSx32B { .. }
                | Op::MovSx32H { .. }
                | Op::Zext16 { .. }
                | Op::Zext32 { .. }
                | Op::Swap16 { .. }
                | Op::Swap32 { .. }
                | Op::Swap64 { .. }
                | Op::Nop
        )
}

/// Lengths of the budget segments, indexed by their first op (0 where no
/// segment starts).
pub(crate) fn segments(ops: &[Op]) -> Vec<u32> {
    let n = ops.len();
    let mut start = alloc::vec![false; n];
    if let Some(first) = start.first_mut() {
        *first = true;
    }
    for (i, &op) in ops.iter().enumerate() {
        if let Some(t) = target_of(op).and_then(|t| start.get_mut(t as usize)) {
            *t = true;
        }
        if !is_pure(op)
            && let Some(next) = start.get_mut(i + 1)
        {
            *next = true;
        }
    }
    if let Some(last) = start.last_mut() {
        // The trailing `FellOff` is charged on its own.
        *last = true;
    }
    let mut lengths = alloc::vec![0; n];
    let mut current = 0;
    for (i, &starts) in start.iter().enumerate() {
        if starts {
            current = i;
        }
        lengths[current] += 1;
    }
    lengths
}
