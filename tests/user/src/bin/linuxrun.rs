//! Runs a static Linux (musl) executable on exo through the Linux
//! personality.
//!
//! This environment holds the libOS and the personality and is linked at
//! 1.75 GiB so the Linux program gets its usual addresses. It maps the
//! program's segments, builds a System V initial stack (argv, envp, auxv),
//! sets the libOS process's descriptors 0–2 to `/dev/tty`, registers its
//! upcall handler with `REFLECT_ALL`, and jumps to the program's entry. From
//! then on every `syscall` the program makes comes back here as a
//! `SYSCALL` upcall: the handler hands it to `exo_linux`, puts the result
//! in the saved `rax`, and returns into the program. `arch_prctl` sets the
//! thread pointer with `TLS_SET`; `exit_group` ends the environment.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use elf::ElfBytes;
use elf::abi::{PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use exo_personality::{Ctx, UserMemory};
use exo_sys::{BareMetal, access, println, upcall};
use libos::fs::procfs::{CpuInfo, MemInfo, SystemInfo};
use libos::mm::Prot;
use libos::process::{INIT, Pid, Region};
use libos::system::{Options, System};
use libos::vfs::Cred;
use libos::vfs::file::OpenFlags;
use spin::Once;

static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/linux-hello"));
const STACK_TOP: u64 = 0x6000_0000_0000;
const STACK_PAGES: u64 = 32;

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
/// inside the regions the loader mapped for it and the pages `mmap`/`brk`
/// bound since, with the access the libOS recorded (`PROT_NONE` pages
/// keep their frame but stay unbound). Each `map_pages` takes its frames
/// as few allocations (one capability per 512 frames, as the capability
/// table is small), freed when their last page goes.
struct Direct {
    regions: Vec<(u64, u64)>,
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
        if self.regions.iter().any(|&(s, e)| s <= addr && end <= e) {
            return true;
        }
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
        // SAFETY: as in `read`, and the pages are writable: the loader's
        // regions are the program's data and stack, and `mmap` pages are
        // checked for `PROT_WRITE` (code pages are read-only after
        // loading, so a stray write there faults the handler).
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

/// x86_64 context word indices (docs/EXO_ABI.md).
const RAX: usize = upcall::CONTEXT;
const RDX: usize = upcall::CONTEXT + 3;
const RSI: usize = upcall::CONTEXT + 4;
const RDI: usize = upcall::CONTEXT + 5;
const R8: usize = upcall::CONTEXT + 7;
const R9: usize = upcall::CONTEXT + 8;
const R10: usize = upcall::CONTEXT + 9;

extern "C" fn on_upcall(kind: u64, frame: *mut u64) -> ! {
    // SAFETY: the kernel wrote an upcall frame at `frame` on our stack.
    let w = unsafe { &mut *frame.cast::<[u64; upcall::FRAME_WORDS]>() };
    if kind == upcall::SLICE_END {
        // The program's slice is over: give the CPU back, then resume it
        // where it was (the frame holds its registers).
        exo_sys::yield_now();
        exo_sys::upcall_return(frame)
    }
    if kind != upcall::SYSCALL {
        println!("linuxrun: the program took upcall {kind} {:x?}", &w[1..5]);
        exo_sys::exit(128 + kind);
    }
    let number = w[1];
    let args = [w[RDI], w[RSI], w[RDX], w[R10], w[R8], w[R9]];
    let Some(world) = WORLD.get() else {
        exo_sys::exit(126)
    };
    let result = match number {
        // arch_prctl(ARCH_SET_FS, base): the thread pointer is the kernel's.
        158 if args[0] == 0x1002 => exo_sys::tls_set(args[1]).map_or(-22, |_| 0),
        158 => -22,
        60 | 231 => {
            let _ = world
                .sys
                .procs
                .exit(world.pid, libos::process::ExitStatus::Exited(args[0] as u8));
            exo_sys::exit(args[0] & 0xff)
        }
        _ => {
            let mut mem = world.memory.lock();
            let mut ctx = Ctx {
                sys: &world.sys,
                pid: world.pid,
                mem: &mut *mem,
            };
            exo_linux::syscall(&mut ctx, number, args)
        }
    };
    w[RAX] = result as u64;
    exo_sys::upcall_return(frame)
}

/// What loading produced.
struct Loaded {
    entry: u64,
    phdr: u64,
    phnum: u64,
    regions: Vec<(u64, u64)>,
    /// The same segments for the libOS's address-space record.
    areas: Vec<Region>,
}

/// Maps the program's loadable segments.
fn load() -> Result<Loaded, &'static str> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(PROGRAM).map_err(|_| "not an ELF file")?;
    let mut regions = Vec::new();
    let mut areas = Vec::new();
    let mut phdr = 0;
    let segs: Vec<_> = file
        .segments()
        .ok_or("no program headers")?
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .collect();
    for ph in &segs {
        let start = ph.p_vaddr & !0xfff;
        let end = (ph.p_vaddr + ph.p_memsz).next_multiple_of(4096);
        let pages = (end - start) / 4096;
        let frames = exo_sys::frame_alloc(pages).map_err(|_| "frame_alloc")?;
        for i in 0..pages {
            exo_sys::map(frames, i, start + i * 4096, access::WRITE).map_err(|_| "map")?;
        }
        let bytes = &PROGRAM[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize];
        // SAFETY: [start, end) was just mapped writable, and the segment
        // lies inside it.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), ph.p_vaddr as *mut u8, bytes.len())
        };
        let final_access = if ph.p_flags & PF_X != 0 {
            access::EXECUTE
        } else if ph.p_flags & PF_W != 0 {
            access::WRITE
        } else {
            0
        };
        for i in 0..pages {
            exo_sys::syscall(exo_sys::call::PROTECT, &[start + i * 4096, final_access])
                .map_err(|_| "protect")?;
        }
        if ph.p_offset == 0 {
            phdr = ph.p_vaddr + file.ehdr.e_phoff;
        }
        regions.push((start, end));
        areas.push(Region {
            start,
            end,
            perms: [
                b'r',
                if ph.p_flags & PF_W != 0 { b'w' } else { b'-' },
                if ph.p_flags & PF_X != 0 { b'x' } else { b'-' },
                b'p',
            ],
            offset: ph.p_offset & !0xfff,
            name: "/bin/hello".into(),
        });
    }
    Ok(Loaded {
        entry: file.ehdr.e_entry,
        phdr,
        phnum: file.ehdr.e_phnum as u64,
        regions,
        areas,
    })
}

