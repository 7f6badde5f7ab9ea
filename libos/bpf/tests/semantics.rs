//! Per-instruction semantics, from hand-encoded bytecode through the
//! verifier and the interpreter: every opcode, and the edge cases RFC 9669
//! defines (division by zero, `INT_MIN / -1`, shift masking, sign and zero
//! extension, byte swaps, atomics' old values, both `cmpxchg` outcomes).

mod common;

use common::*;
use exo_bpf::isa::{AluOp, Width};
use exo_bpf::{
    ArgType, Config, ContextLayout, ExecError, Helper, HelperProto, Helpers, MapSet, Memory,
    Program, RetType, semantics,
};
use proptest::prelude::*;

/// `r0 = a; r0 op= b; exit`, with `b` from a register.
fn alu_reg(wide: bool, op: u8, a: u64, b: u64) -> u64 {
    let insn = if wide {
        alu64_reg(op, 0, 1)
    } else {
        alu32_reg(op, 0, 1)
    };
    run(&prog(&[lddw(0, a), lddw(1, b), insn, exit()])).expect("runs")
}

/// `r0 = a; r0 op= k; exit`.
fn alu_imm(wide: bool, op: u8, a: u64, k: i32) -> u64 {
    let insn = if wide {
        alu64_imm(op, 0, k)
    } else {
        alu32_imm(op, 0, k)
    };
    run(&prog(&[lddw(0, a), insn, exit()])).expect("runs")
}

fn signed(op: u8, wide: bool, a: u64, src: Result<i32, u64>) -> u64 {
    let code = match src {
        Ok(k) => prog(&[lddw(0, a), signed_alu(op, wide, 0, Ok(k)), exit()]),
        Err(b) => prog(&[
            lddw(0, a),
            lddw(1, b),
            signed_alu(op, wide, 0, Err(1)),
            exit(),
        ]),
    };
    run(&code).expect("runs")
}

const MIN64: u64 = i64::MIN as u64;

#[test]
fn add_sub_mul_wrap_and_zero_extend() {
    assert_eq!(alu_imm(true, ADD, 5, -7), (-2i64) as u64);
    assert_eq!(alu_reg(true, ADD, u64::MAX, 2), 1);
    assert_eq!(alu_imm(false, ADD, 0xffff_ffff, 1), 0);
    assert_eq!(
        alu_reg(false, ADD, 0xdead_0000_0000_0001, 1),
        2,
        "32-bit ops ignore and clear the upper half"
    );
    assert_eq!(alu_imm(true, SUB, 0, 1), u64::MAX);
    assert_eq!(alu_reg(false, SUB, 0, 1), 0xffff_ffff);
    assert_eq!(alu_imm(true, MUL, 3, -2), (-6i64) as u64);
    assert_eq!(alu_reg(true, MUL, 1 << 63, 2), 0);
    assert_eq!(alu_reg(false, MUL, 0x1_0000_0003, 0x1_0000_0005), 15);
}

#[test]
fn unsigned_division_and_modulo() {
    assert_eq!(alu_imm(true, DIV, 100, 7), 14);
    assert_eq!(alu_reg(true, DIV, 100, 0), 0, "division by zero gives zero");
    assert_eq!(alu_imm(true, DIV, 100, 0), 0);
    assert_eq!(alu_reg(false, DIV, 100, 0), 0);
    assert_eq!(alu_imm(false, DIV, 100, 0), 0);
    // ALU64 sign-extends the immediate, then divides unsigned.
    assert_eq!(alu_imm(true, DIV, 10, -1), 0);
    assert_eq!(alu_imm(true, DIV, u64::MAX, -1), 1);
    // ALU takes the immediate as unsigned 32-bit.
    assert_eq!(alu_imm(false, DIV, 0xffff_fffe, -1), 0);
    assert_eq!(alu_imm(true, MOD, 100, 7), 2);
    assert_eq!(
        alu_reg(true, MOD, 100, 0),
        100,
        "modulo zero keeps the dividend"
    );
    assert_eq!(alu_imm(true, MOD, 100, 0), 100);
    let big = 0xffff_ffff_0000_0005;
    assert_eq!(
        alu_reg(false, MOD, big, 0),
        5,
        "32-bit modulo zero keeps the dividend, zero-extended"
    );
    assert_eq!(alu_imm(false, MOD, big, 0), 5);
    assert_eq!(alu_reg(false, MOD, big, 3), 2);
}

