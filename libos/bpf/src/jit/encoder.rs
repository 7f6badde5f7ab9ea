//! A tiny x86_64 encoder: the handful of instruction forms the JIT emits,
//! with forward labels.
//!
//! Every memory operand is `[base + disp32]`; every jump is `rel32`. That
//! wastes a few bytes against the shortest encodings, but keeps the
//! encoder small enough to check by eye against the Intel manual, and the
//! code it produces fast enough (the interesting cost is in what the JIT
//! chooses to emit, not in encoding length).

use alloc::vec;
use alloc::vec::Vec;

/// Host register numbers, as the ModRM/REX fields spell them.
pub(crate) const RAX: u8 = 0;
pub(crate) const RCX: u8 = 1;
pub(crate) const RDX: u8 = 2;
pub(crate) const RBX: u8 = 3;
pub(crate) const RSP: u8 = 4;
pub(crate) const RBP: u8 = 5;
pub(crate) const RSI: u8 = 6;
pub(crate) const RDI: u8 = 7;
pub(crate) const R8: u8 = 8;
pub(crate) const R9: u8 = 9;
pub(crate) const R10: u8 = 10;
pub(crate) const R11: u8 = 11;
pub(crate) const R12: u8 = 12;
pub(crate) const R13: u8 = 13;
pub(crate) const R14: u8 = 14;
pub(crate) const R15: u8 = 15;

/// Operand size of an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Size {
    /// 32-bit (writes zero-extend into the full register).
    D,
    /// 64-bit (`REX.W`).
    Q,
}

/// Register or memory operand of the ModRM `r/m` field.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rm {
    /// A register.
    Reg(u8),
    /// `[base + disp]`.
    Mem(u8, i32),
}

/// Integer ALU operations with the classic `/digit` numbering.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Alu {
    Add = 0,
    Or = 1,
    And = 4,
    Sub = 5,
    Xor = 6,
    Cmp = 7,
}

/// Shift operations (`/digit` of `C1`/`D3`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shift {
    Shl = 4,
    Shr = 5,
    Sar = 7,
}

/// Condition codes, as the low nibble of `0F 8x`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cond {
    B = 0x2,
    Ae = 0x3,
    E = 0x4,
    Ne = 0x5,
    Be = 0x6,
    A = 0x7,
    L = 0xc,
    Ge = 0xd,
    Le = 0xe,
    G = 0xf,
}

/// A position in the code, bound once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// An instruction buffer with labels.
#[derive(Debug, Default)]
pub(crate) struct Asm {
    pub(crate) code: Vec<u8>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
}

/// A label used but never bound.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UnboundLabel;

impl Asm {
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

