//! `execve` through the register-level entry: a static x86_64 ELF from
//! the VFS replaces the process's memory; its initial stack follows the
//! System V ABI; refusals change nothing.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use exo_linux::{Flow, Regs};
use exo_personality::UserMemory;
use exo_personality_tests::{MEM, World, check};
use libos::vfs::Cred;
use libos::vfs::file::OpenFlags;

use super::{EFAULT, ENOENT};

const E2BIG: i64 = -7;
const ENOEXEC: i64 = -8;
const EACCES: i64 = -13;

const EXECVE: u64 = 59;
const ENTRY: u64 = 0x40_1000;
const CODE: &[u8] = &[0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05]; // mov eax, 60; syscall
const DATA_AT: u64 = 0x40_2000;

/// A static x86_64 executable: text (R-X) at 0x400000 holding [`CODE`]
/// at [`ENTRY`], data (RW-) at [`DATA_AT`] with 16 file bytes and a
/// 0x3000-byte bss.
pub fn tiny_elf() -> Vec<u8> {
    let mut f = vec![0u8; 0x2010];
    let put = |f: &mut Vec<u8>, at: usize, b: &[u8]| f[at..at + b.len()].copy_from_slice(b);
    put(&mut f, 0, &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    put(&mut f, 16, &2u16.to_le_bytes()); // ET_EXEC
    put(&mut f, 18, &62u16.to_le_bytes()); // EM_X86_64
    put(&mut f, 20, &1u32.to_le_bytes());
    put(&mut f, 24, &ENTRY.to_le_bytes());
    put(&mut f, 32, &64u64.to_le_bytes()); // e_phoff
    put(&mut f, 52, &64u16.to_le_bytes()); // e_ehsize
    put(&mut f, 54, &56u16.to_le_bytes()); // e_phentsize
    put(&mut f, 56, &2u16.to_le_bytes()); // e_phnum
    put(&mut f, 58, &64u16.to_le_bytes()); // e_shentsize
    let phdr =
        |f: &mut Vec<u8>, at: usize, flags: u32, off: u64, va: u64, filesz: u64, memsz: u64| {
            put(f, at, &1u32.to_le_bytes()); // PT_LOAD
            put(f, at + 4, &flags.to_le_bytes());
            put(f, at + 8, &off.to_le_bytes());
            put(f, at + 16, &va.to_le_bytes());
            put(f, at + 24, &va.to_le_bytes());
            put(f, at + 32, &filesz.to_le_bytes());
            put(f, at + 40, &memsz.to_le_bytes());
            put(f, at + 48, &0x1000u64.to_le_bytes());
        };
    let text_len = 0x1000 + CODE.len() as u64;
    phdr(&mut f, 64, 5, 0, 0x40_0000, text_len, text_len);
    phdr(&mut f, 120, 6, 0x2000, DATA_AT, 16, 0x3000);
    put(&mut f, 0x1000, CODE);
    put(&mut f, 0x2000, b"initialised data");
    f
}

pub fn install(w: &World, path: &[u8], bytes: &[u8], mode: u32) -> Result<(), String> {
    let f = w
        .sys
        .vfs
        .open(
            &Cred::root(),
            w.sys.vfs.root(),
            path,
            OpenFlags {
                create: true,
                ..OpenFlags::WRITE
            },
            mode,
        )
        .map_err(|e| e.to_string())?;
    f.write(bytes).map_err(|e| e.to_string())?;
    Ok(())
}

/// A NULL-terminated pointer array of fresh strings.
fn array(w: &mut World, items: &[&str]) -> u64 {
    let mut ptrs: Vec<u8> = Vec::new();
    for s in items {
        ptrs.extend_from_slice(&w.cstr(s).to_le_bytes());
    }
    ptrs.extend_from_slice(&[0; 8]);
    w.put(&ptrs)
}

fn execve(w: &mut World, path: u64, argv: u64, envp: u64) -> (Flow, Regs) {
    let mut regs = Regs::start(0x1234, MEM + 0x8000);
    regs.rax = EXECVE;
    regs.rdi = path;
    regs.rsi = argv;
    regs.rdx = envp;
    let mut ctx = w.ctx();
    let flow = exo_linux::regs::syscall(&mut ctx, &mut regs);
    (flow, regs)
}

fn u64_in(w: &World, at: u64) -> Result<u64, String> {
    let mut b = [0u8; 8];
    w.mem.read(at, &mut b).map_err(|e| e.to_string())?;
    Ok(u64::from_le_bytes(b))
}

fn cstr_in(w: &World, at: u64) -> Result<String, String> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        w.mem
            .read(at + out.len() as u64, &mut b)
            .map_err(|e| e.to_string())?;
        if b[0] == 0 {
            return String::from_utf8(out).map_err(|e| e.to_string());
        }
        out.push(b[0]);
    }
}