#[test]
fn signed_division_and_modulo() {
    assert_eq!(signed(DIV, true, (-7i64) as u64, Ok(2)), (-3i64) as u64);
    assert_eq!(
        signed(DIV, true, MIN64, Ok(-1)),
        MIN64,
        "INT_MIN / -1 wraps"
    );
    assert_eq!(signed(DIV, true, MIN64, Err(u64::MAX)), MIN64);
    assert_eq!(
        signed(DIV, true, 7, Err(0)),
        0,
        "division by zero gives zero"
    );
    assert_eq!(signed(DIV, true, 7, Ok(0)), 0);
    assert_eq!(
        signed(DIV, false, 0x8000_0000, Ok(-1)),
        0x8000_0000,
        "32-bit INT_MIN / -1"
    );
    assert_eq!(
        signed(DIV, false, (-8i32) as u32 as u64, Err(2)),
        (-4i32) as u32 as u64
    );
    assert_eq!(signed(DIV, false, 5, Err(0)), 0);
    assert_eq!(
        signed(MOD, true, (-7i64) as u64, Ok(2)),
        (-1i64) as u64,
        "sign follows the dividend"
    );
    assert_eq!(signed(MOD, true, 7, Ok(-2)), 1);
    assert_eq!(signed(MOD, true, MIN64, Ok(-1)), 0);
    assert_eq!(
        signed(MOD, true, MIN64, Err(0)),
        MIN64,
        "modulo zero keeps the dividend"
    );
    assert_eq!(signed(MOD, false, 0xffff_ffff_8000_0000, Ok(-1)), 0);
    assert_eq!(
        signed(MOD, false, 0xffff_ffff_ffff_fff9, Err(0)),
        0xffff_fff9
    );
    assert_eq!(
        signed(MOD, false, (-7i32) as u32 as u64, Ok(3)),
        (-1i32) as u32 as u64
    );
}

#[test]
fn bitwise_operations() {
    assert_eq!(alu_imm(true, OR, 0xf0, 0x0f), 0xff);
    assert_eq!(alu_imm(true, OR, 0, -1), u64::MAX);
    assert_eq!(alu_reg(false, OR, 0xffff_0000_0000_0000, 1), 1);
    assert_eq!(alu_imm(true, AND, u64::MAX, 0xff), 0xff);
    assert_eq!(alu_imm(true, AND, u64::MAX, -1), u64::MAX);
    assert_eq!(alu_reg(false, AND, u64::MAX, u64::MAX), 0xffff_ffff);
    assert_eq!(alu_imm(true, XOR, 0xff, 0x0f), 0xf0);
    assert_eq!(alu_reg(false, XOR, 0xffff_ffff_ffff_ffff, 0), 0xffff_ffff);
}

#[test]
fn shifts_are_masked_to_the_width() {
    assert_eq!(alu_imm(true, LSH, 1, 63), 1 << 63);
    assert_eq!(alu_reg(true, LSH, 1, 64), 1, "shift by 64 is shift by 0");
    assert_eq!(alu_reg(true, LSH, 1, 65), 2);
    assert_eq!(alu_imm(true, LSH, 1, 64), 1);
    assert_eq!(
        alu_reg(false, LSH, 1, 32),
        1,
        "32-bit shift by 32 is shift by 0"
    );
    assert_eq!(alu_reg(false, LSH, 0x8000_0001, 1), 2);
    assert_eq!(alu_reg(true, RSH, 1 << 63, 63), 1);
    assert_eq!(alu_reg(true, RSH, 4, 65), 2);
    assert_eq!(alu_imm(false, RSH, 0xffff_ffff_8000_0000, 31), 1);
    assert_eq!(alu_imm(true, ARSH, MIN64, 63), u64::MAX);
    assert_eq!(alu_reg(true, ARSH, MIN64, 64), MIN64);
    assert_eq!(
        alu_imm(false, ARSH, 0x8000_0000, 4),
        0xf800_0000,
        "32-bit arsh uses bit 31, zero-extends"
    );
    assert_eq!(alu_reg(false, ARSH, 0x8000_0000, 36), 0xf800_0000);
}

