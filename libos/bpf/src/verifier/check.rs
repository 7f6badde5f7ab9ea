//! Transfer functions: what each instruction requires of the state, and
//! what it makes of it.

use alloc::boxed::Box;

use super::scalar::{Scalar, refine};
use super::state::{Held, Kind, RegState, State};
use super::{Entry, Verifier, VerifyErrorKind as E, join_into};
use crate::helpers::{ArgType, RetType};
use crate::isa::{AluOp, AtomicOp, ByteOrder, Imm64, Insn, JmpCond, Operand, Reg, Size, Width};
use crate::maps::MapKind;
use crate::memory::STACK_SIZE;
use crate::semantics;

/// Largest pointer offset magnitude: keeps `base + offset` from wrapping
/// into another region's addresses.
const MAX_POINTER_OFFSET: i64 = 1 << 30;

/// Largest length a helper may be given for a memory argument.
const MAX_HELPER_SIZE: u64 = 1 << 20;

/// Largest ring buffer reservation the verifier accepts.
const MAX_RECORD_SIZE: u64 = 1 << 28;

/// What an instruction did to control flow.
pub(super) enum Step {
    /// Fall through with the updated state.
    Next,
    /// A conditional jump: the taken edge's state (`None` if never taken)
    /// and whether the fall-through edge (now in the state) is possible.
    Branch {
        taken: Option<Box<State>>,
        fall: bool,
    },
}

/// How memory is accessed.
#[derive(Clone, Copy)]
enum Access {
    /// A load: `fill` if a whole spilled register may be restored.
    Load { fill: bool },
    /// A store of `value` (a register, or an immediate as a scalar).
    Store { value: RegState, src: Reg },
    /// A read-modify-write.
    Atomic,
    /// A helper reading the memory.
    HelperRead,
    /// A helper writing the memory.
    HelperWrite,
}

impl Access {
    fn writes(self) -> bool {
        !matches!(self, Access::Load { .. } | Access::HelperRead)
    }

    fn reads(self) -> bool {
        !matches!(self, Access::Store { .. } | Access::HelperWrite)
    }
}

fn read(s: &State, r: Reg) -> Result<RegState, E> {
    let v = *s.reg(r);
    if v.is_init() {
        Ok(v)
    } else {
        Err(E::UninitRegister(r))
    }
}

fn writable(r: Reg) -> Result<(), E> {
    if r == Reg::R10 {
        Err(E::FramePointerWrite)
    } else {
        Ok(())
    }
}

fn imm(width: Width, k: i32) -> Scalar {
    match width {
        Width::W64 => Scalar::constant(k as i64 as u64),
        Width::W32 => Scalar::constant(u64::from(k as u32)),
    }
}

fn loaded(size: Size, signed: bool) -> Scalar {
    let bits = size.bits();
    if signed && bits < 64 {
        let half = 1i64 << (bits - 1);
        Scalar::signed(-half, half - 1)
    } else {
        Scalar::bits(bits)
    }
}

