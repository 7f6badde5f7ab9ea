//! Hand-encoding bytecode for the tests, and running it.
//!
//! The encoders write raw RFC 9669 slots (opcode, registers, offset,
//! immediate) rather than going through `Insn`, so the tests exercise the
//! decoder on bytes built independently of it.
#![allow(dead_code, missing_docs)]

use exo_bpf::{
    Config, ContextLayout, ExecError, Helpers, Input, LoadError, MapSet, Program, VerifyError, Vm,
};

pub const W: u8 = 0x00;
pub const H: u8 = 0x08;
pub const B: u8 = 0x10;
pub const DW: u8 = 0x18;

pub const ADD: u8 = 0x00;
pub const SUB: u8 = 0x10;
pub const MUL: u8 = 0x20;
pub const DIV: u8 = 0x30;
pub const OR: u8 = 0x40;
pub const AND: u8 = 0x50;
pub const LSH: u8 = 0x60;
pub const RSH: u8 = 0x70;
pub const NEG: u8 = 0x80;
pub const MOD: u8 = 0x90;
pub const XOR: u8 = 0xa0;
pub const MOV: u8 = 0xb0;
pub const ARSH: u8 = 0xc0;

pub const JEQ: u8 = 0x10;
pub const JGT: u8 = 0x20;
pub const JGE: u8 = 0x30;
pub const JSET: u8 = 0x40;
pub const JNE: u8 = 0x50;
pub const JSGT: u8 = 0x60;
pub const JSGE: u8 = 0x70;
pub const JLT: u8 = 0xa0;
pub const JLE: u8 = 0xb0;
pub const JSLT: u8 = 0xc0;
pub const JSLE: u8 = 0xd0;

pub fn raw(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> Vec<u8> {
    let mut v = vec![op, (dst & 0xf) | (src << 4)];
    v.extend_from_slice(&off.to_le_bytes());
    v.extend_from_slice(&imm.to_le_bytes());
    v
}

pub fn prog(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

pub fn alu64_imm(op: u8, d: u8, k: i32) -> Vec<u8> {
    raw(op | 0x07, d, 0, 0, k)
}
pub fn alu64_reg(op: u8, d: u8, s: u8) -> Vec<u8> {
    raw(op | 0x0f, d, s, 0, 0)
}
pub fn alu32_imm(op: u8, d: u8, k: i32) -> Vec<u8> {
    raw(op | 0x04, d, 0, 0, k)
}
pub fn alu32_reg(op: u8, d: u8, s: u8) -> Vec<u8> {
    raw(op | 0x0c, d, s, 0, 0)
}
/// Signed division / modulo (offset 1), 64- or 32-bit, immediate or register.
pub fn signed_alu(op: u8, wide: bool, d: u8, src: Result<i32, u8>) -> Vec<u8> {
    let class = if wide { 0x07 } else { 0x04 };
    match src {
        Ok(k) => raw(op | class, d, 0, 1, k),
        Err(s) => raw(op | class | 0x08, d, s, 1, 0),
    }
}
pub fn mov64(d: u8, k: i32) -> Vec<u8> {
    alu64_imm(MOV, d, k)
}
pub fn mov64_reg(d: u8, s: u8) -> Vec<u8> {
    alu64_reg(MOV, d, s)
}
pub fn movsx(wide: bool, bits: i16, d: u8, s: u8) -> Vec<u8> {
    raw(MOV | if wide { 0x0f } else { 0x0c }, d, s, bits, 0)
}
pub fn endian(big: bool, bits: i32, d: u8) -> Vec<u8> {
    raw(0xd4 | if big { 0x08 } else { 0 }, d, 0, 0, bits)
}
pub fn bswap(bits: i32, d: u8) -> Vec<u8> {
    raw(0xd7, d, 0, 0, bits)
}
pub fn lddw(d: u8, v: u64) -> Vec<u8> {
    let mut out = raw(0x18, d, 0, 0, v as u32 as i32);
    out.extend(raw(0, 0, 0, 0, (v >> 32) as u32 as i32));
    out
}
pub fn lddw_pseudo(d: u8, src: u8, imm: i32, next: i32) -> Vec<u8> {
    let mut out = raw(0x18, d, src, 0, imm);
    out.extend(raw(0, 0, 0, 0, next));
    out
}
pub fn ja(off: i16) -> Vec<u8> {
    raw(0x05, 0, 0, off, 0)
}
pub fn gotol(imm: i32) -> Vec<u8> {
    raw(0x06, 0, 0, 0, imm)
}
pub fn jmp_imm(op: u8, d: u8, k: i32, off: i16) -> Vec<u8> {
    raw(op | 0x05, d, 0, off, k)
}
pub fn jmp_reg(op: u8, d: u8, s: u8, off: i16) -> Vec<u8> {
    raw(op | 0x0d, d, s, off, 0)
}
pub fn jmp32_imm(op: u8, d: u8, k: i32, off: i16) -> Vec<u8> {
    raw(op | 0x06, d, 0, off, k)
}
pub fn jmp32_reg(op: u8, d: u8, s: u8, off: i16) -> Vec<u8> {
    raw(op | 0x0e, d, s, off, 0)
}
pub fn call(id: i32) -> Vec<u8> {
    raw(0x85, 0, 0, 0, id)
}
pub fn call_local(off: i32) -> Vec<u8> {
    raw(0x85, 0, 1, 0, off)
}
pub fn exit() -> Vec<u8> {
    raw(0x95, 0, 0, 0, 0)
}
pub fn ldx(size: u8, d: u8, s: u8, off: i16) -> Vec<u8> {
    raw(0x61 | size, d, s, off, 0)
}
pub fn ldxsx(size: u8, d: u8, s: u8, off: i16) -> Vec<u8> {
    raw(0x81 | size, d, s, off, 0)
}
pub fn st(size: u8, d: u8, off: i16, k: i32) -> Vec<u8> {
    raw(0x62 | size, d, 0, off, k)
}
pub fn stx(size: u8, d: u8, s: u8, off: i16) -> Vec<u8> {
    raw(0x63 | size, d, s, off, 0)
}
pub fn atomic(size: u8, op: i32, d: u8, s: u8, off: i16) -> Vec<u8> {
    raw(0xc3 | size, d, s, off, op)
}

pub const FETCH: i32 = 0x01;
pub const XCHG: i32 = 0xe1;
pub const CMPXCHG: i32 = 0xf1;

/// A config with the map helpers, `maps`, and `context`.
pub fn config<'a>(helpers: &'a Helpers, maps: &'a MapSet, context: ContextLayout) -> Config<'a> {
    Config {
        helpers,
        maps,
        context,
    }
}

/// Runs `program` with no input on the interpreter and, in builds with the
/// JIT, JIT-compiled too, asserting both give the same result: every
/// program the semantics tests run this way is a differential test.
pub fn run_both(program: &Program) -> Result<u64, ExecError> {
    let interpreted = Vm::new().run(program, Input::default());
    #[cfg(all(
        feature = "jit",
        feature = "std",
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_os = "linux"
    ))]
    {
        let jit = exo_bpf::JitProgram::compile_host(program).expect("the JIT compiles it");
        let jitted = Vm::new().run_jit(&jit, Input::default());
        assert_eq!(interpreted, jitted, "interpreter and JIT disagree");
    }
    interpreted
}

