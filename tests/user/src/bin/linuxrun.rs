//! Runs a static Linux (musl) executable on exo through the Linux
//! personality.
//!
//! This environment holds the libOS and the personality and is linked at
//! 1.75 GiB so the Linux program gets its usual addresses. It writes the
//! program to `/bin/hello` in the libOS's VFS, sets the libOS process's
//! descriptors 0–2 to `/dev/tty`, and starts it the way `execve` would
//! (`exo_linux::exec`: segments, System V stack with argv, envp and auxv),
//! registers its upcall handler with `REFLECT_ALL`, and jumps to the
//! program's entry. From then on every `syscall` the program makes comes
//! back here as a `SYSCALL` upcall: the handler copies the saved registers
//! (and, with `FXSAVE`, the SSE state) into `exo_linux::Regs`, lets
//! `exo_linux::regs::syscall` run the call — which may also deliver a
//! signal to a handler, return from one (`rt_sigreturn`) or replace the
//! program (`execve`) — and resumes the program from the registers it
//! leaves. `arch_prctl` sets the thread pointer with `TLS_SET`; the end of
//! the process ends the environment.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use exo_linux::{Flow, Parked, Regs};
use exo_personality::{Ctx, UserMemory};
use exo_sys::{BareMetal, access, println, upcall};
use libos::fs::procfs::{CpuInfo, MemInfo, SystemInfo};
use libos::mm::Prot;
use libos::process::{ExitStatus, INIT, Pid, ProcState};
use libos::system::{Options, System};
use libos::vfs::Cred;
use libos::vfs::file::OpenFlags;
use spin::Once;

static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/linux-hello"));

struct Info;
impl SystemInfo for Info {
    fn meminfo(&self) -> MemInfo {
        MemInfo::default()
    }
    fn cpus(&self) -> Vec<CpuInfo> {
        Vec::new()
    }
    fn bootlog(&self) -> Vec<u8> {
        Vec::new()
    }
    fn version(&self) -> alloc::string::String {
        "exo (linux personality)".into()
    }
    fn uptime_ns(&self) -> u64 {
        use exo_sys::Exo;
        BareMetal.clock_ns()
    }
}

/// The program's memory, reached directly (same address space) but only
/// in the pages the personality bound for it (segments and stack at exec,
/// `mmap`/`brk` since), with the access the libOS recorded (`PROT_NONE` pages
/// keep their frame but stay unbound). Each `map_pages` takes its frames
/// as few allocations (one capability per 512 frames, as the capability
/// table is small), freed when their last page goes.
struct Direct {
    /// Page → (frames capability, index in it, access).
    pages: BTreeMap<u64, (u64, u64, Prot)>,
    /// Frames capability → pages still using it.
    live: BTreeMap<u64, u64>,
}

impl Direct {
    fn ok(&self, addr: u64, len: usize, write: bool) -> bool {
        let Some(end) = addr.checked_add(len as u64) else {
            return false;
        };
        let mut page = addr & !(PAGE - 1);
        while page < end {
            match self.pages.get(&page) {
                Some((_, _, p)) if p.readable() && (!write || p.writable()) => page += PAGE,
                _ => return false,
            }
        }
        len > 0
    }
}

/// The exokernel's access word for `prot` (`None`: leave unbound).
fn access_of(prot: Prot) -> Option<u64> {
    if prot.writable() {
        Some(access::WRITE)
    } else if prot.executable() {
        Some(access::EXECUTE)
    } else if prot.readable() {
        Some(0)
    } else {
        None
    }
}

const PAGE: u64 = libos::mm::PAGE;

