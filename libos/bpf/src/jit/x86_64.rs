//! Translating lowered ops to x86_64 machine code.
//!
//! # Register assignment
//!
//! BPF `r0`-`r5` live in `rax`, `rdi`, `rsi`, `rdx`, `rcx`, `r8` (the
//! System V argument registers, as in Linux's JIT), `r6`-`r9` in the
//! callee-saved `rbx`, `r13`, `r14`, `r15`, and `r10` in `rbp`. `r12` holds
//! the [`Env`](super::runtime::Env) pointer, `r9` the remaining
//! instruction budget, and `r10`/`r11` are scratch.
//!
//! # Instruction budget
//!
//! The interpreter charges one unit per executed op. The JIT charges a
//! whole *segment* at its first op: a segment is a run of register-only
//! ops ending with the first op that can branch, call, exit, touch memory
//! or fail, and a new one starts at every jump or call target. If the
//! budget does not cover the segment, the run stops with
//! [`ExecError::BudgetExhausted`](crate::ExecError::BudgetExhausted) at
//! the op the interpreter would have stopped at (segment start plus the
//! budget left); as everything before the segment's last op only changes
//! registers, which a failed run does not return, the outcome is the
//! interpreter's exactly, side effects included.
//!
//! # Memory and calls
//!
//! A load or store whose address falls inside the stack, the context, the
//! packet or a recorded map's value storage (for a store: the writable
//! ones) is done inline, after the same bounds check `Memory` makes,
//! against the host addresses and lengths the run's
//! [`Env`](super::runtime::Env) records (the map case out of line, after
//! the program, to keep the common path short); every other address —
//! embedder regions, anything out of bounds — takes the callout, which
//! does the access or reports the fault. `map_lookup_elem` on an array
//! map is inline too ([`Translator::array_lookup`]). Atomics, other helper
//! calls and the frame set-up of a
//! BPF-to-BPF call are always *callouts* into [`super::runtime`]: the
//! caller-saved registers are spilled into the environment, the callout
//! runs, they are restored, and a non-zero status word leaves through the
//! epilogue (which resets `rsp` from the environment, so leaving from a
//! nested BPF-to-BPF call needs no unwinding). A BPF-to-BPF call is a
//! native `call`, with `r6`-`r10` pushed around it; the pushes keep the
//! host stack 16-byte aligned at every callout.

use alloc::vec::Vec;

use super::JitError;
use super::analysis::{Access, Arg, Src, access_of, alu_of, branch_of, segments};
use super::encoder::{
    Alu, Asm, Cond, Label, R8, R9, R10, R11, R12, R13, R14, R15, RAX, RBP, RBX, RCX, RDI, RDX, RSI,
    RSP, Rm, Shift, Size,
};
use super::runtime::{self, Env, direct};
use crate::compile::Op;
use crate::isa::{AluOp, AtomicOp, JmpCond, Width};
use crate::maps::MAP_LOOKUP_ELEM;
use crate::maps::helpers::is_map_lookup;
use crate::memory::{
    STACK_SIZE, TAG_CONTEXT, TAG_MAP, TAG_MAP_HANDLE, context_address, frame_pointer,
};

/// Host register of each BPF register.
const BPF: [u8; 11] = [RAX, RDI, RSI, RDX, RCX, R8, RBX, R13, R14, R15, RBP];
/// Caller-saved host registers that carry state, spilled around callouts.
pub(crate) const SPILLED: [u8; 7] = [RAX, RDI, RSI, RDX, RCX, R8, R9];
const ENV: u8 = R12;
const BUDGET: u8 = R9;
const T1: u8 = R10;
const T2: u8 = R11;

// Frame pointers are `frame_pointer(0) + depth << 32`; the return path of
// a BPF-to-BPF call computes them that way.
const _: () = assert!(frame_pointer(1) - frame_pointer(0) == 1 << 32);

