//! Process creation (`fork`, `vfork`, `clone`), thread-id addresses,
//! `sigaltstack` and `statx` through the Linux personality.

use alloc::string::{String, ToString};
use alloc::vec;
#[cfg(not(target_os = "none"))]
use core::time::Duration;

use exo_personality::{Ctx, VecMemory};
use exo_personality_tests::{World, check};

use super::{
    AT_FDCWD, EFAULT, EINVAL, ENOENT, EXIT_GROUP, O_RDONLY, OPEN, WAIT4, create, sys, u32_at,
    u64_at,
};

const CLONE: u64 = 56;
const FORK: u64 = 57;
const VFORK: u64 = 58;
const SIGALTSTACK: u64 = 131;
#[cfg(not(target_os = "none"))]
const SET_TID_ADDRESS: u64 = 218;
const STATX: u64 = 332;
#[cfg(not(target_os = "none"))]
const FUTEX: u64 = 202;
#[cfg(not(target_os = "none"))]
const FUTEX_WAIT: u64 = 0;

const SIGCHLD: u64 = 17;
const CLONE_VM: u64 = 0x100;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_THREAD: u64 = 0x1_0000;
const CLONE_PARENT_SETTID: u64 = 0x10_0000;
const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
const CLONE_CHILD_SETTID: u64 = 0x100_0000;
const CLONE_NEWNS: u64 = 0x2_0000;

const ENOMEM: i64 = -12;

/// Ends `pid` through the personality with `status`, in memory `mem`.
fn exit_in(w: &World, pid: u32, mem: &mut VecMemory, status: u64) -> i64 {
    let mut ctx = Ctx {
        sys: &w.sys,
        pid,
        mem,
    };
    exo_linux::syscall(&mut ctx, EXIT_GROUP, [status, 0, 0, 0, 0, 0])
}

pub fn fork_and_vfork_make_children() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/inherited", b"x")?;
    let p = w.cstr("/tmp/inherited");
    let fd = sys(&mut w, OPEN, &[p, O_RDONLY]);
    check!(fd >= 0, "open");
    let child = sys(&mut w, FORK, &[]);
    check!(
        child > w.pid as i64,
        "fork returns the child's pid: {child}"
    );
    let c = w.sys.procs.get(child as u32).map_err(|e| e.to_string())?;
    check!(c.ppid == w.pid, "the caller is its parent");
    check!(
        c.fds.file(fd).is_ok(),
        "the child has a copy of the descriptor table"
    );
    let parent = w.sys.procs.get(w.pid).map_err(|e| e.to_string())?;
    check!(c.personality == parent.personality, "same personality");
    let v = sys(&mut w, VFORK, &[]);
    check!(v > child, "vfork: another child {v}");
    // Both end; wait4 reaps each with its status.
    check!(
        exit_in(&w, child as u32, &mut VecMemory::new(), 5) == 0,
        "child exit"
    );
    check!(
        exit_in(&w, v as u32, &mut VecMemory::new(), 6) == 0,
        "vfork child exit"
    );
    let st = w.buf(4);
    check!(
        sys(&mut w, WAIT4, &[child as u64, st, 0, 0]) == child,
        "reap fork child"
    );
    check!(u32_at(&w, st, 0) == 5 << 8, "status 5");
    check!(
        sys(&mut w, WAIT4, &[v as u64, st, 0, 0]) == v,
        "reap vfork child"
    );
    check!(u32_at(&w, st, 0) == 6 << 8, "status 6");
    Ok(())
}