#[test]
fn negation_and_moves() {
    let neg64 = |v| run(&prog(&[lddw(0, v), raw(0x87, 0, 0, 0, 0), exit()])).unwrap();
    let neg32 = |v| run(&prog(&[lddw(0, v), raw(0x84, 0, 0, 0, 0), exit()])).unwrap();
    assert_eq!(neg64(1), u64::MAX);
    assert_eq!(neg64(MIN64), MIN64);
    assert_eq!(neg32(1), 0xffff_ffff);
    assert_eq!(neg32(0xffff_ffff_0000_0000), 0);
    assert_eq!(
        alu_imm(true, MOV, 0, -1),
        u64::MAX,
        "64-bit mov sign-extends"
    );
    assert_eq!(
        alu_imm(false, MOV, 0, -1),
        0xffff_ffff,
        "32-bit mov zero-extends"
    );
    assert_eq!(alu_reg(false, MOV, 0, 0x1234_5678_9abc_def0), 0x9abc_def0);
    assert_eq!(
        alu_reg(true, MOV, 0, 0x1234_5678_9abc_def0),
        0x1234_5678_9abc_def0
    );
    assert_eq!(
        run(&prog(&[lddw(0, 0x0123_4567_89ab_cdef), exit()])).unwrap(),
        0x0123_4567_89ab_cdef
    );
}

#[test]
fn sign_extending_moves() {
    let sx = |wide, bits, v| run(&prog(&[lddw(1, v), movsx(wide, bits, 0, 1), exit()])).unwrap();
    assert_eq!(sx(true, 8, 0x80), 0xffff_ffff_ffff_ff80);
    assert_eq!(sx(true, 8, 0x17f), 0x7f);
    assert_eq!(sx(true, 16, 0x8000), 0xffff_ffff_ffff_8000);
    assert_eq!(sx(true, 32, 0x8000_0000), 0xffff_ffff_8000_0000);
    assert_eq!(sx(true, 32, 0xffff_ffff_7fff_ffff), 0x7fff_ffff);
    assert_eq!(
        sx(false, 8, 0xff),
        0xffff_ffff,
        "32-bit movsx zero-extends its result"
    );
    assert_eq!(sx(false, 16, 0x1_8000), 0xffff_8000);
}

#[test]
fn byte_order_conversions() {
    let v = 0x0123_4567_89ab_cdef;
    let end = |big, bits| run(&prog(&[lddw(0, v), endian(big, bits, 0), exit()])).unwrap();
    let swap = |bits| run(&prog(&[lddw(0, v), bswap(bits, 0), exit()])).unwrap();
    assert_eq!(end(false, 16), 0xcdef);
    assert_eq!(end(false, 32), 0x89ab_cdef);
    assert_eq!(end(false, 64), v);
    assert_eq!(end(true, 16), 0xefcd);
    assert_eq!(end(true, 32), 0xefcd_ab89);
    assert_eq!(end(true, 64), 0xefcd_ab89_6745_2301);
    assert_eq!(swap(16), 0xefcd);
    assert_eq!(swap(32), 0xefcd_ab89);
    assert_eq!(swap(64), 0xefcd_ab89_6745_2301);
}