type Callout1 = extern "sysv64" fn(&mut Env<'_, '_, '_>, u64) -> u64;
type Callout2 = extern "sysv64" fn(&mut Env<'_, '_, '_>, u64, u64) -> u64;
type Callout3 = extern "sysv64" fn(&mut Env<'_, '_, '_>, u64, u64, u64) -> u64;
type Callout4 = extern "sysv64" fn(&mut Env<'_, '_, '_>, u64, u64, u64, u64) -> u64;

fn size(width: Width) -> Size {
    match width {
        Width::W32 => Size::D,
        Width::W64 => Size::Q,
    }
}

fn host(r: u8) -> Result<u8, JitError> {
    BPF.get(usize::from(r))
        .copied()
        .ok_or(JitError::Unsupported)
}

fn cond_code(cond: JmpCond) -> Cond {
    match cond {
        JmpCond::Eq => Cond::E,
        JmpCond::Ne | JmpCond::Set => Cond::Ne,
        JmpCond::Gt => Cond::A,
        JmpCond::Ge => Cond::Ae,
        JmpCond::Lt => Cond::B,
        JmpCond::Le => Cond::Be,
        JmpCond::Sgt => Cond::G,
        JmpCond::Sge => Cond::Ge,
        JmpCond::Slt => Cond::L,
        JmpCond::Sle => Cond::Le,
    }
}

/// The out-of-line part of one memory access.
struct Cold {
    pc: usize,
    access: Access,
    /// Where the general bounds check starts, for an inline `r10` access.
    general: Option<Label>,
    /// The callout.
    slow: Label,
    /// Back into the program.
    done: Label,
}

/// The out-of-line map-value half of one [`Translator::direct`] check.
struct MapWindow {
    /// Entered with `r10` = the address, `r11` = its tag − 0x10.
    start: Label,
    /// Where the host address is expected, in `r10`.
    found: Label,
    /// The callout.
    slow: Label,
    bytes: u8,
    write: bool,
}

struct Translator {
    asm: Asm,
    labels: Vec<Label>,
    epilogue: Label,
    stubs: Vec<(Label, usize, u32)>,
    cold: Vec<Cold>,
    windows: Vec<MapWindow>,
    /// Helper calls whose inline fast path fell through: `(entry, back,
    /// slot)`.
    slow_calls: Vec<(Label, Label, usize)>,
}

/// Machine code for `ops`; the entry point is its first byte, with the
/// `sysv64` signature `fn(*mut Env) -> u64`.
pub(crate) fn translate(ops: &[Op]) -> Result<Vec<u8>, JitError> {
    if i32::try_from(ops.len()).is_err() {
        return Err(JitError::TooLarge);
    }
    let mut asm = Asm::default();
    let labels = asm.labels(ops.len());
    let epilogue = asm.label();
    let mut t = Translator {
        asm,
        labels,
        epilogue,
        stubs: Vec::new(),
        cold: Vec::new(),
        windows: Vec::new(),
        slow_calls: Vec::new(),
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
    t.finish()
}

impl Translator {
    fn prologue(&mut self) {
        let a = &mut self.asm;
        for r in [RBX, RBP, R12, R13, R14, R15] {
            a.push(r);
        }
        // Six pushes and the return address leave rsp 8 off alignment.
        a.alu_ri(Size::Q, Alu::Sub, Rm::Reg(RSP), 8);
        a.mov_rr(Size::Q, ENV, RDI);
        a.store(ENV, runtime::SAVED_SP, RSP);
        a.load(BUDGET, ENV, runtime::BUDGET);
        for r in [RAX, RSI, RDX, RCX, R8, RBX, R13, R14, R15] {
            a.alu_rr(Size::D, Alu::Xor, r, r);
        }
        a.mov_imm(RDI, context_address(0));
        a.mov_imm(RBP, frame_pointer(0));
    }

    fn finish(mut self) -> Result<Vec<u8>, JitError> {
        for c in core::mem::take(&mut self.cold) {
            self.cold(c)?;
        }
        for (entry, back, pc) in core::mem::take(&mut self.slow_calls) {
            let call: Callout1 = runtime::call;
            self.asm.bind(entry);
            self.callout(call as usize, pc, &[])?;
            self.asm.mov_rr(Size::Q, RAX, T2);
            self.asm.jmp(back);
        }
        for w in core::mem::take(&mut self.windows) {
            self.map_window(&w);
        }
        for (label, pc, len) in core::mem::take(&mut self.stubs) {
            let a = &mut self.asm;
            a.bind(label);
            a.alu_ri(Size::Q, Alu::Add, Rm::Reg(BUDGET), len as i32);
            a.store(ENV, runtime::REMAINING, BUDGET);
            a.store_imm(ENV, runtime::PC, pc as i32);
            a.store_imm(ENV, runtime::STATUS, runtime::STATUS_BUDGET as i32);
            a.jmp(self.epilogue);
        }
        let a = &mut self.asm;
        a.bind(self.epilogue);
        a.load(RSP, ENV, runtime::SAVED_SP);
        a.alu_ri(Size::Q, Alu::Add, Rm::Reg(RSP), 8);
        for r in [R15, R14, R13, R12, RBP, RBX] {
            a.pop(r);
        }
        a.ret();
        self.asm.finish().map_err(|_| JitError::Unsupported)
    }

    fn charge(&mut self, pc: usize, len: u32) {
        let stub = self.asm.label();
        self.asm
            .alu_ri(Size::Q, Alu::Sub, Rm::Reg(BUDGET), len as i32);
        self.asm.jcc(Cond::B, stub);
        self.stubs.push((stub, pc, len));
    }

    /// `dst = ` BPF register `r`, reading spilled registers from their
    /// slots (only valid between the spill and restore of a callout).
    fn read_spilled(&mut self, dst: u8, r: u8) -> Result<(), JitError> {
        let h = host(r)?;
        match SPILLED.iter().position(|&s| s == h) {
            Some(i) => self.asm.load(dst, ENV, runtime::SAVED + 8 * i as i32),
            None => self.asm.mov_rr(Size::Q, dst, h),
        }
        Ok(())
    }

    /// Calls `f(env, pc, args...)`; the result is in `r11` afterwards, and
    /// a failed callout leaves through the epilogue.
    fn callout(&mut self, f: usize, pc: usize, args: &[Arg]) -> Result<(), JitError> {
        for (i, &r) in SPILLED.iter().enumerate() {
            self.asm.store(ENV, runtime::SAVED + 8 * i as i32, r);
        }
        for (&arg, dst) in args.iter().zip([RDX, RCX, R8]) {
            match arg {
                Arg::Reg(r) => self.read_spilled(dst, r)?,
                Arg::Addr(r, off) => {
                    self.read_spilled(dst, r)?;
                    if off != 0 {
                        self.asm
                            .alu_ri(Size::Q, Alu::Add, Rm::Reg(dst), i32::from(off));
                    }
                }
                Arg::Imm(k) => self.asm.mov_imm(dst, k),
            }
        }
        let a = &mut self.asm;
        a.mov_rr(Size::Q, RDI, ENV);
        a.mov_imm(RSI, pc as u64);
        a.mov_imm(T2, f as u64);
        a.call_reg(T2);
        a.mov_rr(Size::Q, T2, RAX);
        for (i, &r) in SPILLED.iter().enumerate() {
            a.load(r, ENV, runtime::SAVED + 8 * i as i32);
        }
        a.alu_ri(Size::Q, Alu::Cmp, Rm::Mem(ENV, runtime::STATUS), 0);
        a.jcc(Cond::Ne, self.epilogue);
        Ok(())
    }

    fn op(&mut self, pc: usize, op: Op) -> Result<(), JitError> {
        if let Some((alu, width, d, src)) = alu_of(op) {
            return self.alu(alu, size(width), host(d)?, src);
        }
        if let Some((cond, width, d, src, t)) = branch_of(op) {
            return self.branch(cond, size(width), host(d)?, src, t);
        }
        if let Some(access) = access_of(op) {
            return self.memory(pc, access);
        }
        let atomic: Callout4 = runtime::atomic;
        let call: Callout1 = runtime::call;
        let enter: Callout1 = runtime::enter;
        match op {
            Op::Neg64 { d } => self.asm.group3(Size::Q, 3, host(d)?),
            Op::Neg32 { d } => self.asm.group3(Size::D, 3, host(d)?),
            Op::MovSx64B { d, s } => self.asm.movsx_b(Size::Q, host(d)?, host(s)?),
            Op::MovSx64H { d, s } => self.asm.movsx_w(Size::Q, host(d)?, host(s)?),
            Op::MovSx64W { d, s } => self.asm.movsxd(host(d)?, host(s)?),
            Op::MovSx32B { d, s } => self.asm.movsx_b(Size::D, host(d)?, host(s)?),
            Op::MovSx32H { d, s } => self.asm.movsx_w(Size::D, host(d)?, host(s)?),
            Op::Zext16 { d } => self.asm.movzx_w(host(d)?, host(d)?),
            Op::Zext32 { d } => self.asm.mov_rr(Size::D, host(d)?, host(d)?),
            Op::Swap16 { d } => {
                let d = host(d)?;
                self.asm.rol16_8(d);
                self.asm.movzx_w(d, d);
            }
            Op::Swap32 { d } => self.asm.bswap(Size::D, host(d)?),
            Op::Swap64 { d } => self.asm.bswap(Size::Q, host(d)?),
            Op::Nop => {}
            Op::Ja { t } => self.asm.jmp(self.label(t)?),
            Op::Call { f, id } if id == MAP_LOOKUP_ELEM && is_map_lookup(f) => {
                self.array_lookup(pc)?;
            }
            Op::Call { .. } => {
                self.callout(call as usize, pc, &[])?;
                self.asm.mov_rr(Size::Q, RAX, T2);
            }
            Op::CallLocal { t } => {
                let target = self.label(t)?;
                self.callout(enter as usize, pc, &[])?;
                let a = &mut self.asm;
                // Five pushes and the return address: rsp stays aligned.
                for r in [RBX, R13, R14, R15, RBP] {
                    a.push(r);
                }
                a.mov_rr(Size::Q, RBP, T2);
                // The callee's frame for the inline `r10` accesses.
                a.store(ENV, direct::FP_VIRTUAL, T2);
                a.alu_ri(
                    Size::Q,
                    Alu::Add,
                    Rm::Mem(ENV, direct::FP_HOST),
                    STACK_SIZE as i32,
                );
                a.call_label(target);
                for r in [RBP, R15, R14, R13, RBX] {
                    a.pop(r);
                }
                a.alu_ri(Size::Q, Alu::Sub, Rm::Mem(ENV, runtime::DEPTH), 1);
                // r10 = frame_pointer(depth), as the interpreter sets it.
                a.load(RBP, ENV, runtime::DEPTH);
                a.shift_ri(Size::Q, Shift::Shl, RBP, 32);
                a.mov_imm(T2, frame_pointer(0));
                a.alu_rr(Size::Q, Alu::Add, RBP, T2);
                a.store(ENV, direct::FP_VIRTUAL, RBP);
                a.alu_ri(
                    Size::Q,
                    Alu::Sub,
                    Rm::Mem(ENV, direct::FP_HOST),
                    STACK_SIZE as i32,
                );
            }
            Op::Exit => {
                let a = &mut self.asm;
                a.alu_ri(Size::Q, Alu::Cmp, Rm::Mem(ENV, runtime::DEPTH), 0);
                a.jcc(Cond::E, self.epilogue);
                a.ret();
            }
            Op::Atomic32 { op, d, s, off } | Op::Atomic64 { op, d, s, off } => {
                let args = [Arg::Addr(d, off), Arg::Reg(s), Arg::Reg(0)];
                self.callout(atomic as usize, pc, &args)?;
                if op == AtomicOp::CmpXchg {
                    self.asm.mov_rr(Size::Q, RAX, T2);
                } else if op.fetches() {
                    self.asm.mov_rr(Size::Q, host(s)?, T2);
                }
            }
            Op::Lddw { d, k } => {
                self.asm.mov_imm(host(d)?, k);
                let next = self.label((pc + 2) as u32)?;
                self.asm.jmp(next);
            }
            Op::LddwTail | Op::FellOff => {
                let a = &mut self.asm;
                a.store_imm(ENV, runtime::PC, pc as i32);
                a.store_imm(ENV, runtime::STATUS, runtime::STATUS_BAD_PC as i32);
                a.jmp(self.epilogue);
            }
            _ => return Err(JitError::Unsupported),
        }
        Ok(())
    }

    /// Leaves in `r10` the host address of the `bytes` at BPF register
    /// `r` plus `off` when they lie inside the stack, the context or the
    /// packet (for a store: the writable ones), and jumps to `slow`
    /// otherwise. The same bounds as `Memory`'s accessors, computed
    /// inline: the address's high 32 bits pick the region (stack frame
    /// `tag - 1`, context `0x10`, packet `0x11`), its low 32 bits are the
    /// offset into it.
    fn direct(
        &mut self,
        r: u8,
        off: i16,
        bytes: u8,
        write: bool,
        slow: Label,
    ) -> Result<(), JitError> {
        let table = if write {
            direct::DIRECT_WRITE
        } else {
            direct::DIRECT_READ
        };
        let other = self.asm.label();
        let found = self.asm.label();
        let a = &mut self.asm;
        a.mov_rr(Size::Q, T1, host(r)?);
        if off != 0 {
            a.alu_ri(Size::Q, Alu::Add, Rm::Reg(T1), i32::from(off));
        }
        a.mov_rr(Size::Q, T2, T1);
        a.shift_ri(Size::Q, Shift::Shr, T2, 32);
        // Stack frame `tag - 1`, when below the frame count.
        a.alu_ri(Size::Q, Alu::Sub, Rm::Reg(T2), 1);
        a.alu_r_mem(Size::Q, Alu::Cmp, T2, ENV, direct::STACK_FRAMES);
        a.jcc(Cond::Ae, other);
        a.mov_rr(Size::D, T1, T1);
        a.alu_ri(
            Size::Q,
            Alu::Cmp,
            Rm::Reg(T1),
            STACK_SIZE as i32 - i32::from(bytes),
        );
        a.jcc(Cond::A, slow);
        a.shift_ri(Size::Q, Shift::Shl, T2, STACK_SIZE.trailing_zeros() as u8);
        a.alu_rr(Size::Q, Alu::Add, T1, T2);
        a.alu_r_mem(Size::Q, Alu::Add, T1, ENV, direct::STACK_PTR);
        a.jmp(found);
        // Context (index 0) or packet (index 1) of the table; anything
        // else may be a map value (out of line).
        let maps = a.label();
        a.bind(other);
        a.alu_ri(Size::Q, Alu::Sub, Rm::Reg(T2), TAG_CONTEXT as i32 - 1);
        a.alu_ri(Size::Q, Alu::Cmp, Rm::Reg(T2), 1);
        a.jcc(Cond::A, maps);
        a.shift_ri(Size::Q, Shift::Shl, T2, 4);
        a.alu_rr(Size::Q, Alu::Add, T2, ENV);
        // offset + bytes <= length (no overflow: the offset is 32-bit).
        a.mov_rr(Size::D, T1, T1);
        a.alu_ri(Size::Q, Alu::Add, Rm::Reg(T1), i32::from(bytes));
        a.alu_r_mem(Size::Q, Alu::Cmp, T1, T2, table + 8);
        a.jcc(Cond::A, slow);
        a.alu_r_mem(Size::Q, Alu::Add, T1, T2, table);
        a.alu_ri(Size::Q, Alu::Sub, Rm::Reg(T1), i32::from(bytes));
        a.bind(found);
        self.windows.push(MapWindow {
            start: maps,
            found,
            slow,
            bytes,
            write,
        });
        Ok(())
    }

    /// The map-value case of [`Translator::direct`]: tag `0x1000 + i` is
    /// the value storage of map `i`, checked against the window the run
    /// recorded for it (maps past the recorded ones take the callout).
    fn map_window(&mut self, w: &MapWindow) {
        let table = if w.write {
            direct::MAP_WRITE
        } else {
            direct::MAP_READ
        };
        let a = &mut self.asm;
        a.bind(w.start);
        // r11 = tag - 0x10 - (0x1000 - 0x10): the map index.
        a.alu_ri(
            Size::Q,
            Alu::Sub,
            Rm::Reg(T2),
            (TAG_MAP - TAG_CONTEXT) as i32,
        );
        a.alu_r_mem(Size::Q, Alu::Cmp, T2, ENV, direct::MAP_COUNT);
        a.jcc(Cond::Ae, w.slow);
        a.shift_ri(Size::Q, Shift::Shl, T2, 4);
        a.alu_r_mem(Size::Q, Alu::Add, T2, ENV, direct::MAP_TABLES);
        a.mov_rr(Size::D, T1, T1);
        a.alu_ri(Size::Q, Alu::Add, Rm::Reg(T1), i32::from(w.bytes));
        a.alu_r_mem(Size::Q, Alu::Cmp, T1, T2, table + 8);
        a.jcc(Cond::A, w.slow);
        a.alu_r_mem(Size::Q, Alu::Add, T1, T2, table);
        a.alu_ri(Size::Q, Alu::Sub, Rm::Reg(T1), i32::from(w.bytes));
        a.jmp(w.found);
    }

    /// `map_lookup_elem(r1 = map, r2 = &key)` on an array map, inline, as
    /// Linux's JIT does it: the key read through the inline bounds check,
    /// the handle and the map's `[max_entries, value_size]` from the run's
    /// record; `r0` = the value's address, or 0 past the end. Anything
    /// else — another kind of map, a bad handle, a key outside the inline
    /// regions — takes the helper's callout, which gives the interpreter's
    /// result or error.
    fn array_lookup(&mut self, pc: usize) -> Result<(), JitError> {
        let slow = self.asm.label();
        let miss = self.asm.label();
        let done = self.asm.label();
        self.direct(2, 0, 4, false, slow)?;
        let a = &mut self.asm;
        a.load_sized(RAX, T1, 0, 4, false);
        // r1 must be a map handle: tag 0x8000_0000.
        a.mov_rr(Size::Q, T2, RDI);
        a.shift_ri(Size::Q, Shift::Shr, T2, 32);
        a.mov_imm(T1, TAG_MAP_HANDLE);
        a.alu_rr(Size::Q, Alu::Cmp, T2, T1);
        a.jcc(Cond::Ne, slow);
        a.mov_rr(Size::D, T1, RDI);
        a.alu_r_mem(Size::Q, Alu::Cmp, T1, ENV, direct::MAP_COUNT);
        a.jcc(Cond::Ae, slow);
        a.mov_rr(Size::Q, T2, T1);
        a.shift_ri(Size::Q, Shift::Shl, T2, 4);
        a.alu_r_mem(Size::Q, Alu::Add, T2, ENV, direct::MAP_TABLES);
        // value_size 0: not an array map.
        a.alu_ri(Size::Q, Alu::Cmp, Rm::Mem(T2, direct::MAP_ARRAY + 8), 0);
        a.jcc(Cond::E, slow);
        a.alu_r_mem(Size::Q, Alu::Cmp, RAX, T2, direct::MAP_ARRAY);
        a.jcc(Cond::Ae, miss);
        // map_value_address(index, key * value_size): the product fits in
        // 32 bits, as the map's storage does.
        a.load(T2, T2, direct::MAP_ARRAY + 8);
        a.imul_rr(Size::Q, RAX, T2);
        a.alu_ri(Size::Q, Alu::Add, Rm::Reg(T1), TAG_MAP as i32);
        a.shift_ri(Size::Q, Shift::Shl, T1, 32);
        a.alu_rr(Size::Q, Alu::Or, RAX, T1);
        a.jmp(done);
        a.bind(miss);
        a.alu_rr(Size::D, Alu::Xor, RAX, RAX);
        a.bind(done);
        self.slow_calls.push((slow, done, pc));
        Ok(())
    }

    /// The access itself, at the host address in `r10` plus `disp`.
    fn access(&mut self, access: Access, disp: i32) -> Result<(), JitError> {
        match access {
            Access::Load {
                d, bytes, signed, ..
            } => self.asm.load_sized(host(d)?, T1, disp, bytes, signed),
            Access::Store { value, bytes, .. } => {
                let src = match value {
                    Arg::Reg(s) => host(s)?,
                    Arg::Imm(k) => {
                        self.asm.mov_imm(T2, k);
                        T2
                    }
                    Arg::Addr(..) => return Err(JitError::Unsupported),
                };
                self.asm.store_sized(T1, disp, src, bytes);
            }
        }
        Ok(())
    }

    /// A load or store. Inline (the fall-through path): an `r10`-relative
    /// access inside the frame while `r10` is the current frame pointer
    /// (a verified program never writes it), which needs no bounds check
    /// — the frame's host top plus `off` — or, for any other base, the
    /// region bounds check of [`Translator::direct`]. Out of line (emitted
    /// after the program): the general check for an `r10` access whose
    /// `r10` moved, and the callout for every address the checks reject,
    /// which does the access or reports the fault.
    fn memory(&mut self, pc: usize, access: Access) -> Result<(), JitError> {
        let (base, off, bytes) = access.address();
        let slow = self.asm.label();
        let done = self.asm.label();
        let in_frame = (-(STACK_SIZE as i32)..=-i32::from(bytes)).contains(&i32::from(off));
        let general = if base == 10 && in_frame {
            let general = self.asm.label();
            let a = &mut self.asm;
            a.alu_r_mem(Size::Q, Alu::Cmp, host(base)?, ENV, direct::FP_VIRTUAL);
            a.jcc(Cond::Ne, general);
            a.load(T1, ENV, direct::FP_HOST);
            self.access(access, i32::from(off))?;
            Some(general)
        } else {
            self.direct(
                base,
                off,
                bytes,
                matches!(access, Access::Store { .. }),
                slow,
            )?;
            self.access(access, 0)?;
            None
        };
        self.asm.bind(done);
        self.cold.push(Cold {
            pc,
            access,
            general,
            slow,
            done,
        });
        Ok(())
    }

    /// The out-of-line half of [`Translator::memory`].
    fn cold(&mut self, c: Cold) -> Result<(), JitError> {
        let (base, off, bytes) = c.access.address();
        if let Some(general) = c.general {
            self.asm.bind(general);
            self.direct(
                base,
                off,
                bytes,
                matches!(c.access, Access::Store { .. }),
                c.slow,
            )?;
            self.access(c.access, 0)?;
            self.asm.jmp(c.done);
        }
        self.asm.bind(c.slow);
        match c.access {
            Access::Load { d, s, off, .. } => {
                let load: Callout2 = runtime::load;
                self.callout(load as usize, c.pc, &[Arg::Addr(s, off)])?;
                self.asm.mov_rr(Size::Q, host(d)?, T2);
            }
            Access::Store { d, off, value, .. } => {
                let store: Callout3 = runtime::store;
                self.callout(store as usize, c.pc, &[Arg::Addr(d, off), value])?;
            }
        }
        self.asm.jmp(c.done);
        Ok(())
    }

    fn label(&self, t: u32) -> Result<Label, JitError> {
        self.labels
            .get(t as usize)
            .copied()
            .ok_or(JitError::Unsupported)
    }

    /// `r11 = k`, or the immediate itself if it fits the sign-extended
    /// `imm32` of a 64-bit operation.
    fn imm(&mut self, size: Size, k: u64) -> Result<i32, u8> {
        match size {
            Size::D => Ok(k as u32 as i32),
            Size::Q => i32::try_from(k as i64).map_err(|_| {
                self.asm.mov_imm(T2, k);
                T2
            }),
        }
    }

    fn alu(&mut self, op: AluOp, size: Size, d: u8, src: Src) -> Result<(), JitError> {
        let simple = match op {
            AluOp::Add => Some(Alu::Add),
            AluOp::Sub => Some(Alu::Sub),
            AluOp::Or => Some(Alu::Or),
            AluOp::And => Some(Alu::And),
            AluOp::Xor => Some(Alu::Xor),
            _ => None,
        };
        if let Some(alu) = simple {
            match src {
                Src::X(s) => self.asm.alu_rr(size, alu, d, host(s)?),
                Src::K(k) => match self.imm(size, k) {
                    Ok(imm) => self.asm.alu_ri(size, alu, Rm::Reg(d), imm),
                    Err(reg) => self.asm.alu_rr(size, alu, d, reg),
                },
            }
            return Ok(());
        }
        match op {
            AluOp::Mov => match (src, size) {
                (Src::X(s), _) => self.asm.mov_rr(size, d, host(s)?),
                (Src::K(k), Size::Q) => self.asm.mov_imm(d, k),
                (Src::K(k), Size::D) => self.asm.mov_imm(d, u64::from(k as u32)),
            },
            AluOp::Mul => match src {
                Src::X(s) => self.asm.imul_rr(size, d, host(s)?),
                Src::K(k) => match self.imm(size, k) {
                    Ok(imm) => self.asm.imul_ri(size, d, imm),
                    Err(reg) => self.asm.imul_rr(size, d, reg),
                },
            },
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
                let shift = match op {
                    AluOp::Lsh => Shift::Shl,
                    AluOp::Rsh => Shift::Shr,
                    _ => Shift::Sar,
                };
                self.shift(shift, size, d, src)?;
            }
            AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod => self.divide(op, size, d, src)?,
            _ => return Err(JitError::Unsupported),
        }
        Ok(())
    }

    fn shift(&mut self, shift: Shift, size: Size, d: u8, src: Src) -> Result<(), JitError> {
        let a = &mut self.asm;
        match src {
            // The lowering already masked the amount to the width.
            Src::K(k) => {
                if k != 0 {
                    a.shift_ri(size, shift, d, k as u8);
                }
            }
            Src::X(s) => {
                // x86 masks `cl` to the width, as RFC 9669 does.
                let s = host(s)?;
                if s == RCX && d != RCX {
                    a.shift_cl(size, shift, d);
                } else {
                    a.mov_rr(Size::Q, T2, RCX);
                    a.mov_rr(Size::Q, RCX, s);
                    if d == RCX {
                        a.shift_cl(size, shift, T2);
                    } else {
                        a.shift_cl(size, shift, d);
                    }
                    a.mov_rr(Size::Q, RCX, T2);
                }
            }
        }
        if size == Size::D {
            // A 32-bit result is zero-extended even when the amount is 0.
            a.mov_rr(Size::D, d, d);
        }
        Ok(())
    }

    /// Division and modulo with RFC 9669's results for a zero divisor and
    /// for `MIN / -1`, neither of which may reach `div`/`idiv` (both
    /// fault on x86).
    fn divide(&mut self, op: AluOp, size: Size, d: u8, src: Src) -> Result<(), JitError> {
        let signed = matches!(op, AluOp::SDiv | AluOp::SMod);
        let modulo = matches!(op, AluOp::Mod | AluOp::SMod);
        let s = match src {
            Src::X(s) => Some(host(s)?),
            Src::K(_) => None,
        };
        let zero = self.asm.label();
        let minus_one = self.asm.label();
        let done = self.asm.label();
        let a = &mut self.asm;
        a.push(RAX);
        a.push(RDX);
        match (s, src) {
            (Some(s), _) => a.mov_rr(Size::Q, T1, s),
            (None, Src::K(k)) => a.mov_imm(
                T1,
                if size == Size::D {
                    u64::from(k as u32)
                } else {
                    k
                },
            ),
            (None, Src::X(_)) => return Err(JitError::Unsupported),
        }
        a.mov_rr(Size::Q, RAX, d);
        a.test_rr(size, T1, T1);
        a.jcc(Cond::E, zero);
        if signed {
            a.alu_ri(size, Alu::Cmp, Rm::Reg(T1), -1);
            a.jcc(Cond::E, minus_one);
            a.sign_extend_rax(size);
            a.group3(size, 7, T1);
        } else {
            a.alu_rr(Size::D, Alu::Xor, RDX, RDX);
            a.group3(size, 6, T1);
        }
        a.mov_rr(size, T2, if modulo { RDX } else { RAX });
        a.jmp(done);
        a.bind(zero);
        if modulo {
            // Modulo zero keeps the dividend (zero-extended at 32 bits).
            a.mov_rr(size, T2, RAX);
        } else {
            a.alu_rr(Size::D, Alu::Xor, T2, T2);
        }
        a.jmp(done);
        a.bind(minus_one);
        if modulo {
            a.alu_rr(Size::D, Alu::Xor, T2, T2);
        } else {
            // MIN / -1 wraps to MIN, which is what negation gives.
            a.mov_rr(size, T2, RAX);
            a.group3(size, 3, T2);
        }
        a.bind(done);
        a.pop(RDX);
        a.pop(RAX);
        a.mov_rr(Size::Q, d, T2);
        Ok(())
    }

    fn branch(
        &mut self,
        cond: JmpCond,
        size: Size,
        d: u8,
        src: Src,
        t: u32,
    ) -> Result<(), JitError> {
        let target = self.label(t)?;
        let alu = |a: &mut Asm, other: u8| {
            if cond == JmpCond::Set {
                a.test_rr(size, d, other);
            } else {
                a.alu_rr(size, Alu::Cmp, d, other);
            }
        };
        match src {
            Src::X(s) => alu(&mut self.asm, host(s)?),
            Src::K(k) => match self.imm(size, k) {
                Ok(imm) if cond == JmpCond::Set => self.asm.test_ri(size, d, imm),
                Ok(imm) => self.asm.alu_ri(size, Alu::Cmp, Rm::Reg(d), imm),
                Err(reg) => alu(&mut self.asm, reg),
            },
        }
        self.asm.jcc(cond_code(cond), target);
        Ok(())
    }
}