pub fn execve_starts_the_new_program() -> Result<(), String> {
    let mut w = World::new();
    w.sys
        .vfs
        .mkdir(&Cred::root(), w.sys.vfs.root(), b"/bin", 0o755)
        .map_err(|e| e.to_string())?;
    install(&w, b"/bin/tiny", &tiny_elf(), 0o755)?;
    let path = w.cstr("/bin/tiny");
    let argv = array(&mut w, &["tiny", "first", "second"]);
    let envp = array(&mut w, &["HOME=/", "TERM=dumb"]);
    let (flow, regs) = execve(&mut w, path, argv, envp);
    check!(flow == Flow::Resume, "{flow:?}");
    check!(regs.rip == ENTRY, "rip = e_entry: {:#x}", regs.rip);
    check!(
        regs.rsp.is_multiple_of(16),
        "rsp 16-byte aligned: {:#x}",
        regs.rsp
    );
    check!(
        regs.rdi == 0 && regs.rdx == 0 && regs.rflags == 0x202,
        "a clean register file"
    );
    let sp = regs.rsp;
    check!(u64_in(&w, sp)? == 3, "argc");
    check!(cstr_in(&w, u64_in(&w, sp + 8)?)? == "tiny", "argv[0]");
    check!(cstr_in(&w, u64_in(&w, sp + 24)?)? == "second", "argv[2]");
    check!(u64_in(&w, sp + 32)? == 0, "argv NULL");
    check!(cstr_in(&w, u64_in(&w, sp + 40)?)? == "HOME=/", "envp[0]");
    check!(cstr_in(&w, u64_in(&w, sp + 48)?)? == "TERM=dumb", "envp[1]");
    check!(u64_in(&w, sp + 56)? == 0, "envp NULL");
    // auxv pairs up to AT_NULL.
    let mut aux = Vec::new();
    let mut at = sp + 64;
    loop {
        let (k, v) = (u64_in(&w, at)?, u64_in(&w, at + 8)?);
        if k == 0 {
            break;
        }
        aux.push((k, v));
        at += 16;
    }
    let get = |k: u64| aux.iter().find(|(a, _)| *a == k).map(|(_, v)| *v);
    check!(get(9) == Some(ENTRY), "AT_ENTRY");
    check!(get(6) == Some(4096), "AT_PAGESZ");
    check!(
        get(3) == Some(0x40_0040),
        "AT_PHDR: the headers in the text"
    );
    check!(
        get(5) == Some(2) && get(4) == Some(56),
        "AT_PHNUM, AT_PHENT"
    );
    let random = get(25).ok_or("AT_RANDOM")?;
    let mut r = [0u8; 16];
    w.mem.read(random, &mut r).map_err(|e| e.to_string())?;
    check!(r != [0; 16], "AT_RANDOM points at random bytes");
    // The new memory: text read-execute with the code, data, zeroed bss.
    let mut code = [0u8; 7];
    w.mem.read(ENTRY, &mut code).map_err(|e| e.to_string())?;
    check!(code == CODE, "text");
    check!(w.mem.write(ENTRY, &[0x90]).is_err(), "text is not writable");
    let mut data = [0u8; 16];
    w.mem.read(DATA_AT, &mut data).map_err(|e| e.to_string())?;
    check!(&data == b"initialised data", "data");
    let mut bss = [0xffu8; 16];
    w.mem
        .read(DATA_AT + 0x2ff0, &mut bss)
        .map_err(|e| e.to_string())?;
    check!(bss == [0; 16], "bss zeroed");
    // The old memory is gone.
    let mut b = [0u8; 1];
    check!(w.mem.read(MEM, &mut b).is_err(), "old memory unmapped");
    // The libOS's view.
    let p = w.sys.procs.get(w.pid).map_err(|e| e.to_string())?;
    check!(p.name == "tiny", "comm: {}", p.name);
    check!(p.argv.len() == 3 && p.argv[1] == b"first", "argv recorded");
    let maps: Vec<_> = p.mm.regions();
    check!(
        maps.iter()
            .any(|r| r.start == 0x40_0000 && &r.perms == b"r-xp"),
        "/proc maps text: {maps:?}"
    );
    check!(maps.iter().any(|r| r.name == "[stack]"), "/proc maps stack");
    Ok(())
}

