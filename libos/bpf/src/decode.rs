//! Decoding bytecode into typed instructions, rejecting malformed encodings.
//!
//! The rules follow RFC 9669: an opcode the RFC does not define is refused,
//! register fields must name `r0`–`r10`, and every field an instruction does
//! not use must be zero (so that a future extension cannot be mistaken for
//! an old instruction). `lddw` must be followed by its second half. Each
//! error names the slot index of the offending instruction.
//!
//! [`decode_at`] decodes one instruction without allocating; the verifier
//! uses it to stream over a program instead of holding a decoded copy.

use alloc::vec::Vec;

use crate::isa::{
    AluOp, AtomicOp, ByteOrder, INSN_SIZE, Imm64, Insn, JmpCond, Operand, RawInsn, Reg, SRC_X,
    Size, Width, class, mode, pseudo,
};

/// A field of an instruction, for [`DecodeErrorKind::ReservedField`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The destination register field.
    Dst,
    /// The source register field.
    Src,
    /// The 16-bit offset.
    Offset,
    /// The 32-bit immediate.
    Imm,
}

impl core::fmt::Display for Field {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Field::Dst => "destination register",
            Field::Src => "source register",
            Field::Offset => "offset",
            Field::Imm => "immediate",
        })
    }
}

/// Why an instruction could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The bytecode is not a whole number of 8-byte slots.
    #[error("bytecode length {0} is not a multiple of 8")]
    BadLength(usize),
    /// The program has no instructions.
    #[error("empty program")]
    Empty,
    /// The opcode is not defined by RFC 9669.
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    /// A register field names a register above `r10`.
    #[error("bad register number {0}")]
    BadRegister(u8),
    /// A field this instruction does not use is not zero, or a used field
    /// holds a value the instruction does not define.
    #[error("reserved or invalid {0} field")]
    ReservedField(Field),
    /// `lddw` is the last slot, so its second half is missing.
    #[error("lddw is missing its second half")]
    TruncatedLddw,
    /// The second half of `lddw` is malformed (it must be all zero but for
    /// its immediate).
    #[error("malformed second half of lddw")]
    BadLddwTail,
}

/// A decoding failure at a slot index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("instruction {index}: {kind}")]
pub struct DecodeError {
    /// Slot index of the offending instruction.
    pub index: usize,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}

/// Number of slots in `bytes`.
///
/// # Errors
/// [`DecodeErrorKind::BadLength`] or [`DecodeErrorKind::Empty`] (at index 0).
pub fn slot_count(bytes: &[u8]) -> Result<usize, DecodeError> {
    if !bytes.len().is_multiple_of(INSN_SIZE) {
        return Err(DecodeError {
            index: bytes.len() / INSN_SIZE,
            kind: DecodeErrorKind::BadLength(bytes.len()),
        });
    }
    if bytes.is_empty() {
        return Err(DecodeError {
            index: 0,
            kind: DecodeErrorKind::Empty,
        });
    }
    Ok(bytes.len() / INSN_SIZE)
}

/// The raw fields of slot `index`, if it exists.
#[must_use]
pub fn raw_at(bytes: &[u8], index: usize) -> Option<RawInsn> {
    let start = index.checked_mul(INSN_SIZE)?;
    let slot = bytes.get(start..start.checked_add(INSN_SIZE)?)?;
    let mut b = [0u8; INSN_SIZE];
    b.copy_from_slice(slot);
    Some(RawInsn::from_bytes(b))
}

/// Decodes the instruction starting at slot `index` (its second slot too,
/// for `lddw`).
///
/// # Errors
/// Any [`DecodeErrorKind`] but the length errors, naming `index`.
pub fn decode_at(bytes: &[u8], index: usize) -> Result<Insn, DecodeError> {
    let err = |kind| DecodeError { index, kind };
    let r = raw_at(bytes, index).ok_or(err(DecodeErrorKind::TruncatedLddw))?;
    decode_raw(r, || raw_at(bytes, index + 1)).map_err(err)
}

/// Decodes a whole program, one [`Insn`] per instruction (so `lddw` takes
/// one entry for its two slots).
///
/// # Errors
/// The first [`DecodeError`] in the program.
pub fn decode(bytes: &[u8]) -> Result<Vec<Insn>, DecodeError> {
    let n = slot_count(bytes)?;
    let mut out = Vec::with_capacity(n);
    let mut pc = 0;
    while pc < n {
        let insn = decode_at(bytes, pc)?;
        pc += insn.slots();
        out.push(insn);
    }
    Ok(out)
}

fn reg(n: u8) -> Result<Reg, DecodeErrorKind> {
    Reg::new(n).ok_or(DecodeErrorKind::BadRegister(n))
}

fn zero(value: i64, field: Field) -> Result<(), DecodeErrorKind> {
    if value == 0 {
        Ok(())
    } else {
        Err(DecodeErrorKind::ReservedField(field))
    }
}

