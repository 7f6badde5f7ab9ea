//! Memory (`mmap` family, `brk`) and waiting (`futex`, `eventfd`,
//! `epoll`) through the Linux personality.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
#[cfg(not(target_os = "none"))]
use core::time::Duration;

#[cfg(not(target_os = "none"))]
use exo_personality::{Ctx, UserMemory, VecMemory};
use exo_personality_tests::{World, check};

use super::{
    CLOSE, EAGAIN, EBADF, EFAULT, EINVAL, O_RDONLY, O_WRONLY, OPEN, PIPE2, READ, WRITE, create,
    sys, u64_at,
};

const MMAP: u64 = 9;
const MPROTECT: u64 = 10;
const MUNMAP: u64 = 11;
const BRK: u64 = 12;
const MREMAP: u64 = 25;
const GETTIMEOFDAY: u64 = 96;
const FUTEX: u64 = 202;
const EPOLL_WAIT: u64 = 232;
const EPOLL_CTL: u64 = 233;
const CLOCK_NANOSLEEP: u64 = 230;
const TGKILL: u64 = 234;
const EVENTFD2: u64 = 290;
const EPOLL_CREATE1: u64 = 291;
const PRLIMIT64: u64 = 302;

const PROT_READ: u64 = 1;
const PROT_WRITE: u64 = 2;
const PROT_EXEC: u64 = 4;
const MAP_SHARED: u64 = 1;
const MAP_PRIVATE: u64 = 2;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
const ANON: u64 = MAP_PRIVATE | MAP_ANONYMOUS;

const ENOMEM: i64 = -12;
const EACCES: i64 = -13;
const EEXIST: i64 = -17;
const ENODEV: i64 = -19;
const EPERM: i64 = -1;
const ENOENT: i64 = -2;
const ESRCH: i64 = -3;
const ETIMEDOUT: i64 = -110;

const EPOLLIN: u32 = 1;
const EPOLLONESHOT: u32 = 1 << 30;
const EPOLLET: u32 = 1 << 31;

fn maps(w: &mut World) -> String {
    let path = format!("/proc/{}/maps", w.pid);
    let p = w.cstr(&path);
    let fd = sys(w, OPEN, &[p, O_RDONLY]);
    let buf = w.buf(8192);
    let n = sys(w, READ, &[fd as u64, buf, 8192]);
    sys(w, CLOSE, &[fd as u64]);
    String::from_utf8_lossy(&w.get(buf, n.max(0) as usize)).into_owned()
}

/// Writes through the personality (a `read` from a pipe into `at`), so the
/// page's access is what the program would see.
fn user_write(w: &mut World, at: u64, data: &[u8]) -> i64 {
    let fds = w.buf(8);
    sys(w, PIPE2, &[fds, 0]);
    let (r, wr) = (
        u32::from_le_bytes(w.get(fds, 4).try_into().unwrap()),
        u32::from_le_bytes(w.get(fds + 4, 4).try_into().unwrap()),
    );
    let d = w.put(data);
    sys(w, WRITE, &[u64::from(wr), d, data.len() as u64]);
    let n = sys(w, READ, &[u64::from(r), at, data.len() as u64]);
    sys(w, CLOSE, &[u64::from(r)]);
    sys(w, CLOSE, &[u64::from(wr)]);
    n
}

pub fn mmap_anonymous_memory() -> Result<(), String> {
    let mut w = World::new();
    let a = sys(
        &mut w,
        MMAP,
        &[0, 10_000, PROT_READ | PROT_WRITE, ANON, u64::MAX, 0],
    );
    check!(a > 0 && a % 4096 == 0, "address {a:#x}");
    let a = a as u64;
    check!(
        w.get(a, 12288) == vec![0u8; 12288],
        "zero filled, rounded to pages"
    );
    check!(user_write(&mut w, a + 12_000, b"hi") == 2, "writable");
    let m = maps(&mut w);
    let line = format!("{a:08x}-{:08x} rw-p", a + 12288);
    check!(m.contains(&line), "maps lacks {line}: {m}");
    check!(sys(&mut w, MUNMAP, &[a, 12288]) == 0, "munmap");
    check!(user_write(&mut w, a, b"x") == EFAULT, "unmapped is EFAULT");
    check!(
        !maps(&mut w).contains(&format!("{a:08x}-")),
        "gone from maps"
    );
    Ok(())
}

