//! The eBPF instruction set of RFC 9669 as typed Rust values.
//!
//! Every instruction the RFC defines has exactly one [`Insn`] value, and an
//! [`Insn`] can only describe a well-formed instruction: the operand kinds
//! that the encoding leaves unused are not representable. Decoding (bytes to
//! [`Insn`], with typed errors) lives in [`mod@crate::decode`]; [`Insn::encode`]
//! goes the other way, which the tests use as an assembler.
//!
//! Instruction *indices* everywhere in this crate count 8-byte slots, as the
//! RFC's jump offsets and `llvm-objdump` do: a 128-bit `lddw` occupies two.

use alloc::vec::Vec;

/// Bytes in one instruction slot.
pub const INSN_SIZE: usize = 8;

/// Instruction classes (the low three bits of the opcode).
pub mod class {
    /// Non-standard loads (`lddw`, legacy packet access).
    pub const LD: u8 = 0x00;
    /// Loads into a register.
    pub const LDX: u8 = 0x01;
    /// Stores of an immediate.
    pub const ST: u8 = 0x02;
    /// Stores of a register, and atomics.
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps, calls and exit.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps.
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
}

/// The source bit of arithmetic and jump opcodes.
pub const SRC_X: u8 = 0x08;

/// Access-size bits of load and store opcodes.
pub mod size {
    /// Four bytes.
    pub const W: u8 = 0x00;
    /// Two bytes.
    pub const H: u8 = 0x08;
    /// One byte.
    pub const B: u8 = 0x10;
    /// Eight bytes.
    pub const DW: u8 = 0x18;
}

/// Mode bits of load and store opcodes.
pub mod mode {
    /// 64-bit immediate (`lddw`).
    pub const IMM: u8 = 0x00;
    /// Legacy packet access at an absolute offset.
    pub const ABS: u8 = 0x20;
    /// Legacy packet access at a register-relative offset.
    pub const IND: u8 = 0x40;
    /// Regular memory access.
    pub const MEM: u8 = 0x60;
    /// Sign-extending load.
    pub const MEMSX: u8 = 0x80;
    /// Atomic read-modify-write.
    pub const ATOMIC: u8 = 0xc0;
}

/// Helper-call and `lddw` pseudo source registers.
pub mod pseudo {
    /// `call`: a helper by static id.
    pub const CALL_HELPER: u8 = 0;
    /// `call`: a BPF function at a PC-relative offset.
    pub const CALL_LOCAL: u8 = 1;
    /// `call`: a helper by BTF id (kfunc).
    pub const CALL_KFUNC: u8 = 2;
    /// `lddw`: a plain 64-bit immediate.
    pub const IMM64: u8 = 0;
    /// `lddw`: a map by file descriptor.
    pub const MAP_FD: u8 = 1;
    /// `lddw`: the address of a map value, by map file descriptor.
    pub const MAP_VALUE: u8 = 2;
    /// `lddw`: the address of a variable.
    pub const VAR_ADDR: u8 = 3;
    /// `lddw`: the address of code.
    pub const CODE_ADDR: u8 = 4;
    /// `lddw`: a map by index.
    pub const MAP_IDX: u8 = 5;
    /// `lddw`: the address of a map value, by map index.
    pub const MAP_IDX_VALUE: u8 = 6;
}

/// A register number, `r0` to `r10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(u8);

impl Reg {
    /// Return value, and scratch.
    pub const R0: Reg = Reg(0);
    /// First argument, and scratch.
    pub const R1: Reg = Reg(1);
    /// Second argument, and scratch.
    pub const R2: Reg = Reg(2);
    /// Third argument, and scratch.
    pub const R3: Reg = Reg(3);
    /// Fourth argument, and scratch.
    pub const R4: Reg = Reg(4);
    /// Fifth argument, and scratch.
    pub const R5: Reg = Reg(5);
    /// Callee-saved.
    pub const R6: Reg = Reg(6);
    /// Callee-saved.
    pub const R7: Reg = Reg(7);
    /// Callee-saved.
    pub const R8: Reg = Reg(8);
    /// Callee-saved.
    pub const R9: Reg = Reg(9);
    /// Read-only frame pointer.
    pub const R10: Reg = Reg(10);
    /// Number of registers.
    pub const COUNT: usize = 11;