/// Verifies, loads and runs `code` with no context and no maps.
pub fn run(code: &[u8]) -> Result<u64, ExecError> {
    try_run(code).unwrap_or_else(|e| panic!("load failed: {e}"))
}

pub fn try_run(code: &[u8]) -> Result<Result<u64, ExecError>, LoadError> {
    let helpers = Helpers::with_maps();
    let maps = MapSet::new();
    let program = Program::load(code, &config(&helpers, &maps, ContextLayout::default()))?;
    Ok(run_both(&program))
}

/// Loads `code` without verifying it and runs it.
pub fn run_unverified(code: &[u8]) -> Result<u64, ExecError> {
    let helpers = Helpers::with_maps();
    let maps = MapSet::new();
    let program =
        Program::load_unverified(code, &config(&helpers, &maps, ContextLayout::default()))
            .unwrap_or_else(|e| panic!("load failed: {e}"));
    run_both(&program)
}

/// Verifies `code` with no context and the map helpers over `maps`.
pub fn verify_with(code: &[u8], maps: &MapSet, context: ContextLayout) -> Result<(), VerifyError> {
    let helpers = Helpers::with_maps();
    exo_bpf::verify(code, &config(&helpers, maps, context)).map(|_| ())
}

/// The verifier's refusal of `code` (no context, no maps).
#[track_caller]
pub fn rejection(code: &[u8]) -> VerifyError {
    match verify_with(code, &MapSet::new(), ContextLayout::default()) {
        Ok(()) => panic!("verifier accepted a program it should refuse"),
        Err(e) => e,
    }
}

/// A program of at least `slots` slots (and at most about 30,000) mixing
/// straight-line arithmetic, stack traffic, forward branches (one held
/// open across the whole program), map lookups with null checks and
/// bounded loops: what the verifier's time and memory are measured on
/// (map 0 is a hash map with 4-byte keys).
pub fn big_program(slots: usize) -> Vec<u8> {
    let mut parts = vec![mov64(0, 0), st(DW, 10, -8, 0), mov64(9, 0)];
    let far = parts.len();
    parts.push(jmp_imm(JEQ, 9, 1, 0));
    let mut k = 0i32;
    let len = |parts: &Vec<Vec<u8>>| parts.iter().map(|p| p.len() / 8).sum::<usize>();
    while len(&parts) < slots - 2 {
        k += 1;
        parts.extend([
            ldx(DW, 2, 10, -8),
            alu64_imm(ADD, 2, k),
            alu64_imm(AND, 2, 0xffff),
            stx(DW, 10, 2, -8),
            mov64_reg(3, 2),
            jmp_imm(JGT, 2, 1000, 2),
            alu64_imm(MUL, 3, 3),
            alu64_imm(RSH, 3, 1),
            alu64_reg(ADD, 0, 3),
        ]);
        if k % 4 == 0 {
            parts.extend([
                st(W, 10, -12, k),
                lddw_pseudo(1, 1, 0, 0),
                mov64_reg(2, 10),
                alu64_imm(ADD, 2, -12),
                call(1),
                jmp_imm(JEQ, 0, 0, 3),
                ldx(DW, 4, 0, 0),
                alu64_imm(ADD, 4, 1),
                stx(DW, 0, 4, 0),
                mov64(0, 0),
            ]);
        }
        if k % 8 == 0 {
            parts.extend([
                mov64(7, 0),
                mov64(8, 0),
                alu64_reg(ADD, 8, 7),
                alu64_imm(ADD, 7, 1),
                jmp_imm(JLT, 7, 16, -3),
                alu64_reg(ADD, 0, 8),
            ]);
        }
        if len(&parts) > 30_000 {
            break;
        }
    }
    parts.push(alu64_imm(AND, 0, 0xff));
    let end = len(&parts);
    parts[far] = jmp_imm(JEQ, 9, 1, (end - far - 1).min(i16::MAX as usize) as i16);
    parts.push(exit());
    prog(&parts)
}
