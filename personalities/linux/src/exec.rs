//! `execve`: replaces the calling process's program with a static Linux
//! executable from the VFS, in its own address space.
//!
//! Everything that can fail for the caller — the strings, the file, its
//! permission, the ELF checks, the segment layout — is checked first and
//! answered with an errno. Then the old program's memory goes, the new
//! segments are mapped through [`UserMemory`] (written while writable,
//! then given their final access, so text ends read-execute), the System
//! V initial stack is built (argc, argv, envp, auxv with `AT_PHDR`,
//! `AT_ENTRY`, `AT_RANDOM`, …), and the libOS records the exec (name,
//! argv, `/proc/<pid>/maps`, close-on-exec descriptors, caught signals
//! back to default). A failure after the old memory is gone cannot be
//! reported to a program that no longer exists; the process dies.

use alloc::vec::Vec;

use elf::ElfBytes;
use elf::abi::{PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR};
use elf::endian::LittleEndian;
use exo_personality::{Ctx, UserMemory};
use libos::mm::{PAGE, Prot};
use libos::process::Region;
use libos::vfs::file::OpenFlags;
use libos::{Errno, Result};

use crate::arch::Arch;

/// Top of a new program's stack (below the exo runtime's own stack at the
/// top of the user half).
pub const STACK_TOP: u64 = 0x6000_0000_0000;
/// Its size.
pub const STACK_LEN: u64 = 256 * 1024;
/// Most argument and environment strings together (bytes, NULs counted).
pub const ARG_MAX: usize = 128 * 1024;
/// Most argument and environment strings each.
const MAX_STRINGS: usize = 4096;
/// Lowest address a segment may use (Linux's default `mmap_min_addr`).
const MIN_ADDR: u64 = 0x1_0000;

/// Why `execve` did not return into a new program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failed {
    /// Nothing changed; the caller gets this errno.
    Refused(Errno),
    /// The old program was already gone: the process must die.
    Fatal,
}

impl From<Errno> for Failed {
    fn from(e: Errno) -> Self {
        Self::Refused(e)
    }
}

/// One loadable segment, checked.
struct Segment {
    vaddr: u64,
    offset: usize,
    filesz: usize,
    memsz: u64,
    prot: Prot,
}

/// A checked executable.
struct Program {
    entry: u64,
    phdr: u64,
    phnum: u64,
    segments: Vec<Segment>,
}

/// A NULL-terminated array of string pointers (`argv`, `envp`; NULL
/// itself is an empty array, as Linux accepts).
fn strings(ctx: &Ctx<'_>, at: u64, total: &mut usize) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    if at == 0 {
        return Ok(out);
    }
    loop {
        let p = ctx.u64_at(at.checked_add(8 * out.len() as u64).ok_or(Errno::EFAULT)?)?;
        if p == 0 {
            return Ok(out);
        }
        if out.len() >= MAX_STRINGS {
            return Err(Errno::E2BIG);
        }
        let s = ctx.cstr_bounded(p, ARG_MAX - *total).map_err(|e| {
            if e == Errno::ENAMETOOLONG {
                Errno::E2BIG
            } else {
                e
            }
        })?;
        *total += s.len() + 1;
        if *total > ARG_MAX {
            return Err(Errno::E2BIG);
        }
        out.push(s);
    }
}

fn prot_of(flags: u32) -> Prot {
    let bit = |b, v| if flags & b != 0 { v } else { 0 };
    Prot(bit(PF_R, 1) | bit(PF_W, 2) | bit(PF_X, 4))
}

