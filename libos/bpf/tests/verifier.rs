//! The verifier: programs it accepts (and that then run correctly), and one
//! refusal per reason, each checked for the instruction index it names.

mod common;

use common::*;
use exo_bpf::isa::Reg;
use exo_bpf::verifier::LoopReason as L;
use exo_bpf::{
    ArrayMap, ContextLayout, DecodeErrorKind, HashMap, Helpers, Input, Map, MapSet, PacketFields,
    Program, VerifyError, VerifyErrorKind as K, Vm,
};

/// Context: packet pointers at 0 and 8, then a u64 at 16.
const PACKET_CTX: ContextLayout = ContextLayout {
    size: 24,
    writable: false,
    packet: Some(PacketFields {
        data: 0,
        data_end: 8,
        writable: false,
    }),
};

#[track_caller]
fn refused(code: &[u8], index: usize, kind: K) {
    assert_eq!(rejection(code), VerifyError { index, kind });
}

#[track_caller]
fn refused_with(code: &[u8], maps: &MapSet, ctx: ContextLayout, index: usize, kind: K) {
    assert_eq!(
        verify_with(code, maps, ctx),
        Err(VerifyError { index, kind })
    );
}

fn one_hash_map() -> MapSet {
    let mut maps = MapSet::new();
    maps.insert(Box::new(HashMap::new(4, 8, 16).unwrap()));
    maps
}

/// `r1 = map 0; r2 = r10 - 4 (key, zeroed); r0 = lookup(r1, r2)`, 6 slots.
fn lookup_prologue() -> Vec<u8> {
    prog(&[
        st(W, 10, -4, 0),
        lddw_pseudo(1, 1, 0, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -4),
        call(1),
    ])
}

#[test]
fn register_and_stack_initialisation() {
    refused(
        &prog(&[mov64_reg(0, 2), exit()]),
        0,
        K::UninitRegister(Reg::R2),
    );
    refused(&exit(), 0, K::UninitRegister(Reg::R0));
    refused(&prog(&[ldx(DW, 0, 10, -8), exit()]), 0, K::UninitStack(-8));
    // Writing 4 of 8 bytes leaves the rest uninitialised.
    refused(
        &prog(&[st(W, 10, -8, 1), ldx(DW, 0, 10, -8), exit()]),
        1,
        K::UninitStack(-4),
    );
    // Only some paths initialise r0.
    let code = prog(&[mov64(1, 0), jmp_imm(JEQ, 1, 0, 1), mov64(0, 1), exit()]);
    refused(&code, 3, K::UninitRegister(Reg::R0));
    // After a helper call r1-r5 are clobbered.
    let code = prog(&[lookup_prologue(), mov64_reg(0, 2), exit()]);
    refused_with(
        &code,
        &one_hash_map(),
        ContextLayout::default(),
        6,
        K::UninitRegister(Reg::R2),
    );
}

#[test]
fn frame_pointer_and_stack_bounds() {
    refused(
        &prog(&[mov64(10, 0), mov64(0, 0), exit()]),
        0,
        K::FramePointerWrite,
    );
    refused(
        &prog(&[st(DW, 10, -520, 0), mov64(0, 0), exit()]),
        0,
        K::StackTooLarge(-520),
    );
    refused(
        &prog(&[mov64(0, 0), st(DW, 10, -4, 0), exit()]),
        1,
        K::StackOutOfBounds(-4),
    );
    refused(
        &prog(&[mov64(0, 0), st(B, 10, 0, 0), exit()]),
        1,
        K::StackOutOfBounds(0),
    );
    // The whole 512 bytes are usable.
    assert_eq!(
        run(&prog(&[st(DW, 10, -512, 3), ldx(DW, 0, 10, -512), exit()])).unwrap(),
        3
    );
}