pub fn mmap_argument_errors() -> Result<(), String> {
    let mut w = World::new();
    let rw = PROT_READ | PROT_WRITE;
    check!(
        sys(&mut w, MMAP, &[0, 0, rw, ANON, u64::MAX, 0]) == EINVAL,
        "zero length"
    );
    check!(
        sys(&mut w, MMAP, &[0, 4096, rw, MAP_ANONYMOUS, u64::MAX, 0]) == EINVAL,
        "neither shared nor private"
    );
    check!(
        sys(
            &mut w,
            MMAP,
            &[0x40_0001, 4096, rw, ANON | MAP_FIXED, u64::MAX, 0]
        ) == EINVAL,
        "unaligned fixed address"
    );
    check!(
        sys(
            &mut w,
            MMAP,
            &[0, 4096, PROT_WRITE | PROT_EXEC, ANON, u64::MAX, 0]
        ) == EACCES,
        "W^X"
    );
    check!(
        sys(&mut w, MMAP, &[0, 4096, 8, ANON, u64::MAX, 0]) == EINVAL,
        "unknown prot bit"
    );
    check!(
        sys(&mut w, MMAP, &[0, 4096, rw, MAP_PRIVATE, 77, 0]) == EBADF,
        "bad fd"
    );
    check!(
        sys(&mut w, MUNMAP, &[0x40_0001, 4096]) == EINVAL,
        "unaligned munmap"
    );
    check!(
        sys(&mut w, MPROTECT, &[0x7000_0000, 4096, PROT_READ]) == ENOMEM,
        "mprotect of a hole"
    );
    Ok(())
}

pub fn mmap_fixed_and_noreplace() -> Result<(), String> {
    let mut w = World::new();
    let rw = PROT_READ | PROT_WRITE;
    let at = 0x5000_0000u64;
    check!(
        sys(&mut w, MMAP, &[at, 8192, rw, ANON | MAP_FIXED, u64::MAX, 0]) == at as i64,
        "fixed"
    );
    check!(user_write(&mut w, at, b"old") == 3, "write");
    check!(
        sys(
            &mut w,
            MMAP,
            &[at, 4096, rw, ANON | MAP_FIXED_NOREPLACE, u64::MAX, 0]
        ) == EEXIST,
        "noreplace over a mapping"
    );
    check!(
        sys(&mut w, MMAP, &[at, 4096, rw, ANON | MAP_FIXED, u64::MAX, 0]) == at as i64,
        "replace"
    );
    check!(w.get(at, 3) == [0, 0, 0], "replaced page is fresh");
    // A hint that is free is honoured without MAP_FIXED.
    check!(
        sys(&mut w, MMAP, &[0x6000_0000, 4096, rw, ANON, u64::MAX, 0]) == 0x6000_0000,
        "hint"
    );
    Ok(())
}