/// Builds the initial stack; returns the stack pointer (argc at it).
fn build_stack(entry: u64, phdr: u64, phnum: u64) -> Result<u64, &'static str> {
    let base = STACK_TOP - STACK_PAGES * 4096;
    let frames = exo_sys::frame_alloc(STACK_PAGES).map_err(|_| "stack frames")?;
    for i in 0..STACK_PAGES {
        exo_sys::map(frames, i, base + i * 4096, access::WRITE).map_err(|_| "stack map")?;
    }
    let mut sp = STACK_TOP;
    let mut push_bytes = |bytes: &[u8]| {
        sp -= bytes.len() as u64;
        // SAFETY: the stack pages were just mapped writable and `sp` stays
        // inside them (a few hundred bytes are pushed).
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), sp as *mut u8, bytes.len()) };
        sp
    };
    let argv0 = push_bytes(b"hello\0");
    let envp0 = push_bytes(b"PATH=/bin\0");
    let mut random = [0u8; 16];
    let _ = exo_sys::Exo::random(&BareMetal, &mut random);
    let rand = push_bytes(&random);
    sp &= !15;
    let words: Vec<u64> = alloc::vec![
        1, argv0, 0, envp0, 0, // argc, argv, NULL, envp, NULL
        3, phdr, 4, 56, 5, phnum, 6, 4096, 9, entry, 25, rand, 23, 0, 0, 0, // auxv
    ];
    // Keep rsp 16-byte aligned with argc at it.
    if words.len() % 2 == 1 {
        sp -= 8;
    }
    sp -= (words.len() * 8) as u64;
    for (i, w) in words.iter().enumerate() {
        // SAFETY: as above.
        unsafe { ((sp + 8 * i as u64) as *mut u64).write(*w) };
    }
    Ok(sp)
}

#[unsafe(no_mangle)]
fn main(_env: u64) -> u64 {
    libos::wait::install(Box::new(exo_sys::yield_now));
    let exo = Arc::new(BareMetal);
    let Ok(sys) = System::boot(exo, Arc::new(Info), Options::default()) else {
        println!("linuxrun: libOS boot failed");
        return 1;
    };
    let Loaded {
        entry,
        phdr,
        phnum,
        mut regions,
        mut areas,
    } = match load() {
        Ok(v) => v,
        Err(e) => {
            println!("linuxrun: loading failed: {e}");
            return 2;
        }
    };
    let sp = match build_stack(entry, phdr, phnum) {
        Ok(sp) => sp,
        Err(e) => {
            println!("linuxrun: stack: {e}");
            return 3;
        }
    };
    regions.push((STACK_TOP - STACK_PAGES * 4096, STACK_TOP));
    areas.push(Region {
        start: STACK_TOP - STACK_PAGES * 4096,
        end: STACK_TOP,
        perms: *b"rw-p",
        offset: 0,
        name: "[stack]".into(),
    });
    let Ok(pid) = sys.procs.fork(INIT) else {
        return 4;
    };
    let _ = sys
        .procs
        .exec(pid, "hello", alloc::vec![b"hello".to_vec()], areas, "linux");
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
    WORLD.call_once(|| World {
        sys,
        pid,
        memory: spin::Mutex::new(Direct {
            regions,
            pages: BTreeMap::new(),
            live: BTreeMap::new(),
        }),
    });
    println!(
        "linuxrun: starting a {}-byte static Linux executable at {entry:#x}",
        PROGRAM.len()
    );
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
    // SAFETY: `sp` is the initial stack built above and `entry` the
    // program's entry point, both mapped; registers are cleared as the
    // System V ABI expects (rdx = 0: no exit handler).
    unsafe {
        core::arch::asm!(
            "mov rsp, r12",
            "xor eax, eax", "xor ebx, ebx", "xor ecx, ecx", "xor edx, edx",
            "xor esi, esi", "xor edi, edi", "xor ebp, ebp",
            "jmp r13",
            in("r12") sp,
            in("r13") entry,
            options(noreturn)
        )
    }
}
