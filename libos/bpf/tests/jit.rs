//! The JIT (x86_64 or aarch64, whichever the target has) against the
//! interpreter.
//!
//! Every program the semantics tests run through `common::run` already
//! goes through both engines (see `common::run_both`), and the random
//! programs of `props.rs` do too. This file adds random straight-line and
//! branching programs over all ten general registers (the cases where
//! register assignment matters: `rax`/`rdx` around division, `rcx` around
//! shifts on x86_64, spilled registers around memory callouts on both),
//! the budget's exact stopping point, helper calls, map side effects, and
//! code too large for short conditional branches.
#![cfg(all(
    feature = "jit",
    feature = "std",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "linux"
))]

mod common;

use common::*;
use exo_bpf::{
    ArrayMap, ContextLayout, ExecError, HashMap, Helpers, Input, JitProgram, Map, MapSet, Program,
    Vm,
};
use proptest::prelude::*;

fn both(program: &Program, budget: u64) -> (Result<u64, ExecError>, Result<u64, ExecError>) {
    let jit = JitProgram::compile_host(program).expect("JIT compiles");
    let interpreted = Vm::new().with_budget(budget).run(program, Input::default());
    let jitted = Vm::new()
        .with_budget(budget)
        .run_jit(&jit, Input::default());
    (interpreted, jitted)
}

fn load(code: &[u8]) -> Program {
    let helpers = Helpers::with_maps();
    let maps = MapSet::new();
    Program::load(code, &config(&helpers, &maps, ContextLayout::default())).expect("verifies")
}

#[test]
fn the_jit_runs_code() {
    let program = load(&prog(&[mov64(0, 6), alu64_imm(MUL, 0, 7), exit()]));
    let jit = JitProgram::compile_host(&program).unwrap();
    assert!(jit.code_len() > 0);
    assert_eq!(Vm::new().run_jit(&jit, Input::default()), Ok(42));
}

/// `r0 = 0; for (r1 = 0; r1 < 100; r1++) r0 += r1; exit`
fn counted_loop() -> Vec<u8> {
    prog(&[
        mov64(0, 0),
        mov64(1, 0),
        alu64_reg(ADD, 0, 1),
        alu64_imm(ADD, 1, 1),
        jmp_imm(JLT, 1, 100, -3),
        exit(),
    ])
}

#[test]
fn the_budget_stops_at_the_same_instruction() {
    let program = load(&counted_loop());
    for budget in 0..40 {
        let (a, b) = both(&program, budget);
        assert_eq!(a, b, "budget {budget}");
    }
    for budget in [301, 302, 303, 304, 10_000] {
        let (a, b) = both(&program, budget);
        assert_eq!(a, b, "budget {budget}");
    }
    assert_eq!(both(&program, 10_000).1, Ok(4950));
}

#[test]
fn map_side_effects_match() {
    // key = 0 on the stack; v = lookup(map, &key); if v { *v += 5; r0 = *v }
    let code = prog(&[
        st(W, 10, -4, 0),
        lddw_pseudo(1, 1, 0, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -4),
        call(1),
        jmp_imm(JEQ, 0, 0, 4),
        mov64(1, 5),
        atomic(DW, 0, 0, 1, 0),
        ldx(DW, 0, 0, 0),
        exit(),
        mov64(0, 0),
        exit(),
    ]);
    let helpers = Helpers::with_maps();
    let mut maps = MapSet::new();
    maps.insert(Box::new(ArrayMap::new(8, 1).unwrap()));
    let program =
        Program::load(&code, &config(&helpers, &maps, ContextLayout::default())).expect("verifies");
    let jit = JitProgram::compile_host(&program).unwrap();
    let mut vm = Vm::new();
    assert_eq!(
        vm.run(&program, Input::default().with_maps(&mut maps)),
        Ok(5)
    );
    assert_eq!(
        vm.run(&program, Input::default().with_maps(&mut maps)),
        Ok(10)
    );
    maps.get_mut(0).unwrap().values_mut().fill(0);
    for _ in 0..3 {
        let r = vm.run_jit(&jit, Input::default().with_maps(&mut maps));
        assert_eq!(r, Ok(5));
        let r = vm.run(&program, Input::default().with_maps(&mut maps));
        assert_eq!(r, Ok(10));
        let r = vm.run_jit(&jit, Input::default().with_maps(&mut maps));
        assert_eq!(r, Ok(15));
        maps.get_mut(0).unwrap().values_mut().fill(0);
    }
}