pub fn mprotect_changes_access() -> Result<(), String> {
    let mut w = World::new();
    let a = sys(
        &mut w,
        MMAP,
        &[0, 8192, PROT_READ | PROT_WRITE, ANON, u64::MAX, 0],
    ) as u64;
    check!(
        sys(&mut w, MPROTECT, &[a + 4096, 4096, PROT_READ]) == 0,
        "mprotect"
    );
    check!(
        user_write(&mut w, a, b"ok") == 2,
        "first page still writable"
    );
    check!(
        user_write(&mut w, a + 4096, b"no") == EFAULT,
        "second page read-only"
    );
    let m = maps(&mut w);
    check!(
        m.contains(&format!("{:08x}-{:08x} r--p", a + 4096, a + 8192)),
        "split in maps: {m}"
    );
    check!(
        sys(
            &mut w,
            MPROTECT,
            &[a, 8192, PROT_READ | PROT_WRITE | PROT_EXEC]
        ) == EACCES,
        "W^X"
    );
    check!(
        sys(&mut w, MPROTECT, &[a + 4096, 4096, PROT_READ | PROT_WRITE]) == 0,
        "back"
    );
    check!(
        maps(&mut w).contains(&format!("{a:08x}-{:08x} rw-p", a + 8192)),
        "merged again"
    );
    Ok(())
}

pub fn file_mappings_copy_the_file() -> Result<(), String> {
    let mut w = World::new();
    let text: Vec<u8> = (0..6000u32).map(|i| b'a' + (i % 26) as u8).collect();
    create(&mut w, "/tmp/m", &text)?;
    let p = w.cstr("/tmp/m");
    let fd = sys(&mut w, OPEN, &[p, O_RDONLY]) as u64;
    let a = sys(&mut w, MMAP, &[0, 8192, PROT_READ, MAP_PRIVATE, fd, 4096]);
    check!(a > 0, "map at offset 4096: {a}");
    let a = a as u64;
    check!(
        w.get(a, 6000 - 4096) == text[4096..],
        "contents from the offset"
    );
    check!(
        w.get(a + 1904, 100) == vec![0u8; 100],
        "zero past the end of the file"
    );
    check!(user_write(&mut w, a, b"x") == EFAULT, "PROT_READ");
    check!(maps(&mut w).contains("/tmp/m"), "maps names the file");
    check!(
        sys(&mut w, MMAP, &[0, 4096, PROT_READ, MAP_PRIVATE, fd, 100]) == EINVAL,
        "unaligned offset"
    );
    check!(
        sys(
            &mut w,
            MMAP,
            &[0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0]
        ) == EACCES,
        "shared writable needs a writable fd"
    );
    let wo = sys(&mut w, OPEN, &[p, O_WRONLY]) as u64;
    check!(
        sys(&mut w, MMAP, &[0, 4096, PROT_READ, MAP_PRIVATE, wo, 0]) == EACCES,
        "write-only fd"
    );
    let fds = w.buf(8);
    sys(&mut w, PIPE2, &[fds, 0]);
    let pipe_fd = u64::from(w.get(fds, 1)[0]);
    check!(
        sys(&mut w, MMAP, &[0, 4096, PROT_READ, MAP_PRIVATE, pipe_fd, 0]) == ENODEV,
        "pipes cannot be mapped"
    );
    Ok(())
}

pub fn brk_and_mremap() -> Result<(), String> {
    let mut w = World::new();
    w.sys
        .procs
        .with(w.pid, |p| p.mm.set_brk_base(0x60_1000))
        .unwrap();
    check!(sys(&mut w, BRK, &[0]) == 0x60_1000, "initial break");
    check!(sys(&mut w, BRK, &[0x60_3800]) == 0x60_3800, "grow");
    check!(user_write(&mut w, 0x60_37ff, b"z") == 1, "heap writable");
    check!(maps(&mut w).contains("[heap]"), "heap in maps");
    check!(
        sys(&mut w, BRK, &[0x10]) == 0x60_3800,
        "below the base: unchanged"
    );
    check!(sys(&mut w, BRK, &[0x60_1000]) == 0x60_1000, "shrink");
    check!(user_write(&mut w, 0x60_1000, b"z") == EFAULT, "heap gone");
    // mremap: grow in place, then move when blocked.
    let a = sys(
        &mut w,
        MMAP,
        &[0x7000_0000, 4096, PROT_READ | PROT_WRITE, ANON, u64::MAX, 0],
    ) as u64;
    user_write(&mut w, a, b"keep");
    check!(
        sys(&mut w, MREMAP, &[a, 4096, 8192, 0, 0]) == a as i64,
        "grow in place"
    );
    sys(
        &mut w,
        MMAP,
        &[a + 8192, 4096, PROT_READ, ANON | MAP_FIXED, u64::MAX, 0],
    );
    check!(
        sys(&mut w, MREMAP, &[a, 8192, 16384, 0, 0]) == ENOMEM,
        "blocked without MAYMOVE"
    );
    let b = sys(&mut w, MREMAP, &[a, 8192, 16384, 1, 0]);
    check!(b > 0 && b as u64 != a, "moved: {b:#x}");
    check!(w.get(b as u64, 4) == b"keep", "contents moved");
    check!(user_write(&mut w, a, b"x") == EFAULT, "old range unmapped");
    Ok(())
}