#[test]
fn context_access() {
    let ctx = ContextLayout::read_only(16);
    let maps = MapSet::new();
    assert_eq!(
        verify_with(&prog(&[ldx(DW, 0, 1, 8), exit()]), &maps, ctx),
        Ok(())
    );
    refused_with(
        &prog(&[ldx(DW, 0, 1, 16), exit()]),
        &maps,
        ctx,
        0,
        K::OutOfBounds {
            region: "context",
            offset: 16,
            size: 8,
        },
    );
    refused_with(
        &prog(&[ldx(W, 0, 1, -4), exit()]),
        &maps,
        ctx,
        0,
        K::OutOfBounds {
            region: "context",
            offset: -4,
            size: 4,
        },
    );
    refused_with(
        &prog(&[mov64(0, 0), st(W, 1, 0, 1), exit()]),
        &maps,
        ctx,
        1,
        K::ReadOnly("context"),
    );
    let variable = prog(&[
        ldx(B, 2, 1, 0),
        alu64_reg(ADD, 1, 2),
        ldx(B, 0, 1, 0),
        exit(),
    ]);
    refused_with(&variable, &maps, ctx, 2, K::VariableContextOffset);
    // A writable context still keeps its packet fields read-only.
    let writable = ContextLayout {
        writable: true,
        ..PACKET_CTX
    };
    assert_eq!(
        verify_with(
            &prog(&[mov64(0, 0), st(DW, 1, 16, 1), exit()]),
            &maps,
            writable
        ),
        Ok(())
    );
    refused_with(
        &prog(&[mov64(0, 0), st(W, 1, 4, 1), exit()]),
        &maps,
        writable,
        1,
        K::ReadOnly("context"),
    );
}

#[test]
fn pointers_are_not_numbers() {
    let ctx = ContextLayout::read_only(16);
    let maps = MapSet::new();
    refused(
        &prog(&[mov64(1, 5), ldx(DW, 0, 1, 0), exit()]),
        1,
        K::NotAPointer(Reg::R1),
    );
    refused_with(
        &prog(&[alu64_imm(MUL, 1, 2), mov64(0, 0), exit()]),
        &maps,
        ctx,
        0,
        K::PointerArithmetic(Reg::R1),
    );
    refused_with(
        &prog(&[alu32_imm(ADD, 1, 2), mov64(0, 0), exit()]),
        &maps,
        ctx,
        0,
        K::PointerArithmetic(Reg::R1),
    );
    refused_with(
        &prog(&[mov64_reg(0, 1), exit()]),
        &maps,
        ctx,
        1,
        K::PointerLeak(Reg::R0),
    );
    refused_with(
        &prog(&[alu32_reg(MOV, 0, 1), exit()]),
        &maps,
        ctx,
        0,
        K::PointerLeak(Reg::R1),
    );
    // A pointer may be spilled to a whole stack slot and filled back...
    let spill = prog(&[
        stx(DW, 10, 1, -8),
        ldx(DW, 2, 10, -8),
        ldx(DW, 0, 2, 0),
        exit(),
    ]);
    assert_eq!(verify_with(&spill, &maps, ctx), Ok(()));
    // ...but not stored in part, or where it would become a number.
    refused_with(
        &prog(&[stx(W, 10, 1, -8), mov64(0, 0), exit()]),
        &maps,
        ctx,
        0,
        K::PointerLeak(Reg::R1),
    );
    let writable = ContextLayout {
        writable: true,
        ..ctx
    };
    refused_with(
        &prog(&[stx(DW, 1, 1, 0), mov64(0, 0), exit()]),
        &maps,
        writable,
        0,
        K::PointerLeak(Reg::R1),
    );
    // Pointer difference is a number.
    let diff = prog(&[
        mov64_reg(2, 1),
        alu64_imm(ADD, 2, 8),
        mov64_reg(0, 2),
        alu64_reg(SUB, 0, 1),
        exit(),
    ]);
    assert_eq!(verify_with(&diff, &maps, ctx), Ok(()));
}