#[test]
fn faults_inside_nested_calls_unwind() {
    // main calls f calls g; g stores out of bounds.
    let code = prog(&[
        mov64(6, 1),
        call_local(1),
        exit(),
        call_local(1),
        exit(),
        st(DW, 10, 8, 1),
        exit(),
    ]);
    let helpers = Helpers::with_maps();
    let maps = MapSet::new();
    let program =
        Program::load_unverified(&code, &config(&helpers, &maps, ContextLayout::default()))
            .unwrap();
    let (a, b) = both(&program, 1000);
    assert!(matches!(a, Err(ExecError::Memory { pc: 5, .. })), "{a:?}");
    assert_eq!(a, b);
    // The VM (and the host stack) is fine afterwards.
    let (a, b) = both(&load(&counted_loop()), 10_000);
    assert_eq!((a, b), (Ok(4950), Ok(4950)));
}

/// Code longer than a conditional branch reaches on aarch64 (±1 MiB):
/// a loop whose exit test jumps forward over 20,000 stores and whose
/// back edge jumps back over them, with budget stubs placed after all of
/// it. The aarch64 JIT must switch to long branches; the result, the
/// stopping point of every budget and the stores must still match.
#[test]
fn code_beyond_the_short_branch_range_runs() {
    const STORES: usize = 20_000;
    let mut parts = vec![mov64(0, 0), mov64(6, 0)];
    // Slot 2: leave once r6 > 1.
    parts.push(jmp_imm(JGT, 6, 1, (STORES + 2) as i16));
    parts.push(alu64_imm(ADD, 6, 1));
    for i in 0..STORES {
        parts.push(st(W, 10, -8, i as i32));
    }
    parts.push(jmp_imm(JNE, 6, 0, -(STORES as i16) - 3));
    parts.push(mov64_reg(0, 6));
    parts.push(ldx(W, 1, 10, -8));
    parts.push(alu64_reg(ADD, 0, 1));
    parts.push(exit());
    let code = prog(&parts);
    let helpers = Helpers::with_maps();
    let maps = MapSet::new();
    let program =
        Program::load_unverified(&code, &config(&helpers, &maps, ContextLayout::default()))
            .unwrap();
    let jit = JitProgram::compile_host(&program).unwrap();
    assert!(jit.code_len() > 1 << 20, "{} bytes", jit.code_len());
    // Two set-up ops, two passes of the loop, the final test and four ops.
    let full = 2 + (STORES as u64 + 3) * 2 + 5;
    for budget in [
        0,
        1,
        2,
        3,
        4,
        5,
        1000,
        STORES as u64 + 4,
        STORES as u64 + 6,
        full - 1,
        full,
        1 << 20,
    ] {
        let (a, b) = both(&program, budget);
        assert_eq!(a, b, "budget {budget}");
    }
    assert_eq!(both(&program, full).1, Ok(2 + STORES as u64 - 1));
    assert!(matches!(
        both(&program, full - 1).1,
        Err(ExecError::BudgetExhausted { .. })
    ));
}

