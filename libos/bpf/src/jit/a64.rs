//! A tiny A64 (AArch64) encoder: the instruction forms the aarch64 JIT
//! emits, with labels.
//!
//! Every instruction is one little-endian 32-bit word. Each method below
//! names the Arm ARM encoding class it fills in; the unit tests check the
//! words against `aarch64-linux-gnu-objdump -d` of the same assembly.
//!
//! Conditional branches (`b.cond`, `cbz`, `cbnz`) reach ±1 MiB, plain
//! `b`/`bl` ±128 MiB. An [`Asm`] made with `long_branches` set emits every
//! conditional branch as the inverted condition over an unconditional
//! `b`; [`Asm::finish`] says [`FinishError::OutOfRange`] when a short one
//! does not reach, and the JIT then translates again with long branches.

use alloc::vec;
use alloc::vec::Vec;

/// Register 31: the zero register in most encodings, `sp` in the
/// add/sub-immediate and load/store base fields.
pub(crate) const ZR: u8 = 31;
/// The stack pointer, where an encoding reads register 31 as `sp`.
pub(crate) const SP: u8 = 31;
/// The frame pointer.
pub(crate) const FP: u8 = 29;
/// The link register.
pub(crate) const LR: u8 = 30;

/// Operand width: the `sf` bit. `W` operations write the low 32 bits and
/// zero the upper 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sz {
    /// 32-bit (`w` registers).
    W,
    /// 64-bit (`x` registers).
    X,
}

impl Sz {
    fn sf(self) -> u32 {
        match self {
            Sz::W => 0,
            Sz::X => 1 << 31,
        }
    }

    fn bits(self) -> u32 {
        match self {
            Sz::W => 32,
            Sz::X => 64,
        }
    }

    fn mask(self) -> u64 {
        match self {
            Sz::W => u64::from(u32::MAX),
            Sz::X => u64::MAX,
        }
    }
}

/// Add/subtract operations (`op` and `S` bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddSub {
    Add = 0b00,
    Adds = 0b01,
    Sub = 0b10,
    Subs = 0b11,
}

/// Logical operations (`opc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Logic {
    And = 0b00,
    Orr = 0b01,
    Eor = 0b10,
    Ands = 0b11,
}

/// Data-processing (2 source) operations (`opcode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dp2 {
    Udiv = 0b00_0010,
    Sdiv = 0b00_0011,
    Lslv = 0b00_1000,
    Lsrv = 0b00_1001,
    Asrv = 0b00_1010,
}

/// Condition codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    Eq = 0x0,
    Ne = 0x1,
    Hs = 0x2,
    Lo = 0x3,
    Hi = 0x8,
    Ls = 0x9,
    Ge = 0xa,
    Lt = 0xb,
    Gt = 0xc,
    Le = 0xd,
}

impl Cond {
    /// The opposite condition (flipping the low bit).
    pub(crate) fn invert(self) -> Cond {
        match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Hs => Cond::Lo,
            Cond::Lo => Cond::Hs,
            Cond::Hi => Cond::Ls,
            Cond::Ls => Cond::Hi,
            Cond::Ge => Cond::Lt,
            Cond::Lt => Cond::Ge,
            Cond::Gt => Cond::Le,
            Cond::Le => Cond::Gt,
        }
    }
}

/// Addressing mode of `ldp`/`stp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pair {
    /// `[base, #imm]`.
    Offset,
    /// `[base, #imm]!`.
    Pre,
    /// `[base], #imm`.
    Post,
}

/// A position in the code, bound once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

#[derive(Clone, Copy, Debug)]
enum Fixup {
    /// `b`/`bl`: imm26 in bits 0-25.
    Imm26,
    /// `b.cond`/`cbz`/`cbnz`: imm19 in bits 5-23.
    Imm19,
}

/// Why [`Asm::finish`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FinishError {
    /// A label used but never bound.
    Unbound,
    /// A conditional branch beyond ±1 MiB (retry with long branches).
    OutOfRange,
    /// An unconditional branch beyond ±128 MiB.
    TooFar,
}