impl UserMemory for Direct {
    fn read(&self, addr: u64, buf: &mut [u8]) -> libos::Result<()> {
        if !self.ok(addr, buf.len(), false) {
            return Err(libos::Errno::EFAULT);
        }
        // SAFETY: every page of the range is bound readable for the
        // program, in this address space (checked just above).
        unsafe { core::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> libos::Result<()> {
        if !self.ok(addr, data.len(), true) {
            return Err(libos::Errno::EFAULT);
        }
        // SAFETY: as in `read`, and every page is bound writable (checked
        // for `PROT_WRITE` just above).
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }
    fn map_pages(&mut self, addr: u64, len: u64, prot: Prot) -> libos::Result<()> {
        self.unmap_pages(addr, len)?;
        let mut va = addr;
        while va < addr + len {
            let count = ((addr + len - va) / PAGE).min(512);
            let frames = exo_sys::frame_alloc(count).map_err(|_| libos::Errno::ENOMEM)?;
            self.live.insert(frames, count);
            for index in 0..count {
                // Bound writable to clear it, then given its access.
                exo_sys::map(frames, index, va, access::WRITE).map_err(|_| libos::Errno::ENOMEM)?;
                // SAFETY: the page was just bound writable at `va`.
                unsafe { core::ptr::write_bytes(va as *mut u8, 0, PAGE as usize) };
                self.pages.insert(va, (frames, index, Prot::RW));
                va += PAGE;
            }
        }
        self.protect_pages(addr, len, prot)
    }
    fn unmap_pages(&mut self, addr: u64, len: u64) -> libos::Result<()> {
        let gone: Vec<u64> = self
            .pages
            .range(addr..addr + len)
            .map(|(&a, _)| a)
            .collect();
        for va in gone {
            let Some((frames, _, prot)) = self.pages.remove(&va) else {
                continue;
            };
            if access_of(prot).is_some() {
                let _ = exo_sys::unmap(va);
            }
            let left = self.live.entry(frames).or_insert(1);
            *left -= 1;
            if *left == 0 {
                self.live.remove(&frames);
                let _ = exo_sys::frame_free(frames);
            }
        }
        Ok(())
    }
    fn protect_pages(&mut self, addr: u64, len: u64, prot: Prot) -> libos::Result<()> {
        for (&va, (frames, index, old)) in self.pages.range_mut(addr..addr + len) {
            let r = match (access_of(*old), access_of(prot)) {
                (Some(_), None) => exo_sys::unmap(va).map(|_| 0),
                (None, Some(a)) => exo_sys::map(*frames, *index, va, a),
                (Some(_), Some(a)) => exo_sys::syscall(exo_sys::call::PROTECT, &[va, a]),
                (None, None) => Ok(0),
            };
            r.map_err(|_| libos::Errno::ENOMEM)?;
            *old = prot;
        }
        Ok(())
    }
    fn move_pages(&mut self, from: u64, to: u64, len: u64) -> libos::Result<()> {
        let moved: Vec<u64> = self
            .pages
            .range(from..from + len)
            .map(|(&a, _)| a)
            .collect();
        for va in moved {
            let Some((frames, index, prot)) = self.pages.remove(&va) else {
                continue;
            };
            let new = va - from + to;
            if let Some(a) = access_of(prot) {
                let _ = exo_sys::unmap(va);
                exo_sys::map(frames, index, new, a).map_err(|_| libos::Errno::ENOMEM)?;
            }
            self.pages.insert(new, (frames, index, prot));
        }
        Ok(())
    }
}

struct World {
    sys: System,
    pid: Pid,
    memory: spin::Mutex<Direct>,
}

static WORLD: Once<World> = Once::new();

#[repr(C, align(16))]
struct Stack([u8; 128 * 1024]);
static mut UPCALL_STACK: Stack = Stack([0; 128 * 1024]);

/// Context word of each `exo_linux::Regs` register (docs/EXO_ABI.md:
/// `rax rbx rcx rdx rsi rdi rbp r8`–`r15 rip rsp rflags`), in
/// `Regs::words` order (`r8`–`r15 rdi rsi rbp rbx rdx rax rcx rsp rip
/// rflags`).
const WORD_OF: [usize; 18] = [7, 8, 9, 10, 11, 12, 13, 14, 5, 4, 6, 1, 3, 0, 2, 16, 15, 17];

/// An `FXSAVE` area.
#[repr(C, align(16))]
struct Fx([u8; 512]);

fn regs_from(w: &[u64; upcall::FRAME_WORDS]) -> Regs {
    let mut regs = Regs::start(0, 0);
    regs.set_words(core::array::from_fn(|i| w[upcall::CONTEXT + WORD_OF[i]]));
    let mut fx = Fx([0; 512]);
    // SAFETY: `fx` is a 512-byte, 16-byte aligned buffer. The handler is
    // built soft-float, so the x87/SSE registers still hold the program's
    // state.
    unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) fx.0.as_mut_ptr(), options(nostack)) };
    regs.fpu = fx.0;
    regs
}

fn regs_to(regs: &Regs, w: &mut [u64; upcall::FRAME_WORDS]) {
    for (i, v) in regs.words().into_iter().enumerate() {
        w[upcall::CONTEXT + WORD_OF[i]] = v;
    }
    let mut fx = Fx(regs.fpu);
    // MXCSR bits outside MXCSR_MASK would fault FXRSTOR: keep the
    // defined ones (the signal frame is the program's to edit).
    let mxcsr = u32::from_le_bytes([fx.0[24], fx.0[25], fx.0[26], fx.0[27]]) & 0xffff;
    fx.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
    // SAFETY: `fx` is a 512-byte, 16-byte aligned FXSAVE image whose MXCSR
    // has only defined bits; the program resumes with it.
    unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) fx.0.as_ptr(), options(nostack)) };
}