/// One random instruction over r0-r9 that the verifier accepts on
/// initialised scalars.
fn instruction() -> impl Strategy<Value = Vec<u8>> {
    const ALU: [u8; 12] = [ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, MOD, XOR, MOV, ARSH];
    let reg = 0u8..10;
    let imm = prop_oneof![any::<i32>(), Just(0), Just(-1), Just(i32::MIN), 0i32..70];
    prop_oneof![
        (0usize..12, any::<bool>(), reg.clone(), reg.clone()).prop_map(|(op, wide, d, s)| {
            if wide {
                alu64_reg(ALU[op], d, s)
            } else {
                alu32_reg(ALU[op], d, s)
            }
        }),
        (0usize..12, any::<bool>(), reg.clone(), imm.clone()).prop_map(|(op, wide, d, k)| {
            if wide {
                alu64_imm(ALU[op], d, k)
            } else {
                alu32_imm(ALU[op], d, k)
            }
        }),
        (
            any::<bool>(),
            any::<bool>(),
            reg.clone(),
            reg.clone(),
            imm.clone()
        )
            .prop_map(|(div, wide, d, s, k)| {
                let op = if div { DIV } else { MOD };
                if k & 1 == 0 {
                    signed_alu(op, wide, d, Err(s))
                } else {
                    signed_alu(op, wide, d, Ok(k))
                }
            }),
        (any::<bool>(), reg.clone()).prop_map(|(wide, d)| if wide {
            raw(NEG | 0x07, d, 0, 0, 0)
        } else {
            raw(NEG | 0x04, d, 0, 0, 0)
        }),
        (0usize..5, reg.clone(), reg.clone()).prop_map(|(i, d, s)| {
            let (wide, bits) = [(true, 8), (true, 16), (true, 32), (false, 8), (false, 16)][i];
            movsx(wide, bits, d, s)
        }),
        (0usize..9, reg.clone()).prop_map(|(i, d)| match i {
            0..3 => endian(false, [16, 32, 64][i], d),
            3..6 => endian(true, [16, 32, 64][i - 3], d),
            _ => bswap([16, 32, 64][i - 6], d),
        }),
        // A stack round trip through every size, signed and not.
        (0usize..7, reg.clone(), reg.clone()).prop_map(|(i, d, s)| {
            let load = match i {
                0..4 => ldx([B, H, W, DW][i], d, 10, -16),
                _ => ldxsx([B, H, W][i - 4], d, 10, -16),
            };
            prog(&[stx(DW, 10, s, -16), load])
        }),
    ]
}

fn jump() -> impl Strategy<Value = Vec<u8>> {
    const JMP: [u8; 11] = [JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, JLT, JLE, JSLT, JSLE];
    (
        0usize..11,
        0u8..4,
        0u8..10,
        0u8..10,
        prop_oneof![any::<i32>(), -2i32..3],
    )
        .prop_map(|(c, form, d, s, k)| match form {
            0 => jmp_imm(JMP[c], d, k, 1),
            1 => jmp_reg(JMP[c], d, s, 1),
            2 => jmp32_imm(JMP[c], d, k, 1),
            _ => jmp32_reg(JMP[c], d, s, 1),
        })
}

/// Initialises r0-r9, runs `body` (each piece optionally skipped by a
/// random forward jump), then folds every register into r0.
fn program(init: &[u64], body: &[(Vec<u8>, Option<Vec<u8>>)]) -> Vec<u8> {
    let mut parts = vec![st(DW, 10, -16, 0)];
    for (r, &v) in init.iter().enumerate() {
        parts.push(lddw(r as u8, v));
    }
    for (insn, jump) in body {
        if let Some(j) = jump {
            // Skip exactly this piece: patch the jump's offset.
            let slots = (insn.len() / 8) as i16;
            let mut j = j.clone();
            j[2..4].copy_from_slice(&slots.to_le_bytes());
            parts.push(j);
        }
        parts.push(insn.clone());
    }
    for r in 1..10 {
        parts.push(alu64_imm(MUL, 0, 31));
        parts.push(alu64_reg(XOR, 0, r));
    }
    parts.push(exit());
    prog(&parts)
}