/// Checks `bytes` as a static executable for `machine` whose segments fit
/// below the stack and inside the file.
fn check(bytes: &[u8], machine: u16) -> Result<Program> {
    // The libOS's checks first (class, machine, type, some PT_LOAD).
    libos::exec::inspect(bytes, machine, "")?;
    let file = ElfBytes::<LittleEndian>::minimal_parse(bytes).map_err(|_| Errno::ENOEXEC)?;
    let headers = file.segments().ok_or(Errno::ENOEXEC)?;
    let mut segments: Vec<Segment> = Vec::new();
    let mut phdr = None;
    for ph in headers.iter() {
        if ph.p_type == PT_PHDR {
            phdr = Some(ph.p_vaddr);
        }
        if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        let file_end = ph.p_offset.checked_add(ph.p_filesz).ok_or(Errno::ENOEXEC)?;
        let mem_end = ph.p_vaddr.checked_add(ph.p_memsz).ok_or(Errno::ENOEXEC)?;
        if file_end > bytes.len() as u64
            || ph.p_filesz > ph.p_memsz
            || ph.p_vaddr < MIN_ADDR
            || mem_end.next_multiple_of(PAGE) > STACK_TOP - STACK_LEN
            || ph.p_vaddr % PAGE != ph.p_offset % PAGE
        {
            return Err(Errno::ENOEXEC);
        }
        let start = ph.p_vaddr / PAGE * PAGE;
        // Segments ascend without sharing a page (what static linkers
        // emit); anything else is refused rather than merged.
        if segments
            .last()
            .is_some_and(|s| (s.vaddr + s.memsz).next_multiple_of(PAGE) > start)
        {
            return Err(Errno::ENOEXEC);
        }
        if phdr.is_none() && ph.p_offset == 0 {
            phdr = Some(ph.p_vaddr + file.ehdr.e_phoff);
        }
        segments.push(Segment {
            vaddr: ph.p_vaddr,
            offset: ph.p_offset as usize,
            filesz: ph.p_filesz as usize,
            memsz: ph.p_memsz,
            prot: prot_of(ph.p_flags),
        });
    }
    if segments.is_empty() || !segments.iter().any(|s| s.prot.executable()) {
        return Err(Errno::ENOEXEC);
    }
    Ok(Program {
        entry: file.ehdr.e_entry,
        phdr: phdr.unwrap_or(0),
        phnum: u64::from(file.ehdr.e_phnum),
        segments,
    })
}

/// Maps `p`'s segments into `mem` with their contents.
fn map_segments(mem: &mut dyn UserMemory, p: &Program, bytes: &[u8]) -> Result<()> {
    for s in &p.segments {
        let start = s.vaddr / PAGE * PAGE;
        let end = (s.vaddr + s.memsz).next_multiple_of(PAGE);
        mem.map_pages(start, end - start, Prot::RW)?;
        mem.write(s.vaddr, &bytes[s.offset..s.offset + s.filesz])?;
        mem.protect_pages(start, end - start, s.prot)?;
    }
    Ok(())
}

/// Pushes `s` and a NUL below `sp`; returns where it starts.
fn push_cstr(mem: &mut dyn UserMemory, sp: &mut u64, s: &[u8]) -> Result<u64> {
    *sp -= s.len() as u64 + 1;
    mem.write(*sp, s)?;
    mem.write(*sp + s.len() as u64, &[0])?;
    Ok(*sp)
}

/// Maps the stack and writes the System V initial stack; returns the
/// stack pointer (pointing at argc).
fn build_stack(
    mem: &mut dyn UserMemory,
    p: &Program,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    random: [u8; 16],
) -> Result<u64> {
    const AT_NULL: u64 = 0;
    const AT_PHDR: u64 = 3;
    const AT_PHENT: u64 = 4;
    const AT_PHNUM: u64 = 5;
    const AT_PAGESZ: u64 = 6;
    const AT_ENTRY: u64 = 9;
    const AT_UID: u64 = 11;
    const AT_EUID: u64 = 12;
    const AT_GID: u64 = 13;
    const AT_EGID: u64 = 14;
    const AT_SECURE: u64 = 23;
    const AT_RANDOM: u64 = 25;
    const AT_EXECFN: u64 = 31;
    mem.map_pages(STACK_TOP - STACK_LEN, STACK_LEN, Prot::RW)?;
    let mut sp = STACK_TOP;
    let execfn = push_cstr(mem, &mut sp, argv.first().map_or(&b""[..], Vec::as_slice))?;
    let mut envs = Vec::with_capacity(envp.len());
    for e in envp.iter().rev() {
        envs.push(push_cstr(mem, &mut sp, e)?);
    }
    envs.reverse();
    let mut args = Vec::with_capacity(argv.len());
    for a in argv.iter().rev() {
        args.push(push_cstr(mem, &mut sp, a)?);
    }
    args.reverse();
    sp -= random.len() as u64;
    mem.write(sp, &random)?;
    let rand = sp;
    let mut words: Vec<u64> = Vec::new();
    words.push(argv.len() as u64);
    words.extend(&args);
    words.push(0);
    words.extend(&envs);
    words.push(0);
    words.extend([
        AT_PHDR, p.phdr, AT_PHENT, 56, AT_PHNUM, p.phnum, AT_PAGESZ, PAGE, AT_ENTRY, p.entry,
        AT_UID, 0, AT_EUID, 0, AT_GID, 0, AT_EGID, 0, AT_SECURE, 0, AT_RANDOM, rand, AT_EXECFN,
        execfn, AT_NULL, 0,
    ]);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    // argc at a 16-byte boundary.
    let at = (rand - bytes.len() as u64) & !15;
    if at < STACK_TOP - STACK_LEN {
        return Err(Errno::E2BIG);
    }
    mem.write(at, &bytes)?;
    Ok(at)
}

