//! Translating lowered ops to A64 (AArch64) machine code.
//!
//! The design is the x86_64 backend's (see `x86_64.rs`), on A64's terms.
//!
//! # Register assignment
//!
//! BPF `r0`-`r5` live in the caller-saved temporaries `x9`-`x14`,
//! `r6`-`r9` in the callee-saved `x19`-`x22`, and `r10` in `x23`. `x24`
//! holds the [`Env`](super::runtime::Env) pointer and `x25` the remaining
//! instruction budget (both callee-saved, so callouts keep them);
//! `x15`-`x17` are scratch. Keeping `r0`-`r5` out of `x0`-`x7` lets a
//! callout's arguments be loaded straight from the BPF registers.
//!
//! # Arithmetic
//!
//! 32-bit operations use `w` registers, which zero-extend their result as
//! RFC 9669 requires. `udiv`/`sdiv` already give RFC 9669's results: zero
//! for a zero divisor and `MIN` for `MIN / -1`; modulo is `msub` of the
//! quotient, which then keeps the dividend for a zero divisor and gives 0
//! for `MIN % -1`, again as the RFC says. `lslv`/`lsrv`/`asrv` mask the
//! amount to the width as the RFC does. Immediates that fit go into the
//! instruction (add/sub `imm12`, bitmask immediates for logic ops and
//! `tst`); others are built with `movz`/`movn` + `movk`.
//!
//! # Instruction budget
//!
//! Charged per segment exactly as the x86_64 backend does (the segments
//! come from the shared `analysis` module): `subs` of the segment length
//! at its first op, and a `b.lo` to a stub that records where the
//! interpreter would have stopped.
//!
//! # Memory and calls
//!
//! An `r10`-relative load or store inside the frame is inline while `r10`
//! is the current frame pointer (the frame's host top, kept in the
//! environment across BPF-to-BPF calls, plus the offset: no bounds check
//! is needed), with its callout out of line for when `r10` has moved.
//! Other loads and stores, atomics, helper calls and the frame set-up of a
//! BPF-to-BPF call are callouts into [`super::runtime`] (with the C ABI):
//! `x9`-`x14` are spilled into the environment's first six slots (where
//! the helper callout reads `r1`-`r5`), the callout runs, they are
//! restored, and a non-zero status word leaves through the epilogue,
//! which resets `sp` from the environment. A BPF-to-BPF call pushes
//! `r6`-`r9` and a slot for the return address (48 bytes, keeping `sp`
//! 16-byte aligned), sets `r10` to the callee's frame and `bl`s a
//! per-target stub that stores `x30` into that slot before jumping to the
//! callee; `exit` inside a call reloads `x30` from the slot and `ret`s,
//! so calls and returns pair up for the return predictor.
//!
//! # Branch range
//!
//! Conditional branches reach ±1 MiB. If any does not (code over 1 MiB),
//! the program is translated again with every conditional branch as the
//! inverted condition over an unconditional `b` (±128 MiB); beyond that
//! compilation fails with [`JitError::TooLarge`].

use alloc::vec::Vec;

use super::JitError;
use super::a64::{
    AddSub, Asm, Cond, Dp2, FP, FinishError, LR, Label, Logic, Pair, SP, Sz, ZR, logical_imm,
};
use super::analysis::{Access, Arg, Src, access_of, alu_of, branch_of, segments};
use super::runtime::{self, Env, direct};
use crate::compile::Op;
use crate::isa::{AluOp, AtomicOp, JmpCond, Width};
use crate::memory::{STACK_SIZE, context_address, frame_pointer};

/// Host register of each BPF register.
const BPF: [u8; 11] = [9, 10, 11, 12, 13, 14, 19, 20, 21, 22, 23];
const ENV: u8 = 24;
const BUDGET: u8 = 25;
const T1: u8 = 15;
const T2: u8 = 16;
const T3: u8 = 17;
/// `x0`: first argument and result of a callout.
const X0: u8 = 0;
/// Where callout arguments after `env` and `pc` go.
const ARGS: [u8; 3] = [2, 3, 4];
/// Bytes a BPF-to-BPF call pushes: `r6`-`r9` and the return address slot.
const CALL_FRAME: i32 = 48;
/// The return address slot within it.
const RETURN_SLOT: i32 = 32;
/// Bytes of the prologue's frame: `x29`, `x30`, `x19`-`x25`, padding.
const ENTRY_FRAME: i32 = 80;