    /// The register numbered `n`, if there is one.
    #[must_use]
    pub const fn new(n: u8) -> Option<Reg> {
        if n <= 10 { Some(Reg(n)) } else { None }
    }

    /// The register's number.
    #[must_use]
    pub const fn number(self) -> u8 {
        self.0
    }

    /// The register's number as an index.
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl core::fmt::Display for Reg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Operand width of arithmetic and jumps: the `ALU`/`JMP32` classes work on
/// the low 32 bits, `ALU64`/`JMP` on all 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit operation; arithmetic zero-extends its result.
    W32,
    /// 64-bit operation.
    W64,
}

/// The second operand of arithmetic and jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// The 32-bit immediate (sign-extended for 64-bit operations).
    Imm(i32),
    /// A register.
    Reg(Reg),
}

/// Binary arithmetic operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `dst += src`
    Add,
    /// `dst -= src`
    Sub,
    /// `dst *= src`
    Mul,
    /// Unsigned `dst /= src`; division by zero gives zero.
    Div,
    /// Signed `dst /= src` (v4); division by zero gives zero.
    SDiv,
    /// `dst |= src`
    Or,
    /// `dst &= src`
    And,
    /// `dst <<= src` (shift amount masked to the width).
    Lsh,
    /// Logical `dst >>= src` (shift amount masked to the width).
    Rsh,
    /// Unsigned `dst %= src`; modulo zero leaves `dst` unchanged.
    Mod,
    /// Signed `dst %= src` (v4); modulo zero leaves `dst` unchanged.
    SMod,
    /// `dst ^= src`
    Xor,
    /// `dst = src`
    Mov,
    /// Arithmetic `dst >>= src` (shift amount masked to the width).
    Arsh,
}

impl AluOp {
    /// The operation's code (high four bits of the opcode) and offset field.
    #[must_use]
    pub const fn code_and_offset(self) -> (u8, i16) {
        match self {
            AluOp::Add => (0x00, 0),
            AluOp::Sub => (0x10, 0),
            AluOp::Mul => (0x20, 0),
            AluOp::Div => (0x30, 0),
            AluOp::SDiv => (0x30, 1),
            AluOp::Or => (0x40, 0),
            AluOp::And => (0x50, 0),
            AluOp::Lsh => (0x60, 0),
            AluOp::Rsh => (0x70, 0),
            AluOp::Mod => (0x90, 0),
            AluOp::SMod => (0x90, 1),
            AluOp::Xor => (0xa0, 0),
            AluOp::Mov => (0xb0, 0),
            AluOp::Arsh => (0xc0, 0),
        }
    }
}

/// Conditions of conditional jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    /// `dst == src`
    Eq,
    /// Unsigned `dst > src`
    Gt,
    /// Unsigned `dst >= src`
    Ge,
    /// `dst & src != 0`
    Set,
    /// `dst != src`
    Ne,
    /// Signed `dst > src`
    Sgt,
    /// Signed `dst >= src`
    Sge,
    /// Unsigned `dst < src`
    Lt,
    /// Unsigned `dst <= src`
    Le,
    /// Signed `dst < src`
    Slt,
    /// Signed `dst <= src`
    Sle,
}