#[test]
fn maps_and_helpers() {
    let maps = one_hash_map();
    let none = ContextLayout::default();
    // Dereferencing the lookup result before testing it.
    let code = prog(&[lookup_prologue(), ldx(DW, 0, 0, 0), exit()]);
    refused_with(&code, &maps, none, 6, K::NullDereference(Reg::R0));
    // Tested, in bounds: fine. Out of the 8-byte value: refused.
    let ok = prog(&[
        lookup_prologue(),
        mov64_reg(1, 0),
        mov64(0, 0),
        jmp_imm(JEQ, 1, 0, 1),
        ldx(DW, 0, 1, 0),
        exit(),
    ]);
    assert_eq!(verify_with(&ok, &maps, none), Ok(()));
    let oob = prog(&[
        lookup_prologue(),
        mov64_reg(1, 0),
        mov64(0, 0),
        jmp_imm(JEQ, 1, 0, 1),
        ldx(W, 0, 1, 6),
        exit(),
    ]);
    refused_with(
        &oob,
        &maps,
        none,
        9,
        K::OutOfBounds {
            region: "map value",
            offset: 6,
            size: 4,
        },
    );
    // Arithmetic before the null test is refused.
    let early = prog(&[lookup_prologue(), alu64_imm(ADD, 0, 1), exit()]);
    refused_with(&early, &maps, none, 6, K::PointerArithmetic(Reg::R0));
    // Helper arguments.
    refused(&prog(&[call(999), exit()]), 0, K::UnknownHelper(999));
    let not_map = prog(&[mov64(1, 0), mov64(2, 0), call(1), exit()]);
    refused_with(
        &not_map,
        &maps,
        none,
        2,
        K::HelperArg {
            arg: 1,
            reason: "expected a map",
        },
    );
    let key_uninit = prog(&[
        lddw_pseudo(1, 1, 0, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -4),
        call(1),
        exit(),
    ]);
    refused_with(&key_uninit, &maps, none, 4, K::UninitStack(-4));
    let key_scalar = prog(&[lddw_pseudo(1, 1, 0, 0), mov64(2, 0), call(1), exit()]);
    refused_with(
        &key_scalar,
        &maps,
        none,
        3,
        K::HelperArg {
            arg: 2,
            reason: "expected a pointer to memory",
        },
    );
    refused(
        &prog(&[lddw_pseudo(1, 1, 5, 0), mov64(0, 0), exit()]),
        0,
        K::UnknownMap(5),
    );
}

#[test]
fn control_flow_structure() {
    refused(
        &prog(&[mov64(0, 0), exit(), mov64(0, 1), exit()]),
        2,
        K::Unreachable,
    );
    refused(&prog(&[mov64(0, 0), ja(5), exit()]), 1, K::JumpOutOfRange);
    refused(
        &prog(&[mov64(0, 0), jmp_imm(JEQ, 0, 0, -3), exit()]),
        1,
        K::JumpOutOfRange,
    );
    refused(
        &prog(&[mov64(0, 0), jmp_imm(JEQ, 0, 0, 1), lddw(1, 1), exit()]),
        1,
        K::JumpIntoLddw,
    );
    refused(&prog(&[mov64(0, 0)]), 0, K::FallsOffEnd);
    refused(
        &prog(&[mov64(0, 0), jmp_imm(JEQ, 0, 1, -2)]),
        1,
        K::FallsOffEnd,
    );
    // main calls f (at 3); main jumps into f.
    let across = prog(&[
        call_local(2),
        jmp_imm(JEQ, 0, 0, 2),
        exit(),
        mov64(0, 0),
        exit(),
    ]);
    refused(&across, 1, K::JumpAcrossFunctions);
    // f calls itself.
    let recursive = prog(&[call_local(1), exit(), call_local(-1), mov64(0, 0), exit()]);
    refused(&recursive, 2, K::RecursiveCall);
    // A function nothing calls.
    refused(
        &prog(&[mov64(0, 0), exit(), mov64(0, 0), exit()]),
        2,
        K::Unreachable,
    );
    refused(&prog(&[raw(0x20, 0, 0, 0, 0), exit()]), 0, K::Unsupported);
    refused(
        &prog(&[mov64(0, 0), raw(0xff, 0, 0, 0, 0), exit()]),
        1,
        K::Decode(DecodeErrorKind::UnknownOpcode(0xff)),
    );
}

#[test]
fn call_depth_is_limited_to_eight_frames() {
    // Function i (2 slots: call next; exit) calls i+1; the last returns 0.
    let chain = |functions: usize| {
        let mut parts = Vec::new();
        for _ in 0..functions - 1 {
            parts.push(call_local(1));
            parts.push(exit());
        }
        parts.push(mov64(0, 0));
        parts.push(exit());
        prog(&parts)
    };
    assert_eq!(run(&chain(8)).unwrap(), 0);
    refused(&chain(9), 14, K::CallTooDeep);
}

#[test]
fn dead_branches_are_pruned() {
    // r1 is known to be 5, so the branch to the bad load is never taken.
    let code = prog(&[
        mov64(1, 5),
        mov64(0, 0),
        jmp_imm(JEQ, 1, 6, 1),
        exit(),
        ldx(DW, 0, 10, -8),
        exit(),
    ]);
    assert_eq!(run(&code).unwrap(), 0);
}