/// Whether `if a op b` (64- or 32-bit, register or immediate) jumps.
fn jumps(op: u8, wide: bool, a: u64, b: Result<i32, u64>) -> bool {
    let (setup, test) = match (b, wide) {
        (Ok(k), true) => (lddw(2, 0), jmp_imm(op, 1, k, 1)),
        (Ok(k), false) => (lddw(2, 0), jmp32_imm(op, 1, k, 1)),
        (Err(v), true) => (lddw(2, v), jmp_reg(op, 1, 2, 1)),
        (Err(v), false) => (lddw(2, v), jmp32_reg(op, 1, 2, 1)),
    };
    let code = prog(&[lddw(1, a), setup, mov64(0, 1), test, mov64(0, 0), exit()]);
    run(&code).unwrap() == 1
}

#[test]
fn conditional_jumps_64() {
    let m1 = u64::MAX; // -1
    let table = [
        (JEQ, [false, true]),
        (JGT, [true, false]),
        (JGE, [true, true]),
        (JSET, [true, true]),
        (JNE, [true, false]),
        (JSGT, [false, false]),
        (JSGE, [false, true]),
        (JLT, [false, false]),
        (JLE, [false, true]),
        (JSLT, [true, false]),
        (JSLE, [true, true]),
    ];
    for (op, [vs_one, vs_self]) in table {
        assert_eq!(
            jumps(op, true, m1, Err(1)),
            vs_one,
            "op {op:#x}: -1 vs 1 (reg)"
        );
        assert_eq!(
            jumps(op, true, m1, Ok(1)),
            vs_one,
            "op {op:#x}: -1 vs 1 (imm)"
        );
        assert_eq!(
            jumps(op, true, m1, Err(m1)),
            vs_self,
            "op {op:#x}: -1 vs -1 (reg)"
        );
        assert_eq!(
            jumps(op, true, m1, Ok(-1)),
            vs_self,
            "op {op:#x}: -1 vs -1 (imm, sign-extended)"
        );
    }
    assert!(!jumps(JSET, true, 0b1010, Ok(0b0101)));
}

#[test]
fn conditional_jumps_32_compare_low_halves() {
    let a = 0x1_0000_0005;
    assert!(jumps(JEQ, false, a, Ok(5)));
    assert!(!jumps(JEQ, true, a, Ok(5)));
    assert!(jumps(JEQ, false, a, Err(0xffff_0000_0000_0005)));
    let m1_low = 0x0000_0000_ffff_ffff; // -1 in the low half only
    assert!(jumps(JSLT, false, m1_low, Ok(1)));
    assert!(!jumps(JSLT, true, m1_low, Ok(1)));
    assert!(jumps(JSLE, false, m1_low, Err(0)));
    assert!(jumps(JSGT, false, 1, Err(m1_low)));
    assert!(jumps(JSGE, false, 1, Ok(-1)));
    assert!(jumps(JGT, false, m1_low, Ok(1)));
    assert!(jumps(JGE, false, 0x2_0000_0000, Ok(0)));
    assert!(jumps(JLT, false, 0x2_0000_0001, Ok(2)));
    assert!(jumps(JLE, false, 0x2_0000_0002, Err(2)));
    assert!(jumps(JNE, false, 0x2_0000_0002, Ok(3)));
    assert!(jumps(JSET, false, 0x1_0000_0001, Ok(1)));
    assert!(!jumps(JSET, false, 0x1_0000_0000, Err(0x1_0000_0000)));
}

#[test]
fn unconditional_jumps() {
    // Unverified: the skipped instructions are dead code, which the
    // verifier refuses.
    let code = prog(&[mov64(0, 1), ja(1), mov64(0, 2), exit()]);
    assert_eq!(run_unverified(&code).unwrap(), 1);
    let code = prog(&[mov64(0, 1), gotol(1), mov64(0, 2), exit()]);
    assert_eq!(run_unverified(&code).unwrap(), 1);
    // A jump over an lddw counts its two slots.
    let code = prog(&[mov64(0, 1), ja(2), lddw(0, 7), exit()]);
    assert_eq!(run_unverified(&code).unwrap(), 1);
}

