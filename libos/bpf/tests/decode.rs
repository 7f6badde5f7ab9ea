//! Decoding: which opcodes exist, that encoding and decoding agree, and
//! that each kind of malformed encoding is refused with its index.

mod common;

use common::*;
use exo_bpf::decode::{DecodeErrorKind as K, Field, decode_at};
use exo_bpf::isa::{
    AluOp, AtomicOp, ByteOrder, Imm64, Insn, JmpCond, Operand, Reg, Size, Width, assemble,
};
use exo_bpf::{DecodeError, decode};
use proptest::prelude::*;

/// Every opcode RFC 9669 defines.
fn valid_opcodes() -> Vec<u8> {
    let mut v = Vec::new();
    for class in [0x04u8, 0x07] {
        for code in (0x00..=0xc0).step_by(0x10) {
            v.push(code | class);
            if code != 0x80 {
                v.push(code | 0x08 | class);
            }
        }
    }
    v.extend([0xd4, 0xdc, 0xd7]);
    for class in [0x05u8, 0x06] {
        v.push(class); // ja / gotol
        for code in [
            0x10u8, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0,
        ] {
            v.push(code | class);
            v.push(code | 0x08 | class);
        }
    }
    v.extend([0x85, 0x95]);
    v.extend([0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91]);
    v.extend([0x62, 0x6a, 0x72, 0x7a]);
    v.extend([0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb]);
    v.extend([0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50]);
    v.sort_unstable();
    v
}

#[test]
fn exactly_the_rfc_opcodes_decode() {
    let valid = valid_opcodes();
    assert_eq!(valid.len(), 125, "RFC 9669 opcode count as tabulated here");
    for op in 0..=255u8 {
        // Canonical fields: zero, but the byte-swap width must be real.
        let imm = if op & 0xf7 == 0xd4 || op == 0xd7 {
            16
        } else {
            0
        };
        let mut code = raw(op, 0, 0, 0, imm);
        code.extend(raw(0, 0, 0, 0, 0));
        let first = decode_at(&code, 0);
        if valid.contains(&op) {
            assert!(first.is_ok(), "opcode {op:#04x} should decode: {first:?}");
        } else {
            assert_eq!(
                first.map_err(|e| e.kind),
                Err(K::UnknownOpcode(op)),
                "opcode {op:#04x} should be unknown"
            );
        }
    }
}

fn err(code: &[u8]) -> DecodeError {
    decode(code).expect_err("should not decode")
}

#[test]
fn malformed_encodings_name_their_index() {
    let ok = mov64(0, 0);
    let with = |bad: Vec<u8>| prog(&[ok.clone(), ok.clone(), bad, exit()]);
    let cases = [
        (with(raw(0xff, 0, 0, 0, 0)), K::UnknownOpcode(0xff)),
        (with(raw(0x8f, 0, 1, 0, 0)), K::UnknownOpcode(0x8f)),
        (with(raw(0xdf, 0, 0, 0, 16)), K::UnknownOpcode(0xdf)),
        (with(raw(0x99, 0, 1, 0, 0)), K::UnknownOpcode(0x99)),
        (with(mov64(11, 0)), K::BadRegister(11)),
        (with(mov64_reg(0, 15)), K::BadRegister(15)),
        (with(raw(0xb7, 0, 1, 0, 0)), K::ReservedField(Field::Src)),
        (with(raw(0xbf, 0, 1, 0, 5)), K::ReservedField(Field::Imm)),
        (with(raw(0x07, 0, 0, 1, 0)), K::ReservedField(Field::Offset)),
        (with(raw(0x3f, 0, 1, 2, 0)), K::ReservedField(Field::Offset)),
        (
            with(movsx(false, 32, 0, 1)),
            K::ReservedField(Field::Offset),
        ),
        (with(movsx(true, 24, 0, 1)), K::ReservedField(Field::Offset)),
        (with(raw(0x87, 0, 0, 0, 1)), K::ReservedField(Field::Imm)),
        (with(endian(false, 8, 0)), K::ReservedField(Field::Imm)),
        (with(raw(0x95, 0, 0, 0, 1)), K::ReservedField(Field::Imm)),
        (with(raw(0x05, 0, 0, 0, 1)), K::ReservedField(Field::Imm)),
        (with(raw(0x06, 0, 0, 1, 0)), K::ReservedField(Field::Offset)),
        (with(raw(0x85, 1, 0, 0, 1)), K::ReservedField(Field::Dst)),
        (with(raw(0x85, 0, 3, 0, 1)), K::ReservedField(Field::Src)),
        (with(raw(0x15, 0, 1, 0, 0)), K::ReservedField(Field::Src)),
        (with(raw(0x1d, 0, 1, 0, 1)), K::ReservedField(Field::Imm)),
        (with(raw(0x79, 0, 10, -8, 1)), K::ReservedField(Field::Imm)),
        (with(raw(0x7a, 10, 1, -8, 0)), K::ReservedField(Field::Src)),
        (with(raw(0x7b, 10, 1, -8, 1)), K::ReservedField(Field::Imm)),
        (
            with(atomic(DW, 0x02, 10, 1, -8)),
            K::ReservedField(Field::Imm),
        ),
        (with(raw(0x20, 1, 0, 0, 0)), K::ReservedField(Field::Dst)),
        (with(lddw_pseudo(0, 9, 0, 0)), K::ReservedField(Field::Src)),
        (with(raw(0x18, 0, 0, 1, 0)), K::ReservedField(Field::Offset)),
    ];
    for (code, kind) in cases {
        assert_eq!(err(&code), DecodeError { index: 2, kind }, "{kind:?}");
    }
}