pub fn execve_refusals_change_nothing() -> Result<(), String> {
    let mut w = World::new();
    install(&w, b"/tmp/noexec", &tiny_elf(), 0o644)?;
    install(&w, b"/tmp/garbage", b"#!not an elf at all", 0o755)?;
    let mut wrong = tiny_elf();
    wrong[18] = 183; // EM_AARCH64
    install(&w, b"/tmp/aarch64", &wrong, 0o755)?;
    let mut outside = tiny_elf();
    // The data segment's file bytes past the end of the file.
    outside[120 + 32..120 + 40].copy_from_slice(&0x10_0000u64.to_le_bytes());
    outside[120 + 40..120 + 48].copy_from_slice(&0x10_0000u64.to_le_bytes());
    install(&w, b"/tmp/outside", &outside, 0o755)?;
    let mut freebsd = tiny_elf();
    freebsd[7] = 9; // EI_OSABI: FreeBSD
    install(&w, b"/tmp/freebsd", &freebsd, 0o755)?;
    install(&w, b"/tmp/ok", &tiny_elf(), 0o755)?;
    let argv = array(&mut w, &["x"]);
    for (path, want) in [
        ("/tmp/none", ENOENT),
        ("/tmp/noexec", EACCES),
        ("/tmp", EACCES),
        ("/tmp/garbage", ENOEXEC),
        ("/tmp/aarch64", ENOEXEC),
        ("/tmp/outside", ENOEXEC),
        ("/tmp/freebsd", ENOEXEC),
    ] {
        let p = w.cstr(path);
        let (flow, regs) = execve(&mut w, p, argv, 0);
        check!(
            flow == Flow::Resume && regs.rax as i64 == want,
            "{path}: {} (want {want})",
            regs.rax as i64
        );
    }
    let ok = w.cstr("/tmp/ok");
    let (_, regs) = execve(&mut w, 0xdead_0000, argv, 0);
    check!(regs.rax as i64 == EFAULT, "bad path pointer");
    let (_, regs) = execve(&mut w, ok, 0xdead_0000, 0);
    check!(regs.rax as i64 == EFAULT, "bad argv pointer");
    let big = "x".repeat(70_000);
    let huge = array(&mut w, &[&big, &big]);
    let (_, regs) = execve(&mut w, ok, huge, 0);
    check!(regs.rax as i64 == E2BIG, "arguments over ARG_MAX");
    // Still the old program: its memory and name are intact.
    let mut b = [0u8; 1];
    check!(w.mem.read(MEM, &mut b).is_ok(), "memory intact");
    let p = w.sys.procs.get(w.pid).map_err(|e| e.to_string())?;
    check!(p.name != "ok", "not exec'd");
    Ok(())
}