/// The bitmask-immediate encoding (`N:immr:imms`, 13 bits) of `value` at
/// width `sz`, if it has one: a rotated run of ones replicated across
/// 2-, 4-, 8-, 16-, 32- or 64-bit elements.
pub(crate) fn logical_imm(value: u64, sz: Sz) -> Option<u32> {
    let mut imm = value & sz.mask();
    if sz == Sz::W {
        imm |= imm << 32;
    }
    if imm == 0 || imm == u64::MAX {
        return None;
    }
    // The element size: the smallest power of two the value repeats at.
    let mut size = 64u32;
    while size > 2 {
        let half = size / 2;
        let mask = (1u64 << half) - 1;
        if imm & mask != (imm >> half) & mask {
            break;
        }
        size = half;
    }
    let mask = u64::MAX >> (64 - size);
    let elem = imm & mask;
    let shifted_mask = |x: u64| x != 0 && ((x | (x - 1)).wrapping_add(1) & (x | (x - 1))) == 0;
    // Rotation `i` and run length `ones` with elem = ROR(ones, ...).
    let (i, ones) = if shifted_mask(elem) {
        let i = elem.trailing_zeros();
        (i, (elem >> i).trailing_ones())
    } else {
        let wide = elem | !mask;
        if !shifted_mask(!wide) {
            return None;
        }
        let leading = wide.leading_ones();
        let i = 64 - leading;
        (i, leading + wide.trailing_ones() - (64 - size))
    };
    let immr = (size - i) & (size - 1);
    let nimms = ((!(u64::from(size) - 1)) << 1) | u64::from(ones - 1);
    let n = ((nimms >> 6) & 1) as u32 ^ 1;
    Some(n << 12 | immr << 6 | (nimms & 0x3f) as u32)
}

/// An instruction buffer with labels.
#[derive(Debug, Default)]
pub(crate) struct Asm {
    code: Vec<u32>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label, Fixup)>,
    long_branches: bool,
}

impl Asm {
    /// An empty buffer; `long_branches` makes every conditional branch
    /// reach ±128 MiB.
    pub(crate) fn new(long_branches: bool) -> Asm {
        Asm {
            long_branches,
            ..Asm::default()
        }
    }

    /// A fresh label.
    pub(crate) fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// `count` fresh labels.
    pub(crate) fn labels(&mut self, count: usize) -> Vec<Label> {
        let first = self.labels.len();
        self.labels.extend(vec![None; count]);
        (first..first + count).map(Label).collect()
    }