#[test]
fn lddw_needs_its_whole_second_half() {
    let truncated = prog(&[mov64(0, 0), raw(0x18, 0, 0, 0, 1)]);
    assert_eq!(
        err(&truncated),
        DecodeError {
            index: 1,
            kind: K::TruncatedLddw
        }
    );
    let bad_tail = prog(&[raw(0x18, 0, 0, 0, 1), raw(0xb7, 0, 0, 0, 0), exit()]);
    assert_eq!(
        err(&bad_tail),
        DecodeError {
            index: 0,
            kind: K::BadLddwTail
        }
    );
    // Map-fd forms carry no upper immediate.
    let fd_high = prog(&[lddw_pseudo(1, 1, 0, 5), exit()]);
    assert_eq!(
        err(&fd_high),
        DecodeError {
            index: 0,
            kind: K::BadLddwTail
        }
    );
}

#[test]
fn lengths() {
    assert_eq!(
        err(&[]),
        DecodeError {
            index: 0,
            kind: K::Empty
        }
    );
    assert_eq!(err(&[0; 12]).kind, K::BadLength(12));
}

#[test]
fn pseudo_forms_are_typed() {
    let code = prog(&[
        lddw_pseudo(1, 1, 3, 0),
        lddw_pseudo(1, 2, 3, 16),
        lddw_pseudo(1, 3, 7, 0),
        lddw_pseudo(1, 4, 9, 0),
        lddw_pseudo(1, 5, 2, 0),
        lddw_pseudo(1, 6, 2, 8),
        call_local(3),
        raw(0x85, 0, 2, 0, 1234),
        exit(),
    ]);
    let insns = decode(&code).unwrap();
    let dst = Reg::R1;
    assert_eq!(
        &insns[..6],
        &[
            Insn::LoadImm64 {
                dst,
                value: Imm64::MapFd(3)
            },
            Insn::LoadImm64 {
                dst,
                value: Imm64::MapValue { fd: 3, offset: 16 }
            },
            Insn::LoadImm64 {
                dst,
                value: Imm64::VarAddr(7)
            },
            Insn::LoadImm64 {
                dst,
                value: Imm64::CodeAddr(9)
            },
            Insn::LoadImm64 {
                dst,
                value: Imm64::MapIndex(2)
            },
            Insn::LoadImm64 {
                dst,
                value: Imm64::MapIndexValue {
                    index: 2,
                    offset: 8
                }
            },
        ]
    );
    assert_eq!(insns[6], Insn::CallLocal { offset: 3 });
    assert_eq!(insns[7], Insn::CallKfunc { btf_id: 1234 });
}

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..=10).prop_map(|n| Reg::new(n).unwrap())
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        any::<i32>().prop_map(Operand::Imm),
        reg().prop_map(Operand::Reg)
    ]
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W), Just(Size::DW)]
}