fn futex_word(w: &mut World, value: u32) -> u64 {
    w.put(&value.to_le_bytes())
}

pub fn futex_wait_value_and_timeout() -> Result<(), String> {
    let mut w = World::new();
    let f = futex_word(&mut w, 5);
    check!(sys(&mut w, FUTEX, &[f, 0, 6, 0]) == EAGAIN, "value differs");
    let ts = w.put(&[0u64.to_le_bytes(), 2_000_000u64.to_le_bytes()].concat());
    check!(
        sys(&mut w, FUTEX, &[f, 128, 5, ts]) == ETIMEDOUT,
        "2 ms timeout"
    );
    check!(
        sys(&mut w, FUTEX, &[f + 1, 0, 5, 0]) == EINVAL,
        "misaligned"
    );
    check!(
        sys(&mut w, FUTEX, &[0xdead_0000, 0, 5, 0]) == EFAULT,
        "unmapped word"
    );
    check!(sys(&mut w, FUTEX, &[f, 1, 10]) == 0, "wake with no waiters");
    check!(sys(&mut w, FUTEX, &[f, 99, 0]) == -38, "unknown op ENOSYS");
    Ok(())
}

#[cfg(not(target_os = "none"))]
/// A second thread of the process: its own handler context, the same
/// libOS and pid; the futex word lives at the same address.
fn thread_ctx<'a>(w: &'a World, mem: &'a mut VecMemory) -> Ctx<'a> {
    Ctx {
        sys: &w.sys,
        pid: w.pid,
        mem,
    }
}

#[cfg(not(target_os = "none"))]
pub fn futex_wake_and_requeue() -> Result<(), String> {
    let mut w = World::new();
    let f = futex_word(&mut w, 0);
    let f2 = futex_word(&mut w, 0);
    let mut mem = VecMemory::new();
    mem.map(f & !4095, 4096);
    mem.write(f, &0u32.to_le_bytes()).unwrap();
    let table = w.sys.procs.with(w.pid, |p| p.futexes.clone()).unwrap();
    let woken = std::thread::scope(|s| {
        let t = s.spawn(|| {
            let mut ctx = thread_ctx(&w, &mut mem);
            exo_linux::syscall(&mut ctx, FUTEX, [f, 128, 0, 0, 0, 0])
        });
        while table.waiters(f) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut ctx = Ctx {
            sys: &w.sys,
            pid: w.pid,
            mem: &mut VecMemory::new(),
        };
        // Requeue the waiter to f2 (wake none), then wake it there.
        let moved = exo_linux::syscall(&mut ctx, FUTEX, [f, 3, 0, 1, f2, 0]);
        let woke = exo_linux::syscall(&mut ctx, FUTEX, [f2, 1, 1, 0, 0, 0]);
        (moved, woke, t.join().unwrap())
    });
    check!(
        woken == (1, 1, 0),
        "requeue 1, wake 1, waiter returns 0: {woken:?}"
    );
    check!(
        table.waiters(f) == 0 && table.waiters(f2) == 0,
        "queues empty"
    );
    check!(
        sys(&mut w, FUTEX, &[f, 4, 1, 1, f2, 9]) == EAGAIN,
        "cmp_requeue sees the change"
    );
    Ok(())
}

