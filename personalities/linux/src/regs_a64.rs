//! The aarch64 user register file for the register-level entry, and the
//! aarch64 Linux signal frame (`arch/arm64/kernel/signal.c`, byte for
//! byte):
//!
//! ```text
//!  higher addresses
//!  +------------------------------+ <- sp (or the alternate stack's top)
//!  | frame record {x29, x30}      | <- frame + 4688: the handler's x29
//!  | ucontext_t (4560 bytes):     | <- frame + 128 (x2)
//!  |   flags, link, uc_stack,     |
//!  |   uc_sigmask, padding,       |
//!  |   uc_mcontext at +176:       |
//!  |     fault_address, x0-x30,   |
//!  |     sp, pc, pstate,          |
//!  |     __reserved[4096] at +288:|
//!  |       fpsimd_context (528),  |
//!  |       terminator             |
//!  | siginfo_t, 128 bytes         | <- frame (x1), the handler's sp,
//!  +------------------------------+    16-byte aligned
//! ```
//!
//! The handler starts with `x0` = signal, `x1` = `&siginfo`, `x2` =
//! `&ucontext`, `x29` = the frame record, `x30` = `sa_restorer` (exo has
//! no vDSO trampoline, so handlers need `SA_RESTORER`, which musl always
//! sets).

use libos::Errno;
use libos::exec::EM_AARCH64;
use libos::signal::SigSet;

use exo_personality::{Ctx, Table};

use crate::arch::{Arch, Delivery, Frame, Numbers, Restored};
use crate::sigframe::{INFO_LEN, siginfo, stack_t};

/// The user registers of an aarch64 thread, with its SIMD and FP state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct A64Regs {
    /// `x0`–`x30`.
    pub x: [u64; 31],
    /// `SP_EL0`.
    pub sp: u64,
    /// The program counter.
    pub pc: u64,
    /// `PSTATE` (user-visible: NZCV).
    pub pstate: u64,
    /// `v0`–`v31`.
    pub v: [u128; 32],
    /// `FPSR`.
    pub fpsr: u32,
    /// `FPCR`.
    pub fpcr: u32,
}

/// `PSTATE` bits a program may set through `rt_sigreturn`: NZCV.
pub const USER_PSTATE: u64 = 0xf000_0000;

const UC: usize = INFO_LEN;
const UC_STACK: usize = 16;
const UC_SIGMASK: usize = 40;
const UC_MCONTEXT: usize = 176;
const SC_REGS: usize = 8;
const SC_SP: usize = 256;
const SC_PC: usize = 264;
const SC_PSTATE: usize = 272;
const SC_RESERVED: usize = 288;
const RESERVED_LEN: usize = 4096;
const UC_LEN: usize = UC_MCONTEXT + SC_RESERVED + RESERVED_LEN;
/// `struct rt_sigframe`.
const FRAME_LEN: usize = UC + UC_LEN;
/// With the frame record.
const TOTAL_LEN: u64 = FRAME_LEN as u64 + 16;
const FPSIMD_MAGIC: u32 = 0x4650_8001;
const FPSIMD_LEN: usize = 528;

impl A64Regs {
    /// A program starting at `entry` with its stack at `sp`.
    #[must_use]
    pub fn start(entry: u64, sp: u64) -> Self {
        Self {
            x: [0; 31],
            sp,
            pc: entry,
            pstate: 0,
            v: [0; 32],
            fpsr: 0,
            fpcr: 0,
        }
    }
}

impl Arch for A64Regs {
    const MACHINE: u16 = EM_AARCH64;
    const NR: Numbers = Numbers {
        rt_sigreturn: 139,
        clone: 220,
        execve: 221,
        exit: 93,
        exit_group: 94,
        gettid: 178,
        futex: 98,
        set_tid_address: 96,
    };
    /// pselect6, ppoll, nanosleep, clock_nanosleep, rt_sigsuspend,
    /// epoll_pwait, epoll_pwait2.
    const NEVER_RESTARTED: &'static [u64] = &[72, 73, 101, 115, 133, 22, 441];

    fn table() -> &'static Table {
        &crate::AARCH64
    }
    fn start(entry: u64, sp: u64) -> Self {
        A64Regs::start(entry, sp)
    }
    fn number(&self) -> u64 {
        self.x[8]
    }
    fn args(&self) -> [u64; 6] {
        [
            self.x[0], self.x[1], self.x[2], self.x[3], self.x[4], self.x[5],
        ]
    }
    fn result(&self) -> u64 {
        self.x[0]
    }
    fn set_result(&mut self, v: u64) {
        self.x[0] = v;
    }
    fn restart(&mut self, _number: u64, args: [u64; 6]) {
        // `svc` is 4 bytes; x0 held the result, so it gets the first
        // argument back (Linux's orig_x0); x8 still holds the number.
        self.x[0] = args[0];
        self.pc = self.pc.wrapping_sub(4);
    }
    fn sp(&self) -> u64 {
        self.sp
    }
    fn set_sp(&mut self, sp: u64) {
        self.sp = sp;
    }
    fn clone_args(a: [u64; 6]) -> [u64; 5] {
        // clone(flags, stack, parent_tid, tls, child_tid)
        [a[0], a[1], a[2], a[4], a[3]]
    }
}