/// Sixteen random bytes for `AT_RANDOM` (libc's stack protector and
/// pointer guard seed), from the libOS's `/dev/urandom`.
fn random(ctx: &Ctx<'_>) -> Result<[u8; 16]> {
    let root = libos::vfs::Cred::root();
    let f = ctx.sys.vfs.open(
        &root,
        ctx.sys.vfs.root(),
        b"/dev/urandom",
        OpenFlags::READ,
        0,
    )?;
    let mut r = [0u8; 16];
    if f.read(&mut r)? != r.len() {
        return Err(Errno::EIO);
    }
    Ok(r)
}

/// `execve(path, argv, envp)`: the registers the new program starts with.
///
/// # Errors
/// [`Failed::Refused`] with `EFAULT`, `ENAMETOOLONG`, `ENOENT`,
/// `EACCES`, `ENOEXEC`, `E2BIG`, … while nothing has changed;
/// [`Failed::Fatal`] once the old program is gone.
pub fn execve<A: Arch>(ctx: &mut Ctx<'_>, a: [u64; 6]) -> core::result::Result<A, Failed> {
    let path = ctx.cstr(a[0])?;
    let mut total = 0;
    let argv = strings(ctx, a[1], &mut total)?;
    let envp = strings(ctx, a[2], &mut total)?;
    exec::<A>(ctx, &path, argv, &envp)
}

/// Runs the executable at `path` in the process of `ctx` with arguments
/// and environment already in hand: `execve` after its strings are read,
/// and how an embedder starts a process's first program.
///
/// # Errors
/// As [`execve`].
pub fn exec<A: Arch>(
    ctx: &mut Ctx<'_>,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    envp: &[Vec<u8>],
) -> core::result::Result<A, Failed> {
    let (cred, cwd) = ctx.sys.procs.with(ctx.pid, |p| (p.cred.clone(), p.cwd))?;
    let bytes = libos::exec::read_executable(ctx.sys, &cred, cwd, path)?;
    let program = check(&bytes, A::MACHINE)?;
    // A program branded for another system (FreeBSD, illumos) is not
    // this personality's to run.
    if libos::exec::brand(&bytes).is_some_and(|b| b != "linux") {
        return Err(Failed::Refused(Errno::ENOEXEC));
    }
    let random = random(ctx)?;
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let name = core::str::from_utf8(name).unwrap_or("exe");
    let path_str = alloc::string::String::from_utf8_lossy(path).into_owned();

    // The point of no return: the old program's memory goes, after its
    // `clear_child_tid` word is cleared and woken (a vfork parent or a
    // joiner waits on it), as Linux's exec releases the old mm.
    let (old, tid_at, futexes) = ctx
        .sys
        .procs
        .with(ctx.pid, |p| {
            let old: Vec<(u64, u64)> = p.mm.areas().map(|a| (a.start, a.end)).collect();
            (
                old,
                core::mem::take(&mut p.clear_child_tid),
                alloc::sync::Arc::clone(&p.futexes),
            )
        })
        .map_err(|_| Failed::Fatal)?;
    if tid_at != 0 && tid_at.is_multiple_of(4) && ctx.mem.write(tid_at, &[0; 4]).is_ok() {
        futexes.wake(tid_at, 1, u32::MAX);
    }
    for (start, end) in old {
        ctx.mem
            .unmap_pages(start, end - start)
            .map_err(|_| Failed::Fatal)?;
    }
    map_segments(ctx.mem, &program, &bytes).map_err(|_| Failed::Fatal)?;
    let sp = build_stack(ctx.mem, &program, &argv, envp, random).map_err(|_| Failed::Fatal)?;
    let mut regions: Vec<Region> = program
        .segments
        .iter()
        .map(|s| {
            let p = s.prot;
            let flag = |on: bool, c: u8| if on { c } else { b'-' };
            Region {
                start: s.vaddr / PAGE * PAGE,
                end: (s.vaddr + s.memsz).next_multiple_of(PAGE),
                perms: [
                    flag(p.readable(), b'r'),
                    flag(p.writable(), b'w'),
                    flag(p.executable(), b'x'),
                    b'p',
                ],
                offset: (s.offset as u64) / PAGE * PAGE,
                name: path_str.clone(),
            }
        })
        .collect();
    regions.push(Region {
        start: STACK_TOP - STACK_LEN,
        end: STACK_TOP,
        perms: *b"rw-p",
        offset: 0,
        name: "[stack]".into(),
    });
    ctx.sys
        .procs
        .exec(ctx.pid, name, argv, regions, "linux")
        .map_err(|_| Failed::Fatal)?;
    Ok(A::start(program.entry, sp))
}
