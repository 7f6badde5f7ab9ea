//! Lowering decoded instructions once, at load time, into the compact form
//! the interpreter runs.
//!
//! Interpreters that decode the 8-byte encoding on every step spend much
//! of their time re-extracting fields and re-dispatching on class, source
//! bit and operation. Here each instruction becomes one [`Op`] variant
//! that names the whole operation (so one `match` dispatches it), with
//! immediates already sign-extended or masked, constant divisors already
//! special-cased, jump targets already absolute slot indices, `lddw`
//! folded into one op, map references turned into their runtime values,
//! and helper ids turned into function pointers. `ops` keeps one entry per
//! slot, so a jump target needs no translation: the second slot of an
//! `lddw` holds [`Op::LddwTail`], which traps if a jump lands there, and
//! one [`Op::FellOff`] follows the last slot.

use alloc::vec::Vec;

use crate::decode::{decode_at, slot_count};
use crate::helpers::{HelperFn, Helpers};
use crate::isa::{AluOp, AtomicOp, ByteOrder, Imm64, Insn, JmpCond, Operand, Size, Width};
use crate::maps::MapSet;
use crate::memory::{map_handle, map_value_address};
use crate::program::{CompileError, CompileErrorKind, LoadError};

/// One compiled operation. `d`/`s` are register numbers (at most 10), `k`
/// an immediate in its final form, `t` an absolute target slot.
#[derive(Clone, Copy, Debug)]
#[allow(missing_docs)]
pub(crate) enum Op {
    Add64K {
        d: u8,
        k: u64,
    },
    Add64X {
        d: u8,
        s: u8,
    },
    Sub64K {
        d: u8,
        k: u64,
    },
    Sub64X {
        d: u8,
        s: u8,
    },
    Mul64K {
        d: u8,
        k: u64,
    },
    Mul64X {
        d: u8,
        s: u8,
    },
    Div64K {
        d: u8,
        k: u64,
    },
    Div64X {
        d: u8,
        s: u8,
    },
    SDiv64K {
        d: u8,
        k: u64,
    },
    SDiv64X {
        d: u8,
        s: u8,
    },
    Mod64K {
        d: u8,
        k: u64,
    },
    Mod64X {
        d: u8,
        s: u8,
    },
    SMod64K {
        d: u8,
        k: u64,
    },
    SMod64X {
        d: u8,
        s: u8,
    },
    Or64K {
        d: u8,
        k: u64,
    },
    Or64X {
        d: u8,
        s: u8,
    },
    And64K {
        d: u8,
        k: u64,
    },
    And64X {
        d: u8,
        s: u8,
    },
    Lsh64K {
        d: u8,
        k: u32,
    },
    Lsh64X {
        d: u8,
        s: u8,
    },
    Rsh64K {
        d: u8,
        k: u32,
    },
    Rsh64X {
        d: u8,
        s: u8,
    },
    Arsh64K {
        d: u8,
        k: u32,
    },
    Arsh64X {
        d: u8,
        s: u8,
    },
    Xor64K {
        d: u8,
        k: u64,
    },
    Xor64X {
        d: u8,
        s: u8,
    },
    Mov64K {
        d: u8,
        k: u64,
    },
    Mov64X {
        d: u8,
        s: u8,
    },
    Neg64 {
        d: u8,
    },
    Add32K {
        d: u8,
        k: u32,
    },
    Add32X {
        d: u8,
        s: u8,
    },
    Sub32K {
        d: u8,
        k: u32,
    },
    Sub32X {
        d: u8,
        s: u8,
    },
    Mul32K {
        d: u8,
        k: u32,
    },
    Mul32X {
        d: u8,
        s: u8,
    },
    Div32K {
        d: u8,
        k: u32,
    },
    Div32X {
        d: u8,
        s: u8,
    },
    SDiv32K {
        d: u8,
        k: u32,
    },
    SDiv32X {
        d: u8,
        s: u8,
    },
    Mod32K {
        d: u8,
        k: u32,
    },
    Mod32X {
        d: u8,
        s: u8,
    },
    SMod32K {
        d: u8,
        k: u32,
    },
    SMod32X {
        d: u8,
        s: u8,
    },
    Or32K {
        d: u8,
        k: u32,
    },
    Or32X {
        d: u8,
        s: u8,
    },
    And32K {
        d: u8,
        k: u32,
    },
    And32X {
        d: u8,
        s: u8,
    },
    Lsh32K {
        d: u8,
        k: u32,
    },
    Lsh32X {
        d: u8,
        s: u8,
    },
    Rsh32K {
        d: u8,
        k: u32,
    },
    Rsh32X {
        d: u8,
        s: u8,
    },
    Arsh32K {
        d: u8,
        k: u32,
    },
    Arsh32X {
        d: u8,
        s: u8,
    },
    Xor32K {
        d: u8,
        k: u32,
    },
    Xor32X {
        d: u8,
        s: u8,
    },
    Mov32K {
        d: u8,
        k: u32,
    },
    Mov32X {
        d: u8,
        s: u8,
    },
    Neg32 {
        d: u8,
    },
    MovSx64B {
        d: u8,
        s: u8,
    },
    MovSx64H {
        d: u8,
        s: u8,
    },
    MovSx64W {
        d: u8,
        s: u8,
    },
    MovSx32B {
        d: u8,
        s: u8,
    },
    MovSx32H {
        d: u8,
        s: u8,
    },
    Zext16 {
        d: u8,
    },
    Zext32 {
        d: u8,
    },
    Swap16 {
        d: u8,
    },
    Swap32 {
        d: u8,
    },
    Swap64 {
        d: u8,
    },
    Nop,
    Ja {
        t: u32,
    },
    JeqK {
        d: u8,
        k: u64,
        t: u32,
    },
    JeqX {
        d: u8,
        s: u8,
        t: u32,
    },
    JgtK {
        d: u8,
        k: u64,
        t: u32,
    },
    JgtX {
        d: u8,
        s: u8,
        t: u32,
    },
    JgeK {
        d: u8,
        k: u64,
        t: u32,
    },
    JgeX {
        d: u8,
        s: u8,
        t: u32,
    },
    JsetK {
        d: u8,
        k: u64,
        t: u32,
    },
    JsetX {
        d: u8,
        s: u8,
        t: u32,
    },
    JneK {
        d: u8,
        k: u64,
        t: u32,
    },
    JneX {
        d: u8,
        s: u8,
        t: u32,
    },
    JsgtK {
        d: u8,
        k: u64,
        t: u32,
    },
    JsgtX {
        d: u8,
        s: u8,
        t: u32,
    },
    JsgeK {
        d: u8,
        k: u64,
        t: u32,
    },
    JsgeX {
        d: u8,
        s: u8,
        t: u32,
    },
    JltK {
        d: u8,
        k: u64,
        t: u32,
    },
    JltX {
        d: u8,
        s: u8,
        t: u32,
    },
    JleK {
        d: u8,
        k: u64,
        t: u32,
    },
    JleX {
        d: u8,
        s: u8,
        t: u32,
    },
    JsltK {
        d: u8,
        k: u64,
        t: u32,
    },
    JsltX {
        d: u8,
        s: u8,
        t: u32,
    },
    JsleK {
        d: u8,
        k: u64,
        t: u32,
    },
    JsleX {
        d: u8,
        s: u8,
        t: u32,
    },
    Jmp32K {
        cond: JmpCond,
        d: u8,
        k: u32,
        t: u32,
    },
    Jmp32X {
        cond: JmpCond,
        d: u8,
        s: u8,
        t: u32,
    },
    Call {
        f: HelperFn,
        id: u32,
    },
    CallLocal {
        t: u32,
    },
    Exit,
    Ldx8 {
        d: u8,
        s: u8,
        off: i16,
    },
    Ldx16 {
        d: u8,
        s: u8,
        off: i16,
    },
    Ldx32 {
        d: u8,
        s: u8,
        off: i16,
    },
    Ldx64 {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxSx8 {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxSx16 {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxSx32 {
        d: u8,
        s: u8,
        off: i16,
    },
    St8 {
        d: u8,
        off: i16,
        k: u64,
    },
    St16 {
        d: u8,
        off: i16,
        k: u64,
    },
    St32 {
        d: u8,
        off: i16,
        k: u64,
    },
    St64 {
        d: u8,
        off: i16,
        k: u64,
    },
    Stx8 {
        d: u8,
        s: u8,
        off: i16,
    },
    Stx16 {
        d: u8,
        s: u8,
        off: i16,
    },
    Stx32 {
        d: u8,
        s: u8,
        off: i16,
    },
    Stx64 {
        d: u8,
        s: u8,
        off: i16,
    },
    Atomic32 {
        op: AtomicOp,
        d: u8,
        s: u8,
        off: i16,
    },
    Atomic64 {
        op: AtomicOp,
        d: u8,
        s: u8,
        off: i16,
    },
    Lddw {
        d: u8,
        k: u64,
    },
    LddwTail,
    FellOff,
}

/// The absolute target of a jump at `pc` by `off`, if inside `n` slots.
pub(crate) fn target(pc: usize, off: i64, n: usize) -> Option<usize> {
    let t = pc as i64 + 1 + off;
    (0..n as i64).contains(&t).then_some(t as usize)
}

/// Lowers `bytes` into ops.
pub(crate) fn compile(
    bytes: &[u8],
    helpers: &Helpers,
    maps: &MapSet,
) -> Result<Vec<Op>, LoadError> {
    let n = slot_count(bytes)?;
    let mut ops = Vec::with_capacity(n + 1);
    let mut pc = 0;
    while pc < n {
        let insn = decode_at(bytes, pc)?;
        let op =
            lower(&insn, pc, n, helpers, maps).map_err(|kind| CompileError { index: pc, kind })?;
        ops.push(op);
        if insn.slots() == 2 {
            ops.push(Op::LddwTail);
        }
        pc += insn.slots();
    }
    ops.push(Op::FellOff);
    Ok(ops)
}

fn lower(
    insn: &Insn,
    pc: usize,
    n: usize,
    helpers: &Helpers,
    maps: &MapSet,
) -> Result<Op, CompileErrorKind> {
    let jump = |off: i64| {
        target(pc, off, n)
            .map(|t| t as u32)
            .ok_or(CompileErrorKind::JumpOutOfRange)
    };
    Ok(match *insn {
        Insn::Alu {
            width: Width::W64,
            op,
            dst,
            src,
        } => alu64(op, dst.number(), src),
        Insn::Alu {
            width: Width::W32,
            op,
            dst,
            src,
        } => alu32(op, dst.number(), src),
        Insn::Neg { width, dst } => match width {
            Width::W64 => Op::Neg64 { d: dst.number() },
            Width::W32 => Op::Neg32 { d: dst.number() },
        },
        Insn::MovSx {
            width,
            from,
            dst,
            src,
        } => {
            let (d, s) = (dst.number(), src.number());
            match (width, from) {
                (Width::W64, Size::B) => Op::MovSx64B { d, s },
                (Width::W64, Size::H) => Op::MovSx64H { d, s },
                (Width::W64, _) => Op::MovSx64W { d, s },
                (Width::W32, Size::B) => Op::MovSx32B { d, s },
                (Width::W32, _) => Op::MovSx32H { d, s },
            }
        }
        Insn::Endian {
            order: ByteOrder::Little,
            size,
            dst,
        } => {
            let d = dst.number();
            match size {
                Size::H => Op::Zext16 { d },
                Size::W => Op::Zext32 { d },
                _ => Op::Nop,
            }
        }
        Insn::Endian {
            order: ByteOrder::Big,
            size,
            dst,
        }
        | Insn::Bswap { size, dst } => {
            let d = dst.number();
            match size {
                Size::H => Op::Swap16 { d },
                Size::W => Op::Swap32 { d },
                _ => Op::Swap64 { d },
            }
        }
        Insn::Ja { off } => Op::Ja {
            t: jump(off.into())?,
        },
        Insn::JaLong { imm } => Op::Ja {
            t: jump(imm.into())?,
        },
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let t = jump(off.into())?;
            let d = dst.number();
            match (width, src) {
                (Width::W64, Operand::Imm(k)) => jump64k(cond, d, k as i64 as u64, t),
                (Width::W64, Operand::Reg(s)) => jump64x(cond, d, s.number(), t),
                (Width::W32, Operand::Imm(k)) => Op::Jmp32K {
                    cond,
                    d,
                    k: k as u32,
                    t,
                },
                (Width::W32, Operand::Reg(s)) => Op::Jmp32X {
                    cond,
                    d,
                    s: s.number(),
                    t,
                },
            }
        }
        Insn::Call { id } => {
            let helper = helpers.get(id).ok_or(CompileErrorKind::UnknownHelper(id))?;
            Op::Call {
                f: helper.func,
                id: id as u32,
            }
        }
        Insn::CallLocal { offset } => Op::CallLocal {
            t: jump(offset.into())?,
        },
        Insn::Exit => Op::Exit,
        Insn::Load {
            size,
            dst,
            src,
            off,
        } => {
            let (d, s) = (dst.number(), src.number());
            match size {
                Size::B => Op::Ldx8 { d, s, off },
                Size::H => Op::Ldx16 { d, s, off },
                Size::W => Op::Ldx32 { d, s, off },
                Size::DW => Op::Ldx64 { d, s, off },
            }
        }
        Insn::LoadSx {
            size,
            dst,
            src,
            off,
        } => {
            let (d, s) = (dst.number(), src.number());
            match size {
                Size::B => Op::LdxSx8 { d, s, off },
                Size::H => Op::LdxSx16 { d, s, off },
                _ => Op::LdxSx32 { d, s, off },
            }
        }
        Insn::Store {
            size,
            dst,
            off,
            imm,
        } => {
            let (d, k) = (dst.number(), imm as i64 as u64);
            match size {
                Size::B => Op::St8 { d, off, k },
                Size::H => Op::St16 { d, off, k },
                Size::W => Op::St32 { d, off, k },
                Size::DW => Op::St64 { d, off, k },
            }
        }
        Insn::StoreReg {
            size,
            dst,
            src,
            off,
        } => {
            let (d, s) = (dst.number(), src.number());
            match size {
                Size::B => Op::Stx8 { d, s, off },
                Size::H => Op::Stx16 { d, s, off },
                Size::W => Op::Stx32 { d, s, off },
                Size::DW => Op::Stx64 { d, s, off },
            }
        }
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            let (d, s) = (dst.number(), src.number());
            if size == Size::W {
                Op::Atomic32 { op, d, s, off }
            } else {
                Op::Atomic64 { op, d, s, off }
            }
        }
        Insn::LoadImm64 { dst, value } => Op::Lddw {
            d: dst.number(),
            k: imm64(value, maps)?,
        },
        Insn::CallKfunc { .. } | Insn::LoadAbs { .. } | Insn::LoadInd { .. } => {
            return Err(CompileErrorKind::Unsupported);
        }
    })
}

/// The runtime value of an `lddw`.
pub(crate) fn imm64(value: Imm64, maps: &MapSet) -> Result<u64, CompileErrorKind> {
    let map = |fd: i32| {
        u32::try_from(fd)
            .ok()
            .filter(|&i| maps.get(i).is_some())
            .ok_or(CompileErrorKind::UnknownMap(fd))
    };
    match value {
        Imm64::Value(v) => Ok(v),
        Imm64::MapFd(fd) | Imm64::MapIndex(fd) => Ok(map_handle(map(fd)?)),
        Imm64::MapValue { fd, offset } | Imm64::MapIndexValue { index: fd, offset } => {
            let index = map(fd)?;
            let m = maps.get(index).ok_or(CompileErrorKind::UnknownMap(fd))?;
            let base = m
                .direct_value()
                .ok_or(CompileErrorKind::NoDirectValue(fd))?;
            if offset >= m.def().value_size {
                return Err(CompileErrorKind::NoDirectValue(fd));
            }
            Ok(map_value_address(index, base as u32 + offset))
        }
        Imm64::VarAddr(_) | Imm64::CodeAddr(_) => Err(CompileErrorKind::Unsupported),
    }
}

fn alu64(op: AluOp, d: u8, src: Operand) -> Op {
    match src {
        Operand::Imm(imm) => {
            let k = imm as i64 as u64;
            let sh = imm as u32 & 63;
            match op {
                AluOp::Add => Op::Add64K { d, k },
                AluOp::Sub => Op::Sub64K { d, k },
                AluOp::Mul => Op::Mul64K { d, k },
                AluOp::Div | AluOp::SDiv if k == 0 => Op::Mov64K { d, k: 0 },
                AluOp::Div => Op::Div64K { d, k },
                AluOp::SDiv => Op::SDiv64K { d, k },
                AluOp::Mod | AluOp::SMod if k == 0 => Op::Nop,
                AluOp::Mod => Op::Mod64K { d, k },
                AluOp::SMod => Op::SMod64K { d, k },
                AluOp::Or => Op::Or64K { d, k },
                AluOp::And => Op::And64K { d, k },
                AluOp::Lsh => Op::Lsh64K { d, k: sh },
                AluOp::Rsh => Op::Rsh64K { d, k: sh },
                AluOp::Arsh => Op::Arsh64K { d, k: sh },
                AluOp::Xor => Op::Xor64K { d, k },
                AluOp::Mov => Op::Mov64K { d, k },
            }
        }
        Operand::Reg(s) => {
            let s = s.number();
            match op {
                AluOp::Add => Op::Add64X { d, s },
                AluOp::Sub => Op::Sub64X { d, s },
                AluOp::Mul => Op::Mul64X { d, s },
                AluOp::Div => Op::Div64X { d, s },
                AluOp::SDiv => Op::SDiv64X { d, s },
                AluOp::Mod => Op::Mod64X { d, s },
                AluOp::SMod => Op::SMod64X { d, s },
                AluOp::Or => Op::Or64X { d, s },
                AluOp::And => Op::And64X { d, s },
                AluOp::Lsh => Op::Lsh64X { d, s },
                AluOp::Rsh => Op::Rsh64X { d, s },
                AluOp::Arsh => Op::Arsh64X { d, s },
                AluOp::Xor => Op::Xor64X { d, s },
                AluOp::Mov => Op::Mov64X { d, s },
            }
        }
    }
}

fn alu32(op: AluOp, d: u8, src: Operand) -> Op {
    match src {
        Operand::Imm(imm) => {
            let k = imm as u32;
            let sh = k & 31;
            match op {
                AluOp::Add => Op::Add32K { d, k },
                AluOp::Sub => Op::Sub32K { d, k },
                AluOp::Mul => Op::Mul32K { d, k },
                AluOp::Div | AluOp::SDiv if k == 0 => Op::Mov32K { d, k: 0 },
                AluOp::Div => Op::Div32K { d, k },
                AluOp::SDiv => Op::SDiv32K { d, k },
                // Modulo zero keeps the dividend, zero-extended.
                AluOp::Mod | AluOp::SMod if k == 0 => Op::Zext32 { d },
                AluOp::Mod => Op::Mod32K { d, k },
                AluOp::SMod => Op::SMod32K { d, k },
                AluOp::Or => Op::Or32K { d, k },
                AluOp::And => Op::And32K { d, k },
                AluOp::Lsh => Op::Lsh32K { d, k: sh },
                AluOp::Rsh => Op::Rsh32K { d, k: sh },
                AluOp::Arsh => Op::Arsh32K { d, k: sh },
                AluOp::Xor => Op::Xor32K { d, k },
                AluOp::Mov => Op::Mov32K { d, k },
            }
        }
        Operand::Reg(s) => {
            let s = s.number();
            match op {
                AluOp::Add => Op::Add32X { d, s },
                AluOp::Sub => Op::Sub32X { d, s },
                AluOp::Mul => Op::Mul32X { d, s },
                AluOp::Div => Op::Div32X { d, s },
                AluOp::SDiv => Op::SDiv32X { d, s },
                AluOp::Mod => Op::Mod32X { d, s },
                AluOp::SMod => Op::SMod32X { d, s },
                AluOp::Or => Op::Or32X { d, s },
                AluOp::And => Op::And32X { d, s },
                AluOp::Lsh => Op::Lsh32X { d, s },
                AluOp::Rsh => Op::Rsh32X { d, s },
                AluOp::Arsh => Op::Arsh32X { d, s },
                AluOp::Xor => Op::Xor32X { d, s },
                AluOp::Mov => Op::Mov32X { d, s },
            }
        }
    }
}

fn jump64k(cond: JmpCond, d: u8, k: u64, t: u32) -> Op {
    match cond {
        JmpCond::Eq => Op::JeqK { d, k, t },
        JmpCond::Gt => Op::JgtK { d, k, t },
        JmpCond::Ge => Op::JgeK { d, k, t },
        JmpCond::Set => Op::JsetK { d, k, t },
        JmpCond::Ne => Op::JneK { d, k, t },
        JmpCond::Sgt => Op::JsgtK { d, k, t },
        JmpCond::Sge => Op::JsgeK { d, k, t },
        JmpCond::Lt => Op::JltK { d, k, t },
        JmpCond::Le => Op::JleK { d, k, t },
        JmpCond::Slt => Op::JsltK { d, k, t },
        JmpCond::Sle => Op::JsleK { d, k, t },
    }
}

fn jump64x(cond: JmpCond, d: u8, s: u8, t: u32) -> Op {
    match cond {
        JmpCond::Eq => Op::JeqX { d, s, t },
        JmpCond::Gt => Op::JgtX { d, s, t },
        JmpCond::Ge => Op::JgeX { d, s, t },
        JmpCond::Set => Op::JsetX { d, s, t },
        JmpCond::Ne => Op::JneX { d, s, t },
        JmpCond::Sgt => Op::JsgtX { d, s, t },
        JmpCond::Sge => Op::JsgeX { d, s, t },
        JmpCond::Lt => Op::JltX { d, s, t },
        JmpCond::Le => Op::JleX { d, s, t },
        JmpCond::Slt => Op::JsltX { d, s, t },
        JmpCond::Sle => Op::JsleX { d, s, t },
    }
}