#[test]
fn too_many_pending_branches() {
    let mut parts = vec![mov64(0, 0)];
    for i in 0..65 {
        parts.push(jmp_imm(JEQ, 0, i, 64));
    }
    for _ in 0..65 {
        parts.push(mov64(0, 1));
    }
    parts.push(exit());
    refused(&prog(&parts), 65, K::TooComplex);
}

/// `r0 = 0; r1 = start; loop: r0 += r1; r1 += step; if r1 <op> bound goto loop; exit`
fn counted(start: i32, step: i32, op: u8, bound: i32) -> Vec<u8> {
    prog(&[
        mov64(0, 0),
        mov64(1, start),
        alu64_reg(ADD, 0, 1),
        alu64_imm(ADD, 1, step),
        jmp_imm(op, 1, bound, -3),
        exit(),
    ])
}

#[test]
fn bounded_loops_run() {
    assert_eq!(run(&counted(0, 1, JLT, 10)).unwrap(), 45);
    assert_eq!(run(&counted(0, 1, JLE, 10)).unwrap(), 55);
    assert_eq!(run(&counted(0, 2, JNE, 10)).unwrap(), 20);
    assert_eq!(run(&counted(10, -1, JGT, 0)).unwrap(), 55);
    assert_eq!(
        run(&counted(10, -3, JSGE, -5)).unwrap(),
        (10 + 7 + 4 + 1 - 2 - 5) as u64
    );
    assert_eq!(
        run(&counted(-5, 1, JSLT, 5)).unwrap(),
        (-5i64..5).sum::<i64>() as u64
    );
    assert_eq!(run(&counted(0, 1, JLT, 1)).unwrap(), 0);
    // 32-bit counter and comparison.
    let code = prog(&[
        mov64(0, 0),
        alu32_imm(MOV, 1, 0),
        alu64_reg(ADD, 0, 1),
        alu32_imm(ADD, 1, 1),
        jmp32_imm(JLT, 1, 100, -3),
        exit(),
    ]);
    assert_eq!(run(&code).unwrap(), 4950);
    // Bound in a register, a break, and a stack buffer indexed by the counter.
    let code = prog(&[
        mov64(0, 0),
        mov64(1, 0),
        mov64(6, 8),
        st(DW, 10, -8, 0x0102_0304),
        // loop: r2 = r10 - 8 + r1; r3 = *(u8 *)r2; r0 += r3; if r0 > 100 break
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -8),
        alu64_reg(ADD, 2, 1),
        ldx(B, 3, 2, 0),
        alu64_reg(ADD, 0, 3),
        jmp_imm(JGT, 0, 100, 2),
        alu64_imm(ADD, 1, 1),
        jmp_reg(JLT, 1, 6, -8),
        exit(),
    ]);
    assert_eq!(run(&code).unwrap(), 10);
}

#[test]
fn nested_loops_run() {
    // for i in 0..4 { for j in 0..3 { r0 += 1 } }
    let code = prog(&[
        mov64(0, 0),
        mov64(1, 0),
        mov64(2, 0),
        alu64_imm(ADD, 0, 1),
        alu64_imm(ADD, 2, 1),
        jmp_imm(JLT, 2, 3, -3),
        alu64_imm(ADD, 1, 1),
        jmp_imm(JLT, 1, 4, -6),
        exit(),
    ]);
    assert_eq!(run(&code).unwrap(), 12);
}