#[test]
fn loads_and_stores_of_every_size() {
    let v = 0x8899_aabb_ccdd_eeff_u64 as i64 as u64;
    for (size, expect) in [(B, 0xff), (H, 0xeeff), (W, 0xccdd_eeff), (DW, v)] {
        let code = prog(&[lddw(1, v), stx(DW, 10, 1, -8), ldx(size, 0, 10, -8), exit()]);
        assert_eq!(run(&code).unwrap(), expect, "ldx size {size:#x}");
    }
    // Stores of each size touch only their bytes.
    for (size, expect) in [
        (B, 0x1111_1111_1111_11ff),
        (H, 0x1111_1111_1111_eeff),
        (W, 0x1111_1111_ccdd_eeff),
    ] {
        let code = prog(&[
            lddw(1, 0x1111_1111_1111_1111),
            stx(DW, 10, 1, -8),
            lddw(2, v),
            stx(size, 10, 2, -8),
            ldx(DW, 0, 10, -8),
            exit(),
        ]);
        assert_eq!(run(&code).unwrap(), expect, "stx size {size:#x}");
    }
    // ST with DW sign-extends its immediate.
    let code = prog(&[st(DW, 10, -8, -2), ldx(DW, 0, 10, -8), exit()]);
    assert_eq!(run(&code).unwrap(), (-2i64) as u64);
    let code = prog(&[
        st(DW, 10, -8, 0),
        st(W, 10, -8, -1),
        ldx(DW, 0, 10, -8),
        exit(),
    ]);
    assert_eq!(run(&code).unwrap(), 0xffff_ffff);
    let code = prog(&[
        st(DW, 10, -8, 0),
        st(H, 10, -6, 0x1234),
        st(B, 10, -1, 0x56),
        ldx(DW, 0, 10, -8),
        exit(),
    ]);
    assert_eq!(run(&code).unwrap(), 0x5600_0000_1234_0000);
}

#[test]
fn sign_extending_loads() {
    for (size, expect) in [
        (B, 0xffff_ffff_ffff_ff80),
        (H, 0xffff_ffff_ffff_8080),
        (W, 0xffff_ffff_8080_8080),
    ] {
        let code = prog(&[
            lddw(1, 0x8080_8080_8080_8080),
            stx(DW, 10, 1, -8),
            ldxsx(size, 0, 10, -8),
            exit(),
        ]);
        assert_eq!(run(&code).unwrap(), expect, "ldxsx size {size:#x}");
    }
    let code = prog(&[
        lddw(1, 0x7f),
        stx(DW, 10, 1, -8),
        ldxsx(B, 0, 10, -8),
        exit(),
    ]);
    assert_eq!(run(&code).unwrap(), 0x7f);
}

/// Runs an atomic on a stack slot holding `mem`, with `src` in r1 and `r0`
/// in r0; returns (r0, r1, memory after).
fn atomic_case(size: u8, op: i32, mem: u64, src: u64, r0: u64) -> (u64, u64, u64) {
    let run_to = |result: u8| {
        let code = prog(&[
            lddw(2, mem),
            stx(DW, 10, 2, -8),
            lddw(1, src),
            lddw(0, r0),
            atomic(size, op, 10, 1, -8),
            if result == 2 {
                ldx(DW, 2, 10, -8)
            } else {
                mov64(3, 0)
            },
            mov64_reg(0, result),
            exit(),
        ]);
        run(&code).unwrap()
    };
    (run_to(0), run_to(1), run_to(2))
}