    /// Binds `label` to the current position.
    pub(crate) fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.code.len());
    }

    /// Patches every branch and returns the code bytes.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, FinishError> {
        for &(at, label, kind) in &self.fixups {
            let target = self.labels[label.0].ok_or(FinishError::Unbound)?;
            let rel = target as i64 - at as i64;
            let word = &mut self.code[at];
            match kind {
                Fixup::Imm26 => {
                    if !(-(1 << 25)..1 << 25).contains(&rel) {
                        return Err(FinishError::TooFar);
                    }
                    *word |= rel as u32 & 0x03ff_ffff;
                }
                Fixup::Imm19 => {
                    if !(-(1 << 18)..1 << 18).contains(&rel) {
                        return Err(FinishError::OutOfRange);
                    }
                    *word |= (rel as u32 & 0x7_ffff) << 5;
                }
            }
        }
        Ok(self.code.iter().flat_map(|w| w.to_le_bytes()).collect())
    }

    /// Appends one instruction word.
    pub(crate) fn emit(&mut self, word: u32) {
        self.code.push(word);
    }

    fn fixup(&mut self, word: u32, label: Label, kind: Fixup) {
        self.fixups.push((self.code.len(), label, kind));
        self.emit(word);
    }

    /// Add/subtract (immediate): `rd = rn op imm12 << (12 if lsl12)`.
    /// Register 31 is `sp` as `rn`, and as `rd` unless the op sets flags.
    pub(crate) fn addsub_imm(
        &mut self,
        sz: Sz,
        op: AddSub,
        rd: u8,
        rn: u8,
        imm12: u32,
        lsl12: bool,
    ) {
        debug_assert!(imm12 < 4096);
        self.emit(
            sz.sf()
                | (op as u32) << 29
                | 0x1100_0000
                | u32::from(lsl12) << 22
                | (imm12 & 0xfff) << 10
                | u32::from(rn) << 5
                | u32::from(rd),
        );
    }

    /// Add/subtract (shifted register): `rd = rn op (rm << lsl)`.
    pub(crate) fn addsub_reg(&mut self, sz: Sz, op: AddSub, rd: u8, rn: u8, rm: u8, lsl: u32) {
        debug_assert!(lsl < sz.bits());
        self.emit(
            sz.sf()
                | (op as u32) << 29
                | 0x0b00_0000
                | u32::from(rm) << 16
                | lsl << 10
                | u32::from(rn) << 5
                | u32::from(rd),
        );
    }

    /// Logical (shifted register, no shift): `rd = rn op rm`.
    pub(crate) fn logic_reg(&mut self, sz: Sz, op: Logic, rd: u8, rn: u8, rm: u8) {
        self.emit(
            sz.sf()
                | (op as u32) << 29
                | 0x0a00_0000
                | u32::from(rm) << 16
                | u32::from(rn) << 5
                | u32::from(rd),
        );
    }

    /// Logical (immediate), with a [`logical_imm`] encoding. Register 31
    /// as `rd` is `sp` unless the op is `ands`.
    pub(crate) fn logic_imm(&mut self, sz: Sz, op: Logic, rd: u8, rn: u8, encoding: u32) {
        debug_assert!(sz == Sz::X || encoding & 1 << 12 == 0);
        self.emit(
            sz.sf()
                | (op as u32) << 29
                | 0x1200_0000
                | (encoding & 0x1fff) << 10
                | u32::from(rn) << 5
                | u32::from(rd),
        );
    }

    /// `mov rd, rm` (`orr rd, zr, rm`).
    pub(crate) fn mov(&mut self, sz: Sz, rd: u8, rm: u8) {
        self.logic_reg(sz, Logic::Orr, rd, ZR, rm);
    }

    /// Move wide: `movn` (opc 0), `movz` (2), `movk` (3) of `imm16` at
    /// halfword `hw`.
    fn movw(&mut self, sz: Sz, opc: u32, rd: u8, imm16: u16, hw: u32) {
        debug_assert!(hw < sz.bits() / 16);
        self.emit(
            sz.sf() | opc << 29 | 0x1280_0000 | hw << 21 | u32::from(imm16) << 5 | u32::from(rd),
        );
    }

    /// `movz rd, #imm16, lsl #16*hw`.
    pub(crate) fn movz(&mut self, sz: Sz, rd: u8, imm16: u16, hw: u32) {
        self.movw(sz, 0b10, rd, imm16, hw);
    }

    /// `movn rd, #imm16, lsl #16*hw`.
    pub(crate) fn movn(&mut self, sz: Sz, rd: u8, imm16: u16, hw: u32) {
        self.movw(sz, 0b00, rd, imm16, hw);
    }

    /// `movk rd, #imm16, lsl #16*hw`.
    pub(crate) fn movk(&mut self, sz: Sz, rd: u8, imm16: u16, hw: u32) {
        self.movw(sz, 0b11, rd, imm16, hw);
    }

    /// `rd = value` (truncated to `sz`) in the fewest instructions of
    /// `movz`/`movn` + `movk`, or one `orr` of a bitmask immediate.
    pub(crate) fn mov_imm(&mut self, sz: Sz, rd: u8, value: u64) {
        debug_assert!(rd != ZR);
        let value = value & sz.mask();
        let n = (sz.bits() / 16) as usize;
        let mut parts = [0u16; 4];
        for (i, p) in parts.iter_mut().take(n).enumerate() {
            *p = (value >> (16 * i)) as u16;
        }
        let parts = &parts[..n];
        let zeros = parts.iter().filter(|&&p| p == 0).count();
        let ones = parts.iter().filter(|&&p| p == 0xffff).count();
        if zeros + 1 < n
            && ones + 1 < n
            && let Some(encoding) = logical_imm(value, sz)
        {
            self.logic_imm(sz, Logic::Orr, rd, ZR, encoding);
            return;
        }
        let inverted = ones > zeros;
        let skip = if inverted { 0xffff } else { 0 };
        let mut first = true;
        for (hw, &p) in parts.iter().enumerate() {
            if p == skip {
                continue;
            }
            let hw = hw as u32;
            if first {
                if inverted {
                    self.movn(sz, rd, !p, hw);
                } else {
                    self.movz(sz, rd, p, hw);
                }
                first = false;
            } else {
                self.movk(sz, rd, p, hw);
            }
        }
        if first {
            // Every halfword is `skip`: 0 or all ones.
            if inverted {
                self.movn(sz, rd, 0, 0);
            } else {
                self.movz(sz, rd, 0, 0);
            }
        }
    }

    /// Data-processing (2 source): `rd = rn op rm`.
    pub(crate) fn dp2(&mut self, sz: Sz, op: Dp2, rd: u8, rn: u8, rm: u8) {
        self.emit(
            sz.sf()
                | 0x1ac0_0000
                | u32::from(rm) << 16
                | (op as u32) << 10
                | u32::from(rn) << 5
                | u32::from(rd),
        );
    }

    /// `madd` (`rd = ra + rn * rm`) or, with `sub`, `msub`
    /// (`rd = ra - rn * rm`).
    pub(crate) fn madd(&mut self, sz: Sz, sub: bool, rd: u8, rn: u8, rm: u8, ra: u8) {
        self.emit(
            sz.sf()
                | 0x1b00_0000
                | u32::from(rm) << 16
                | u32::from(sub) << 15
                | u32::from(ra) << 10
                | u32::from(rn) << 5
                | u32::from(rd),
        );
    }

    /// Bitfield move: `sbfm` (`signed`) or `ubfm`.
    pub(crate) fn bfm(&mut self, sz: Sz, signed: bool, rd: u8, rn: u8, immr: u32, imms: u32) {
        debug_assert!(immr < sz.bits() && imms < sz.bits());
        let opc = if signed { 0b00 } else { 0b10 };
        let n = u32::from(sz == Sz::X);
        self.emit(
            sz.sf()
                | opc << 29
                | 0x1300_0000
                | n << 22
                | immr << 16
                | imms << 10
                | u32::from(rn) << 5
                | u32::from(rd),
        );
    }

    /// `lsl rd, rn, #amount` (`ubfm`).
    pub(crate) fn lsl_imm(&mut self, sz: Sz, rd: u8, rn: u8, amount: u32) {
        let bits = sz.bits();
        let amount = amount % bits;
        self.bfm(sz, false, rd, rn, (bits - amount) % bits, bits - 1 - amount);
    }

    /// `lsr rd, rn, #amount` (`ubfm`).
    pub(crate) fn lsr_imm(&mut self, sz: Sz, rd: u8, rn: u8, amount: u32) {
        self.bfm(sz, false, rd, rn, amount % sz.bits(), sz.bits() - 1);
    }

    /// `asr rd, rn, #amount` (`sbfm`).
    pub(crate) fn asr_imm(&mut self, sz: Sz, rd: u8, rn: u8, amount: u32) {
        self.bfm(sz, true, rd, rn, amount % sz.bits(), sz.bits() - 1);
    }

    /// Data-processing (1 source) byte reversal: `rev16` (opcode 1),
    /// `rev` of a `w` register (2) or `rev` of an `x` register (3).
    pub(crate) fn rev(&mut self, sz: Sz, opcode: u32, rd: u8, rn: u8) {
        debug_assert!(opcode <= 3);
        self.emit(sz.sf() | 0x5ac0_0000 | opcode << 10 | u32::from(rn) << 5 | u32::from(rd));
    }

    /// `ldr xt, [xn, #offset]` (unsigned, scaled offset).
    pub(crate) fn ldr(&mut self, rt: u8, rn: u8, offset: i32) {
        self.emit(0xf940_0000 | scaled(offset) << 10 | u32::from(rn) << 5 | u32::from(rt));
    }

    /// `str xt, [xn, #offset]` (unsigned, scaled offset).
    pub(crate) fn str(&mut self, rt: u8, rn: u8, offset: i32) {
        self.emit(0xf900_0000 | scaled(offset) << 10 | u32::from(rn) << 5 | u32::from(rt));
    }

    /// A load of `bytes` (1, 2, 4 or 8) from `[xn]` into `xt`,
    /// zero-extended (`ldrb`, `ldrh`, `ldr wt`, `ldr xt`) or, with
    /// `signed`, sign-extended to 64 bits (`ldrsb`, `ldrsh`, `ldrsw`).
    pub(crate) fn load_sized(&mut self, rt: u8, rn: u8, bytes: u8, signed: bool) {
        let op = match (bytes, signed) {
            (1, false) => 0x3940_0000,
            (2, false) => 0x7940_0000,
            (4, false) => 0xb940_0000,
            (1, true) => 0x3980_0000,
            (2, true) => 0x7980_0000,
            (4, true) => 0xb980_0000,
            _ => 0xf940_0000,
        };
        self.emit(op | u32::from(rn) << 5 | u32::from(rt));
    }

    /// A store of the low `bytes` (1, 2, 4 or 8) of `xt` to `[xn]`
    /// (`strb`, `strh`, `str wt`, `str xt`).
    pub(crate) fn store_sized(&mut self, rt: u8, rn: u8, bytes: u8) {
        let op = match bytes {
            1 => 0x3900_0000,
            2 => 0x7900_0000,
            4 => 0xb900_0000,
            _ => 0xf900_0000,
        };
        self.emit(op | u32::from(rn) << 5 | u32::from(rt));
    }

    fn pair(&mut self, load: bool, mode: Pair, rt: u8, rt2: u8, rn: u8, offset: i32) {
        debug_assert!(offset % 8 == 0 && (-512..512).contains(&offset));
        let mode = match mode {
            Pair::Post => 0b01,
            Pair::Offset => 0b10,
            Pair::Pre => 0b11,
        };
        self.emit(
            0xa800_0000
                | mode << 23
                | u32::from(load) << 22
                | ((offset / 8) as u32 & 0x7f) << 15
                | u32::from(rt2) << 10
                | u32::from(rn) << 5
                | u32::from(rt),
        );
    }

    /// `stp xt, xt2, [xn, #offset]` in `mode`.
    pub(crate) fn stp(&mut self, mode: Pair, rt: u8, rt2: u8, rn: u8, offset: i32) {
        self.pair(false, mode, rt, rt2, rn, offset);
    }

    /// `ldp xt, xt2, [xn, #offset]` in `mode`.
    pub(crate) fn ldp(&mut self, mode: Pair, rt: u8, rt2: u8, rn: u8, offset: i32) {
        self.pair(true, mode, rt, rt2, rn, offset);
    }

    /// `b label`.
    pub(crate) fn b(&mut self, label: Label) {
        self.fixup(0x1400_0000, label, Fixup::Imm26);
    }

    /// `bl label`.
    pub(crate) fn bl(&mut self, label: Label) {
        self.fixup(0x9400_0000, label, Fixup::Imm26);
    }

    /// `b.cond label` (or `b.!cond .+8; b label` with long branches).
    pub(crate) fn b_cond(&mut self, cond: Cond, label: Label) {
        if self.long_branches {
            self.emit(0x5400_0000 | 2 << 5 | cond.invert() as u32);
            self.b(label);
        } else {
            self.fixup(0x5400_0000 | cond as u32, label, Fixup::Imm19);
        }
    }

    /// `cbz xt, label` (or `cbnz`, with `nonzero`; long branches as for
    /// [`Asm::b_cond`]).
    pub(crate) fn cbz(&mut self, nonzero: bool, rt: u8, label: Label) {
        let op = |nonzero: bool| 0xb400_0000 | u32::from(nonzero) << 24 | u32::from(rt);
        if self.long_branches {
            self.emit(op(!nonzero) | 2 << 5);
            self.b(label);
        } else {
            self.fixup(op(nonzero), label, Fixup::Imm19);
        }
    }

    /// `blr xn`.
    pub(crate) fn blr(&mut self, rn: u8) {
        self.emit(0xd63f_0000 | u32::from(rn) << 5);
    }

    /// `ret` (to `x30`).
    pub(crate) fn ret(&mut self) {
        self.emit(0xd65f_03c0);
    }
}