#[test]
fn unbounded_loops_are_refused() {
    refused(
        &prog(&[mov64(0, 0), ja(-1), exit()]),
        1,
        K::UnboundedLoop(L::UnconditionalBackEdge),
    );
    // Counter never updated.
    let code = prog(&[
        mov64(0, 0),
        mov64(1, 0),
        alu64_imm(ADD, 0, 1),
        jmp_imm(JLT, 1, 10, -2),
        exit(),
    ]);
    refused(&code, 3, K::UnboundedLoop(L::NoCounter));
    // Counter updated twice.
    let code = prog(&[
        mov64(0, 0),
        alu64_imm(ADD, 0, 1),
        alu64_imm(ADD, 0, 1),
        jmp_imm(JLT, 0, 10, -3),
        exit(),
    ]);
    refused(&code, 3, K::UnboundedLoop(L::NoCounter));
    // Counting the wrong way.
    refused(&counted(0, -1, JLT, 10), 4, K::UnboundedLoop(L::NeverExits));
    // `!=` that steps over its bound.
    refused(&counted(0, 3, JNE, 10), 4, K::UnboundedLoop(L::NeverExits));
    // Would need to overflow to exit.
    refused(&counted(0, 1, JLE, -1), 4, K::UnboundedLoop(L::NeverExits));
    // Start unknown (read from the context).
    let code = prog(&[
        mov64(0, 0),
        ldx(DW, 2, 1, 0),
        alu64_imm(ADD, 2, 1),
        jmp_imm(JLT, 2, 10, -2),
        exit(),
    ]);
    refused_with(
        &code,
        &MapSet::new(),
        ContextLayout::read_only(8),
        3,
        K::UnboundedLoop(L::NoConstantStart),
    );
    // Bound register changes in the loop.
    let code = prog(&[
        mov64(0, 0),
        mov64(2, 10),
        alu64_imm(ADD, 0, 1),
        alu64_imm(ADD, 2, 1),
        jmp_reg(JLT, 0, 2, -3),
        exit(),
    ]);
    refused(&code, 4, K::UnboundedLoop(L::NoConstantBound));
    // The update can be jumped over.
    let code = prog(&[
        mov64(0, 0),
        mov64(1, 0),
        jmp_imm(JEQ, 0, 5, 1),
        alu64_imm(ADD, 1, 1),
        jmp_imm(JLT, 1, 10, -3),
        exit(),
    ]);
    refused(&code, 4, K::UnboundedLoop(L::UpdateSkippable));
    // Entered in the middle.
    let code = prog(&[
        mov64(0, 0),
        mov64(1, 0),
        jmp_imm(JEQ, 0, 0, 1),
        alu64_imm(ADD, 0, 1),
        alu64_imm(ADD, 1, 1),
        jmp_imm(JLT, 1, 10, -3),
        exit(),
    ]);
    refused(&code, 2, K::UnboundedLoop(L::JumpIntoBody));
    // Two backward jumps to one header.
    let code = prog(&[
        mov64(0, 0),
        mov64(1, 0),
        alu64_imm(ADD, 1, 1),
        jmp_imm(JEQ, 1, 3, -2),
        jmp_imm(JLT, 1, 10, -3),
        exit(),
    ]);
    refused(&code, 4, K::UnboundedLoop(L::SecondBackEdge));
}

#[test]
fn loop_bodies_must_keep_the_invariant() {
    // Slot r10-8 holds the constant 0 on entry; the body overwrites it
    // through an alias of r10, which the header's widening cannot foresee.
    let code = prog(&[
        mov64(0, 0),
        st(DW, 10, -8, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -8),
        mov64(1, 0),
        stx(DW, 2, 1, 0),
        alu64_imm(ADD, 1, 1),
        jmp_imm(JLT, 1, 4, -3),
        exit(),
    ]);
    refused(&code, 7, K::LoopNotInvariant);
    // A pointer advanced by the loop is not re-derivable at the header.
    let code = prog(&[
        mov64(0, 0),
        st(DW, 10, -8, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -8),
        mov64(1, 0),
        st(B, 2, 0, 1),
        alu64_imm(ADD, 2, 1),
        alu64_imm(ADD, 1, 1),
        jmp_imm(JLT, 1, 4, -4),
        exit(),
    ]);
    refused(&code, 5, K::UninitRegister(Reg::R2));
}