fn interesting() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(0u64),
        Just(u64::MAX),
        Just(i64::MIN as u64),
        Just(0xffff_ffff),
        Just(0x8000_0000),
        0u64..70,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Random verified programs: identical results from both engines.
    #[test]
    fn random_programs_agree(
        init in prop::collection::vec(interesting(), 10),
        body in prop::collection::vec((instruction(), prop::option::of(jump())), 1..40),
    ) {
        let program = load(&program(&init, &body));
        let (a, b) = both(&program, 1 << 20);
        prop_assert_eq!(a, b);
    }

    /// The same programs with one slot overwritten, loaded unverified:
    /// wild jumps, calls, loads and stores fail identically.
    #[test]
    fn mutated_unverified_programs_agree(
        init in prop::collection::vec(interesting(), 10),
        body in prop::collection::vec((instruction(), prop::option::of(jump())), 1..20),
        slot: usize,
        bytes: [u8; 8],
    ) {
        let mut code = program(&init, &body);
        let at = slot % (code.len() / 8) * 8;
        code[at..at + 8].copy_from_slice(&bytes);
        let helpers = Helpers::with_maps();
        let maps = MapSet::new();
        let config = config(&helpers, &maps, ContextLayout::default());
        if let Ok(program) = Program::load_unverified(&code, &config) {
            let (a, b) = both(&program, 10_000);
            prop_assert_eq!(a, b);
        }
    }
}

/// The inline paths for stack, context and packet accesses against the
/// interpreter at every width and at offsets around each region's ends
/// (just inside, straddling, just outside, far outside), for loads,
/// sign-extending loads and stores, on writable and read-only contexts;
/// unverified, so the out-of-bounds cases reach run time.
#[test]
fn inline_accesses_match_at_region_edges() {
    const CTX: usize = 24;
    let widths = [(B, 1i16), (H, 2), (W, 4), (DW, 8)];
    let helpers = Helpers::with_maps();
    let maps = MapSet::new();
    let (mut cases, mut faults) = (0, 0);
    for writable in [false, true] {
        let layout = ContextLayout {
            size: CTX as u32,
            writable,
            packet: None,
        };
        let config = config(&helpers, &maps, layout);
        for &(size, n) in &widths {
            // (base register, offsets): r10 is the stack top, r1 the
            // context.
            let stack: Vec<i16> = vec![-600, -513, -512, -511, -256, -n - 1, -n, -n + 1, -1, 0, 8];
            let ctx: Vec<i16> = vec![
                -8,
                -1,
                0,
                1,
                CTX as i16 - n - 1,
                CTX as i16 - n,
                CTX as i16 - n + 1,
                CTX as i16,
                400,
            ];
            for (base, offsets) in [(10u8, stack), (1u8, ctx)] {
                for off in offsets {
                    let programs = [
                        // Store an immediate, load it back (zero-extended).
                        prog(&[
                            mov64(0, 0),
                            st(size, base, off, -0x1234_5678),
                            ldx(size, 0, base, off),
                            exit(),
                        ]),
                        // Store a register, load it back sign-extended.
                        prog(&[
                            lddw(3, 0x8081_8283_8485_8687),
                            stx(size, base, 3, off),
                            ldxsx(if size == DW { W } else { size }, 0, base, off),
                            exit(),
                        ]),
                        // A load of what the caller put there.
                        prog(&[ldx(size, 0, base, off), exit()]),
                    ];
                    for code in &programs {
                        let Ok(program) = Program::load_unverified(code, &config) else {
                            continue;
                        };
                        let jit = JitProgram::compile_host(&program).expect("compiles");
                        let start: Vec<u8> = (0..CTX as u8).map(|i| i.wrapping_mul(37)).collect();
                        let (mut c1, mut c2) = (start.clone(), start);
                        let a = Vm::new().run(&program, Input::context(&mut c1));
                        let b = Vm::new().run_jit(&jit, Input::context(&mut c2));
                        assert_eq!(a, b, "base r{base} off {off} width {n} writable {writable}");
                        assert_eq!(c1, c2, "context after: r{base} off {off} width {n}");
                        cases += 1;
                        faults += usize::from(a.is_err());
                    }
                }
            }
        }
    }
    assert!(cases > 150, "{cases} cases ran");
    assert!(
        faults > 50 && faults < cases - 50,
        "{faults} of {cases} faulted: both paths ran"
    );
}