pub fn eventfd_counts() -> Result<(), String> {
    let mut w = World::new();
    let fd = sys(&mut w, EVENTFD2, &[3, 0o4000]) as u64;
    let buf = w.buf(8);
    let four = w.put(&4u64.to_le_bytes());
    check!(sys(&mut w, WRITE, &[fd, four, 8]) == 8, "write");
    check!(
        sys(&mut w, READ, &[fd, buf, 8]) == 8 && u64_at(&w, buf, 0) == 7,
        "3 + 4"
    );
    check!(
        sys(&mut w, READ, &[fd, buf, 8]) == EAGAIN,
        "empty and non-blocking"
    );
    check!(sys(&mut w, READ, &[fd, buf, 4]) == EINVAL, "short read");
    let max = w.put(&u64::MAX.to_le_bytes());
    check!(sys(&mut w, WRITE, &[fd, max, 8]) == EINVAL, "u64::MAX");
    let sem = sys(&mut w, EVENTFD2, &[2, 1 | 0o4000]) as u64;
    check!(
        sys(&mut w, READ, &[sem, buf, 8]) == 8 && u64_at(&w, buf, 0) == 1,
        "semaphore takes 1"
    );
    check!(sys(&mut w, READ, &[sem, buf, 8]) == 8, "and 1 again");
    check!(sys(&mut w, READ, &[sem, buf, 8]) == EAGAIN, "then empty");
    check!(sys(&mut w, EVENTFD2, &[0, 0x4]) == EINVAL, "unknown flag");
    Ok(())
}

fn epoll_add(w: &mut World, ep: u64, op: u64, fd: u64, events: u32, data: u64) -> i64 {
    let ev = w.put(&[&events.to_le_bytes()[..], &data.to_le_bytes()].concat());
    sys(w, EPOLL_CTL, &[ep, op, fd, ev])
}

fn pipe(w: &mut World) -> (u64, u64) {
    let fds = w.buf(8);
    sys(w, PIPE2, &[fds, 0o4000]);
    let g = w.get(fds, 8);
    (u64::from(g[0]), u64::from(g[4]))
}

