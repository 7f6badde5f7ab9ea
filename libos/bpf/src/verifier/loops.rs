//! Bounded loops: the one shape of backward jump the verifier accepts, and
//! the invariant it checks the body under.
//!
//! # The rule
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

use super::cfg::{Cfg, Loop, LoopReason};
use super::scalar::{Scalar, negate};
use super::state::{RegState, State};
use crate::compile::target;
use crate::decode::decode_at;
use crate::isa::{AluOp, AtomicOp, Insn, JmpCond, Operand, Reg, Width};

/// What the syntactic analysis found.
#[derive(Clone, Copy, Debug)]
pub(super) struct LoopInfo {
    pub counter: Reg,
    step: i64,
    update_width: Width,
    compare_width: Width,
    /// Normalised to `counter cond bound`.
    cond: JmpCond,
    bound: Operand,
    /// Registers the body writes.
    writes: u16,
    /// Stack slots (by frame offset / 8 + 64) the body writes via `r10`.
    stack_writes: u64,
}

/// Registers `insn` writes, as a bit mask.
fn written(insn: &Insn) -> u16 {
    let bit = |r: Reg| 1u16 << r.number();
    match *insn {
        Insn::Alu { dst, .. }
        | Insn::Neg { dst, .. }
        | Insn::MovSx { dst, .. }
        | Insn::Endian { dst, .. }
        | Insn::Bswap { dst, .. }
        | Insn::Load { dst, .. }
        | Insn::LoadSx { dst, .. }
        | Insn::LoadImm64 { dst, .. } => bit(dst),
        Insn::Atomic {
            op: AtomicOp::CmpXchg,
            ..
        } => bit(Reg::R0),
        Insn::Atomic { op, src, .. } if op.fetches() => bit(src),
        Insn::Call { .. } | Insn::CallLocal { .. } | Insn::CallKfunc { .. } => 0b11_1111,
        Insn::LoadAbs { .. } | Insn::LoadInd { .. } => 0b11_1111,
        _ => 0,
    }
}

/// Stack slots `insn` writes through `r10` directly, as a bit mask.
fn stack_written(insn: &Insn) -> u64 {
    let (off, len) = match *insn {
        Insn::Store { dst, off, size, .. }
        | Insn::StoreReg { dst, off, size, .. }
        | Insn::Atomic { dst, off, size, .. }
            if dst == Reg::R10 =>
        {
            (i64::from(off), size.bytes() as i64)
        }
        _ => return 0,
    };
    let mut mask = 0u64;
    let mut b = off;
    while b < off + len {
        if (-512..0).contains(&b) {
            mask |= 1 << ((b + 512) / 8);
        }
        b += 1;
    }
    mask
}