/// `r10`-relative accesses after `r10` moved (possible only unverified)
/// and in a callee's frame take the right frame, inline or not.
#[test]
fn frame_accesses_follow_r10() {
    let helpers = Helpers::with_maps();
    let maps = MapSet::new();
    let config = config(&helpers, &maps, ContextLayout::default());
    let programs = [
        // r10 moved down 8: the same slot is r10-8 before, r10+0 after.
        prog(&[
            st(DW, 10, -16, 7),
            alu64_imm(ADD, 10, -8),
            ldx(DW, 0, 10, -8),
            exit(),
        ]),
        // r10 moved up a whole frame: frame 1's bytes, zero (never written).
        prog(&[
            st(DW, 10, -8, 9),
            lddw(10, 0x2_0000_0200),
            ldx(DW, 0, 10, -8),
            exit(),
        ]),
        // A callee writes its frame; the caller's slot is untouched, and
        // the callee's result comes back.
        prog(&[
            st(DW, 10, -8, 11),
            call_local(3),
            ldx(DW, 1, 10, -8),
            alu64_reg(ADD, 0, 1),
            exit(),
            st(DW, 10, -8, 100),
            ldx(DW, 0, 10, -8),
            exit(),
        ]),
    ];
    let expected = [Ok(7), Ok(0), Ok(111)];
    for (code, want) in programs.iter().zip(expected) {
        let program = Program::load_unverified(code, &config).expect("decodes");
        let (a, b) = both(&program, 10_000);
        assert_eq!(a, b, "engines agree");
        assert_eq!(a, want, "expected result");
    }
}

/// Two identical map sets, one per engine: map 1 an elastic hash map
/// (4-byte keys, 8-byte values), the others (0 and 2 to `arrays`) array
/// maps of `value_size` x `entries` holding a byte pattern.
fn twin_maps(arrays: usize, value_size: u32, entries: u32) -> (MapSet, MapSet) {
    let make = || {
        let mut maps = MapSet::new();
        for m in 0..=arrays {
            if m == 1 {
                maps.insert(Box::new(HashMap::elastic(4, 8, 4096).unwrap()));
                continue;
            }
            let mut a = ArrayMap::new(value_size, entries).unwrap();
            for (i, b) in a.values_mut().iter_mut().enumerate() {
                *b = (i * 7 + m) as u8;
            }
            maps.insert(Box::new(a));
        }
        maps
    };
    (make(), make())
}

/// Runs `code` (unverified) in both engines on twin map sets; asserts the
/// same result and the same map contents afterwards.
fn agree_on_maps(code: &[u8], maps: (MapSet, MapSet), what: &str) -> Result<u64, ExecError> {
    let (mut m1, mut m2) = maps;
    let helpers = Helpers::with_maps();
    let program = Program::load_unverified(code, &config(&helpers, &m1, ContextLayout::default()))
        .expect("loads");
    let jit = JitProgram::compile_host(&program).expect("compiles");
    let a = Vm::new().run(&program, Input::default().with_maps(&mut m1));
    let b = Vm::new().run_jit(&jit, Input::default().with_maps(&mut m2));
    assert_eq!(a, b, "{what}");
    for i in 0..m1.len() as u32 {
        let (x, y) = (m1.get(i).unwrap(), m2.get(i).unwrap());
        assert_eq!(x.values(), y.values(), "map {i} after: {what}");
    }
    a
}