pub fn epoll_level_edge_and_oneshot() -> Result<(), String> {
    let mut w = World::new();
    let ep = sys(&mut w, EPOLL_CREATE1, &[0]) as u64;
    let (r, wr) = pipe(&mut w);
    let (r2, wr2) = pipe(&mut w);
    let (r3, wr3) = pipe(&mut w);
    check!(epoll_add(&mut w, ep, 1, r, EPOLLIN, 0xaa) == 0, "add level");
    check!(
        epoll_add(&mut w, ep, 1, r2, EPOLLIN | EPOLLET, 0xbb) == 0,
        "add edge"
    );
    check!(
        epoll_add(&mut w, ep, 1, r3, EPOLLIN | EPOLLONESHOT, 0xcc) == 0,
        "add oneshot"
    );
    check!(epoll_add(&mut w, ep, 1, r, EPOLLIN, 0) == EEXIST, "twice");
    check!(epoll_add(&mut w, ep, 3, 77, EPOLLIN, 0) == EBADF, "bad fd");
    let evs = w.buf(12 * 8);
    check!(
        sys(&mut w, EPOLL_WAIT, &[ep, evs, 8, 0]) == 0,
        "nothing ready"
    );
    let d = w.put(b"x");
    for p in [wr, wr2, wr3] {
        sys(&mut w, WRITE, &[p, d, 1]);
    }
    check!(
        sys(&mut w, EPOLL_WAIT, &[ep, evs, 8, 0]) == 3,
        "three ready"
    );
    let first = w.get(evs, 12);
    check!(
        first[..4] == EPOLLIN.to_le_bytes() && u64_at(&w, evs, 4) == 0xaa,
        "packed 12-byte event"
    );
    let n = sys(&mut w, EPOLL_WAIT, &[ep, evs, 8, 0]);
    check!(
        n == 1 && u64_at(&w, evs, 4) == 0xaa,
        "only the level one again: {n}"
    );
    check!(epoll_add(&mut w, ep, 3, r3, EPOLLIN, 0xcd) == 0, "re-arm");
    check!(
        sys(&mut w, EPOLL_WAIT, &[ep, evs, 1, 0]) == 1,
        "maxevents 1"
    );
    check!(epoll_add(&mut w, ep, 2, r, 0, 0) == 0, "delete");
    check!(epoll_add(&mut w, ep, 2, r, 0, 0) == ENOENT, "delete twice");
    check!(
        sys(&mut w, EPOLL_WAIT, &[ep, evs, 0, 0]) == EINVAL,
        "maxevents 0"
    );
    let p = w.cstr("/tmp/reg");
    create(&mut w, "/tmp/reg", b"")?;
    let reg = sys(&mut w, OPEN, &[p, O_RDONLY]) as u64;
    check!(
        epoll_add(&mut w, ep, 1, reg, EPOLLIN, 0) == EPERM,
        "regular files refused"
    );
    check!(
        epoll_add(&mut w, reg, 1, r, EPOLLIN, 0) == EINVAL,
        "not an epoll fd"
    );
    // Closing the only descriptor removes the interest.
    sys(&mut w, CLOSE, &[r2]);
    sys(&mut w, CLOSE, &[r3]);
    check!(
        sys(&mut w, EPOLL_WAIT, &[ep, evs, 8, 0]) == 0,
        "closed files leave the set"
    );
    let _ = wr;
    Ok(())
}

#[cfg(not(target_os = "none"))]
pub fn epoll_wait_blocks_until_a_write() -> Result<(), String> {
    let mut w = World::new();
    let ep = sys(&mut w, EPOLL_CREATE1, &[0]) as u64;
    let (r, wr) = pipe(&mut w);
    epoll_add(&mut w, ep, 1, r, EPOLLIN, 7);
    let evs = w.buf(12);
    let writer = w
        .sys
        .procs
        .with(w.pid, |p| p.fds.file(wr as i64))
        .unwrap()
        .unwrap();
    let n = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            writer.write(b"wake").unwrap();
        });
        sys(&mut w, EPOLL_WAIT, &[ep, evs, 1, u64::MAX])
    });
    check!(n == 1 && u64_at(&w, evs, 4) == 7, "woken by the write: {n}");
    let t0 = std::time::Instant::now();
    // Fire the one-shot interest, after which nothing is ready.
    epoll_add(&mut w, ep, 3, r, EPOLLIN | EPOLLONESHOT, 7);
    sys(&mut w, EPOLL_WAIT, &[ep, evs, 1, 0]);
    check!(
        sys(&mut w, EPOLL_WAIT, &[ep, evs, 1, 30]) == 0,
        "30 ms timeout"
    );
    check!(
        t0.elapsed() >= Duration::from_millis(30),
        "waited the timeout"
    );
    Ok(())
}

