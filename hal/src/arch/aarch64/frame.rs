//! The [`TrapFrame`] every exception saves and the exo ABI's view of it
//! ([`UserContext`](crate::context::UserContext)): which registers carry
//! the call, its results and the portable context words, and how a frame
//! is made safe to return to EL0 with.
//!
//! Pure data, so it is tested on the host; the entry and return code that
//! fills and drains it is in `exceptions.rs`.

/// Bytes of a [`TrapFrame`] (the stubs subtract this from SP).
pub const FRAME_BYTES: usize = 832;

/// Which of the 16 vectors was taken: `4 × source + kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vector(pub u64);

impl Vector {
    /// Where the exception came from.
    #[must_use]
    pub const fn source(self) -> &'static str {
        match self.0 / 4 {
            0 => "EL1 with SP_EL0",
            1 => "EL1",
            2 => "EL0 (AArch64)",
            _ => "EL0 (AArch32)",
        }
    }

    /// Its kind.
    #[must_use]
    pub const fn kind(self) -> &'static str {
        match self.0 % 4 {
            0 => "synchronous",
            1 => "IRQ",
            2 => "FIQ",
            _ => "SError",
        }
    }

    /// Whether it is a synchronous exception.
    #[must_use]
    pub const fn is_synchronous(self) -> bool {
        self.0.is_multiple_of(4)
    }

    /// Whether it is an IRQ.
    #[must_use]
    pub const fn is_irq(self) -> bool {
        self.0 % 4 == 1
    }

    /// Whether it came from EL1 (the kernel).
    #[must_use]
    pub const fn from_el1(self) -> bool {
        self.0 < 8
    }
}

/// Everything an exception saves, lowest address first; lives on the
/// stack the exception was taken on, at the address the dispatcher gets.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TrapFrame {
    /// x0–x30 (x29 is the frame pointer, x30 the link register).
    pub x: [u64; 31],
    /// The stack pointer the exception interrupted (SP_EL1 before the
    /// frame was pushed; for an exception from EL0 the kernel stack's).
    pub sp: u64,
    /// ELR_EL1: where execution resumes (the faulting instruction for an
    /// abort, the one after the interrupted one for an IRQ).
    pub elr: u64,
    /// SPSR_EL1: the interrupted PSTATE.
    pub spsr: u64,
    /// ESR_EL1: the syndrome (meaningless for IRQs).
    pub esr: u64,
    /// FAR_EL1: the faulting address (aborts only).
    pub far: u64,
    /// SP_EL0: EL0's stack pointer.
    pub sp_el0: u64,
    /// The vector taken (see [`Vector`]).
    pub vector: u64,
    /// q0–q31.
    pub q: [u128; 32],
    /// FPCR.
    pub fpcr: u64,
    /// FPSR.
    pub fpsr: u64,
}

const _: () = assert!(size_of::<TrapFrame>() == FRAME_BYTES);
const _: () = assert!(FRAME_BYTES.is_multiple_of(16));

/// SPSR_EL1 bits user code may set: the condition flags N, Z, C, V.
const SPSR_USER_FLAGS: u64 = 0xf000_0000;

/// Whether `frame` was saved while the CPU ran EL0 code.
#[must_use]
pub fn from_user(frame: &TrapFrame) -> bool {
    frame.spsr & 0b1111 == 0
}

/// Makes `frame` safe to return to EL0 with: EL0t (M = 0), AArch64, no
/// exception masked, no single-step or illegal-state bit, only the
/// condition flags kept.
pub fn sanitize_user_frame(frame: &mut TrapFrame) {
    frame.spsr &= SPSR_USER_FLAGS;
}

/// The aarch64 exo ABI (docs/EXO_ABI.md): `svc #0` with the call number
/// in x8, arguments in x0–x5, results in x0–x5.
impl crate::context::UserContext for TrapFrame {
    /// EL0t with no exception masked, `arg` in x0.
    fn new_user(entry: u64, stack: u64, arg: u64) -> Self {
        let mut x = [0; 31];
        x[0] = arg;
        TrapFrame {
            x,
            sp: 0,
            elr: entry,
            spsr: 0,
            esr: 0,
            far: 0,
            sp_el0: stack & !15,
            vector: 8,
            q: [0; 32],
            fpcr: 0,
            fpsr: 0,
        }
    }

    fn syscall_number(&self) -> u64 {
        self.x[8]
    }

    fn syscall_args(&self) -> [u64; 6] {
        [
            self.x[0], self.x[1], self.x[2], self.x[3], self.x[4], self.x[5],
        ]
    }