/// Decodes one instruction from its fields; `next` yields the following
/// slot, which only `lddw` asks for.
fn decode_raw(r: RawInsn, next: impl FnOnce() -> Option<RawInsn>) -> Result<Insn, DecodeErrorKind> {
    let dst = reg(r.dst)?;
    let src_reg = reg(r.src)?;
    let unknown = DecodeErrorKind::UnknownOpcode(r.opcode);
    match r.class() {
        class::ALU | class::ALU64 => decode_alu(r, dst, src_reg),
        class::JMP | class::JMP32 => decode_jmp(r, dst, src_reg),
        class::LDX => {
            zero(r.imm.into(), Field::Imm)?;
            let size = Size::from_code(r.opcode);
            match r.opcode & 0xe0 {
                mode::MEM => Ok(Insn::Load {
                    size,
                    dst,
                    src: src_reg,
                    off: r.off,
                }),
                mode::MEMSX if size != Size::DW => Ok(Insn::LoadSx {
                    size,
                    dst,
                    src: src_reg,
                    off: r.off,
                }),
                _ => Err(unknown),
            }
        }
        class::ST => {
            if r.opcode & 0xe0 != mode::MEM {
                return Err(unknown);
            }
            zero(r.src.into(), Field::Src)?;
            Ok(Insn::Store {
                size: Size::from_code(r.opcode),
                dst,
                off: r.off,
                imm: r.imm,
            })
        }
        class::STX => {
            let size = Size::from_code(r.opcode);
            match r.opcode & 0xe0 {
                mode::MEM => {
                    zero(r.imm.into(), Field::Imm)?;
                    Ok(Insn::StoreReg {
                        size,
                        dst,
                        src: src_reg,
                        off: r.off,
                    })
                }
                mode::ATOMIC if matches!(size, Size::W | Size::DW) => {
                    let op = AtomicOp::from_imm(r.imm)
                        .ok_or(DecodeErrorKind::ReservedField(Field::Imm))?;
                    Ok(Insn::Atomic {
                        size,
                        op,
                        dst,
                        src: src_reg,
                        off: r.off,
                    })
                }
                _ => Err(unknown),
            }
        }
        // class::LD
        _ => {
            let size = Size::from_code(r.opcode);
            match r.opcode & 0xe0 {
                mode::IMM if size == Size::DW => {
                    zero(r.off.into(), Field::Offset)?;
                    let tail = next().ok_or(DecodeErrorKind::TruncatedLddw)?;
                    if tail.opcode != 0 || tail.dst != 0 || tail.src != 0 || tail.off != 0 {
                        return Err(DecodeErrorKind::BadLddwTail);
                    }
                    let low = r.imm as u32;
                    let high = tail.imm as u32;
                    let no_high = if high == 0 {
                        Ok(())
                    } else {
                        Err(DecodeErrorKind::BadLddwTail)
                    };
                    let value = match r.src {
                        pseudo::IMM64 => Imm64::Value(u64::from(high) << 32 | u64::from(low)),
                        pseudo::MAP_FD => no_high.map(|()| Imm64::MapFd(r.imm))?,
                        pseudo::MAP_VALUE => Imm64::MapValue {
                            fd: r.imm,
                            offset: high,
                        },
                        pseudo::VAR_ADDR => no_high.map(|()| Imm64::VarAddr(r.imm))?,
                        pseudo::CODE_ADDR => no_high.map(|()| Imm64::CodeAddr(r.imm))?,
                        pseudo::MAP_IDX => no_high.map(|()| Imm64::MapIndex(r.imm))?,
                        pseudo::MAP_IDX_VALUE => Imm64::MapIndexValue {
                            index: r.imm,
                            offset: high,
                        },
                        _ => return Err(DecodeErrorKind::ReservedField(Field::Src)),
                    };
                    Ok(Insn::LoadImm64 { dst, value })
                }
                mode::ABS | mode::IND if size != Size::DW => {
                    zero(r.dst.into(), Field::Dst)?;
                    zero(r.off.into(), Field::Offset)?;
                    if r.opcode & 0xe0 == mode::ABS {
                        zero(r.src.into(), Field::Src)?;
                        Ok(Insn::LoadAbs { size, imm: r.imm })
                    } else {
                        Ok(Insn::LoadInd {
                            size,
                            src: src_reg,
                            imm: r.imm,
                        })
                    }
                }
                _ => Err(unknown),
            }
        }
    }
}