pub fn time_limits_and_thread_signals() -> Result<(), String> {
    let mut w = World::new();
    let tv = w.buf(16);
    check!(sys(&mut w, GETTIMEOFDAY, &[tv, 0]) == 0, "gettimeofday");
    check!(u64_at(&w, tv, 8) < 1_000_000, "microseconds");
    let req = w.put(&[0u64.to_le_bytes(), 1_000_000u64.to_le_bytes()].concat());
    check!(
        sys(&mut w, CLOCK_NANOSLEEP, &[1, 0, req, 0]) == 0,
        "relative"
    );
    check!(
        sys(&mut w, CLOCK_NANOSLEEP, &[1, 1, req, 0]) == 0,
        "absolute in the past"
    );
    check!(
        sys(&mut w, CLOCK_NANOSLEEP, &[2, 0, req, 0]) == EINVAL,
        "CPU clock"
    );
    let old = w.buf(16);
    check!(sys(&mut w, PRLIMIT64, &[0, 7, 0, old]) == 0, "get NOFILE");
    check!(
        u64_at(&w, old, 0) == 1024 && u64_at(&w, old, 8) == 1024,
        "1024 descriptors"
    );
    let lower = w.put(&[16u64.to_le_bytes(), 16u64.to_le_bytes()].concat());
    check!(
        sys(&mut w, PRLIMIT64, &[0, 7, lower, 0]) == EPERM,
        "not settable"
    );
    check!(
        sys(&mut w, PRLIMIT64, &[0, 99, 0, old]) == EINVAL,
        "unknown resource"
    );
    let pid = w.pid as u64;
    check!(sys(&mut w, TGKILL, &[pid, pid, 0]) == 0, "tgkill probe");
    check!(sys(&mut w, TGKILL, &[1, pid, 0]) == ESRCH, "wrong group");
    check!(sys(&mut w, TGKILL, &[pid, 0, 0]) == EINVAL, "tid 0");
    Ok(())
}

pub fn prctl_sysinfo_sendfile() -> Result<(), String> {
    let mut w = World::new();
    let name = w.cstr("a-rather-long-thread-name");
    check!(sys(&mut w, 157, &[15, name]) == 0, "PR_SET_NAME");
    let out = w.buf(16);
    check!(sys(&mut w, 157, &[16, out]) == 0, "PR_GET_NAME");
    check!(w.get(out, 16) == b"a-rather-long-t\0", "15 bytes and a NUL");
    let pid = w.pid;
    check!(
        w.sys.procs.get(pid).unwrap().name == "a-rather-long-t",
        "comm"
    );
    check!(sys(&mut w, 157, &[9999, 0]) == EINVAL, "unknown option");
    let si = w.buf(112);
    check!(sys(&mut w, 99, &[si]) == 0, "sysinfo");
    check!(u64_at(&w, si, 32) == 65536 * 1024, "totalram in bytes");
    check!(u64_at(&w, si, 40) == 32768 * 1024, "freeram");
    let procs = u16::from_le_bytes(w.get(si + 80, 2).try_into().unwrap());
    check!(procs == 2, "init and the test process: {procs}");
    check!(
        u32::from_le_bytes(w.get(si + 104, 4).try_into().unwrap()) == 1,
        "mem_unit"
    );
    check!(sys(&mut w, 99, &[0xdead_0000]) == EFAULT, "EFAULT");
    create(&mut w, "/tmp/src", b"0123456789")?;
    let (src, dst) = (w.cstr("/tmp/src"), w.cstr("/tmp/dst"));
    let i = sys(&mut w, OPEN, &[src, O_RDONLY]) as u64;
    let o = sys(&mut w, OPEN, &[dst, O_WRONLY | 0o100, 0o644]) as u64;
    let off = w.put(&3u64.to_le_bytes());
    check!(
        sys(&mut w, 40, &[o, i, off, 4]) == 4,
        "4 bytes from offset 3"
    );
    check!(u64_at(&w, off, 0) == 7, "offset advanced");
    check!(
        sys(&mut w, 40, &[o, i, 0, 100]) == 10,
        "the rest at the file offset"
    );
    check!(sys(&mut w, 40, &[i, o, 0, 1]) == EBADF, "wrong directions");
    let d = w.cstr("/tmp/dst");
    let r = sys(&mut w, OPEN, &[d, O_RDONLY]) as u64;
    let buf = w.buf(32);
    check!(sys(&mut w, READ, &[r, buf, 32]) == 14, "dst length");
    check!(w.get(buf, 14) == b"34560123456789", "dst contents");
    Ok(())
}