fn put(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

fn get32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

impl Frame for A64Regs {
    fn push_frame(&mut self, ctx: &mut Ctx<'_>, sp: u64, d: &Delivery) -> libos::Result<()> {
        let frame = sp.checked_sub(TOTAL_LEN).ok_or(Errno::EFAULT)? & !15;
        let mut uc = alloc::vec![0u8; UC_LEN];
        let (ss_sp, ss_flags, ss_size) = stack_t(d.alt, self.sp);
        put(&mut uc, UC_STACK, ss_sp);
        uc[UC_STACK + 8..UC_STACK + 12].copy_from_slice(&ss_flags.to_le_bytes());
        put(&mut uc, UC_STACK + 16, ss_size);
        put(&mut uc, UC_SIGMASK, d.old_mask.0);
        let mc = UC_MCONTEXT;
        for (i, r) in self.x.iter().enumerate() {
            put(&mut uc, mc + SC_REGS + 8 * i, *r);
        }
        put(&mut uc, mc + SC_SP, self.sp);
        put(&mut uc, mc + SC_PC, self.pc);
        put(&mut uc, mc + SC_PSTATE, self.pstate);
        let fp = mc + SC_RESERVED;
        uc[fp..fp + 4].copy_from_slice(&FPSIMD_MAGIC.to_le_bytes());
        uc[fp + 4..fp + 8].copy_from_slice(&(FPSIMD_LEN as u32).to_le_bytes());
        uc[fp + 8..fp + 12].copy_from_slice(&self.fpsr.to_le_bytes());
        uc[fp + 12..fp + 16].copy_from_slice(&self.fpcr.to_le_bytes());
        for (i, v) in self.v.iter().enumerate() {
            let at = fp + 16 + 16 * i;
            uc[at..at + 16].copy_from_slice(&v.to_le_bytes());
        }
        // The terminator after it is already zero.
        let mut record = [0u8; 16];
        put(&mut record, 0, self.x[29]);
        put(&mut record, 8, self.x[30]);
        let record_at = frame + FRAME_LEN as u64;
        ctx.mem.write(record_at, &record)?;
        ctx.mem.write(frame + UC as u64, &uc)?;
        ctx.mem.write(frame, &siginfo(d.signal))?;

        self.x[0] = u64::from(d.signal.number());
        self.x[1] = frame;
        self.x[2] = frame + UC as u64;
        self.x[29] = record_at;
        self.x[30] = d.restorer;
        self.sp = frame;
        self.pc = d.entry;
        Ok(())
    }

    fn pop_frame(&mut self, ctx: &mut Ctx<'_>) -> libos::Result<Restored> {
        let frame = self.sp;
        if !frame.is_multiple_of(16) {
            return Err(Errno::EFAULT);
        }
        let mut uc = alloc::vec![0u8; UC_LEN];
        ctx.mem.read(frame + UC as u64, &mut uc)?;
        let mc = UC_MCONTEXT;
        let fp = mc + SC_RESERVED;
        // The first record must be the FP/SIMD state, whole.
        if get32(&uc, fp) != FPSIMD_MAGIC || get32(&uc, fp + 4) as usize != FPSIMD_LEN {
            return Err(Errno::EFAULT);
        }
        for (i, r) in self.x.iter_mut().enumerate() {
            *r = get(&uc, mc + SC_REGS + 8 * i);
        }
        self.sp = get(&uc, mc + SC_SP);
        self.pc = get(&uc, mc + SC_PC);
        self.pstate = get(&uc, mc + SC_PSTATE) & USER_PSTATE;
        self.fpsr = get32(&uc, fp + 8);
        self.fpcr = get32(&uc, fp + 12);
        for (i, v) in self.v.iter_mut().enumerate() {
            let at = fp + 16 + 16 * i;
            let mut b = [0u8; 16];
            b.copy_from_slice(&uc[at..at + 16]);
            *v = u128::from_le_bytes(b);
        }
        Ok(Restored {
            mask: SigSet(get(&uc, UC_SIGMASK)),
            stack: (
                get(&uc, UC_STACK),
                get32(&uc, UC_STACK + 8),
                get(&uc, UC_STACK + 16),
            ),
        })
    }
}