#[test]
fn packet_access_needs_a_bounds_check() {
    let maps = MapSet::new();
    // r2 = data; r3 = data_end; r4 = r2 + 4; if r4 > r3 goto out; r0 = *(u32 *)r2
    let checked = |load_off: i16, size: u8| {
        prog(&[
            ldx(DW, 2, 1, 0),
            ldx(DW, 3, 1, 8),
            mov64(0, 0),
            mov64_reg(4, 2),
            alu64_imm(ADD, 4, 4),
            jmp_reg(JGT, 4, 3, 1),
            ldx(size, 0, 2, load_off),
            exit(),
        ])
    };
    assert_eq!(verify_with(&checked(0, W), &maps, PACKET_CTX), Ok(()));
    assert_eq!(verify_with(&checked(2, H), &maps, PACKET_CTX), Ok(()));
    refused_with(
        &checked(2, W),
        &maps,
        PACKET_CTX,
        6,
        K::OutOfBounds {
            region: "packet",
            offset: 2,
            size: 4,
        },
    );
    let unchecked = prog(&[ldx(DW, 2, 1, 0), ldx(B, 0, 2, 0), exit()]);
    refused_with(
        &unchecked,
        &maps,
        PACKET_CTX,
        1,
        K::OutOfBounds {
            region: "packet",
            offset: 0,
            size: 1,
        },
    );
    refused_with(
        &prog(&[ldx(DW, 3, 1, 8), ldx(B, 0, 3, 0), exit()]),
        &maps,
        PACKET_CTX,
        1,
        K::NotAPointer(Reg::R3),
    );

    let helpers = Helpers::with_maps();
    let program = Program::load(&checked(0, W), &config(&helpers, &maps, PACKET_CTX)).unwrap();
    let mut ctx = [0u8; 24];
    let mut packet = [1u8, 2, 3, 4, 5];
    let r = Vm::new().run(&program, Input::context(&mut ctx).with_packet(&mut packet));
    assert_eq!(r.unwrap(), 0x0403_0201);
    let mut short = [1u8, 2, 3];
    let r = Vm::new().run(&program, Input::context(&mut ctx).with_packet(&mut short));
    assert_eq!(r.unwrap(), 0, "the bounds check fails on a short packet");
}

/// key = 7; value = 41; update; lookup; r0 = *value + 1 (or 0 if absent);
/// then delete and return r0 + delete's result.
fn map_round_trip() -> Vec<u8> {
    prog(&[
        st(W, 10, -4, 7),
        st(DW, 10, -16, 41),
        lddw_pseudo(1, 1, 0, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -4),
        mov64_reg(3, 10),
        alu64_imm(ADD, 3, -16),
        mov64(4, 0),
        call(2),
        lddw_pseudo(1, 1, 0, 0),
        mov64_reg(2, 10),
        alu64_imm(ADD, 2, -4),
        call(1),
        mov64_reg(6, 0),
        mov64(0, 0),
        jmp_imm(JEQ, 6, 0, 3),
        ldx(DW, 0, 6, 0),
        alu64_imm(ADD, 0, 1),
        stx(DW, 6, 0, 0),
        exit(),
    ])
}

#[test]
fn map_helpers_end_to_end() {
    let helpers = Helpers::with_maps();
    for map in [
        Box::new(HashMap::new(4, 8, 16).unwrap()) as Box<dyn Map>,
        Box::new(ArrayMap::new(8, 16).unwrap()),
    ] {
        let mut maps = MapSet::new();
        let fd = maps.insert(map);
        let program = Program::load(
            &map_round_trip(),
            &config(&helpers, &maps, ContextLayout::default()),
        )
        .unwrap();
        let r = Vm::new().run(&program, Input::default().with_maps(&mut maps));
        assert_eq!(r.unwrap(), 42);
        // The program's store through the value pointer is visible to the host.
        let key = 7u32.to_le_bytes();
        assert_eq!(
            maps.get(fd).unwrap().get(&key).unwrap(),
            &42u64.to_le_bytes()
        );
    }
}

#[test]
fn stack_pointers_to_functions() {
    // main: *(r10-8) = 5; r1 = r10 - 8; call f; r0 += *(r10-8); exit
    // f: r0 = *(u64 *)r1; *(u64 *)r1 = 10; exit
    let code = prog(&[
        st(DW, 10, -8, 5),
        mov64_reg(1, 10),
        alu64_imm(ADD, 1, -8),
        call_local(3),
        ldx(DW, 1, 10, -8),
        alu64_reg(ADD, 0, 1),
        exit(),
        ldx(DW, 0, 1, 0),
        st(DW, 1, 0, 10),
        exit(),
    ]);
    assert_eq!(run(&code).unwrap(), 15);
    // The callee may not reach past the caller's frame.
    let code = prog(&[
        st(DW, 10, -8, 5),
        mov64_reg(1, 10),
        alu64_imm(ADD, 1, -8),
        call_local(1),
        exit(),
        ldx(DW, 0, 1, 8),
        exit(),
    ]);
    refused(
        &code,
        5,
        K::OutOfBounds {
            region: "memory argument",
            offset: 8,
            size: 8,
        },
    );
}