#[test]
fn atomics_64() {
    let mem = 0b1100;
    let src = 0b1010;
    for (op, after) in [
        (0x00, mem + src),
        (0x40, mem | src),
        (0x50, mem & src),
        (0xa0, mem ^ src),
    ] {
        let (_, r1, m) = atomic_case(DW, op, mem, src, 0);
        assert_eq!(m, after, "op {op:#x}");
        assert_eq!(r1, src, "op {op:#x} without FETCH leaves src");
        let (_, r1, m) = atomic_case(DW, op | FETCH, mem, src, 0);
        assert_eq!(m, after, "op {op:#x} | FETCH");
        assert_eq!(r1, mem, "op {op:#x} | FETCH returns the old value");
    }
    let (_, r1, m) = atomic_case(DW, XCHG, 1, 2, 0);
    assert_eq!((r1, m), (1, 2));
    // cmpxchg: r0 == *mem, so src is written; r0 gets the old value.
    let (r0, _, m) = atomic_case(DW, CMPXCHG, 5, 9, 5);
    assert_eq!((r0, m), (5, 9));
    // cmpxchg: r0 != *mem, so memory is unchanged; r0 still gets it.
    let (r0, _, m) = atomic_case(DW, CMPXCHG, 5, 9, 6);
    assert_eq!((r0, m), (5, 5));
}

#[test]
fn atomics_32_touch_four_bytes_and_zero_extend() {
    let mem = 0xaaaa_aaaa_ffff_fffe;
    let (_, r1, m) = atomic_case(W, FETCH, mem, 3, 0);
    assert_eq!(m, 0xaaaa_aaaa_0000_0001, "wraps within the low word");
    assert_eq!(r1, 0xffff_fffe, "old value zero-extended");
    for (op, after) in [
        (0x40, 0xaaaa_aaaa_ffff_ffff),
        (0x50, 0xaaaa_aaaa_ffff_fffe),
        (0xa0, 0xaaaa_aaaa_0000_0001),
    ] {
        let (_, r1, m) = atomic_case(W, op | FETCH, mem, u64::MAX, 0);
        assert_eq!(m, after, "op {op:#x}");
        assert_eq!(r1, 0xffff_fffe);
    }
    let (_, r1, m) = atomic_case(W, 0x40, mem, 1, 0);
    assert_eq!((r1, m), (1, 0xaaaa_aaaa_ffff_ffff));
    let (_, r1, m) = atomic_case(W, XCHG, mem, 0x1_0000_0007, 0);
    assert_eq!((r1, m), (0xffff_fffe, 0xaaaa_aaaa_0000_0007));
    // cmpxchg compares the low words: r0's upper half is ignored.
    let (r0, _, m) = atomic_case(W, CMPXCHG, mem, 7, 0x1234_5678_ffff_fffe);
    assert_eq!((r0, m), (0xffff_fffe, 0xaaaa_aaaa_0000_0007));
    let (r0, _, m) = atomic_case(W, CMPXCHG, mem, 7, 0);
    assert_eq!((r0, m), (0xffff_fffe, mem));
}

fn sum_helper(
    _: &mut Memory<'_, '_>,
    a: u64,
    b: u64,
    c: u64,
    d: u64,
    e: u64,
) -> Result<u64, exo_bpf::HelperError> {
    Ok(a + 10 * b + 100 * c + 1000 * d + 10000 * e)
}

#[test]
fn helper_calls_get_five_arguments() {
    let mut helpers = Helpers::new();
    helpers
        .register(
            77,
            Helper {
                name: "sum",
                proto: HelperProto {
                    args: [ArgType::Scalar; 5],
                    ret: RetType::Scalar,
                },
                func: sum_helper,
            },
        )
        .unwrap();
    let code = prog(&[
        mov64(1, 1),
        mov64(2, 2),
        mov64(3, 3),
        mov64(4, 4),
        mov64(5, 5),
        call(77),
        exit(),
    ]);
    let maps = MapSet::new();
    let config = Config {
        helpers: &helpers,
        maps: &maps,
        context: ContextLayout::default(),
    };
    let program = Program::load(&code, &config).unwrap();
    assert_eq!(run_both(&program).unwrap(), 54321);
}