// The environment offsets must fit `ldr`/`str` (scaled imm12) and the
// spill slots `stp`'s imm7.
const _: () = {
    let offsets = [
        runtime::SAVED,
        runtime::STATUS,
        runtime::PC,
        runtime::REMAINING,
        runtime::DEPTH,
        runtime::BUDGET,
        runtime::SAVED_SP,
    ];
    let mut i = 0;
    while i < offsets.len() {
        assert!(offsets[i] % 8 == 0 && offsets[i] >= 0 && offsets[i] < 8 * 4096);
        i += 1;
    }
    assert!(runtime::SAVED + 40 < 512);
};
// Frame pointers are `frame_pointer(0) + depth << 32`; the return path of
// a BPF-to-BPF call computes them that way.
const _: () = assert!(frame_pointer(1) - frame_pointer(0) == 1 << 32);

type Callout1 = extern "C" fn(&mut Env<'_, '_, '_>, u64) -> u64;
type Callout2 = extern "C" fn(&mut Env<'_, '_, '_>, u64, u64) -> u64;
type Callout3 = extern "C" fn(&mut Env<'_, '_, '_>, u64, u64, u64) -> u64;
type Callout4 = extern "C" fn(&mut Env<'_, '_, '_>, u64, u64, u64, u64) -> u64;

fn host(r: u8) -> Result<u8, JitError> {
    BPF.get(usize::from(r))
        .copied()
        .ok_or(JitError::Unsupported)
}

fn sz(width: Width) -> Sz {
    match width {
        Width::W32 => Sz::W,
        Width::W64 => Sz::X,
    }
}

fn mask(sz: Sz, k: u64) -> u64 {
    match sz {
        Sz::W => k & u64::from(u32::MAX),
        Sz::X => k,
    }
}

fn cond_code(cond: JmpCond) -> Cond {
    match cond {
        JmpCond::Eq => Cond::Eq,
        JmpCond::Ne | JmpCond::Set => Cond::Ne,
        JmpCond::Gt => Cond::Hi,
        JmpCond::Ge => Cond::Hs,
        JmpCond::Lt => Cond::Lo,
        JmpCond::Le => Cond::Ls,
        JmpCond::Sgt => Cond::Gt,
        JmpCond::Sge => Cond::Ge,
        JmpCond::Slt => Cond::Lt,
        JmpCond::Sle => Cond::Le,
    }
}

/// `imm12` or `imm12 << 12` forms of `v`, if it has one.
fn imm12(v: u64) -> Option<(u32, bool)> {
    if v < 4096 {
        Some((v as u32, false))
    } else if v & 0xfff == 0 && v >> 12 < 4096 {
        Some(((v >> 12) as u32, true))
    } else {
        None
    }
}

/// The bitmask-immediate encoding of an immediate operand, if it has one.
fn bitmask(sz: Sz, src: Src) -> Option<u32> {
    match src {
        Src::K(k) => logical_imm(k, sz),
        Src::X(_) => None,
    }
}

struct Translator {
    asm: Asm,
    labels: Vec<Label>,
    epilogue: Label,
    /// Budget stubs: label, segment start, segment length.
    stubs: Vec<(Label, usize, u32)>,
    /// Call stubs, by target slot.
    calls: Vec<Option<Label>>,
    /// Callouts of the inline `r10` accesses, emitted after the program.
    cold: Vec<Cold>,
}

/// The callout of an inline access, taken when `r10` has moved.
struct Cold {
    pc: usize,
    access: Access,
    slow: Label,
    done: Label,
}

/// Machine code for `ops`; the entry point is its first byte, with the C
/// signature `fn(*mut Env) -> u64`.
pub(crate) fn translate(ops: &[Op]) -> Result<Vec<u8>, JitError> {
    let code = match translate_with(ops, false)? {
        Err(FinishError::OutOfRange) => translate_with(ops, true)?,
        code => code,
    };
    code.map_err(|e| match e {
        FinishError::Unbound => JitError::Unsupported,
        FinishError::OutOfRange | FinishError::TooFar => JitError::TooLarge,
    })
}

/// [`translate`], with every conditional branch long or short; the inner
/// error is [`Asm::finish`]'s.
fn translate_with(
    ops: &[Op],
    long_branches: bool,
) -> Result<Result<Vec<u8>, FinishError>, JitError> {
    if i32::try_from(ops.len()).is_err() {
        return Err(JitError::TooLarge);
    }
    let mut asm = Asm::new(long_branches);
    let labels = asm.labels(ops.len());
    let epilogue = asm.label();
    let mut t = Translator {
        asm,
        labels,
        epilogue,
        stubs: Vec::new(),
        calls: alloc::vec![None; ops.len()],
        cold: Vec::new(),
    };
    t.prologue();
    let lengths = segments(ops);
    for (pc, &op) in ops.iter().enumerate() {
        t.asm.bind(t.labels[pc]);
        if lengths[pc] != 0 {
            t.charge(pc, lengths[pc]);
        }
        t.op(pc, op)?;
    }
    for c in core::mem::take(&mut t.cold) {
        t.asm.bind(c.slow);
        t.slow(c.pc, c.access)?;
        t.asm.b(c.done);
    }
    Ok(t.finish())
}

impl Translator {
    fn prologue(&mut self) {
        let a = &mut self.asm;
        a.stp(Pair::Pre, FP, LR, SP, -ENTRY_FRAME);
        a.addsub_imm(Sz::X, AddSub::Add, FP, SP, 0, false);
        a.stp(Pair::Offset, 19, 20, SP, 16);
        a.stp(Pair::Offset, 21, 22, SP, 32);
        a.stp(Pair::Offset, 23, 24, SP, 48);
        a.str(25, SP, 64);
        a.mov(Sz::X, ENV, X0);
        a.addsub_imm(Sz::X, AddSub::Add, T2, SP, 0, false);
        a.str(T2, ENV, runtime::SAVED_SP);
        a.ldr(BUDGET, ENV, runtime::BUDGET);
        for r in [9, 11, 12, 13, 14, 19, 20, 21, 22] {
            a.mov(Sz::X, r, ZR);
        }
        a.mov_imm(Sz::X, BPF[1], context_address(0));
        a.mov_imm(Sz::X, BPF[10], frame_pointer(0));
    }

    fn finish(mut self) -> Result<Vec<u8>, FinishError> {
        for (label, pc, len) in core::mem::take(&mut self.stubs) {
            let epilogue = self.epilogue;
            self.asm.bind(label);
            self.add_k(Sz::X, AddSub::Add, BUDGET, u64::from(len));
            let a = &mut self.asm;
            a.str(BUDGET, ENV, runtime::REMAINING);
            a.mov_imm(Sz::X, T2, pc as u64);
            a.str(T2, ENV, runtime::PC);
            a.mov_imm(Sz::X, T2, runtime::STATUS_BUDGET);
            a.str(T2, ENV, runtime::STATUS);
            a.b(epilogue);
        }
        for (t, stub) in core::mem::take(&mut self.calls).into_iter().enumerate() {
            if let Some(stub) = stub {
                let a = &mut self.asm;
                a.bind(stub);
                a.str(LR, SP, RETURN_SLOT);
                a.b(self.labels[t]);
            }
        }
        let a = &mut self.asm;
        a.bind(self.epilogue);
        a.ldr(T2, ENV, runtime::SAVED_SP);
        a.addsub_imm(Sz::X, AddSub::Add, SP, T2, 0, false);
        a.mov(Sz::X, X0, BPF[0]);
        a.ldr(25, SP, 64);
        a.ldp(Pair::Offset, 23, 24, SP, 48);
        a.ldp(Pair::Offset, 21, 22, SP, 32);
        a.ldp(Pair::Offset, 19, 20, SP, 16);
        a.ldp(Pair::Post, FP, LR, SP, ENTRY_FRAME);
        a.ret();
        self.asm.finish()
    }

    fn charge(&mut self, pc: usize, len: u32) {
        let stub = self.asm.label();
        self.add_k(Sz::X, AddSub::Subs, BUDGET, u64::from(len));
        // Borrow (carry clear): the budget does not cover the segment.
        self.asm.b_cond(Cond::Lo, stub);
        self.stubs.push((stub, pc, len));
    }

    /// `d = d op k` for `op` add, sub or subs, with `k` in the
    /// instruction where it fits, else in `x17`. The flags of a `subs` are
    /// those of `d - k` either way.
    fn add_k(&mut self, sz: Sz, op: AddSub, d: u8, k: u64) {
        let k = mask(sz, k);
        let neg = mask(sz, k.wrapping_neg());
        let flip = match op {
            AddSub::Add => AddSub::Sub,
            AddSub::Sub => AddSub::Add,
            // `adds` of -k would set the carry differently.
            AddSub::Adds | AddSub::Subs => op,
        };
        if let Some((imm, lsl12)) = imm12(k) {
            self.asm.addsub_imm(sz, op, d, d, imm, lsl12);
        } else if let Some((imm, lsl12)) = imm12(neg).filter(|_| flip != op) {
            self.asm.addsub_imm(sz, flip, d, d, imm, lsl12);
        } else {
            self.asm.mov_imm(sz, T3, k);
            self.asm.addsub_reg(sz, op, d, d, T3, 0);
        }
    }

    /// Calls `f(env, pc, args...)`; the result is in `x0` afterwards, and
    /// a failed callout leaves through the epilogue.
    fn callout(&mut self, f: usize, pc: usize, args: &[Arg]) -> Result<(), JitError> {
        let a = &mut self.asm;
        for i in 0..3 {
            let at = runtime::SAVED + 16 * i as i32;
            a.stp(Pair::Offset, BPF[2 * i], BPF[2 * i + 1], ENV, at);
        }
        for (&arg, dst) in args.iter().zip(ARGS) {
            match arg {
                Arg::Reg(r) => self.asm.mov(Sz::X, dst, host(r)?),
                Arg::Addr(r, off) => {
                    let r = host(r)?;
                    let off = off as i64 as u64;
                    if off == 0 {
                        self.asm.mov(Sz::X, dst, r);
                    } else if let Some((imm, lsl12)) = imm12(off) {
                        self.asm.addsub_imm(Sz::X, AddSub::Add, dst, r, imm, lsl12);
                    } else if let Some((imm, lsl12)) = imm12(off.wrapping_neg()) {
                        self.asm.addsub_imm(Sz::X, AddSub::Sub, dst, r, imm, lsl12);
                    } else {
                        self.asm.mov_imm(Sz::X, T3, off);
                        self.asm.addsub_reg(Sz::X, AddSub::Add, dst, r, T3, 0);
                    }
                }
                Arg::Imm(k) => self.asm.mov_imm(Sz::X, dst, k),
            }
        }
        let a = &mut self.asm;
        a.mov(Sz::X, X0, ENV);
        a.mov_imm(Sz::X, 1, pc as u64);
        a.mov_imm(Sz::X, T2, f as u64);
        a.blr(T2);
        for i in 0..3 {
            let at = runtime::SAVED + 16 * i as i32;
            a.ldp(Pair::Offset, BPF[2 * i], BPF[2 * i + 1], ENV, at);
        }
        a.ldr(T2, ENV, runtime::STATUS);
        a.cbz(true, T2, self.epilogue);
        Ok(())
    }

    /// A load or store. An `r10`-relative access inside the frame is
    /// inline while `r10` is the current frame's pointer (a verified
    /// program never writes it): the frame's host top plus `off`, which
    /// needs no bounds check; it takes the callout, out of line, once
    /// `r10` has moved. Every other access is the callout, which does it
    /// through `Memory`'s checked accessors or reports the fault.
    fn memory(&mut self, pc: usize, access: Access) -> Result<(), JitError> {
        let (base, off, bytes) = access.address();
        let in_frame = (-(STACK_SIZE as i32)..=-i32::from(bytes)).contains(&i32::from(off));
        if base != 10 || !in_frame {
            return self.slow(pc, access);
        }
        let slow = self.asm.label();
        let done = self.asm.label();
        let a = &mut self.asm;
        a.ldr(T1, ENV, direct::FP_VIRTUAL);
        a.addsub_reg(Sz::X, AddSub::Subs, ZR, BPF[10], T1, 0);
        a.b_cond(Cond::Ne, slow);
        a.ldr(T1, ENV, direct::FP_HOST);
        a.addsub_imm(Sz::X, AddSub::Sub, T1, T1, off.unsigned_abs().into(), false);
        match access {
            Access::Load { d, signed, .. } => a.load_sized(host(d)?, T1, bytes, signed),
            Access::Store { value, .. } => {
                let src = match value {
                    Arg::Reg(s) => host(s)?,
                    Arg::Imm(k) => {
                        a.mov_imm(Sz::X, T2, k);
                        T2
                    }
                    Arg::Addr(..) => return Err(JitError::Unsupported),
                };
                self.asm.store_sized(src, T1, bytes);
            }
        }
        self.asm.bind(done);
        self.cold.push(Cold {
            pc,
            access,
            slow,
            done,
        });
        Ok(())
    }

    /// The callout for `access`.
    fn slow(&mut self, pc: usize, access: Access) -> Result<(), JitError> {
        match access {
            Access::Load { d, s, off, .. } => {
                let load: Callout2 = runtime::load;
                self.callout(load as usize, pc, &[Arg::Addr(s, off)])?;
                self.asm.mov(Sz::X, host(d)?, X0);
            }
            Access::Store { d, off, value, .. } => {
                let store: Callout3 = runtime::store;
                self.callout(store as usize, pc, &[Arg::Addr(d, off), value])?;
            }
        }
        Ok(())
    }

    /// Records `status` and `pc` and leaves through the epilogue.
    fn leave(&mut self, pc: usize, status: u64) {
        let a = &mut self.asm;
        a.mov_imm(Sz::X, T2, pc as u64);
        a.str(T2, ENV, runtime::PC);
        a.mov_imm(Sz::X, T2, status);
        a.str(T2, ENV, runtime::STATUS);
        a.b(self.epilogue);
    }

    fn op(&mut self, pc: usize, op: Op) -> Result<(), JitError> {
        if let Some((alu, width, d, src)) = alu_of(op) {
            return self.alu(alu, sz(width), host(d)?, src);
        }
        if let Some((cond, width, d, src, t)) = branch_of(op) {
            return self.branch(cond, sz(width), host(d)?, src, t);
        }
        if let Some(access) = access_of(op) {
            return self.memory(pc, access);
        }
        let atomic: Callout4 = runtime::atomic;
        let call: Callout1 = runtime::call;
        let enter: Callout1 = runtime::enter;
        let a = &mut self.asm;
        match op {
            Op::Neg64 { d } => a.addsub_reg(Sz::X, AddSub::Sub, host(d)?, ZR, host(d)?, 0),
            Op::Neg32 { d } => a.addsub_reg(Sz::W, AddSub::Sub, host(d)?, ZR, host(d)?, 0),
            Op::MovSx64B { d, s } => a.bfm(Sz::X, true, host(d)?, host(s)?, 0, 7),
            Op::MovSx64H { d, s } => a.bfm(Sz::X, true, host(d)?, host(s)?, 0, 15),
            Op::MovSx64W { d, s } => a.bfm(Sz::X, true, host(d)?, host(s)?, 0, 31),
            Op::MovSx32B { d, s } => a.bfm(Sz::W, true, host(d)?, host(s)?, 0, 7),
            Op::MovSx32H { d, s } => a.bfm(Sz::W, true, host(d)?, host(s)?, 0, 15),
            Op::Zext16 { d } => a.bfm(Sz::W, false, host(d)?, host(d)?, 0, 15),
            Op::Zext32 { d } => a.mov(Sz::W, host(d)?, host(d)?),
            Op::Swap16 { d } => {
                let d = host(d)?;
                a.rev(Sz::W, 1, d, d);
                a.bfm(Sz::W, false, d, d, 0, 15);
            }
            Op::Swap32 { d } => a.rev(Sz::W, 2, host(d)?, host(d)?),
            Op::Swap64 { d } => a.rev(Sz::X, 3, host(d)?, host(d)?),
            Op::Nop => {}
            Op::Ja { t } => {
                let target = self.label(t)?;
                self.asm.b(target);
            }
            Op::Call { .. } => {
                self.callout(call as usize, pc, &[])?;
                self.asm.mov(Sz::X, BPF[0], X0);
            }
            Op::CallLocal { t } => {
                let stub = match self.calls.get_mut(t as usize) {
                    Some(Some(stub)) => *stub,
                    Some(slot) => {
                        let stub = self.asm.label();
                        *slot = Some(stub);
                        stub
                    }
                    None => return Err(JitError::Unsupported),
                };
                self.callout(enter as usize, pc, &[])?;
                let a = &mut self.asm;
                a.stp(Pair::Pre, 19, 20, SP, -CALL_FRAME);
                a.stp(Pair::Offset, 21, 22, SP, 16);
                a.mov(Sz::X, BPF[10], X0);
                // The callee's frame for the inline `r10` accesses.
                a.str(X0, ENV, direct::FP_VIRTUAL);
                a.ldr(T2, ENV, direct::FP_HOST);
                a.addsub_imm(Sz::X, AddSub::Add, T2, T2, STACK_SIZE as u32, false);
                a.str(T2, ENV, direct::FP_HOST);
                a.bl(stub);
                a.ldp(Pair::Offset, 21, 22, SP, 16);
                a.ldp(Pair::Post, 19, 20, SP, CALL_FRAME);
                a.ldr(T2, ENV, runtime::DEPTH);
                a.addsub_imm(Sz::X, AddSub::Sub, T2, T2, 1, false);
                a.str(T2, ENV, runtime::DEPTH);
                // r10 = frame_pointer(depth), as the interpreter sets it.
                a.mov_imm(Sz::X, T3, frame_pointer(0));
                a.addsub_reg(Sz::X, AddSub::Add, BPF[10], T3, T2, 32);
                a.str(BPF[10], ENV, direct::FP_VIRTUAL);
                a.ldr(T2, ENV, direct::FP_HOST);
                a.addsub_imm(Sz::X, AddSub::Sub, T2, T2, STACK_SIZE as u32, false);
                a.str(T2, ENV, direct::FP_HOST);
            }
            Op::Exit => {
                a.ldr(T2, ENV, runtime::DEPTH);
                a.cbz(false, T2, self.epilogue);
                a.ldr(LR, SP, RETURN_SLOT);
                a.ret();
            }
            Op::Atomic32 { op, d, s, off } | Op::Atomic64 { op, d, s, off } => {
                let args = [Arg::Addr(d, off), Arg::Reg(s), Arg::Reg(0)];
                self.callout(atomic as usize, pc, &args)?;
                if op == AtomicOp::CmpXchg {
                    self.asm.mov(Sz::X, BPF[0], X0);
                } else if op.fetches() {
                    self.asm.mov(Sz::X, host(s)?, X0);
                }
            }
            Op::Lddw { d, k } => {
                a.mov_imm(Sz::X, host(d)?, k);
                let next = self.label((pc + 2) as u32)?;
                self.asm.b(next);
            }
            Op::LddwTail | Op::FellOff => self.leave(pc, runtime::STATUS_BAD_PC),
            _ => return Err(JitError::Unsupported),
        }
        Ok(())
    }

    fn label(&self, t: u32) -> Result<Label, JitError> {
        self.labels
            .get(t as usize)
            .copied()
            .ok_or(JitError::Unsupported)
    }

    /// The register holding `src`: the BPF register's host register, or
    /// `x15` loaded with the immediate (zero is `zr`).
    fn operand(&mut self, sz: Sz, src: Src) -> Result<u8, JitError> {
        match src {
            Src::X(s) => host(s),
            Src::K(k) if mask(sz, k) == 0 => Ok(ZR),
            Src::K(k) => {
                self.asm.mov_imm(sz, T1, k);
                Ok(T1)
            }
        }
    }

    fn alu(&mut self, op: AluOp, sz: Sz, d: u8, src: Src) -> Result<(), JitError> {
        match op {
            AluOp::Add | AluOp::Sub => {
                let op = if op == AluOp::Add {
                    AddSub::Add
                } else {
                    AddSub::Sub
                };
                match src {
                    Src::X(s) => self.asm.addsub_reg(sz, op, d, d, host(s)?, 0),
                    Src::K(k) => self.add_k(sz, op, d, k),
                }
            }
            AluOp::Or | AluOp::And | AluOp::Xor => {
                let logic = match op {
                    AluOp::Or => Logic::Orr,
                    AluOp::And => Logic::And,
                    _ => Logic::Eor,
                };
                if let Some(e) = bitmask(sz, src) {
                    self.asm.logic_imm(sz, logic, d, d, e);
                } else {
                    let s = self.operand(sz, src)?;
                    self.asm.logic_reg(sz, logic, d, d, s);
                }
            }
            AluOp::Mov => match src {
                Src::X(s) => self.asm.mov(sz, d, host(s)?),
                Src::K(k) => self.asm.mov_imm(sz, d, k),
            },
            AluOp::Mul => {
                let s = self.operand(sz, src)?;
                self.asm.madd(sz, false, d, d, s, ZR);
            }
            AluOp::Div | AluOp::SDiv => {
                let s = self.operand(sz, src)?;
                let div = if op == AluOp::Div {
                    Dp2::Udiv
                } else {
                    Dp2::Sdiv
                };
                self.asm.dp2(sz, div, d, d, s);
            }
            AluOp::Mod | AluOp::SMod => {
                let s = self.operand(sz, src)?;
                let div = if op == AluOp::Mod {
                    Dp2::Udiv
                } else {
                    Dp2::Sdiv
                };
                // d - (d / s) * s: d for s == 0, 0 for MIN % -1.
                self.asm.dp2(sz, div, T2, d, s);
                self.asm.madd(sz, true, d, T2, s, d);
            }
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => match src {
                // The lowering already masked the amount to the width; a
                // 32-bit shift by 0 still zero-extends.
                Src::K(k) => {
                    let k = k as u32;
                    match op {
                        AluOp::Lsh => self.asm.lsl_imm(sz, d, d, k),
                        AluOp::Rsh => self.asm.lsr_imm(sz, d, d, k),
                        _ => self.asm.asr_imm(sz, d, d, k),
                    }
                }
                Src::X(s) => {
                    let shift = match op {
                        AluOp::Lsh => Dp2::Lslv,
                        AluOp::Rsh => Dp2::Lsrv,
                        _ => Dp2::Asrv,
                    };
                    self.asm.dp2(sz, shift, d, d, host(s)?);
                }
            },
        }
        Ok(())
    }

    fn branch(&mut self, cond: JmpCond, sz: Sz, d: u8, src: Src, t: u32) -> Result<(), JitError> {
        let target = self.label(t)?;
        if cond == JmpCond::Set {
            if let Some(e) = bitmask(sz, src) {
                self.asm.logic_imm(sz, Logic::Ands, ZR, d, e);
            } else {
                let s = self.operand(sz, src)?;
                self.asm.logic_reg(sz, Logic::Ands, ZR, d, s);
            }
        } else {
            match src {
                Src::X(s) => self.asm.addsub_reg(sz, AddSub::Subs, ZR, d, host(s)?, 0),
                Src::K(k) => {
                    let k = mask(sz, k);
                    let neg = mask(sz, k.wrapping_neg());
                    if let Some((imm, lsl12)) = imm12(k) {
                        self.asm.addsub_imm(sz, AddSub::Subs, ZR, d, imm, lsl12);
                    } else if let Some((imm, lsl12)) = imm12(neg) {
                        // `cmn d, #-k`: for k != 0 and -k != k (both hold
                        // here), every flag equals `cmp d, #k`'s.
                        self.asm.addsub_imm(sz, AddSub::Adds, ZR, d, imm, lsl12);
                    } else {
                        self.asm.mov_imm(sz, T1, k);
                        self.asm.addsub_reg(sz, AddSub::Subs, ZR, d, T1, 0);
                    }
                }
            }
        }
        self.asm.b_cond(cond_code(cond), target);
        Ok(())
    }
}

#[cfg(all(test, feature = "std", target_os = "linux"))]
mod tests {
    use alloc::vec::Vec;

    use super::translate_with;
    use crate::interpreter::{ExecError, Input, Vm};
    use crate::jit::{CodeMemory, HostCodeMemory, JitProgram};
    use crate::{Config, ContextLayout, Helpers, MapSet, Program};

    fn raw(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> Vec<u8> {
        let mut v = alloc::vec![op, dst | src << 4];
        v.extend_from_slice(&off.to_le_bytes());
        v.extend_from_slice(&imm.to_le_bytes());
        v
    }

    fn lddw(d: u8, v: u64) -> Vec<u8> {
        let mut out = raw(0x18, d, 0, 0, v as u32 as i32);
        out.extend(raw(0, 0, 0, 0, (v >> 32) as u32 as i32));
        out
    }

    /// Runs `code` (unverified) on the interpreter and on the JIT with
    /// short and with long conditional branches, for several budgets.
    fn agree(code: &[u8]) -> Result<u64, ExecError> {
        let helpers = Helpers::with_maps();
        let maps = MapSet::new();
        let config = Config {
            helpers: &helpers,
            maps: &maps,
            context: ContextLayout::default(),
        };
        let program = Program::load_unverified(code, &config).unwrap();
        let mut last = None;
        for budget in [0, 1, 2, 3, 5, 8, 13, 1000] {
            let interpreted = Vm::new()
                .with_budget(budget)
                .run(&program, Input::default());
            for long in [false, true] {
                let bytes = translate_with(program.ops(), long).unwrap().unwrap();
                let jit = JitProgram {
                    program: program.clone(),
                    code: HostCodeMemory.install(&bytes).unwrap(),
                    code_len: bytes.len(),
                    uses_maps: false,
                };
                let jitted = Vm::new()
                    .with_budget(budget)
                    .run_jit(&jit, Input::default());
                assert_eq!(interpreted, jitted, "budget {budget}, long {long}");
            }
            last = Some(interpreted);
        }
        last.unwrap()
    }

    const VALUES: [u64; 8] = [
        0,
        1,
        2,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        i64::MIN as u64,
        u64::MAX,
    ];

    /// Every condition, both widths, register and immediate operands, with
    /// the branch taken and not taken, in both branch forms.
    #[test]
    fn long_and_short_branches_agree_on_every_condition() {
        let conds = [
            0x10u8, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0,
        ];
        for cond in conds {
            for &a in &VALUES {
                for &b in &VALUES {
                    for class in [0x05u8, 0x0d, 0x06, 0x0e] {
                        let (src, imm) = if class & 8 == 0 {
                            (0, b as u32 as i32)
                        } else {
                            (2, 0)
                        };
                        let code = [
                            lddw(1, a),
                            lddw(2, b),
                            raw(0xb7, 0, 0, 0, 7),
                            raw(cond | class, 1, src, 1, imm),
                            raw(0xb7, 0, 0, 0, 9),
                            raw(0x95, 0, 0, 0, 0),
                        ]
                        .concat();
                        agree(&code).unwrap();
                    }
                }
            }
        }
    }

    /// Callouts that fail, `exit` from a BPF-to-BPF call, and the budget
    /// stubs, in both branch forms.
    #[test]
    fn long_branches_leave_calls_and_callouts() {
        // r6 = 3; call f; r0 += r6; exit; f: r0 = 40; *(u64 *)(r10 - 8) = 2;
        // r0 += *(u64 *)(r10 - 8); if r0 > 41 goto +1; exit; exit
        let ok = [
            raw(0xb7, 6, 0, 0, 3),
            raw(0x85, 0, 1, 0, 2),
            raw(0x0f, 0, 6, 0, 0),
            raw(0x95, 0, 0, 0, 0),
            raw(0xb7, 0, 0, 0, 40),
            raw(0x7a, 10, 0, -8, 2),
            raw(0x79, 1, 10, -8, 0),
            raw(0x0f, 0, 1, 0, 0),
            raw(0x25, 0, 0, 1, 41),
            raw(0x95, 0, 0, 0, 0),
            raw(0x95, 0, 0, 0, 0),
        ]
        .concat();
        assert_eq!(agree(&ok), Ok(45));
        // The same with the store out of bounds.
        let mut bad = ok.clone();
        bad[5 * 8..6 * 8].copy_from_slice(&raw(0x7a, 10, 0, 8, 2));
        assert!(matches!(agree(&bad), Err(ExecError::Memory { pc: 5, .. })));
        // Falling off the end.
        let off = [raw(0xb7, 0, 0, 0, 1)].concat();
        assert_eq!(agree(&off), Err(ExecError::BadPc { pc: 1 }));
    }
}