/// The environment's exit code for a process status: the exit code, or
/// 128 + the signal.
fn exit_code(status: ExitStatus) -> u64 {
    match status {
        ExitStatus::Exited(code) => u64::from(code),
        ExitStatus::Signaled { signal, .. } => 128 + u64::from(signal.number()),
    }
}

/// One thread of the Linux program.
struct Thread {
    tid: u32,
    /// Its registers while it is not running.
    regs: Regs,
    /// Its thread pointer (`FS` base).
    tls: u64,
    /// The futex wait it is parked in.
    parked: Option<Parked>,
}

/// The program's threads, run one at a time in this environment (M:1):
/// switched at slice ends, when one parks in a futex wait, and when one
/// ends.
struct Threads {
    all: Vec<Thread>,
    current: usize,
}

static THREADS: spin::Mutex<Threads> = spin::Mutex::new(Threads {
    all: Vec::new(),
    current: 0,
});

impl Threads {
    /// The next thread after the current one that can run (a parked one
    /// whose wait is over gets its result in `rax`); yields the CPU while
    /// none can.
    fn pick(&mut self, world: &World) -> usize {
        loop {
            let n = self.all.len();
            for k in 1..=n {
                let i = (self.current + k) % n;
                let t = &mut self.all[i];
                let Some(p) = &t.parked else { return i };
                if let Some(r) = p.poll(&world.sys) {
                    t.regs.rax = r as u64;
                    t.parked = None;
                    return i;
                }
            }
            // Every thread waits: let time pass (timeouts) and others run.
            exo_sys::yield_now();
        }
    }
}

extern "C" fn on_upcall(kind: u64, frame: *mut u64) -> ! {
    // SAFETY: the kernel wrote an upcall frame at `frame` on our stack.
    let w = unsafe { &mut *frame.cast::<[u64; upcall::FRAME_WORDS]>() };
    if kind != upcall::SYSCALL && kind != upcall::SLICE_END {
        println!("linuxrun: the program took upcall {kind} {:x?}", &w[1..5]);
        exo_sys::exit(128 + kind);
    }
    let Some(world) = WORLD.get() else {
        exo_sys::exit(126)
    };
    let mut threads = THREADS.lock();
    let cur = threads.current;
    let mut regs = regs_from(w);
    let mut switch = false;
    if kind == upcall::SLICE_END {
        // The slice is over: give the CPU back, then run the next thread.
        exo_sys::yield_now();
        switch = true;
    } else {
        let number = w[1];
        regs.rax = number;
        let tid = threads.all[cur].tid;
        if number == ARCH_PRCTL {
            // arch_prctl(ARCH_SET_FS, base): the thread pointer is the
            // kernel's, set again at each switch to this thread.
            regs.rax = if regs.rdi == ARCH_SET_FS {
                threads.all[cur].tls = regs.rsi;
                exo_sys::tls_set(regs.rsi).map_or(-22i64 as u64, |_| 0)
            } else {
                -22i64 as u64
            };
        } else {
            let flow = {
                let mut mem = world.memory.lock();
                let mut ctx = Ctx {
                    sys: &world.sys,
                    pid: world.pid,
                    mem: &mut *mem,
                };
                exo_linux::regs::syscall_as(&mut ctx, tid, &mut regs)
            };
            match flow {
                Flow::Resume => {}
                Flow::Exit(status) => exo_sys::exit(exit_code(status)),
                Flow::Stopped(_) => {
                    // Stopped by a signal: wait for SIGCONT.
                    while world
                        .sys
                        .procs
                        .get(world.pid)
                        .is_ok_and(|p| matches!(p.state, ProcState::Stopped(_)))
                    {
                        exo_sys::yield_now();
                    }
                }
                Flow::Spawn(t) => {
                    let tls = t.tls.unwrap_or(threads.all[cur].tls);
                    threads.all.push(Thread {
                        tid: t.tid,
                        regs: t.regs,
                        tls,
                        parked: None,
                    });
                }
                Flow::Park(p) => {
                    threads.all[cur].parked = Some(p);
                    switch = true;
                }
                Flow::ThreadExit => {
                    threads.all.remove(cur);
                    threads.current = cur.checked_sub(1).unwrap_or(threads.all.len() - 1);
                    let next = threads.pick(world);
                    enter(threads, next, w, true)
                }
                Flow::Execed => {
                    // The other threads are gone with the old program.
                    let me = threads.all.swap_remove(cur);
                    for t in threads.all.drain(..) {
                        if let Some(p) = t.parked {
                            p.cancel();
                        }
                    }
                    threads.all.push(me);
                    threads.current = 0;
                }
            }
        }
    }
    let cur = threads.current;
    threads.all[cur].regs = regs;
    let next = if switch { threads.pick(world) } else { cur };
    enter(threads, next, w, next != cur)
}

