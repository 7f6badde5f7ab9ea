//! Reference semantics of arithmetic, in one function.
//!
//! The interpreter has its own specialised arm per operation for speed;
//! this is the plain statement of RFC 9669's rules (wrapping arithmetic,
//! division by zero gives zero, modulo zero keeps the dividend, signed
//! `INT_MIN / -1` wraps, shift amounts masked to the width, 32-bit results
//! zero-extended). The verifier folds constants with it, and the tests
//! check the interpreter against it.

use crate::isa::{AluOp, Width};

/// `a op b` at `width`; for 32-bit operations only the low halves of `a`
/// and `b` matter and the result is zero-extended.
#[must_use]
pub fn alu(width: Width, op: AluOp, a: u64, b: u64) -> u64 {
    match width {
        Width::W64 => alu64(op, a, b),
        Width::W32 => u64::from(alu32(op, a as u32, b as u32)),
    }
}

fn alu64(op: AluOp, a: u64, b: u64) -> u64 {
    let (sa, sb) = (a as i64, b as i64);
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => a.checked_div(b).unwrap_or(0),
        AluOp::SDiv => {
            if sb == 0 {
                0
            } else {
                sa.wrapping_div(sb) as u64
            }
        }
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Lsh => a << (b & 63),
        AluOp::Rsh => a >> (b & 63),
        AluOp::Mod => a.checked_rem(b).unwrap_or(a),
        AluOp::SMod => {
            if sb == 0 {
                a
            } else {
                sa.wrapping_rem(sb) as u64
            }
        }
        AluOp::Xor => a ^ b,
        AluOp::Mov => b,
        AluOp::Arsh => (sa >> (b & 63)) as u64,
    }
}

fn alu32(op: AluOp, a: u32, b: u32) -> u32 {
    let (sa, sb) = (a as i32, b as i32);
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => a.checked_div(b).unwrap_or(0),
        AluOp::SDiv => {
            if sb == 0 {
                0
            } else {
                sa.wrapping_div(sb) as u32
            }
        }
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Lsh => a << (b & 31),
        AluOp::Rsh => a >> (b & 31),
        AluOp::Mod => a.checked_rem(b).unwrap_or(a),
        AluOp::SMod => {
            if sb == 0 {
                a
            } else {
                sa.wrapping_rem(sb) as u32
            }
        }
        AluOp::Xor => a ^ b,
        AluOp::Mov => b,
        AluOp::Arsh => (sa >> (b & 31)) as u32,
    }
}