impl JmpCond {
    /// The condition's code (high four bits of the opcode).
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            JmpCond::Eq => 0x10,
            JmpCond::Gt => 0x20,
            JmpCond::Ge => 0x30,
            JmpCond::Set => 0x40,
            JmpCond::Ne => 0x50,
            JmpCond::Sgt => 0x60,
            JmpCond::Sge => 0x70,
            JmpCond::Lt => 0xa0,
            JmpCond::Le => 0xb0,
            JmpCond::Slt => 0xc0,
            JmpCond::Sle => 0xd0,
        }
    }

    /// The condition for `code`, if it is one.
    #[must_use]
    pub const fn from_code(code: u8) -> Option<JmpCond> {
        Some(match code {
            0x10 => JmpCond::Eq,
            0x20 => JmpCond::Gt,
            0x30 => JmpCond::Ge,
            0x40 => JmpCond::Set,
            0x50 => JmpCond::Ne,
            0x60 => JmpCond::Sgt,
            0x70 => JmpCond::Sge,
            0xa0 => JmpCond::Lt,
            0xb0 => JmpCond::Le,
            0xc0 => JmpCond::Slt,
            0xd0 => JmpCond::Sle,
            _ => return None,
        })
    }

    /// The condition with its operands swapped (`a < b` iff `b > a`).
    #[must_use]
    pub const fn swapped(self) -> JmpCond {
        match self {
            JmpCond::Eq | JmpCond::Ne | JmpCond::Set => self,
            JmpCond::Gt => JmpCond::Lt,
            JmpCond::Ge => JmpCond::Le,
            JmpCond::Lt => JmpCond::Gt,
            JmpCond::Le => JmpCond::Ge,
            JmpCond::Sgt => JmpCond::Slt,
            JmpCond::Sge => JmpCond::Sle,
            JmpCond::Slt => JmpCond::Sgt,
            JmpCond::Sle => JmpCond::Sge,
        }
    }

    /// Evaluates the condition on two operands of `width`.
    #[must_use]
    pub const fn holds(self, width: Width, a: u64, b: u64) -> bool {
        let (a, b) = match width {
            Width::W64 => (a, b),
            Width::W32 => (a as u32 as u64, b as u32 as u64),
        };
        let (sa, sb) = match width {
            Width::W64 => (a as i64, b as i64),
            Width::W32 => (a as u32 as i32 as i64, b as u32 as i32 as i64),
        };
        match self {
            JmpCond::Eq => a == b,
            JmpCond::Gt => a > b,
            JmpCond::Ge => a >= b,
            JmpCond::Set => a & b != 0,
            JmpCond::Ne => a != b,
            JmpCond::Sgt => sa > sb,
            JmpCond::Sge => sa >= sb,
            JmpCond::Lt => a < b,
            JmpCond::Le => a <= b,
            JmpCond::Slt => sa < sb,
            JmpCond::Sle => sa <= sb,
        }
    }
}

/// Access sizes of loads and stores, and the widths of sign extension and
/// byte swaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    /// One byte.
    B,
    /// Two bytes.
    H,
    /// Four bytes.
    W,
    /// Eight bytes.
    DW,
}

impl Size {
    /// The size in bytes.
    #[must_use]
    pub const fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// The size in bits.
    #[must_use]
    pub const fn bits(self) -> u32 {
        self.bytes() as u32 * 8
    }

    /// The opcode bits.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Size::B => size::B,
            Size::H => size::H,
            Size::W => size::W,
            Size::DW => size::DW,
        }
    }

    /// The size named by opcode bits.
    #[must_use]
    pub const fn from_code(code: u8) -> Size {
        match code & 0x18 {
            size::B => Size::B,
            size::H => Size::H,
            size::W => Size::W,
            _ => Size::DW,
        }
    }

    /// The size of a 16-, 32- or 64-bit byte-order conversion.
    #[must_use]
    pub const fn from_bits(bits: i32) -> Option<Size> {
        match bits {
            16 => Some(Size::H),
            32 => Some(Size::W),
            64 => Some(Size::DW),
            _ => None,
        }
    }
}

/// Byte orders of the `END` conversions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// To (and from) little-endian: a truncation on this little-endian machine.
    Little,
    /// To (and from) big-endian: a byte swap.
    Big,
}

/// Atomic read-modify-write operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `*addr += src`
    Add,
    /// `*addr |= src`
    Or,
    /// `*addr &= src`
    And,
    /// `*addr ^= src`
    Xor,
    /// `src = *addr; *addr += src_old`
    FetchAdd,
    /// `src = *addr; *addr |= src_old`
    FetchOr,
    /// `src = *addr; *addr &= src_old`
    FetchAnd,
    /// `src = *addr; *addr ^= src_old`
    FetchXor,
    /// `src = *addr; *addr = src_old`
    Xchg,
    /// `r0 = *addr; if r0_old == *addr { *addr = src }`
    CmpXchg,
}

impl AtomicOp {
    /// The operation's immediate.
    #[must_use]
    pub const fn imm(self) -> i32 {
        match self {
            AtomicOp::Add => 0x00,
            AtomicOp::Or => 0x40,
            AtomicOp::And => 0x50,
            AtomicOp::Xor => 0xa0,
            AtomicOp::FetchAdd => 0x01,
            AtomicOp::FetchOr => 0x41,
            AtomicOp::FetchAnd => 0x51,
            AtomicOp::FetchXor => 0xa1,
            AtomicOp::Xchg => 0xe1,
            AtomicOp::CmpXchg => 0xf1,
        }
    }