impl Verifier<'_> {
    /// Checks `insn` at `pc` (in function `func`) against `s` and updates
    /// `s`.
    pub(super) fn step(
        &mut self,
        func: usize,
        pc: usize,
        insn: &Insn,
        s: &mut State,
    ) -> Result<Step, E> {
        match *insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(s, width, op, dst, src)?,
            Insn::Neg { width, dst } => {
                writable(dst)?;
                let a = self.scalar_operand(s, dst)?;
                let r = match a.as_const() {
                    Some(v) => Scalar::constant(semantics::alu(width, AluOp::Sub, 0, v)),
                    None if width == Width::W32 => Scalar::bits(32),
                    None => Scalar::UNKNOWN,
                };
                s.set(dst, RegState::scalar(r));
            }
            Insn::MovSx {
                width,
                from,
                dst,
                src,
            } => {
                writable(dst)?;
                let a = self.scalar_operand(s, src)?;
                let r = match a.as_const() {
                    Some(v) => {
                        let wide = match from {
                            Size::B => v as i8 as i64 as u64,
                            Size::H => v as i16 as i64 as u64,
                            _ => v as i32 as i64 as u64,
                        };
                        Scalar::constant(match width {
                            Width::W64 => wide,
                            Width::W32 => u64::from(wide as u32),
                        })
                    }
                    None if width == Width::W32 => Scalar::bits(32),
                    None => loaded(from, true),
                };
                s.set(dst, RegState::scalar(r));
            }
            Insn::Endian { order, size, dst } => {
                writable(dst)?;
                let a = self.scalar_operand(s, dst)?;
                let r = match (order, a.as_const()) {
                    (ByteOrder::Little, _) if size == Size::DW => a,
                    (ByteOrder::Little, _) => a.alu(
                        Width::W64,
                        AluOp::And,
                        &Scalar::constant((1u64 << size.bits()) - 1),
                    ),
                    (ByteOrder::Big, Some(v)) => Scalar::constant(swap(v, size)),
                    (ByteOrder::Big, None) => Scalar::bits(size.bits()),
                };
                s.set(dst, RegState::scalar(r));
            }
            Insn::Bswap { size, dst } => {
                writable(dst)?;
                let a = self.scalar_operand(s, dst)?;
                let r = match a.as_const() {
                    Some(v) => Scalar::constant(swap(v, size)),
                    None => Scalar::bits(size.bits()),
                };
                s.set(dst, RegState::scalar(r));
            }
            Insn::Ja { .. } | Insn::JaLong { .. } => {}
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                ..
            } => return self.branch(s, width, cond, dst, src),
            Insn::Call { id } => self.call_helper(s, id, pc)?,
            Insn::CallLocal { offset } => {
                let target = (pc as i64 + 1 + i64::from(offset)) as usize;
                self.call_local(s, self.cfg.func_of(target))?;
            }
            Insn::Exit => {
                let r0 = *s.reg(Reg::R0);
                if func == 0 && !r0.is_init() {
                    return Err(E::UninitRegister(Reg::R0));
                }
                if r0.is_pointer() {
                    return Err(E::PointerLeak(Reg::R0));
                }
                if let Some(h) = s.refs.first() {
                    return Err(E::ReservationLeak {
                        reserved_at: h.pc as usize,
                    });
                }
            }
            Insn::Load {
                size,
                dst,
                src,
                off,
            } => {
                writable(dst)?;
                let p = read(s, src)?;
                let v = self.access(
                    s,
                    src,
                    p,
                    off.into(),
                    size.bytes() as u64,
                    Access::Load { fill: true },
                )?;
                s.set(dst, v.unwrap_or(RegState::scalar(loaded(size, false))));
            }
            Insn::LoadSx {
                size,
                dst,
                src,
                off,
            } => {
                writable(dst)?;
                let p = read(s, src)?;
                self.access(
                    s,
                    src,
                    p,
                    off.into(),
                    size.bytes() as u64,
                    Access::Load { fill: false },
                )?;
                s.set(dst, RegState::scalar(loaded(size, true)));
            }
            Insn::Store {
                size,
                dst,
                off,
                imm: k,
            } => {
                let p = read(s, dst)?;
                let value = RegState::scalar(match size {
                    Size::DW => Scalar::constant(k as i64 as u64),
                    _ => Scalar::constant(k as i64 as u64).alu(
                        Width::W64,
                        AluOp::And,
                        &Scalar::constant((1u64 << size.bits()) - 1),
                    ),
                });
                self.access(
                    s,
                    dst,
                    p,
                    off.into(),
                    size.bytes() as u64,
                    Access::Store {
                        value,
                        src: Reg::R0,
                    },
                )?;
            }
            Insn::StoreReg {
                size,
                dst,
                src,
                off,
            } => {
                let p = read(s, dst)?;
                let mut value = read(s, src)?;
                if value.is_pointer() && size != Size::DW {
                    return Err(E::PointerLeak(src));
                }
                if value.is_scalar() && size != Size::DW {
                    value.val = value.val.alu(
                        Width::W64,
                        AluOp::And,
                        &Scalar::constant((1u64 << size.bits()) - 1),
                    );
                }
                self.access(
                    s,
                    dst,
                    p,
                    off.into(),
                    size.bytes() as u64,
                    Access::Store { value, src },
                )?;
            }
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => {
                let p = read(s, dst)?;
                let v = read(s, src)?;
                if !v.is_scalar() {
                    return Err(E::PointerLeak(src));
                }
                if op == AtomicOp::CmpXchg {
                    let r0 = read(s, Reg::R0)?;
                    if !r0.is_scalar() {
                        return Err(E::PointerLeak(Reg::R0));
                    }
                }
                self.access(s, dst, p, off.into(), size.bytes() as u64, Access::Atomic)?;
                let old = RegState::scalar(Scalar::bits(size.bits()));
                match op {
                    AtomicOp::CmpXchg => s.set(Reg::R0, old),
                    op if op.fetches() => {
                        writable(src)?;
                        s.set(src, old);
                    }
                    _ => {}
                }
            }
            Insn::LoadImm64 { dst, value } => {
                writable(dst)?;
                let v = match value {
                    Imm64::Value(v) => RegState::scalar(Scalar::constant(v)),
                    Imm64::MapFd(fd) | Imm64::MapIndex(fd) => {
                        let map = u32::try_from(fd)
                            .ok()
                            .filter(|&m| self.config.maps.get(m).is_some())
                            .ok_or(E::UnknownMap(fd))?;
                        RegState::pointer(Kind::MapHandle { map }, Scalar::constant(0))
                    }
                    Imm64::MapValue { fd, offset } | Imm64::MapIndexValue { index: fd, offset } => {
                        let ok = crate::compile::imm64(value, self.config.maps).is_ok();
                        if !ok {
                            return Err(E::UnknownMap(fd));
                        }
                        RegState::pointer(
                            Kind::MapValue {
                                map: fd as u32,
                                id: self.fresh_id(),
                                nullable: false,
                            },
                            Scalar::constant(u64::from(offset)),
                        )
                    }
                    Imm64::VarAddr(_) | Imm64::CodeAddr(_) => return Err(E::Unsupported),
                };
                s.set(dst, v);
            }
            Insn::CallKfunc { .. } | Insn::LoadAbs { .. } | Insn::LoadInd { .. } => {
                return Err(E::Unsupported);
            }
        }
        Ok(Step::Next)
    }

    fn scalar_operand(&self, s: &State, r: Reg) -> Result<Scalar, E> {
        let v = read(s, r)?;
        if v.is_scalar() {
            Ok(v.val)
        } else {
            Err(E::PointerArithmetic(r))
        }
    }

    fn alu(
        &mut self,
        s: &mut State,
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Operand,
    ) -> Result<(), E> {
        writable(dst)?;
        let (b, src_reg) = match src {
            Operand::Imm(k) => (RegState::scalar(imm(width, k)), None),
            Operand::Reg(r) => (read(s, r)?, Some(r)),
        };
        if op == AluOp::Mov {
            let v = match width {
                Width::W64 => b,
                Width::W32 if b.is_pointer() => return Err(E::PointerLeak(src_reg.unwrap_or(dst))),
                Width::W32 => RegState::scalar(b.val.low32()),
            };
            s.set(dst, v);
            return Ok(());
        }
        let a = read(s, dst)?;
        let result = match (a.is_pointer(), b.is_pointer()) {
            (false, false) => RegState::scalar(a.val.alu(width, op, &b.val)),
            _ if width == Width::W32 => return Err(E::PointerArithmetic(dst)),
            (true, false) if matches!(op, AluOp::Add | AluOp::Sub) => {
                self.pointer_offset(a, &b.val, op, dst)?
            }
            (false, true) if op == AluOp::Add => {
                self.pointer_offset(b, &a.val, op, src_reg.unwrap_or(dst))?
            }
            (true, true) if op == AluOp::Sub && same_region(a.kind, b.kind) => {
                RegState::scalar(Scalar::UNKNOWN)
            }
            _ => return Err(E::PointerArithmetic(dst)),
        };
        s.set(dst, result);
        Ok(())
    }

    /// `p ± delta`.
    fn pointer_offset(
        &mut self,
        p: RegState,
        delta: &Scalar,
        op: AluOp,
        r: Reg,
    ) -> Result<RegState, E> {
        match p.kind {
            Kind::MapHandle { .. }
            | Kind::PacketEnd
            | Kind::MapValue { nullable: true, .. }
            | Kind::RingBufRecord { nullable: true, .. } => {
                return Err(E::PointerArithmetic(r));
            }
            _ => {}
        }
        let val = p.val.alu(Width::W64, op, delta);
        if val.smin < -MAX_POINTER_OFFSET || val.smax > MAX_POINTER_OFFSET {
            return Err(E::PointerArithmetic(r));
        }
        let kind = match p.kind {
            Kind::Packet { id, fixed, range } => match delta.as_const() {
                Some(k) => {
                    let k = if op == AluOp::Sub {
                        (k as i64).wrapping_neg()
                    } else {
                        k as i64
                    };
                    let fixed = i64::from(fixed) + k;
                    match i32::try_from(fixed) {
                        Ok(fixed) => Kind::Packet { id, fixed, range },
                        Err(_) => return Err(E::PointerArithmetic(r)),
                    }
                }
                None => Kind::Packet {
                    id: self.fresh_id(),
                    fixed: 0,
                    range: 0,
                },
            },
            k => k,
        };
        Ok(RegState::pointer(kind, val))
    }

    /// Checks an access of `size` bytes at `p + off` (`p` held in `reg`)
    /// and applies its effect on the stack; returns what a load produced,
    /// if more is known than "a number of `size` bytes".
    fn access(
        &mut self,
        s: &mut State,
        reg: Reg,
        p: RegState,
        off: i64,
        size: u64,
        how: Access,
    ) -> Result<Option<RegState>, E> {
        if let Access::Store { value, src } = how
            && value.is_pointer()
            && p.kind != Kind::Stack
        {
            return Err(E::PointerLeak(src));
        }
        let lo = p.val.smin.saturating_add(off);
        let hi = p.val.smax.saturating_add(off).saturating_add(size as i64);
        let bounds = |region: &'static str, limit: u64| {
            if lo < 0 || hi > limit as i64 {
                Err(E::OutOfBounds {
                    region,
                    offset: lo,
                    size,
                })
            } else {
                Ok(())
            }
        };
        match p.kind {
            Kind::Uninit => Err(E::UninitRegister(reg)),
            Kind::Scalar | Kind::MapHandle { .. } | Kind::PacketEnd => Err(E::NotAPointer(reg)),
            Kind::MapValue { nullable: true, .. } => Err(E::NullDereference(reg)),
            Kind::MapValue { map, .. } => {
                let value_size = self.config.maps.def(map).map_or(0, |d| d.value_size);
                bounds("map value", value_size.into())?;
                Ok(None)
            }
            Kind::Mem { size: limit } => {
                bounds("memory argument", limit.into())?;
                Ok(None)
            }
            Kind::RingBufRecord { nullable: true, .. } => Err(E::NullDereference(reg)),
            Kind::RingBufRecord { id, size, .. } => {
                if !s.holds(id) {
                    return Err(E::ReservationReleased(reg));
                }
                bounds("ring buffer record", size.into())?;
                Ok(None)
            }
            Kind::Packet { fixed, range, .. } => {
                let Some(fields) = self.config.context.packet else {
                    return Err(E::NotAPointer(reg));
                };
                if how.writes() && !fields.writable {
                    return Err(E::ReadOnly("packet"));
                }
                let end = i64::from(fixed) + off + size as i64;
                if lo < 0 || end > i64::from(range) {
                    return Err(E::OutOfBounds {
                        region: "packet",
                        offset: lo,
                        size,
                    });
                }
                Ok(None)
            }
            Kind::Context => {
                let layout = self.config.context;
                let Some(base) = p.val.as_const() else {
                    return Err(E::VariableContextOffset);
                };
                bounds("context", layout.size.into())?;
                let at = (base as i64 + off) as u64;
                if how.writes() {
                    if !layout.writable || layout.touches_packet_fields(at, size) {
                        return Err(E::ReadOnly("context"));
                    }
                    return Ok(None);
                }
                if let (Some(f), Access::Load { fill: true }, 8) = (layout.packet, how, size) {
                    if at == u64::from(f.data) {
                        let kind = Kind::Packet {
                            id: self.fresh_id(),
                            fixed: 0,
                            range: 0,
                        };
                        return Ok(Some(RegState::pointer(kind, Scalar::constant(0))));
                    }
                    if at == u64::from(f.data_end) {
                        return Ok(Some(RegState::pointer(
                            Kind::PacketEnd,
                            Scalar::constant(0),
                        )));
                    }
                }
                Ok(None)
            }
            Kind::Stack => self.stack_access(s, reg, p, lo, hi, size, how),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn stack_access(
        &mut self,
        s: &mut State,
        reg: Reg,
        p: RegState,
        lo: i64,
        hi: i64,
        size: u64,
        how: Access,
    ) -> Result<Option<RegState>, E> {
        let _ = reg;
        if lo < -(STACK_SIZE as i64) {
            return Err(E::StackTooLarge(lo));
        }
        if hi > 0 {
            return Err(E::StackOutOfBounds(hi - size as i64));
        }
        let len = (hi - lo) as usize;
        let fixed = p.val.as_const().is_some();
        if how.reads() && !s.stack.is_init(lo, len) {
            // Name the first uninitialised byte.
            let first = (lo..hi).find(|&b| !s.stack.is_init(b, 1)).unwrap_or(lo);
            return Err(E::UninitStack(first));
        }
        match how {
            Access::Load { fill } => {
                if fill && fixed && size == 8 && lo % 8 == 0 {
                    return Ok(s.stack.spill(lo).copied());
                }
                Ok(None)
            }
            Access::Store { value, src } => {
                if fixed && size == 8 && lo % 8 == 0 {
                    s.stack.set_spill(lo, value);
                } else if value.is_pointer() {
                    return Err(E::PointerLeak(src));
                } else {
                    s.stack.clobber(lo, len);
                    if fixed {
                        s.stack.mark_init(lo, len);
                    }
                }
                Ok(None)
            }
            Access::Atomic | Access::HelperRead | Access::HelperWrite => {
                if how.writes() {
                    s.stack.clobber(lo, len);
                    if fixed && matches!(how, Access::HelperWrite) {
                        s.stack.mark_init(lo, len);
                    }
                }
                Ok(None)
            }
        }
    }

    fn branch(
        &mut self,
        s: &mut State,
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Operand,
    ) -> Result<Step, E> {
        let a = read(s, dst)?;
        let (b, src_reg) = match src {
            Operand::Imm(k) => (RegState::scalar(imm(width, k)), None),
            Operand::Reg(r) => (read(s, r)?, Some(r)),
        };
        let mut taken = s.clone();
        let mut fall = true;
        let mut taken_ok = true;
        if a.is_scalar() && b.is_scalar() {
            let (mut at, mut bt) = (a.val, b.val);
            taken_ok = refine(width, cond, true, &mut at, &mut bt);
            let (mut af, mut bf) = (a.val, b.val);
            fall = refine(width, cond, false, &mut af, &mut bf);
            taken.set(dst, RegState::scalar(at));
            s.set(dst, RegState::scalar(af));
            if let Some(r) = src_reg {
                taken.set(r, RegState::scalar(bt));
                s.set(r, RegState::scalar(bf));
            }
        } else if width == Width::W64 {
            // Normalise to `pointer cond other`.
            let (p, q, cond) = if a.is_pointer() {
                (a, b, cond)
            } else {
                (b, a, cond.swapped())
            };
            match (p.kind, q.kind) {
                (
                    Kind::MapValue {
                        id, nullable: true, ..
                    }
                    | Kind::RingBufRecord {
                        id, nullable: true, ..
                    },
                    Kind::Scalar,
                ) if q.val.as_const() == Some(0) && matches!(cond, JmpCond::Eq | JmpCond::Ne) => {
                    let (null, non_null) = if cond == JmpCond::Eq {
                        (&mut taken, &mut *s)
                    } else {
                        (&mut *s, &mut taken)
                    };
                    mark_null(null, id, true);
                    mark_null(non_null, id, false);
                }
                (Kind::Packet { id, fixed, .. }, Kind::PacketEnd) => {
                    // Which edge proves `p + k <= end`, and for which k.
                    let proven = match cond {
                        JmpCond::Gt | JmpCond::Sgt => Some((false, fixed)),
                        JmpCond::Ge | JmpCond::Sge => Some((false, fixed.saturating_add(1))),
                        JmpCond::Le | JmpCond::Sle => Some((true, fixed)),
                        JmpCond::Lt | JmpCond::Slt => Some((true, fixed.saturating_add(1))),
                        _ => None,
                    };
                    if let Some((on_taken, k)) = proven
                        && k > 0
                    {
                        let st = if on_taken { &mut taken } else { &mut *s };
                        mark_range(st, id, k as u32);
                    }
                }
                _ => {}
            }
        }
        Ok(Step::Branch {
            taken: taken_ok.then(|| Box::new(taken)),
            fall,
        })
    }

    fn call_helper(&mut self, s: &mut State, id: i32, pc: usize) -> Result<(), E> {
        let helper = *self.config.helpers.get(id).ok_or(E::UnknownHelper(id))?;
        let args = helper.proto.args;
        let mut map = None;
        let mut size = None;
        let mut release = None;
        for i in 0..5 {
            let r = Reg::new(i as u8 + 1).unwrap_or(Reg::R1);
            let arg = |reason| E::HelperArg {
                arg: i as u8 + 1,
                reason,
            };
            let ty = args[i];
            if ty == ArgType::None {
                continue;
            }
            let v = read(s, r)?;
            match ty {
                ArgType::None | ArgType::Anything => {}
                ArgType::Scalar | ArgType::Size if !v.is_scalar() => {
                    return Err(arg("expected a scalar"));
                }
                ArgType::Scalar | ArgType::Size => {}
                ArgType::Context => {
                    if v.kind != Kind::Context || v.val.as_const() != Some(0) {
                        return Err(arg("expected the context pointer"));
                    }
                }
                ArgType::MapHandle | ArgType::RingBuf | ArgType::TimeSeries => {
                    let Kind::MapHandle { map: m } = v.kind else {
                        return Err(arg("expected a map"));
                    };
                    let kind = self.config.maps.def(m).map(|d| d.kind);
                    let ok = match ty {
                        ArgType::RingBuf => kind == Some(MapKind::RingBuf),
                        ArgType::TimeSeries => kind == Some(MapKind::TimeSeries),
                        _ => kind.is_some_and(MapKind::has_keys),
                    };
                    if !ok {
                        return Err(arg("map of the wrong type for this helper"));
                    }
                    map = Some(m);
                }
                ArgType::ConstSize => match v.val.as_const() {
                    Some(n) if v.is_scalar() && (1..=MAX_RECORD_SIZE).contains(&n) => {
                        size = Some(n as u32);
                    }
                    _ => return Err(arg("expected a known constant size")),
                },
                ArgType::RingBufRecord => match v.kind {
                    Kind::RingBufRecord {
                        id,
                        nullable: false,
                        ..
                    } if v.val.as_const() == Some(0) => {
                        if !s.holds(id) {
                            return Err(E::ReservationReleased(r));
                        }
                        release = Some(id);
                    }
                    Kind::RingBufRecord { nullable: true, .. } => {
                        return Err(E::NullDereference(r));
                    }
                    _ => return Err(arg("expected an unmodified ring buffer record")),
                },
                ArgType::MapKey | ArgType::MapValue => {
                    let def = map
                        .and_then(|m| self.config.maps.def(m))
                        .ok_or(arg("no map argument precedes it"))?;
                    let len = if ty == ArgType::MapKey {
                        def.key_size
                    } else {
                        def.value_size
                    };
                    self.helper_memory(s, r, v, len.into(), Access::HelperRead, i as u8 + 1)?;
                }
                ArgType::ReadMem | ArgType::WriteMem => {
                    let size_reg =
                        Reg::new(i as u8 + 2).filter(|_| i < 4 && args[i + 1] == ArgType::Size);
                    let size_reg =
                        size_reg.ok_or(arg("memory argument without a size argument"))?;
                    let size = read(s, size_reg)?;
                    if !size.is_scalar() || size.val.umax > MAX_HELPER_SIZE {
                        return Err(E::HelperArg {
                            arg: i as u8 + 2,
                            reason: "size is not a bounded scalar",
                        });
                    }
                    let how = if ty == ArgType::ReadMem {
                        Access::HelperRead
                    } else {
                        Access::HelperWrite
                    };
                    if size.val.umax > 0 {
                        self.helper_memory(s, r, v, size.val.umax, how, i as u8 + 1)?;
                    }
                }
            }
        }
        for r in 1..=5u8 {
            if let Some(r) = Reg::new(r) {
                s.set(r, RegState::UNINIT);
            }
        }
        if let Some(id) = release {
            s.release(id);
        }
        let r0 = match helper.proto.ret {
            RetType::Scalar => RegState::scalar(Scalar::UNKNOWN),
            RetType::MapValueOrNull => {
                let map = map.ok_or(E::HelperArg {
                    arg: 1,
                    reason: "helper returning a map value takes no map",
                })?;
                RegState::pointer(
                    Kind::MapValue {
                        map,
                        id: self.fresh_id(),
                        nullable: true,
                    },
                    Scalar::constant(0),
                )
            }
            RetType::RingBufRecordOrNull => {
                let (Some(map), Some(size)) = (map, size) else {
                    return Err(E::HelperArg {
                        arg: 1,
                        reason: "helper returning a record takes no ring buffer and size",
                    });
                };
                let id = self.fresh_id();
                s.refs.push(Held {
                    id,
                    pc: pc as u32,
                    poisoned: false,
                });
                RegState::pointer(
                    Kind::RingBufRecord {
                        map,
                        id,
                        size,
                        nullable: true,
                    },
                    Scalar::constant(0),
                )
            }
        };
        s.set(Reg::R0, r0);
        Ok(())
    }

    fn helper_memory(
        &mut self,
        s: &mut State,
        r: Reg,
        v: RegState,
        len: u64,
        how: Access,
        arg: u8,
    ) -> Result<(), E> {
        if !v.is_pointer() {
            return Err(E::HelperArg {
                arg,
                reason: "expected a pointer to memory",
            });
        }
        self.access(s, r, v, 0, len, how).map(|_| ())
    }

    fn call_local(&mut self, s: &mut State, callee: usize) -> Result<(), E> {
        let mut entry = State::entry();
        let mut lowest = 0i64;
        for i in 1..=5u8 {
            let Some(r) = Reg::new(i) else { continue };
            let mut v = *s.reg(r);
            if v.kind == Kind::Stack {
                if v.val.smin < -(STACK_SIZE as i64) || v.val.smax >= 0 {
                    return Err(E::StackOutOfBounds(v.val.smax));
                }
                lowest = lowest.min(v.val.smin);
                v = RegState::pointer(
                    Kind::Mem {
                        size: (-v.val.smax) as u32,
                    },
                    Scalar::constant(0),
                );
            }
            entry.set(r, v);
        }
        let mut id = self.next_id;
        join_into(
            &mut self.entries[callee],
            Entry::Live(Box::new(entry)),
            &mut || {
                id += 1;
                id
            },
        );
        self.next_id = id;
        // The callee may have written the caller's stack through a pointer
        // argument: forget what was spilled there, and count the bytes as
        // initialised (frames are zeroed on entry, so they hold either the
        // caller's, the callee's or zero bytes, never stale ones).
        if lowest < 0 {
            s.stack.retain_spills(|off, _| off + 8 <= lowest);
            s.stack.mark_init(lowest, (-lowest) as usize);
        }
        for r in 1..=5u8 {
            if let Some(r) = Reg::new(r) {
                s.set(r, RegState::UNINIT);
            }
        }
        s.set(Reg::R0, RegState::scalar(Scalar::UNKNOWN));
        Ok(())
    }
}