pub fn clone_flag_sets() -> Result<(), String> {
    let mut w = World::new();
    let ptid = w.buf(8);
    let ctid = w.buf(8);
    // glibc's fork: CHILD_SETTID | CHILD_CLEARTID | SIGCHLD.
    let c = sys(
        &mut w,
        CLONE,
        &[
            CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD,
            0,
            0,
            ctid,
            0,
        ],
    );
    check!(c > 0, "glibc-style fork: {c}");
    let p = w.sys.procs.get(c as u32).map_err(|e| e.to_string())?;
    check!(
        p.set_child_tid == ctid && p.clear_child_tid == ctid,
        "the child's tid addresses are recorded for it"
    );
    check!(
        w.sys
            .procs
            .get(w.pid)
            .map_err(|e| e.to_string())?
            .clear_child_tid
            == 0,
        "the parent's own address is untouched"
    );
    // CLONE_PARENT_SETTID writes the child's id in the parent.
    let c2 = sys(
        &mut w,
        CLONE,
        &[CLONE_PARENT_SETTID | SIGCHLD, 0, ptid, 0, 0],
    );
    check!(c2 > c, "second child");
    check!(
        u32_at(&w, ptid, 0) == c2 as u32,
        "parent_tid holds the child's id"
    );
    // posix_spawn's vfork: CLONE_VM | CLONE_VFORK with a stack.
    let stack = w.buf(4096) + 4096;
    let c3 = sys(
        &mut w,
        CLONE,
        &[CLONE_VM | CLONE_VFORK | SIGCHLD, stack, 0, 0, 0],
    );
    check!(c3 > c2, "posix_spawn-style clone: {c3}");
    let before = w.sys.procs.pids().len();
    // Refused: threads, shared tables, shared memory without VFORK or a
    // stack, namespaces, exit signals other than SIGCHLD, bad pointers.
    let thread = CLONE_VM | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
    for (flags, stack, what) in [
        (thread, stack, "threads"),
        (CLONE_VM | SIGCHLD, stack, "CLONE_VM alone"),
        (
            CLONE_VM | CLONE_VFORK | SIGCHLD,
            0,
            "CLONE_VM without a stack",
        ),
        (CLONE_FILES | SIGCHLD, 0, "shared descriptor table"),
        (CLONE_NEWNS | SIGCHLD, 0, "namespaces"),
        (10, 0, "exit signal SIGUSR1"),
    ] {
        check!(
            sys(&mut w, CLONE, &[flags, stack, 0, 0, 0]) == EINVAL,
            "{what}: EINVAL"
        );
    }
    check!(
        sys(
            &mut w,
            CLONE,
            &[CLONE_PARENT_SETTID | SIGCHLD, 0, 0xdead_0000, 0, 0]
        ) == EFAULT,
        "bad parent_tid"
    );
    check!(
        w.sys.procs.pids().len() == before,
        "no child left behind by a refusal"
    );
    Ok(())
}

#[cfg(not(target_os = "none"))]
pub fn exit_clears_and_wakes_the_tid_address() -> Result<(), String> {
    let mut w = World::new();
    let tid = w.put(&0x1234u32.to_le_bytes());
    check!(
        sys(&mut w, SET_TID_ADDRESS, &[tid]) == w.pid as i64,
        "set_tid_address returns the caller's id"
    );
    // A joiner waits on the tid word in the same process (another thread
    // of it); the exit clears the word and wakes it.
    let joiner_mem = w.mem.clone();
    let (sys_ref, pid) = (&w.sys, w.pid);
    let mem = &mut w.mem;
    let (exited, joined) = std::thread::scope(|s| {
        let joiner = s.spawn(move || {
            let mut m = joiner_mem;
            let mut ctx = Ctx {
                sys: sys_ref,
                pid,
                mem: &mut m,
            };
            exo_linux::syscall(&mut ctx, FUTEX, [tid, FUTEX_WAIT, 0x1234, 0, 0, 0])
        });
        std::thread::sleep(Duration::from_millis(50));
        let mut ctx = Ctx {
            sys: sys_ref,
            pid,
            mem,
        };
        let r = exo_linux::syscall(&mut ctx, EXIT_GROUP, [0; 6]);
        (r, joiner.join())
    });
    check!(exited == 0, "exit");
    check!(joined.ok() == Some(0), "the joiner was woken");
    check!(u32_at(&w, tid, 0) == 0, "the tid word is cleared");
    Ok(())
}

pub fn sigaltstack_set_and_query() -> Result<(), String> {
    let mut w = World::new();
    let old = w.buf(24);
    check!(sys(&mut w, SIGALTSTACK, &[0, old]) == 0, "query");
    check!(
        u64_at(&w, old, 0) == 0 && u32_at(&w, old, 8) == 2 && u64_at(&w, old, 16) == 0,
        "initially SS_DISABLE"
    );
    let mut ss = [0u8; 24];
    ss[0..8].copy_from_slice(&0x7000_0000u64.to_le_bytes());
    ss[8..12].copy_from_slice(&(1u32 << 31).to_le_bytes());
    ss[16..24].copy_from_slice(&65536u64.to_le_bytes());
    let new = w.put(&ss);
    check!(sys(&mut w, SIGALTSTACK, &[new, old]) == 0, "set");
    check!(u32_at(&w, old, 8) == 2, "old: disabled");
    check!(sys(&mut w, SIGALTSTACK, &[0, old]) == 0, "query again");
    check!(
        u64_at(&w, old, 0) == 0x7000_0000
            && u32_at(&w, old, 8) == 1 << 31
            && u64_at(&w, old, 16) == 65536,
        "reads back with SS_AUTODISARM"
    );
    let st = w.sys.procs.get(w.pid).map_err(|e| e.to_string())?;
    check!(
        st.signals.altstack.is_some_and(|a| a.contains(0x7000_8000)),
        "the libOS holds the stack"
    );
    // A forked child inherits it; exec drops it.
    let child = sys(&mut w, FORK, &[]) as u32;
    check!(
        w.sys
            .procs
            .get(child)
            .map_err(|e| e.to_string())?
            .signals
            .altstack
            .is_some(),
        "inherited by fork"
    );
    w.sys
        .procs
        .exec(child, "next", vec![], vec![], "linux")
        .map_err(|e| e.to_string())?;
    check!(
        w.sys
            .procs
            .get(child)
            .map_err(|e| e.to_string())?
            .signals
            .altstack
            .is_none(),
        "gone after exec"
    );
    ss[16..24].copy_from_slice(&1024u64.to_le_bytes());
    ss[8..12].copy_from_slice(&0u32.to_le_bytes());
    let small = w.put(&ss);
    check!(
        sys(&mut w, SIGALTSTACK, &[small, 0]) == ENOMEM,
        "below MINSIGSTKSZ"
    );
    ss[8..12].copy_from_slice(&4u32.to_le_bytes());
    let bad = w.put(&ss);
    check!(
        sys(&mut w, SIGALTSTACK, &[bad, 0]) == EINVAL,
        "unknown flag"
    );
    check!(
        sys(&mut w, SIGALTSTACK, &[0xdead_0000, 0]) == EFAULT,
        "bad pointer"
    );
    ss[8..12].copy_from_slice(&2u32.to_le_bytes());
    let off = w.put(&ss);
    check!(sys(&mut w, SIGALTSTACK, &[off, 0]) == 0, "disable");
    check!(
        w.sys
            .procs
            .get(w.pid)
            .map_err(|e| e.to_string())?
            .signals
            .altstack
            .is_none(),
        "disabled"
    );
    Ok(())
}