    /// The operation named by an immediate, if any.
    #[must_use]
    pub const fn from_imm(imm: i32) -> Option<AtomicOp> {
        Some(match imm {
            0x00 => AtomicOp::Add,
            0x40 => AtomicOp::Or,
            0x50 => AtomicOp::And,
            0xa0 => AtomicOp::Xor,
            0x01 => AtomicOp::FetchAdd,
            0x41 => AtomicOp::FetchOr,
            0x51 => AtomicOp::FetchAnd,
            0xa1 => AtomicOp::FetchXor,
            0xe1 => AtomicOp::Xchg,
            0xf1 => AtomicOp::CmpXchg,
            _ => return None,
        })
    }

    /// Whether the old value is written back to a register.
    #[must_use]
    pub const fn fetches(self) -> bool {
        self.imm() & 0x01 != 0
    }
}

/// What a 64-bit immediate load (`lddw`) loads, by its source register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Imm64 {
    /// `src = 0`: the 64-bit constant.
    Value(u64),
    /// `src = 1`: the map with this file descriptor.
    MapFd(i32),
    /// `src = 2`: the address `offset` bytes into the value of the map with
    /// this file descriptor.
    MapValue {
        /// The map's file descriptor.
        fd: i32,
        /// Byte offset into the value.
        offset: u32,
    },
    /// `src = 3`: the address of the variable with this id.
    VarAddr(i32),
    /// `src = 4`: the address of the instruction with this index.
    CodeAddr(i32),
    /// `src = 5`: the map with this index.
    MapIndex(i32),
    /// `src = 6`: the address `offset` bytes into the value of the map with
    /// this index.
    MapIndexValue {
        /// The map's index.
        index: i32,
        /// Byte offset into the value.
        offset: u32,
    },
}

/// One decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Insn {
    /// Binary arithmetic: `dst = dst op src`.
    Alu {
        /// 32- or 64-bit.
        width: Width,
        /// The operation.
        op: AluOp,
        /// Destination and first operand.
        dst: Reg,
        /// Second operand.
        src: Operand,
    },
    /// `dst = -dst`.
    Neg {
        /// 32- or 64-bit.
        width: Width,
        /// Operand and destination.
        dst: Reg,
    },
    /// Sign-extending move (v4): `dst = (s8/s16/s32) src`; a 32-bit move
    /// zero-extends the 32-bit result.
    MovSx {
        /// 32-bit (from 8 or 16 bits) or 64-bit (from 8, 16 or 32).
        width: Width,
        /// The width sign-extended from.
        from: Size,
        /// Destination.
        dst: Reg,
        /// Source.
        src: Reg,
    },
    /// Byte-order conversion of the low `size` bytes of `dst` (class ALU).
    Endian {
        /// Target byte order.
        order: ByteOrder,
        /// 16, 32 or 64 bits.
        size: Size,
        /// Operand and destination.
        dst: Reg,
    },
    /// Unconditional byte swap of the low `size` bytes (v4, class ALU64).
    Bswap {
        /// 16, 32 or 64 bits.
        size: Size,
        /// Operand and destination.
        dst: Reg,
    },
    /// `goto +off`.
    Ja {
        /// Slots to skip after the next instruction.
        off: i16,
    },
    /// `gotol +imm` (v4, `JA` in class JMP32): a jump with a 32-bit offset.
    JaLong {
        /// Slots to skip after the next instruction.
        imm: i32,
    },
    /// `if dst cond src goto +off`.
    Jump {
        /// Compare 32 or 64 bits.
        width: Width,
        /// The condition.
        cond: JmpCond,
        /// First operand.
        dst: Reg,
        /// Second operand.
        src: Operand,
        /// Slots to skip after this instruction when the condition holds.
        off: i16,
    },
    /// A helper call by static id: `r0 = helper(r1, …, r5)`.
    Call {
        /// Helper id.
        id: i32,
    },
    /// A BPF-to-BPF call of the function at `pc + 1 + offset`.
    CallLocal {
        /// PC-relative offset of the callee.
        offset: i32,
    },
    /// A helper call by BTF id (a kfunc).
    CallKfunc {
        /// BTF id.
        btf_id: i32,
    },
    /// Return `r0` (or return from a BPF-to-BPF call).
    Exit,
    /// `dst = *(size *)(src + off)`, zero-extended.
    Load {
        /// Access size.
        size: Size,
        /// Destination.
        dst: Reg,
        /// Base address.
        src: Reg,
        /// Byte offset.
        off: i16,
    },
    /// `dst = *(signed size *)(src + off)`, sign-extended (v4; `size` is not
    /// `DW`).
    LoadSx {
        /// Access size.
        size: Size,
        /// Destination.
        dst: Reg,
        /// Base address.
        src: Reg,
        /// Byte offset.
        off: i16,
    },
    /// `*(size *)(dst + off) = imm`.
    Store {
        /// Access size.
        size: Size,
        /// Base address.
        dst: Reg,
        /// Byte offset.
        off: i16,
        /// The value, truncated to `size` (sign-extended for `DW`).
        imm: i32,
    },
    /// `*(size *)(dst + off) = src`.
    StoreReg {
        /// Access size.
        size: Size,
        /// Base address.
        dst: Reg,
        /// Value.
        src: Reg,
        /// Byte offset.
        off: i16,
    },
    /// Atomic read-modify-write of `*(size *)(dst + off)` (size `W` or `DW`).
    Atomic {
        /// Access size.
        size: Size,
        /// The operation.
        op: AtomicOp,
        /// Base address.
        dst: Reg,
        /// Operand (and, for fetching operations, destination).
        src: Reg,
        /// Byte offset.
        off: i16,
    },
    /// `dst = imm64` and its pseudo forms; occupies two slots.
    LoadImm64 {
        /// Destination.
        dst: Reg,
        /// What is loaded.
        value: Imm64,
    },
    /// Legacy packet load: `r0 = ntoh(*(size *)(packet + imm))`.
    LoadAbs {
        /// Access size (not `DW`).
        size: Size,
        /// Packet offset.
        imm: i32,
    },
    /// Legacy packet load: `r0 = ntoh(*(size *)(packet + src + imm))`.
    LoadInd {
        /// Access size (not `DW`).
        size: Size,
        /// Offset register.
        src: Reg,
        /// Packet offset.
        imm: i32,
    },
}