/// Resumes thread `next` through the upcall frame `w` (its thread pointer
/// first, when another thread ran), releasing the thread table: nothing
/// after the return into the program would.
fn enter(
    mut threads: spin::MutexGuard<'_, Threads>,
    next: usize,
    w: &mut [u64; upcall::FRAME_WORDS],
    switched: bool,
) -> ! {
    threads.current = next;
    let t = &threads.all[next];
    if switched {
        let _ = exo_sys::tls_set(t.tls);
    }
    regs_to(&t.regs, w);
    drop(threads);
    exo_sys::upcall_return(w.as_mut_ptr())
}

const ARCH_PRCTL: u64 = 158;
const ARCH_SET_FS: u64 = 0x1002;

/// Where the program lives in the libOS's VFS, and its `argv[0]`.
const PATH: &[u8] = b"/bin/hello";

/// Puts the program into the VFS as an executable file.
fn install(sys: &System) -> libos::Result<()> {
    let root = Cred::root();
    sys.vfs.mkdir(&root, sys.vfs.root(), b"/bin", 0o755)?;
    let flags = OpenFlags {
        create: true,
        ..OpenFlags::WRITE
    };
    let f = sys.vfs.open(&root, sys.vfs.root(), PATH, flags, 0o755)?;
    let mut done = 0;
    while done < PROGRAM.len() {
        done += f.write(&PROGRAM[done..])?;
    }
    Ok(())
}

#[unsafe(no_mangle)]
fn main(_env: u64) -> u64 {
    libos::wait::install(Box::new(exo_sys::yield_now));
    let exo = Arc::new(BareMetal);
    let Ok(sys) = System::boot(exo, Arc::new(Info), Options::default()) else {
        println!("linuxrun: libOS boot failed");
        return 1;
    };
    if let Err(e) = install(&sys) {
        println!("linuxrun: installing {PATH:?}: {e:?}");
        return 2;
    }
    let Ok(pid) = sys.procs.fork(INIT) else {
        return 4;
    };
    let tty = sys.vfs.open(
        &Cred::root(),
        sys.vfs.root(),
        b"/dev/tty",
        OpenFlags::READ_WRITE,
        0,
    );
    let Ok(tty) = tty else { return 5 };
    for fd in 0..3 {
        let _ = sys
            .procs
            .with(pid, |p| p.fds.dup2_file(fd, Arc::clone(&tty)));
    }
    let world = WORLD.call_once(|| World {
        sys,
        pid,
        memory: spin::Mutex::new(Direct {
            pages: BTreeMap::new(),
            live: BTreeMap::new(),
        }),
    });
    let start = {
        let mut mem = world.memory.lock();
        let mut ctx = Ctx {
            sys: &world.sys,
            pid,
            mem: &mut *mem,
        };
        exo_linux::exec::exec::<Regs>(
            &mut ctx,
            PATH,
            alloc::vec![PATH.to_vec()],
            &[b"PATH=/bin".to_vec()],
        )
    };
    let regs = match start {
        Ok(r) => r,
        Err(e) => {
            println!("linuxrun: exec failed: {e:?}");
            return 3;
        }
    };
    println!(
        "linuxrun: starting a {}-byte static Linux executable at {:#x}",
        PROGRAM.len(),
        regs.rip
    );
    let (rsp, rip) = (regs.rsp, regs.rip);
    THREADS.lock().all.push(Thread {
        tid: pid,
        regs,
        tls: 0,
        parked: None,
    });
    // From here on every system call outside the handler is the Linux
    // program's: nothing but the jump may follow.
    let top = (&raw const UPCALL_STACK) as u64 + size_of::<Stack>() as u64;
    if exo_sys::upcall_register_with(
        on_upcall as *const () as u64,
        top,
        exo_sys::upcall_flags::REFLECT_ALL,
    )
    .is_err()
    {
        return 6;
    }
    // SAFETY: `regs.rsp` is the initial stack and `regs.rip` the entry
    // point exec mapped; registers are cleared as the System V ABI expects
    // (rdx = 0: no exit handler).
    unsafe {
        core::arch::asm!(
            "mov rsp, r12",
            "xor eax, eax", "xor ebx, ebx", "xor ecx, ecx", "xor edx, edx",
            "xor esi, esi", "xor edi, edi", "xor ebp, ebp",
            "jmp r13",
            in("r12") rsp,
            in("r13") rip,
            options(noreturn)
        )
    }
}