fn insn() -> impl Strategy<Value = Insn> {
    use AluOp::*;
    use JmpCond::*;
    let alu_op = prop::sample::select(vec![
        Add, Sub, Mul, Div, SDiv, Or, And, Lsh, Rsh, Mod, SMod, Xor, Mov, Arsh,
    ]);
    let cond = prop::sample::select(vec![Eq, Gt, Ge, Set, Ne, Sgt, Sge, Lt, Le, Slt, Sle]);
    let atomic_op = prop::sample::select(vec![
        AtomicOp::Add,
        AtomicOp::Or,
        AtomicOp::And,
        AtomicOp::Xor,
        AtomicOp::FetchAdd,
        AtomicOp::FetchOr,
        AtomicOp::FetchAnd,
        AtomicOp::FetchXor,
        AtomicOp::Xchg,
        AtomicOp::CmpXchg,
    ]);
    let imm64 = prop_oneof![
        any::<u64>().prop_map(Imm64::Value),
        any::<i32>().prop_map(Imm64::MapFd),
        (any::<i32>(), any::<u32>()).prop_map(|(fd, offset)| Imm64::MapValue { fd, offset }),
        any::<i32>().prop_map(Imm64::VarAddr),
        any::<i32>().prop_map(Imm64::CodeAddr),
        any::<i32>().prop_map(Imm64::MapIndex),
        (any::<i32>(), any::<u32>())
            .prop_map(|(index, offset)| Imm64::MapIndexValue { index, offset }),
    ];
    let small = prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W)];
    prop_oneof![
        (width(), alu_op, reg(), operand()).prop_map(|(width, op, dst, src)| Insn::Alu {
            width,
            op,
            dst,
            src
        }),
        (width(), reg()).prop_map(|(width, dst)| Insn::Neg { width, dst }),
        (
            prop_oneof![Just(Size::B), Just(Size::H)],
            reg(),
            reg(),
            width()
        )
            .prop_map(|(from, dst, src, width)| Insn::MovSx {
                width,
                from,
                dst,
                src
            }),
        (reg(), reg()).prop_map(|(dst, src)| Insn::MovSx {
            width: Width::W64,
            from: Size::W,
            dst,
            src
        }),
        (
            prop_oneof![Just(ByteOrder::Little), Just(ByteOrder::Big)],
            prop_oneof![Just(Size::H), Just(Size::W), Just(Size::DW)],
            reg()
        )
            .prop_map(|(order, size, dst)| Insn::Endian { order, size, dst }),
        (
            prop_oneof![Just(Size::H), Just(Size::W), Just(Size::DW)],
            reg()
        )
            .prop_map(|(size, dst)| Insn::Bswap { size, dst }),
        any::<i16>().prop_map(|off| Insn::Ja { off }),
        any::<i32>().prop_map(|imm| Insn::JaLong { imm }),
        (width(), cond, reg(), operand(), any::<i16>()).prop_map(|(width, cond, dst, src, off)| {
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                off,
            }
        }),
        any::<i32>().prop_map(|id| Insn::Call { id }),
        any::<i32>().prop_map(|offset| Insn::CallLocal { offset }),
        any::<i32>().prop_map(|btf_id| Insn::CallKfunc { btf_id }),
        Just(Insn::Exit),
        (size(), reg(), reg(), any::<i16>()).prop_map(|(size, dst, src, off)| Insn::Load {
            size,
            dst,
            src,
            off
        }),
        (small.clone(), reg(), reg(), any::<i16>()).prop_map(|(size, dst, src, off)| {
            Insn::LoadSx {
                size,
                dst,
                src,
                off,
            }
        }),
        (size(), reg(), any::<i16>(), any::<i32>()).prop_map(|(size, dst, off, imm)| Insn::Store {
            size,
            dst,
            off,
            imm
        }),
        (size(), reg(), reg(), any::<i16>()).prop_map(|(size, dst, src, off)| Insn::StoreReg {
            size,
            dst,
            src,
            off
        }),
        (
            prop_oneof![Just(Size::W), Just(Size::DW)],
            atomic_op,
            reg(),
            reg(),
            any::<i16>()
        )
            .prop_map(|(size, op, dst, src, off)| Insn::Atomic {
                size,
                op,
                dst,
                src,
                off
            }),
        (reg(), imm64).prop_map(|(dst, value)| Insn::LoadImm64 { dst, value }),
        (small.clone(), any::<i32>()).prop_map(|(size, imm)| Insn::LoadAbs { size, imm }),
        (small, reg(), any::<i32>()).prop_map(|(size, src, imm)| Insn::LoadInd { size, src, imm }),
    ]
}

proptest! {
    /// Encoding then decoding any instruction sequence gives it back.
    #[test]
    fn encode_decode_round_trip(insns in prop::collection::vec(insn(), 1..40)) {
        let code = assemble(&insns);
        prop_assert_eq!(decode(&code).unwrap(), insns);
    }

    /// Decoding arbitrary bytes never panics, and whatever decodes
    /// re-encodes to the same bytes (no two encodings for one instruction).
    #[test]
    fn arbitrary_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(insns) = decode(&bytes) {
            prop_assert_eq!(assemble(&insns), bytes);
        }
    }
}