/// The imm12 field of a 64-bit load/store at `offset` bytes.
fn scaled(offset: i32) -> u32 {
    debug_assert!(offset % 8 == 0 && (0..8 * 4096).contains(&offset));
    (offset as u32 / 8) & 0xfff
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case<'a> = (u32, &'a dyn Fn(&mut Asm));

    fn words(f: impl FnOnce(&mut Asm)) -> Vec<u32> {
        let mut a = Asm::default();
        f(&mut a);
        a.code
    }

    fn one(f: impl FnOnce(&mut Asm)) -> u32 {
        let w = words(f);
        assert_eq!(w.len(), 1, "{w:x?}");
        w[0]
    }

    /// Every word checked against `aarch64-linux-gnu-objdump -d` of the
    /// assembly in the comment.
    #[test]
    fn encodings_match_the_assembler() {
        use AddSub::*;
        let cases: &[Case<'_>] = &[
            // ldrb w9, [x15]; ldrh w10, [x15]; ldr w11, [x15]; ldr x12, [x15]
            (0x394001e9, &|a| a.load_sized(9, 15, 1, false)),
            (0x794001ea, &|a| a.load_sized(10, 15, 2, false)),
            (0xb94001eb, &|a| a.load_sized(11, 15, 4, false)),
            (0xf94001ec, &|a| a.load_sized(12, 15, 8, false)),
            // ldrsb x13, [x15]; ldrsh x14, [x15]; ldrsw x19, [x15]
            (0x398001ed, &|a| a.load_sized(13, 15, 1, true)),
            (0x798001ee, &|a| a.load_sized(14, 15, 2, true)),
            (0xb98001f3, &|a| a.load_sized(19, 15, 4, true)),
            // strb w20, [x15]; strh w21, [x15]; str w22, [x15]; str x16, [x15]
            (0x390001f4, &|a| a.store_sized(20, 15, 1)),
            (0x790001f5, &|a| a.store_sized(21, 15, 2)),
            (0xb90001f6, &|a| a.store_sized(22, 15, 4)),
            (0xf90001f0, &|a| a.store_sized(16, 15, 8)),
            // add x9, x10, #0x123
            (0x91048d49, &|a| {
                a.addsub_imm(Sz::X, Add, 9, 10, 0x123, false)
            }),
            // sub w9, w9, #0x1, lsl #12
            (0x51400529, &|a| a.addsub_imm(Sz::W, Sub, 9, 9, 1, true)),
            // cmp x19, #0xfff
            (0xf13ffe7f, &|a| {
                a.addsub_imm(Sz::X, Subs, ZR, 19, 0xfff, false)
            }),
            // cmn w9, #0x1
            (0x3100053f, &|a| a.addsub_imm(Sz::W, Adds, ZR, 9, 1, false)),
            // mov x16, sp
            (0x910003f0, &|a| a.addsub_imm(Sz::X, Add, 16, SP, 0, false)),
            // mov sp, x16
            (0x9100021f, &|a| a.addsub_imm(Sz::X, Add, SP, 16, 0, false)),
            // add x23, x17, x16, lsl #32
            (0x8b108237, &|a| a.addsub_reg(Sz::X, Add, 23, 17, 16, 32)),
            // sub w12, w13, w14
            (0x4b0e01ac, &|a| a.addsub_reg(Sz::W, Sub, 12, 13, 14, 0)),
            // cmp x9, x20
            (0xeb14013f, &|a| a.addsub_reg(Sz::X, Subs, ZR, 9, 20, 0)),
            // neg w9, w9
            (0x4b0903e9, &|a| a.addsub_reg(Sz::W, Sub, 9, ZR, 9, 0)),
            // and x9, x9, x10
            (0x8a0a0129, &|a| a.logic_reg(Sz::X, Logic::And, 9, 9, 10)),
            // eor w19, w19, w20
            (0x4a140273, &|a| a.logic_reg(Sz::W, Logic::Eor, 19, 19, 20)),
            // tst x9, x10
            (0xea0a013f, &|a| a.logic_reg(Sz::X, Logic::Ands, ZR, 9, 10)),
            // mov x9, x10
            (0xaa0a03e9, &|a| a.mov(Sz::X, 9, 10)),
            // mov w9, w9
            (0x2a0903e9, &|a| a.mov(Sz::W, 9, 9)),
            // and x9, x9, #0xff
            (0x92401d29, &|a| {
                a.logic_imm(Sz::X, Logic::And, 9, 9, logical_imm(0xff, Sz::X).unwrap());
            }),
            // orr w9, w9, #0xf0f0f0f0
            (0x3204cd29, &|a| {
                a.logic_imm(
                    Sz::W,
                    Logic::Orr,
                    9,
                    9,
                    logical_imm(0xf0f0_f0f0, Sz::W).unwrap(),
                );
            }),
            // eor x9, x9, #0x8000000000000000
            (0xd2410129, &|a| {
                let e = logical_imm(1 << 63, Sz::X).unwrap();
                a.logic_imm(Sz::X, Logic::Eor, 9, 9, e);
            }),
            // tst x9, #0xfffffffffffffffe
            (0xf27ff93f, &|a| {
                let e = logical_imm(!1, Sz::X).unwrap();
                a.logic_imm(Sz::X, Logic::Ands, ZR, 9, e);
            }),
            // movz x9, #0x1234, lsl #16
            (0xd2a24689, &|a| a.movz(Sz::X, 9, 0x1234, 1)),
            // movn w9, #0x0
            (0x12800009, &|a| a.movn(Sz::W, 9, 0, 0)),
            // movk x9, #0xbeef, lsl #48
            (0xf2f7dde9, &|a| a.movk(Sz::X, 9, 0xbeef, 3)),
            // udiv x16, x9, x10
            (0x9aca0930, &|a| a.dp2(Sz::X, Dp2::Udiv, 16, 9, 10)),
            // sdiv w9, w9, w17
            (0x1ad10d29, &|a| a.dp2(Sz::W, Dp2::Sdiv, 9, 9, 17)),
            // lsl x9, x9, x10
            (0x9aca2129, &|a| a.dp2(Sz::X, Dp2::Lslv, 9, 9, 10)),
            // lsr w9, w9, w10
            (0x1aca2529, &|a| a.dp2(Sz::W, Dp2::Lsrv, 9, 9, 10)),
            // asr x9, x9, x10
            (0x9aca2929, &|a| a.dp2(Sz::X, Dp2::Asrv, 9, 9, 10)),
            // mul x9, x9, x10
            (0x9b0a7d29, &|a| a.madd(Sz::X, false, 9, 9, 10, ZR)),
            // msub w9, w16, w10, w9
            (0x1b0aa609, &|a| a.madd(Sz::W, true, 9, 16, 10, 9)),
            // lsl x9, x9, #3
            (0xd37df129, &|a| a.lsl_imm(Sz::X, 9, 9, 3)),
            // lsl w9, w9, #31
            (0x53010129, &|a| a.lsl_imm(Sz::W, 9, 9, 31)),
            // lsr x9, x9, #63
            (0xd37ffd29, &|a| a.lsr_imm(Sz::X, 9, 9, 63)),
            // lsr w9, w9, #0
            (0x53007d29, &|a| a.lsr_imm(Sz::W, 9, 9, 0)),
            // asr w9, w9, #5
            (0x13057d29, &|a| a.asr_imm(Sz::W, 9, 9, 5)),
            // sxtb x9, w10
            (0x93401d49, &|a| a.bfm(Sz::X, true, 9, 10, 0, 7)),
            // sxth w9, w10
            (0x13003d49, &|a| a.bfm(Sz::W, true, 9, 10, 0, 15)),
            // sxtw x9, w10
            (0x93407d49, &|a| a.bfm(Sz::X, true, 9, 10, 0, 31)),
            // uxth w9, w9
            (0x53003d29, &|a| a.bfm(Sz::W, false, 9, 9, 0, 15)),
            // rev16 w9, w9
            (0x5ac00529, &|a| a.rev(Sz::W, 1, 9, 9)),
            // rev w9, w9
            (0x5ac00929, &|a| a.rev(Sz::W, 2, 9, 9)),
            // rev x9, x9
            (0xdac00d29, &|a| a.rev(Sz::X, 3, 9, 9)),
            // ldr x25, [x24, #40]
            (0xf9401719, &|a| a.ldr(25, 24, 40)),
            // str x16, [x24, #48]
            (0xf9001b10, &|a| a.str(16, 24, 48)),
            // stp x29, x30, [sp, #-80]!
            (0xa9bb7bfd, &|a| a.stp(Pair::Pre, FP, LR, SP, -80)),
            // stp x13, x14, [x24, #32]
            (0xa9023b0d, &|a| a.stp(Pair::Offset, 13, 14, 24, 32)),
            // ldp x19, x20, [sp], #48
            (0xa8c353f3, &|a| a.ldp(Pair::Post, 19, 20, SP, 48)),
            // ldp x21, x22, [sp, #16]
            (0xa9415bf5, &|a| a.ldp(Pair::Offset, 21, 22, SP, 16)),
            // blr x16
            (0xd63f0200, &|a| a.blr(16)),
            // ret
            (0xd65f03c0, &|a| a.ret()),
        ];
        for (i, (want, f)) in cases.iter().enumerate() {
            assert_eq!(one(f), *want, "case {i}: {:08x} vs {want:08x}", one(f));
        }
    }

    #[test]
    fn immediates_take_the_fewest_instructions() {
        // mov x9, #0 / movn x9, #0 (= -1)
        assert_eq!(words(|a| a.mov_imm(Sz::X, 9, 0)), [0xd2800009]);
        assert_eq!(words(|a| a.mov_imm(Sz::X, 9, u64::MAX)), [0x92800009]);
        // mov x9, #-2 (movn x9, #1)
        assert_eq!(words(|a| a.mov_imm(Sz::X, 9, !1)), [0x92800029]);
        // mov w9, #0xffff0000 (movz w9, #0xffff, lsl #16)
        assert_eq!(words(|a| a.mov_imm(Sz::W, 9, 0xffff_0000)), [0x52bfffe9]);
        // mov w9, #0xfffffffe (movn w9, #1)
        assert_eq!(words(|a| a.mov_imm(Sz::W, 9, 0xffff_fffe)), [0x12800029]);
        // mov x9, #0x5555555555555555 (orr)
        assert_eq!(
            words(|a| a.mov_imm(Sz::X, 9, 0x5555_5555_5555_5555)),
            [0xb200f3e9]
        );
        // movz x9, #0x5678; movk x9, #0x1234, lsl #32
        assert_eq!(
            words(|a| a.mov_imm(Sz::X, 9, 0x1234_0000_5678)),
            [0xd28acf09, 0xf2c24689]
        );
        // movn x9, #0xa987; movk x9, #0x1234, lsl #16
        assert_eq!(
            words(|a| a.mov_imm(Sz::X, 9, 0xffff_ffff_1234_5678)),
            [0x929530e9, 0xf2a24689]
        );
    }

    /// The inverse of `logical_imm`: the Arm ARM's `DecodeBitMasks`.
    fn decode_bitmask(encoding: u32, sz: Sz) -> u64 {
        let n = encoding >> 12 & 1;
        let immr = encoding >> 6 & 0x3f;
        let imms = encoding & 0x3f;
        let len = 31 - ((n << 6) | (!imms & 0x3f)).leading_zeros();
        let size = 1u32 << len;
        let levels = size - 1;
        let s = imms & levels;
        let r = immr & levels;
        let ones = if s + 1 == 64 {
            u64::MAX
        } else {
            (1u64 << (s + 1)) - 1
        };
        let mask = if size == 64 {
            u64::MAX
        } else {
            (1u64 << size) - 1
        };
        let elem = ((ones >> r) | (ones << ((size - r) % size))) & mask;
        let elem = if r == 0 { ones & mask } else { elem };
        let mut value = 0u64;
        let mut at = 0;
        while at < 64 {
            value |= elem << at;
            at += size;
        }
        value & sz.mask()
    }

    #[test]
    fn bitmask_immediates_round_trip() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut found = 0;
        for i in 0..200_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Mix random values with runs of ones, which do encode.
            let run = (1u64 << (i % 63 + 1)) - 1;
            let candidates = [
                seed,
                run.rotate_left((seed % 64) as u32),
                seed as u32 as u64,
            ];
            for v in candidates {
                for sz in [Sz::X, Sz::W] {
                    if let Some(e) = logical_imm(v, sz) {
                        found += 1;
                        assert_eq!(decode_bitmask(e, sz), v & sz.mask(), "{v:#x} {sz:?}");
                        if sz == Sz::W {
                            assert_eq!(e >> 12, 0, "N must be 0 at 32 bits");
                        }
                    }
                }
            }
        }
        assert!(found > 100_000);
        for v in [0, u64::MAX, 5, 0x1234_5678] {
            assert_eq!(logical_imm(v, Sz::X), None, "{v:#x}");
        }
        assert_eq!(logical_imm(u64::from(u32::MAX), Sz::W), None);
        assert!(logical_imm(u64::from(u32::MAX), Sz::X).is_some());
    }

    #[test]
    fn branches_patch_and_extend() {
        let mut a = Asm::new(false);
        let top = a.label();
        let end = a.label();
        a.bind(top);
        a.b_cond(Cond::Ne, end); // b.ne +12
        a.cbz(true, 9, top); // cbnz x9, -4
        a.bl(top); // bl -8
        a.bind(end);
        a.b(top); // b -12
        let code = a.finish().unwrap();
        let w: Vec<u32> = code
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(w, [0x54000061, 0xb5ffffe9, 0x97fffffe, 0x17fffffd]);

        let mut a = Asm::new(true);
        let end = a.label();
        a.b_cond(Cond::Lo, end); // b.hs +8; b +12
        a.cbz(false, 16, end); // cbnz x16, +8; b +4
        a.bind(end);
        let code = a.finish().unwrap();
        let w: Vec<u32> = code
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(w, [0x54000042, 0x14000003, 0xb5000050, 0x14000001]);

        // A short conditional branch past 1 MiB does not reach.
        let mut a = Asm::new(false);
        let far = a.label();
        a.b_cond(Cond::Eq, far);
        for _ in 0..(1 << 18) {
            a.emit(0xd503201f); // nop
        }
        a.bind(far);
        assert_eq!(a.finish(), Err(FinishError::OutOfRange));
    }
}