    /// Value `i` in x`i`: x0 is both the result and the first argument
    /// register.
    fn set_results(&mut self, values: &[u64]) {
        for (slot, value) in self.x.iter_mut().take(6).zip(values) {
            *slot = *value;
        }
    }

    fn instruction_pointer(&self) -> u64 {
        self.elr
    }

    /// x0–x30, SP_EL0, PC, PSTATE.
    fn to_words(&self) -> [u64; crate::context::CONTEXT_WORDS] {
        let mut w = [0; crate::context::CONTEXT_WORDS];
        w[..31].copy_from_slice(&self.x);
        w[31] = self.sp_el0;
        w[32] = self.elr;
        w[33] = self.spsr;
        w
    }

    fn from_words(w: &[u64; crate::context::CONTEXT_WORDS]) -> Self {
        let mut frame = Self::new_user(w[32], 0, 0);
        frame.x.copy_from_slice(&w[..31]);
        frame.sp_el0 = w[31];
        frame.spsr = w[33];
        sanitize_user_frame(&mut frame);
        frame
    }

    /// The SIMD registers and FPCR/FPSR live in the frame here (on x86_64
    /// they stay in the CPU), so a frame rebuilt from words takes them
    /// from the one it replaces.
    fn keep_vector_state(&mut self, from: &Self) {
        self.q = from.q;
        self.fpcr = from.fpcr;
        self.fpsr = from.fpsr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{CONTEXT_WORDS, UserContext};

    #[test]
    fn a_new_context_starts_at_el0_with_its_argument_and_an_aligned_stack() {
        let f = TrapFrame::new_user(0x80_0040_1000, 0x80_ffff_fff8, 7);
        assert_eq!(f.instruction_pointer(), 0x80_0040_1000);
        assert_eq!(f.sp_el0, 0x80_ffff_fff0);
        assert_eq!(f.x[0], 7);
        assert!(from_user(&f));
        assert_eq!(f.spsr, 0, "EL0t, nothing masked");
    }

    #[test]
    fn calls_read_x8_and_x0_to_x5_and_results_land_in_x0_up() {
        let mut f = TrapFrame::new_user(0, 0, 0);
        for (i, r) in f.x.iter_mut().enumerate() {
            *r = 100 + i as u64;
        }
        assert_eq!(f.syscall_number(), 108);
        assert_eq!(f.syscall_args(), [100, 101, 102, 103, 104, 105]);
        f.set_results(&[1, 2, 3]);
        assert_eq!(&f.x[..4], &[1, 2, 3, 103]);
    }

    #[test]
    fn words_round_trip_and_no_edit_raises_privilege() {
        let mut f = TrapFrame::new_user(0x80_0040_0000, 0x80_1000_0000, 1);
        f.x[30] = 0x1234;
        f.spsr = 0x6000_0000;
        let w = f.to_words();
        assert_eq!(w.len(), CONTEXT_WORDS);
        assert_eq!(
            (w[0], w[30], w[31], w[32], w[33]),
            (1, 0x1234, 0x80_1000_0000, 0x80_0040_0000, 0x6000_0000)
        );
        let back = TrapFrame::from_words(&w);
        assert_eq!(back.to_words(), w);
        // EL1h, every exception masked, single-step and illegal state set:
        // only the condition flags survive.
        let mut hostile = w;
        hostile[33] = 0xf000_0000 | (1 << 21) | (1 << 20) | 0x3c5;
        let f = TrapFrame::from_words(&hostile);
        assert_eq!(f.spsr, 0xf000_0000);
        assert!(from_user(&f));
    }

    #[test]
    fn rebuilt_contexts_keep_the_vector_registers_they_replace() {
        let mut running = TrapFrame::new_user(0, 0, 0);
        running.q[3] = 0xdead_beef;
        running.fpcr = 1 << 24;
        let mut resumed = TrapFrame::from_words(&[0; CONTEXT_WORDS]);
        assert_eq!(resumed.q[3], 0);
        resumed.keep_vector_state(&running);
        assert_eq!((resumed.q[3], resumed.fpcr), (0xdead_beef, 1 << 24));
    }

    #[test]
    fn vectors_name_their_source_and_kind() {
        assert_eq!(
            (Vector(8).source(), Vector(8).kind()),
            ("EL0 (AArch64)", "synchronous")
        );
        assert!(Vector(9).is_irq() && !Vector(9).from_el1());
        assert!(Vector(5).from_el1() && Vector(5).is_irq());
    }
}