#[test]
fn local_calls_get_their_own_frame_and_keep_callee_saved_registers() {
    let code = prog(&[
        // main: r6 = 6; *(r10-8) = 1; r1 = 5; call f; r0 += *(r10-8); r0 += r6; exit
        mov64(6, 6),
        st(DW, 10, -8, 1),
        mov64(1, 5),
        call_local(4),
        ldx(DW, 1, 10, -8),
        alu64_reg(ADD, 0, 1),
        alu64_reg(ADD, 0, 6),
        exit(),
        // f: *(r10-8) = 100; r6 = 1000; r0 = r1 * 2; r0 += *(r10-8); exit
        st(DW, 10, -8, 100),
        mov64(6, 1000),
        mov64_reg(0, 1),
        alu64_imm(MUL, 0, 2),
        ldx(DW, 2, 10, -8),
        alu64_reg(ADD, 0, 2),
        exit(),
    ]);
    // 5 * 2 + 100 from f, then + 1 (main's slot untouched) + 6 (r6 restored).
    assert_eq!(run(&code).unwrap(), 117);
}

#[test]
fn runtime_guards_of_unverified_programs() {
    // Infinite loop: the budget ends it.
    let spin = prog(&[mov64(0, 0), ja(-1), exit()]);
    assert!(matches!(
        run_unverified(&spin),
        Err(ExecError::BudgetExhausted { .. })
    ));
    // Unbounded recursion: the frame limit ends it.
    let recurse = prog(&[call_local(-1), exit()]);
    assert!(matches!(
        run_unverified(&recurse),
        Err(ExecError::CallDepthExceeded { pc: 0 })
    ));
    // A wild store is a fault, not undefined behaviour.
    let wild = prog(&[lddw(1, 0xdead_beef), st(DW, 1, 0, 1), mov64(0, 0), exit()]);
    assert!(matches!(
        run_unverified(&wild),
        Err(ExecError::Memory { pc: 2, .. })
    ));
    // Past the frame.
    let over = prog(&[st(DW, 10, 0, 1), mov64(0, 0), exit()]);
    assert!(matches!(
        run_unverified(&over),
        Err(ExecError::Memory { pc: 0, .. })
    ));
    // A jump into the second half of an lddw.
    let mid = prog(&[ja(1), lddw(0, 1), exit()]);
    assert!(matches!(
        run_unverified(&mid),
        Err(ExecError::BadPc { pc: 2 })
    ));
    // Running off the end.
    let off_end = prog(&[mov64(0, 0)]);
    assert!(matches!(
        run_unverified(&off_end),
        Err(ExecError::BadPc { pc: 1 })
    ));
}

const OPS: [(u8, AluOp); 12] = [
    (ADD, AluOp::Add),
    (SUB, AluOp::Sub),
    (MUL, AluOp::Mul),
    (DIV, AluOp::Div),
    (OR, AluOp::Or),
    (AND, AluOp::And),
    (LSH, AluOp::Lsh),
    (RSH, AluOp::Rsh),
    (MOD, AluOp::Mod),
    (XOR, AluOp::Xor),
    (MOV, AluOp::Mov),
    (ARSH, AluOp::Arsh),
];

fn interesting() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(MIN64),
        Just(0x8000_0000),
        Just(0xffff_ffff),
        (0u64..70),
    ]
}

proptest! {
    /// The interpreter's specialised ops agree with the reference
    /// semantics, for every operation, width and operand kind, and with
    /// the verifier's constant folding (it must accept, since the values
    /// are constants).
    #[test]
    fn interpreter_matches_reference(i in 0usize..12, wide: bool, a in interesting(), b in interesting(), k: i32) {
        let (op, alu) = OPS[i];
        let width = if wide { Width::W64 } else { Width::W32 };
        prop_assert_eq!(alu_reg(wide, op, a, b), semantics::alu(width, alu, a, b));
        let kb = if wide { k as i64 as u64 } else { u64::from(k as u32) };
        prop_assert_eq!(alu_imm(wide, op, a, k), semantics::alu(width, alu, a, kb));
        let sdiv = signed(DIV, wide, a, Err(b));
        prop_assert_eq!(sdiv, semantics::alu(width, AluOp::SDiv, a, b));
        let smod = signed(MOD, wide, a, Ok(k));
        prop_assert_eq!(smod, semantics::alu(width, AluOp::SMod, a, kb));
    }
}