/// Map values through the inline window (x86_64) and through the
/// callouts agree with the interpreter: array lookups with keys inside,
/// at and past `max_entries` (inline on x86_64), then a store and a load
/// at every width at offsets around the end of the value storage; the
/// same through an array map past the eight a run records (callouts) and
/// through a hash map (lookup by callout, values inline); unverified, so
/// the out-of-bounds cases reach run time.
#[test]
fn map_values_and_array_lookups_match() {
    const VALUE: i16 = 12;
    const ENTRIES: u32 = 3;
    let (mut cases, mut faults, mut misses) = (0, 0, 0);
    for map in [0i32, 9, 1] {
        let keys: &[i32] = if map == 1 { &[5] } else { &[0, 1, 2, 3, 7, -1] };
        for &key in keys {
            for (size, n) in [(B, 1i16), (H, 2), (W, 4), (DW, 8)] {
                for off in [
                    -8,
                    -1,
                    0,
                    3,
                    VALUE - n,
                    VALUE,
                    2 * VALUE - n + 1,
                    3 * VALUE - n,
                    3 * VALUE,
                    4096,
                ] {
                    let mut code = vec![];
                    if map == 1 {
                        // Put the key in the hash map first.
                        code.extend([
                            st(W, 10, -4, key),
                            st(DW, 10, -16, 0x1122_3344),
                            lddw_pseudo(1, 1, map, 0),
                            mov64_reg(2, 10),
                            alu64_imm(ADD, 2, -4),
                            mov64_reg(3, 10),
                            alu64_imm(ADD, 3, -16),
                            mov64(4, 0),
                            call(2),
                        ]);
                    }
                    code.extend([
                        st(W, 10, -4, key),
                        lddw_pseudo(1, 1, map, 0),
                        mov64_reg(2, 10),
                        alu64_imm(ADD, 2, -4),
                        call(1),
                        jmp_imm(JEQ, 0, 0, 3),
                        st(size, 0, off, -0x5a5a_5a5b),
                        ldx(size, 0, 0, off),
                        exit(),
                        mov64(0, 0x777),
                        exit(),
                    ]);
                    let r = agree_on_maps(
                        &prog(&code),
                        twin_maps(10, VALUE as u32, ENTRIES),
                        &format!("map {map} key {key} off {off} width {n}"),
                    );
                    cases += 1;
                    faults += usize::from(r.is_err());
                    misses += usize::from(r == Ok(0x777));
                }
            }
        }
    }
    assert!(cases > 400, "{cases} cases");
    assert!(
        faults > 50 && misses > 50,
        "{faults} faults, {misses} misses of {cases}"
    );
}

/// A hash map that grows while the program runs (its storage moves under
/// a pointer the program already holds): the JIT records the storage
/// again after each helper, so its loads through the old pointer read
/// what the interpreter reads.
#[test]
fn map_storage_moving_under_the_program_matches() {
    // r6 = lookup(key 1) after inserting it; insert keys 2..300; then load
    // through r6 and look key 1 up again.
    let update = |key_reg: u8| {
        vec![
            stx(W, 10, key_reg, -4),
            stx(DW, 10, key_reg, -16),
            lddw_pseudo(1, 1, 1, 0),
            mov64_reg(2, 10),
            alu64_imm(ADD, 2, -4),
            mov64_reg(3, 10),
            alu64_imm(ADD, 3, -16),
            mov64(4, 0),
            call(2),
        ]
    };
    let mut code = vec![mov64(7, 1)];
    code.extend(update(7));
    code.extend([
        lddw_pseudo(1, 1, 1, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -4),
        call(1),
        mov64_reg(6, 0),
        mov64(7, 2),
    ]);
    let body = update(7);
    let back = -(body.iter().map(|i| i.len() / 8).sum::<usize>() as i16) - 2;
    code.extend(body);
    code.extend([
        alu64_imm(ADD, 7, 1),
        jmp_imm(JLT, 7, 300, back),
        ldx(DW, 8, 6, 0),
        st(W, 10, -4, 1),
        lddw_pseudo(1, 1, 1, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -4),
        call(1),
        ldx(DW, 0, 0, 0),
        alu64_reg(ADD, 0, 8),
        exit(),
    ]);
    let r = agree_on_maps(&prog(&code), twin_maps(10, 12, 3), "growing hash map");
    assert!(r.is_ok(), "{r:?}");
}