fn decode_alu(r: RawInsn, dst: Reg, src_reg: Reg) -> Result<Insn, DecodeErrorKind> {
    let width = if r.class() == class::ALU64 {
        Width::W64
    } else {
        Width::W32
    };
    let is_x = r.opcode & SRC_X != 0;
    let code = r.opcode & 0xf0;
    let unknown = DecodeErrorKind::UnknownOpcode(r.opcode);
    if code == 0xd0 {
        // END uses the immediate as the conversion width and the source bit
        // as the byte order, so it does not fit the operand rules below.
        if width == Width::W64 && is_x {
            return Err(unknown);
        }
        zero(r.off.into(), Field::Offset)?;
        zero(r.src.into(), Field::Src)?;
        let size = Size::from_bits(r.imm).ok_or(DecodeErrorKind::ReservedField(Field::Imm))?;
        return match (width, is_x) {
            (Width::W32, false) => Ok(Insn::Endian {
                order: ByteOrder::Little,
                size,
                dst,
            }),
            (Width::W32, true) => Ok(Insn::Endian {
                order: ByteOrder::Big,
                size,
                dst,
            }),
            (Width::W64, _) => Ok(Insn::Bswap { size, dst }),
        };
    }
    let src = if is_x {
        zero(r.imm.into(), Field::Imm)?;
        Operand::Reg(src_reg)
    } else {
        zero(r.src.into(), Field::Src)?;
        Operand::Imm(r.imm)
    };
    let op = match (code, r.off) {
        (0x00, 0) => AluOp::Add,
        (0x10, 0) => AluOp::Sub,
        (0x20, 0) => AluOp::Mul,
        (0x30, 0) => AluOp::Div,
        (0x30, 1) => AluOp::SDiv,
        (0x40, 0) => AluOp::Or,
        (0x50, 0) => AluOp::And,
        (0x60, 0) => AluOp::Lsh,
        (0x70, 0) => AluOp::Rsh,
        (0x90, 0) => AluOp::Mod,
        (0x90, 1) => AluOp::SMod,
        (0xa0, 0) => AluOp::Xor,
        (0xb0, 0) => AluOp::Mov,
        (0xc0, 0) => AluOp::Arsh,
        (0xb0, off) if is_x => {
            let from = match (off, width) {
                (8, _) => Size::B,
                (16, _) => Size::H,
                (32, Width::W64) => Size::W,
                _ => return Err(DecodeErrorKind::ReservedField(Field::Offset)),
            };
            return Ok(Insn::MovSx {
                width,
                from,
                dst,
                src: src_reg,
            });
        }
        (0x80, off) => {
            if is_x {
                return Err(unknown);
            }
            zero(off.into(), Field::Offset)?;
            zero(r.imm.into(), Field::Imm)?;
            return Ok(Insn::Neg { width, dst });
        }
        (0x00..=0xc0, _) => return Err(DecodeErrorKind::ReservedField(Field::Offset)),
        _ => return Err(unknown),
    };
    Ok(Insn::Alu {
        width,
        op,
        dst,
        src,
    })
}

fn decode_jmp(r: RawInsn, dst: Reg, src_reg: Reg) -> Result<Insn, DecodeErrorKind> {
    let width = if r.class() == class::JMP {
        Width::W64
    } else {
        Width::W32
    };
    let is_x = r.opcode & SRC_X != 0;
    let code = r.opcode & 0xf0;
    let unknown = DecodeErrorKind::UnknownOpcode(r.opcode);
    match code {
        0x00 => {
            if is_x {
                return Err(unknown);
            }
            zero(r.dst.into(), Field::Dst)?;
            zero(r.src.into(), Field::Src)?;
            match width {
                Width::W64 => {
                    zero(r.imm.into(), Field::Imm)?;
                    Ok(Insn::Ja { off: r.off })
                }
                Width::W32 => {
                    zero(r.off.into(), Field::Offset)?;
                    Ok(Insn::JaLong { imm: r.imm })
                }
            }
        }
        0x80 => {
            if is_x || width == Width::W32 {
                return Err(unknown);
            }
            zero(r.dst.into(), Field::Dst)?;
            zero(r.off.into(), Field::Offset)?;
            match r.src {
                pseudo::CALL_HELPER => Ok(Insn::Call { id: r.imm }),
                pseudo::CALL_LOCAL => Ok(Insn::CallLocal { offset: r.imm }),
                pseudo::CALL_KFUNC => Ok(Insn::CallKfunc { btf_id: r.imm }),
                _ => Err(DecodeErrorKind::ReservedField(Field::Src)),
            }
        }
        0x90 => {
            if is_x || width == Width::W32 {
                return Err(unknown);
            }
            zero(r.dst.into(), Field::Dst)?;
            zero(r.src.into(), Field::Src)?;
            zero(r.off.into(), Field::Offset)?;
            zero(r.imm.into(), Field::Imm)?;
            Ok(Insn::Exit)
        }
        _ => {
            let cond = JmpCond::from_code(code).ok_or(unknown)?;
            let src = if is_x {
                zero(r.imm.into(), Field::Imm)?;
                Operand::Reg(src_reg)
            } else {
                zero(r.src.into(), Field::Src)?;
                Operand::Imm(r.imm)
            };
            Ok(Insn::Jump {
                width,
                cond,
                dst,
                src,
                off: r.off,
            })
        }
    }
}