/// Checks rules 1–4 (rule 1 is checked by the pre-pass).
pub(super) fn analyze(bytes: &[u8], cfg: &Cfg, l: Loop) -> Result<LoopInfo, LoopReason> {
    let (header, back) = (l.header as usize, l.back as usize);
    let decode = |pc| decode_at(bytes, pc).map_err(|_| LoopReason::NoCounter);
    // Either `if c OP bound goto header`, or clang's other shape:
    // `if c OP bound goto out; goto header`, which continues while OP fails.
    let (compare_width, cond, dst, src) = match decode(back)? {
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            ..
        } => (width, cond, dst, src),
        Insn::Ja { .. } | Insn::JaLong { .. } if back > header && !cfg.tails.contains(back - 1) => {
            let test = back - 1;
            let Insn::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } = decode(test)?
            else {
                return Err(LoopReason::UnconditionalBackEdge);
            };
            if target(test, off.into(), cfg.n).is_none_or(|t| t <= back) {
                return Err(LoopReason::UnconditionalBackEdge);
            }
            if jumps_to(bytes, cfg, header, test, back)? {
                return Err(LoopReason::UpdateSkippable);
            }
            let cond = negate(cond).ok_or(LoopReason::NoCounter)?;
            (width, cond, dst, src)
        }
        _ => return Err(LoopReason::UnconditionalBackEdge),
    };
    let mut writes = 0u16;
    let mut stack_writes = 0u64;
    let mut count = [0u8; Reg::COUNT];
    let mut update = [None; Reg::COUNT];
    let mut pc = header;
    while pc <= back {
        let insn = decode(pc)?;
        let w = written(&insn);
        writes |= w;
        stack_writes |= stack_written(&insn);
        for (r, n) in count.iter_mut().enumerate() {
            if w >> r & 1 != 0 {
                *n = n.saturating_add(1);
                update[r] = Some((pc, insn));
            }
        }
        pc += insn.slots();
    }
    let mut candidates = [(dst, src, cond), (dst, src, cond)];
    if let Operand::Reg(s) = src {
        candidates[1] = (s, Operand::Reg(dst), cond.swapped());
    }
    let mut reason = LoopReason::NoCounter;
    for (counter, bound, cond) in candidates {
        let c = counter.index();
        let Some((
            at,
            Insn::Alu {
                width: update_width,
                op: op @ (AluOp::Add | AluOp::Sub),
                src: Operand::Imm(k),
                ..
            },
        )) = update[c]
        else {
            continue;
        };
        if count[c] != 1 || k == 0 {
            continue;
        }
        if let Operand::Reg(b) = bound
            && writes >> b.number() & 1 != 0
        {
            reason = LoopReason::NoConstantBound;
            continue;
        }
        if skippable(bytes, cfg, header, at, back)? {
            return Err(LoopReason::UpdateSkippable);
        }
        let step = if op == AluOp::Add {
            i64::from(k)
        } else {
            -i64::from(k)
        };
        return Ok(LoopInfo {
            counter,
            step,
            update_width,
            compare_width,
            cond,
            bound,
            writes,
            stack_writes,
        });
    }
    Err(reason)
}

/// Whether a jump in `[from, to)` lands on `target`.
fn jumps_to(
    bytes: &[u8],
    cfg: &Cfg,
    from: usize,
    to: usize,
    target_pc: usize,
) -> Result<bool, LoopReason> {
    let mut pc = from;
    while pc < to {
        let insn = decode_at(bytes, pc).map_err(|_| LoopReason::NoCounter)?;
        if jump_target(&insn, pc, cfg.n) == Some(target_pc) {
            return Ok(true);
        }
        pc += insn.slots();
    }
    Ok(false)
}

fn jump_target(insn: &Insn, pc: usize, n: usize) -> Option<usize> {
    match *insn {
        Insn::Ja { off } | Insn::Jump { off, .. } => target(pc, off.into(), n),
        Insn::JaLong { imm } => target(pc, imm.into(), n),
        _ => None,
    }
}

/// Whether a path from `header` to `back` can avoid `at`, or `at` is in an
/// inner loop.
fn skippable(
    bytes: &[u8],
    cfg: &Cfg,
    header: usize,
    at: usize,
    back: usize,
) -> Result<bool, LoopReason> {
    let inner = cfg.loops.iter().any(|l| {
        let (h, b) = (l.header as usize, l.back as usize);
        let nested = header <= h && b <= back && (h, b) != (header, back);
        nested && h <= at && at <= b
    });
    if inner {
        return Ok(true);
    }
    let mut pc = header;
    while pc < at {
        let insn = decode_at(bytes, pc).map_err(|_| LoopReason::NoCounter)?;
        let t = jump_target(&insn, pc, cfg.n);
        if t.is_some_and(|t| at < t && t <= back) {
            return Ok(true);
        }
        pc += insn.slots();
    }
    Ok(false)
}

/// Checks rules 5 and 6 against the entry state and builds the header's
/// invariant.
pub(super) fn invariant(info: &LoopInfo, entry: &State) -> Result<State, LoopReason> {
    let constant = |r: Reg| {
        let v = entry.reg(r);
        if v.is_scalar() {
            v.val.as_const()
        } else {
            None
        }
    };
    let c0 = constant(info.counter).ok_or(LoopReason::NoConstantStart)?;
    let bound = match info.bound {
        Operand::Imm(k) => match info.compare_width {
            Width::W64 => k as i64 as u64,
            Width::W32 => u64::from(k as u32),
        },
        Operand::Reg(b) => constant(b).ok_or(LoopReason::NoConstantBound)?,
    };
    let range = counter_range(info, c0, bound).ok_or(LoopReason::NeverExits)?;
    let mut h = entry.clone();
    for r in 0..Reg::COUNT as u8 {
        let Some(reg) = Reg::new(r) else { continue };
        if info.writes >> r & 1 == 0 || reg == info.counter {
            continue;
        }
        let widened = if h.reg(reg).is_scalar() {
            RegState::scalar(Scalar::UNKNOWN)
        } else {
            RegState::UNINIT
        };
        h.set(reg, widened);
    }
    h.set(info.counter, RegState::scalar(range));
    let slots = info.stack_writes;
    h.stack.retain_spills(|off, r| {
        if slots >> ((off + 512) / 8) & 1 == 0 {
            return true;
        }
        if r.is_scalar() {
            *r = RegState::scalar(Scalar::UNKNOWN);
            true
        } else {
            false
        }
    });
    Ok(h)
}