/// One 8-byte instruction slot, split into its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RawInsn {
    /// Opcode.
    pub opcode: u8,
    /// Destination register field (low nibble of byte 1).
    pub dst: u8,
    /// Source register field (high nibble of byte 1).
    pub src: u8,
    /// Signed 16-bit offset.
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

impl RawInsn {
    /// Splits a slot (little-endian, as RFC 9669 encodes it on this machine).
    #[must_use]
    pub const fn from_bytes(b: [u8; 8]) -> RawInsn {
        RawInsn {
            opcode: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Joins the fields into a slot.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.opcode,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// The instruction class.
    #[must_use]
    pub const fn class(self) -> u8 {
        self.opcode & 0x07
    }
}

const fn raw(opcode: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> RawInsn {
    RawInsn {
        opcode,
        dst: dst.0,
        src: src.0,
        off,
        imm,
    }
}

const fn alu_class(width: Width) -> u8 {
    match width {
        Width::W32 => class::ALU,
        Width::W64 => class::ALU64,
    }
}

const fn jmp_class(width: Width) -> u8 {
    match width {
        Width::W32 => class::JMP32,
        Width::W64 => class::JMP,
    }
}

impl Insn {
    /// Slots the instruction occupies: 2 for `lddw`, else 1.
    #[must_use]
    pub const fn slots(&self) -> usize {
        match self {
            Insn::LoadImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// The instruction's slots: the second is only meaningful for `lddw`.
    #[must_use]
    pub const fn to_raw(&self) -> [RawInsn; 2] {
        let r0 = Reg::R0;
        let none = RawInsn {
            opcode: 0,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0,
        };
        let first = match *self {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let (code, off) = op.code_and_offset();
                match src {
                    Operand::Imm(imm) => raw(code | alu_class(width), dst, r0, off, imm),
                    Operand::Reg(s) => raw(code | SRC_X | alu_class(width), dst, s, off, 0),
                }
            }
            Insn::Neg { width, dst } => raw(0x80 | alu_class(width), dst, r0, 0, 0),
            Insn::MovSx {
                width,
                from,
                dst,
                src,
            } => raw(
                0xb0 | SRC_X | alu_class(width),
                dst,
                src,
                from.bits() as i16,
                0,
            ),
            Insn::Endian { order, size, dst } => {
                let src_bit = match order {
                    ByteOrder::Little => 0,
                    ByteOrder::Big => SRC_X,
                };
                raw(0xd0 | src_bit | class::ALU, dst, r0, 0, size.bits() as i32)
            }
            Insn::Bswap { size, dst } => raw(0xd0 | class::ALU64, dst, r0, 0, size.bits() as i32),
            Insn::Ja { off } => raw(class::JMP, r0, r0, off, 0),
            Insn::JaLong { imm } => raw(class::JMP32, r0, r0, 0, imm),
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => match src {
                Operand::Imm(imm) => raw(cond.code() | jmp_class(width), dst, r0, off, imm),
                Operand::Reg(s) => raw(cond.code() | SRC_X | jmp_class(width), dst, s, off, 0),
            },
            Insn::Call { id } => raw(0x80 | class::JMP, r0, r0, 0, id),
            Insn::CallLocal { offset } => raw(0x80 | class::JMP, r0, Reg::R1, 0, offset),
            Insn::CallKfunc { btf_id } => raw(0x80 | class::JMP, r0, Reg::R2, 0, btf_id),
            Insn::Exit => raw(0x90 | class::JMP, r0, r0, 0, 0),
            Insn::Load {
                size,
                dst,
                src,
                off,
            } => raw(mode::MEM | size.code() | class::LDX, dst, src, off, 0),
            Insn::LoadSx {
                size,
                dst,
                src,
                off,
            } => raw(mode::MEMSX | size.code() | class::LDX, dst, src, off, 0),
            Insn::Store {
                size,
                dst,
                off,
                imm,
            } => raw(mode::MEM | size.code() | class::ST, dst, r0, off, imm),
            Insn::StoreReg {
                size,
                dst,
                src,
                off,
            } => raw(mode::MEM | size.code() | class::STX, dst, src, off, 0),
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => raw(
                mode::ATOMIC | size.code() | class::STX,
                dst,
                src,
                off,
                op.imm(),
            ),
            Insn::LoadImm64 { dst, value } => {
                let (src, imm) = match value {
                    Imm64::Value(v) => (pseudo::IMM64, v as u32 as i32),
                    Imm64::MapFd(fd) => (pseudo::MAP_FD, fd),
                    Imm64::MapValue { fd, .. } => (pseudo::MAP_VALUE, fd),
                    Imm64::VarAddr(id) => (pseudo::VAR_ADDR, id),
                    Imm64::CodeAddr(pc) => (pseudo::CODE_ADDR, pc),
                    Imm64::MapIndex(i) => (pseudo::MAP_IDX, i),
                    Imm64::MapIndexValue { index, .. } => (pseudo::MAP_IDX_VALUE, index),
                };
                RawInsn {
                    opcode: mode::IMM | size::DW | class::LD,
                    dst: dst.0,
                    src,
                    off: 0,
                    imm,
                }
            }
            Insn::LoadAbs { size, imm } => raw(mode::ABS | size.code() | class::LD, r0, r0, 0, imm),
            Insn::LoadInd { size, src, imm } => {
                raw(mode::IND | size.code() | class::LD, r0, src, 0, imm)
            }
        };
        let second = match *self {
            Insn::LoadImm64 { value, .. } => RawInsn {
                imm: match value {
                    Imm64::Value(v) => (v >> 32) as u32 as i32,
                    Imm64::MapValue { offset, .. } | Imm64::MapIndexValue { offset, .. } => {
                        offset as i32
                    }
                    _ => 0,
                },
                ..none
            },
            _ => none,
        };
        [first, second]
    }

    /// Appends the instruction's encoding (8 or 16 bytes) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let [first, second] = self.to_raw();
        out.extend_from_slice(&first.to_bytes());
        if self.slots() == 2 {
            out.extend_from_slice(&second.to_bytes());
        }
    }
}

/// Encodes a sequence of instructions into bytecode.
#[must_use]
pub fn assemble(insns: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * INSN_SIZE);
    for insn in insns {
        insn.encode(&mut out);
    }
    out
}