fn swap(v: u64, size: Size) -> u64 {
    match size {
        Size::H => u64::from((v as u16).swap_bytes()),
        Size::W => u64::from((v as u32).swap_bytes()),
        _ => v.swap_bytes(),
    }
}

fn same_region(a: Kind, b: Kind) -> bool {
    match (a, b) {
        (Kind::Packet { .. } | Kind::PacketEnd, Kind::Packet { .. } | Kind::PacketEnd) => true,
        (
            Kind::MapValue {
                map: m1,
                nullable: false,
                ..
            },
            Kind::MapValue {
                map: m2,
                nullable: false,
                ..
            },
        ) => m1 == m2,
        (Kind::Stack, Kind::Stack) | (Kind::Context, Kind::Context) => true,
        _ => false,
    }
}

/// Marks every copy of the lookup or reservation result `id` as null or
/// non-null; a null reservation needs no release.
fn mark_null(s: &mut State, id: u32, null: bool) {
    if null {
        s.release(id);
    }
    s.for_each_reg(|r| {
        if let Kind::RingBufRecord {
            id: i,
            nullable: true,
            map,
            size,
        } = r.kind
            && i == id
        {
            *r = if null {
                RegState::scalar(Scalar::constant(0))
            } else {
                RegState::pointer(
                    Kind::RingBufRecord {
                        map,
                        id,
                        size,
                        nullable: false,
                    },
                    r.val,
                )
            };
            return;
        }
        if let Kind::MapValue {
            id: i,
            nullable: true,
            map,
        } = r.kind
            && i == id
        {
            *r = if null {
                RegState::scalar(Scalar::constant(0))
            } else {
                RegState::pointer(
                    Kind::MapValue {
                        map,
                        id,
                        nullable: false,
                    },
                    r.val,
                )
            };
        }
    });
}

/// Records that `[base, base + k)` of packet pointers with `id` is in
/// bounds.
fn mark_range(s: &mut State, id: u32, k: u32) {
    s.for_each_reg(|r| {
        if let Kind::Packet {
            id: i,
            fixed,
            range,
        } = r.kind
            && i == id
        {
            r.kind = Kind::Packet {
                id,
                fixed,
                range: range.max(k),
            };
        }
    });
}