    /// Patches every `rel32` and returns the code.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, UnboundLabel> {
        for &(at, label) in &self.fixups {
            let target = self.labels[label.0].ok_or(UnboundLabel)?;
            let rel = target as i64 - (at as i64 + 4);
            let rel = i32::try_from(rel).map_err(|_| UnboundLabel)?;
            self.code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
        }
        Ok(self.code)
    }

    fn byte(&mut self, b: u8) {
        self.code.push(b);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.code.extend_from_slice(b);
    }

    fn rel32(&mut self, label: Label) {
        self.fixups.push((self.code.len(), label));
        self.bytes(&[0; 4]);
    }

    /// `[66] [REX] opcode ModRM [SIB] [disp32]`. `byte_regs` forces a REX
    /// prefix so that register numbers 4-7 of a byte operand mean
    /// `spl`/`bpl`/`sil`/`dil`.
    fn modrm(&mut self, size: Size, opcode: &[u8], reg: u8, rm: Rm, byte_regs: bool) {
        let base = match rm {
            Rm::Reg(r) | Rm::Mem(r, _) => r,
        };
        let rex =
            0x40 | u8::from(size == Size::Q) << 3 | u8::from(reg >= 8) << 2 | u8::from(base >= 8);
        if rex != 0x40 || byte_regs {
            self.byte(rex);
        }
        self.bytes(opcode);
        match rm {
            Rm::Reg(r) => self.byte(0xc0 | (reg & 7) << 3 | (r & 7)),
            Rm::Mem(b, disp) => {
                self.byte(0x80 | (reg & 7) << 3 | (b & 7));
                if b & 7 == RSP {
                    self.byte(0x24);
                }
                self.bytes(&disp.to_le_bytes());
            }
        }
    }

    /// `op rm, reg` (`add`/`or`/`and`/`sub`/`xor`/`cmp`).
    pub(crate) fn alu_rr(&mut self, size: Size, op: Alu, dst: u8, src: u8) {
        self.modrm(size, &[(op as u8) << 3 | 1], src, Rm::Reg(dst), false);
    }

    /// `op rm, imm32` (sign-extended for 64-bit operations).
    pub(crate) fn alu_ri(&mut self, size: Size, op: Alu, dst: Rm, imm: i32) {
        self.modrm(size, &[0x81], op as u8, dst, false);
        self.bytes(&imm.to_le_bytes());
    }

    /// `mov dst, src` between registers.
    pub(crate) fn mov_rr(&mut self, size: Size, dst: u8, src: u8) {
        self.modrm(size, &[0x89], src, Rm::Reg(dst), false);
    }

    /// `op reg, [base + disp]` (`add`/`cmp`/… with a memory source).
    pub(crate) fn alu_r_mem(&mut self, size: Size, op: Alu, reg: u8, base: u8, disp: i32) {
        self.modrm(
            size,
            &[(op as u8) << 3 | 3],
            reg,
            Rm::Mem(base, disp),
            false,
        );
    }

    /// A load of `bytes` (1, 2, 4 or 8) from `[base + disp]` into `dst`,
    /// zero-extended (`movzx`, `mov r32`) or, with `signed`, sign-extended
    /// to 64 bits (`movsx`, `movsxd`).
    pub(crate) fn load_sized(&mut self, dst: u8, base: u8, disp: i32, bytes: u8, signed: bool) {
        let m = Rm::Mem(base, disp);
        match (bytes, signed) {
            (1, false) => self.modrm(Size::D, &[0x0f, 0xb6], dst, m, false),
            (2, false) => self.modrm(Size::D, &[0x0f, 0xb7], dst, m, false),
            (4, false) => self.modrm(Size::D, &[0x8b], dst, m, false),
            (1, true) => self.modrm(Size::Q, &[0x0f, 0xbe], dst, m, false),
            (2, true) => self.modrm(Size::Q, &[0x0f, 0xbf], dst, m, false),
            (4, true) => self.modrm(Size::Q, &[0x63], dst, m, false),
            _ => self.modrm(Size::Q, &[0x8b], dst, m, false),
        }
    }

    /// A store of the low `bytes` (1, 2, 4 or 8) of `src` to
    /// `[base + disp]`.
    pub(crate) fn store_sized(&mut self, base: u8, disp: i32, src: u8, bytes: u8) {
        let m = Rm::Mem(base, disp);
        match bytes {
            1 => self.modrm(Size::D, &[0x88], src, m, true),
            2 => {
                self.byte(0x66);
                self.modrm(Size::D, &[0x89], src, m, false);
            }
            4 => self.modrm(Size::D, &[0x89], src, m, false),
            _ => self.modrm(Size::Q, &[0x89], src, m, false),
        }
    }

    /// `mov [base + disp], src`.
    pub(crate) fn store(&mut self, base: u8, disp: i32, src: u8) {
        self.modrm(Size::Q, &[0x89], src, Rm::Mem(base, disp), false);
    }

    /// `mov dst, [base + disp]`.
    pub(crate) fn load(&mut self, dst: u8, base: u8, disp: i32) {
        self.modrm(Size::Q, &[0x8b], dst, Rm::Mem(base, disp), false);
    }

    /// `dst = value`, in the shortest of the three `mov` forms.
    pub(crate) fn mov_imm(&mut self, dst: u8, value: u64) {
        if let Ok(v) = u32::try_from(value) {
            // mov r32, imm32 zero-extends.
            if dst >= 8 {
                self.byte(0x41);
            }
            self.byte(0xb8 | (dst & 7));
            self.bytes(&v.to_le_bytes());
        } else if let Ok(v) = i32::try_from(value as i64) {
            self.modrm(Size::Q, &[0xc7], 0, Rm::Reg(dst), false);
            self.bytes(&v.to_le_bytes());
        } else {
            self.byte(0x48 | u8::from(dst >= 8));
            self.byte(0xb8 | (dst & 7));
            self.bytes(&value.to_le_bytes());
        }
    }

    /// `mov qword [base + disp], simm32`.
    pub(crate) fn store_imm(&mut self, base: u8, disp: i32, imm: i32) {
        self.modrm(Size::Q, &[0xc7], 0, Rm::Mem(base, disp), false);
        self.bytes(&imm.to_le_bytes());
    }

    /// `imul dst, src`.
    pub(crate) fn imul_rr(&mut self, size: Size, dst: u8, src: u8) {
        self.modrm(size, &[0x0f, 0xaf], dst, Rm::Reg(src), false);
    }

    /// `imul dst, dst, imm32`.
    pub(crate) fn imul_ri(&mut self, size: Size, dst: u8, imm: i32) {
        self.modrm(size, &[0x69], dst, Rm::Reg(dst), false);
        self.bytes(&imm.to_le_bytes());
    }

    /// The `F7 /digit` group: 2 `not`, 3 `neg`, 6 `div`, 7 `idiv`.
    pub(crate) fn group3(&mut self, size: Size, digit: u8, rm: u8) {
        self.modrm(size, &[0xf7], digit, Rm::Reg(rm), false);
    }

    /// `test a, b`.
    pub(crate) fn test_rr(&mut self, size: Size, a: u8, b: u8) {
        self.modrm(size, &[0x85], b, Rm::Reg(a), false);
    }

    /// `test rm, imm32`.
    pub(crate) fn test_ri(&mut self, size: Size, a: u8, imm: i32) {
        self.modrm(size, &[0xf7], 0, Rm::Reg(a), false);
        self.bytes(&imm.to_le_bytes());
    }

    /// `shift dst, imm8`.
    pub(crate) fn shift_ri(&mut self, size: Size, op: Shift, dst: u8, amount: u8) {
        self.modrm(size, &[0xc1], op as u8, Rm::Reg(dst), false);
        self.byte(amount);
    }

    /// `shift dst, cl`.
    pub(crate) fn shift_cl(&mut self, size: Size, op: Shift, dst: u8) {
        self.modrm(size, &[0xd3], op as u8, Rm::Reg(dst), false);
    }

    /// `movsx dst64, src8`.
    pub(crate) fn movsx_b(&mut self, size: Size, dst: u8, src: u8) {
        self.modrm(size, &[0x0f, 0xbe], dst, Rm::Reg(src), true);
    }

    /// `movsx dst, src16`.
    pub(crate) fn movsx_w(&mut self, size: Size, dst: u8, src: u8) {
        self.modrm(size, &[0x0f, 0xbf], dst, Rm::Reg(src), false);
    }

    /// `movsxd dst64, src32`.
    pub(crate) fn movsxd(&mut self, dst: u8, src: u8) {
        self.modrm(Size::Q, &[0x63], dst, Rm::Reg(src), false);
    }

    /// `movzx dst32, src16`.
    pub(crate) fn movzx_w(&mut self, dst: u8, src: u8) {
        self.modrm(Size::D, &[0x0f, 0xb7], dst, Rm::Reg(src), false);
    }

    /// `rol dst16, 8`: swaps the two low bytes.
    pub(crate) fn rol16_8(&mut self, dst: u8) {
        self.byte(0x66);
        self.modrm(Size::D, &[0xc1], 0, Rm::Reg(dst), false);
        self.byte(8);
    }

    /// `bswap dst`.
    pub(crate) fn bswap(&mut self, size: Size, dst: u8) {
        let rex = 0x40 | u8::from(size == Size::Q) << 3 | u8::from(dst >= 8);
        if rex != 0x40 {
            self.byte(rex);
        }
        self.bytes(&[0x0f, 0xc8 | (dst & 7)]);
    }

    /// `cqo` (64-bit) or `cdq` (32-bit): sign-extend `rax` into `rdx`.
    pub(crate) fn sign_extend_rax(&mut self, size: Size) {
        if size == Size::Q {
            self.byte(0x48);
        }
        self.byte(0x99);
    }

    /// `push r`.
    pub(crate) fn push(&mut self, r: u8) {
        if r >= 8 {
            self.byte(0x41);
        }
        self.byte(0x50 | (r & 7));
    }

    /// `pop r`.
    pub(crate) fn pop(&mut self, r: u8) {
        if r >= 8 {
            self.byte(0x41);
        }
        self.byte(0x58 | (r & 7));
    }

    /// `call r`.
    pub(crate) fn call_reg(&mut self, r: u8) {
        self.modrm(Size::D, &[0xff], 2, Rm::Reg(r), false);
    }

    /// `call label`.
    pub(crate) fn call_label(&mut self, label: Label) {
        self.byte(0xe8);
        self.rel32(label);
    }

    /// `ret`.
    pub(crate) fn ret(&mut self) {
        self.byte(0xc3);
    }

    /// `jmp label`.
    pub(crate) fn jmp(&mut self, label: Label) {
        self.byte(0xe9);
        self.rel32(label);
    }

    /// `jcc label`.
    pub(crate) fn jcc(&mut self, cond: Cond, label: Label) {
        self.bytes(&[0x0f, 0x80 | cond as u8]);
        self.rel32(label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asm(f: impl FnOnce(&mut Asm)) -> Vec<u8> {
        let mut a = Asm::default();
        f(&mut a);
        a.finish().expect("labels bound")
    }

    #[test]
    fn encodings_match_the_manual() {
        // add rax, rbx
        assert_eq!(
            asm(|a| a.alu_rr(Size::Q, Alu::Add, RAX, RBX)),
            [0x48, 0x01, 0xd8]
        );
        // Sized loads and stores through [r10 + disp32 0], checked against
        // GNU as (which picks the short displacement forms; ours always
        // carry a disp32, mod = 10).
        let d0 = [0u8; 4];
        let with = |head: &[u8]| [head, &d0[..]].concat();
        assert_eq!(
            asm(|a| a.load_sized(RAX, R10, 0, 1, false)),
            with(&[0x41, 0x0f, 0xb6, 0x82])
        );
        assert_eq!(
            asm(|a| a.load_sized(R13, R10, 0, 2, false)),
            with(&[0x45, 0x0f, 0xb7, 0xaa])
        );
        assert_eq!(
            asm(|a| a.load_sized(RCX, R10, 0, 4, false)),
            with(&[0x41, 0x8b, 0x8a])
        );
        assert_eq!(
            asm(|a| a.load_sized(RBX, R10, 0, 8, false)),
            with(&[0x49, 0x8b, 0x9a])
        );
        assert_eq!(
            asm(|a| a.load_sized(RSI, R10, 0, 1, true)),
            with(&[0x49, 0x0f, 0xbe, 0xb2])
        );
        assert_eq!(
            asm(|a| a.load_sized(R8, R10, 0, 2, true)),
            with(&[0x4d, 0x0f, 0xbf, 0x82])
        );
        assert_eq!(
            asm(|a| a.load_sized(RDI, R10, 0, 4, true)),
            with(&[0x49, 0x63, 0xba])
        );
        assert_eq!(
            asm(|a| a.store_sized(R10, 0, RSI, 1)),
            with(&[0x41, 0x88, 0xb2])
        );
        assert_eq!(
            asm(|a| a.store_sized(R10, 0, R11, 2)),
            with(&[0x66, 0x45, 0x89, 0x9a])
        );
        assert_eq!(
            asm(|a| a.store_sized(R10, 0, RAX, 4)),
            with(&[0x41, 0x89, 0x82])
        );
        assert_eq!(
            asm(|a| a.store_sized(R10, 0, R15, 8)),
            with(&[0x4d, 0x89, 0xba])
        );
        // cmp r11, [r12 + 0x40]; add r10, [r11 + 0x48]
        assert_eq!(
            asm(|a| a.alu_r_mem(Size::Q, Alu::Cmp, R11, R12, 0x40)),
            [0x4d, 0x3b, 0x9c, 0x24, 0x40, 0, 0, 0]
        );
        assert_eq!(
            asm(|a| a.alu_r_mem(Size::Q, Alu::Add, R10, R11, 0x48)),
            [0x4d, 0x03, 0x93, 0x48, 0, 0, 0]
        );
        // sub r13d, r8d
        assert_eq!(
            asm(|a| a.alu_rr(Size::D, Alu::Sub, R13, R8)),
            [0x45, 0x29, 0xc5]
        );
        // mov [r12 + 8], rax
        assert_eq!(
            asm(|a| a.store(R12, 8, RAX)),
            [0x49, 0x89, 0x84, 0x24, 8, 0, 0, 0]
        );
        // mov rbp, [rbp + 0]
        assert_eq!(asm(|a| a.load(RBP, RBP, 0)), [0x48, 0x8b, 0xad, 0, 0, 0, 0]);
        // movabs r11, 0x1122334455667788
        assert_eq!(
            asm(|a| a.mov_imm(R11, 0x1122_3344_5566_7788)),
            [0x49, 0xbb, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
        );
        // mov rdi, -1
        assert_eq!(
            asm(|a| a.mov_imm(RDI, u64::MAX)),
            [0x48, 0xc7, 0xc7, 0xff, 0xff, 0xff, 0xff]
        );
        // movsx eax, sil
        assert_eq!(
            asm(|a| a.movsx_b(Size::D, RAX, RSI)),
            [0x40, 0x0f, 0xbe, 0xc6]
        );
        // bswap r14
        assert_eq!(asm(|a| a.bswap(Size::Q, R14)), [0x49, 0x0f, 0xce]);
        // shl r15, cl
        assert_eq!(
            asm(|a| a.shift_cl(Size::Q, Shift::Shl, R15)),
            [0x49, 0xd3, 0xe7]
        );
        // push r12; pop rbx
        assert_eq!(
            asm(|a| {
                a.push(R12);
                a.pop(RBX);
            }),
            [0x41, 0x54, 0x5b]
        );
        // call r11
        assert_eq!(asm(|a| a.call_reg(R11)), [0x41, 0xff, 0xd3]);
    }

    #[test]
    fn labels_patch_forward_and_backward() {
        let code = asm(|a| {
            let l = a.label();
            a.bind(l);
            a.jmp(l);
        });
        assert_eq!(code, [0xe9, 0xfb, 0xff, 0xff, 0xff]);
        let mut a = Asm::default();
        let l = a.label();
        a.jmp(l);
        assert!(a.finish().is_err(), "an unbound label is an error");
    }
}