pub fn statx_layout() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/sx", b"0123456789abc")?;
    let p = w.cstr("/tmp/sx");
    let buf = w.put(&[0xee; 256]);
    check!(
        sys(&mut w, STATX, &[AT_FDCWD, p, 0, 0x7ff, buf]) == 0,
        "statx"
    );
    check!(u32_at(&w, buf, 0) == 0x7ff, "stx_mask = STATX_BASIC_STATS");
    check!(u32_at(&w, buf, 4) > 0, "stx_blksize");
    check!(u32_at(&w, buf, 16) == 1, "stx_nlink");
    let mode = u16::from_le_bytes(w.get(buf + 28, 2).try_into().expect("2"));
    check!(mode == 0o100_644, "stx_mode {mode:o}");
    check!(u64_at(&w, buf, 40) == 13, "stx_size");
    // The same inode and times as newfstatat reports.
    let st = w.buf(144);
    check!(
        sys(&mut w, super::NEWFSTATAT, &[AT_FDCWD, p, st, 0]) == 0,
        "newfstatat"
    );
    check!(u64_at(&w, buf, 32) == u64_at(&w, st, 8), "stx_ino = st_ino");
    check!(
        u64_at(&w, buf, 112) == u64_at(&w, st, 88),
        "stx_mtime = st_mtime"
    );
    check!(w.get(buf + 80, 16) == [0; 16], "no birth time");
    check!(w.get(buf + 144, 112) == [0; 112], "spare bytes zeroed");
    // Descriptor arguments are C ints: an AT_FDCWD passed through
    // syscall(2)'s varargs arrives with a zero upper half.
    check!(
        sys(&mut w, STATX, &[AT_FDCWD & 0xffff_ffff, p, 0, 0x7ff, buf]) == 0,
        "32-bit AT_FDCWD"
    );
    // AT_EMPTY_PATH on a descriptor; errors.
    let fd = sys(&mut w, OPEN, &[p, O_RDONLY]) as u64;
    let empty = w.cstr("");
    check!(
        sys(&mut w, STATX, &[fd, empty, 0x1000, 0x7ff, buf]) == 0,
        "AT_EMPTY_PATH"
    );
    check!(u64_at(&w, buf, 40) == 13, "size through the descriptor");
    check!(
        sys(
            &mut w,
            STATX,
            &[fd | 0xdead_beef << 32, empty, 0x1000, 0x7ff, buf]
        ) == 0,
        "only the low 32 bits of a descriptor count"
    );
    let missing = w.cstr("/tmp/none");
    check!(
        sys(&mut w, STATX, &[AT_FDCWD, missing, 0, 0x7ff, buf]) == ENOENT,
        "ENOENT"
    );
    check!(
        sys(&mut w, STATX, &[AT_FDCWD, p, 0x1, 0x7ff, buf]) == EINVAL,
        "unknown flag"
    );
    check!(
        sys(&mut w, STATX, &[AT_FDCWD, p, 0x6000, 0x7ff, buf]) == EINVAL,
        "both sync types"
    );
    check!(
        sys(&mut w, STATX, &[AT_FDCWD, p, 0, 0x8000_0000, buf]) == EINVAL,
        "STATX__RESERVED"
    );
    check!(
        sys(&mut w, STATX, &[AT_FDCWD, p, 0, 0x7ff, 0xdead_0000]) == EFAULT,
        "bad buffer"
    );
    Ok(())
}