/// The counter's values at the header, if the loop provably exits.
fn counter_range(info: &LoopInfo, c0: u64, bound: u64) -> Option<Scalar> {
    let signed_cmp = matches!(
        info.cond,
        JmpCond::Sgt | JmpCond::Sge | JmpCond::Slt | JmpCond::Sle
    );
    let narrow_update = info.update_width == Width::W32;
    let narrow = narrow_update || info.compare_width == Width::W32;
    // A 32-bit counter compared in 64 bits is seen zero-extended.
    let signed = signed_cmp && !(narrow_update && info.compare_width == Width::W64);
    let bits = if narrow { 32 } else { 64 };
    let (lo, hi): (i128, i128) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    let view = |v: u64| -> i128 {
        match (bits, signed) {
            (64, false) => i128::from(v),
            (64, true) => i128::from(v as i64),
            (_, false) => i128::from(v as u32),
            (_, true) => i128::from(v as u32 as i32),
        }
    };
    let c = view(c0);
    // The register must hold exactly the viewed value on entry.
    let consistent = if narrow_update {
        c0 <= u64::from(u32::MAX)
    } else if narrow {
        i128::from(c0 as i64) == c || i128::from(c0) == c
    } else {
        true
    };
    if !consistent {
        return None;
    }
    let b: i128 = match (info.compare_width, signed_cmp) {
        (Width::W64, false) => i128::from(bound),
        (Width::W64, true) => i128::from(bound as i64),
        (Width::W32, false) => i128::from(bound as u32),
        (Width::W32, true) => i128::from(bound as u32 as i32),
    };
    let s = i128::from(info.step);
    let holds = |v: i128| match info.cond {
        JmpCond::Eq => v == b,
        JmpCond::Ne => v != b,
        JmpCond::Gt | JmpCond::Sgt => v > b,
        JmpCond::Ge | JmpCond::Sge => v >= b,
        JmpCond::Lt | JmpCond::Slt => v < b,
        JmpCond::Le | JmpCond::Sle => v <= b,
        JmpCond::Set => true,
    };
    // The first step count after which the condition fails.
    let exit: i128 = if !holds(c + s) {
        1
    } else if info.cond == JmpCond::Eq {
        2
    } else {
        match (info.cond, s > 0) {
            (JmpCond::Lt | JmpCond::Slt, true) => (b - c + s - 1) / s,
            (JmpCond::Le | JmpCond::Sle, true) => (b - c) / s + 1,
            (JmpCond::Gt | JmpCond::Sgt, false) => (c - b + (-s) - 1) / (-s),
            (JmpCond::Ge | JmpCond::Sge, false) => (c - b) / (-s) + 1,
            (JmpCond::Ne, true) if b > c && (b - c) % s == 0 => (b - c) / s,
            (JmpCond::Ne, false) if c > b && (c - b) % (-s) == 0 => (c - b) / (-s),
            _ => return None,
        }
    };
    let last_step = c + exit * s;
    if !(lo..=hi).contains(&c) || !(lo..=hi).contains(&last_step) {
        return None;
    }
    let last_header = c + (exit - 1) * s;
    let (min, max) = (c.min(last_header), c.max(last_header));
    Some(if signed && narrow_update {
        // Zero-extended in the register: negative values wrap.
        if min >= 0 {
            Scalar::unsigned(min as u64, max as u64)
        } else {
            Scalar::bits(32)
        }
    } else if signed {
        Scalar::signed(min as i64, max as i64)
    } else {
        Scalar::unsigned(min as u64, max as u64)
    })
}
