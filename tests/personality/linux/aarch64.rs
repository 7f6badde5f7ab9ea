//! The same personality under aarch64 numbers (generic `unistd.h`), arm64
//! open flags and the generic `struct stat`; and the `*at` calls both
//! numberings share.

use alloc::string::String;
use exo_personality_tests::{World, check};

use super::{
    ENOENT, ENOSYS, ENOTDIR, O_CREAT, O_RDONLY, O_WRONLY, READ, create, sys, u32_at, u64_at,
};

const AT_FDCWD: u64 = -100i64 as u64;

fn arm(w: &mut World, nr: u64, args: &[u64]) -> i64 {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    exo_linux::syscall_aarch64(&mut w.ctx(), nr, a)
}

pub fn aarch64_numbers_and_stat_layout() -> Result<(), String> {
    let mut w = World::new();
    let p = w.cstr("/tmp/arm");
    let fd = arm(&mut w, 56, &[AT_FDCWD, p, O_WRONLY | O_CREAT, 0o640]);
    check!(fd >= 0, "openat (56): {fd}");
    let d = w.put(b"arm64!");
    check!(arm(&mut w, 64, &[fd as u64, d, 6]) == 6, "write (64)");
    check!(arm(&mut w, 57, &[fd as u64]) == 0, "close (57)");
    let st = w.buf(128);
    check!(
        arm(&mut w, 79, &[AT_FDCWD, p, st, 0]) == 0,
        "newfstatat (79)"
    );
    // Generic layout: st_mode at 16 (u32), st_nlink at 20 (u32),
    // st_size at 48, st_blksize at 56 (u32).
    check!(
        u32_at(&w, st, 16) == 0o100_640,
        "st_mode {:o}",
        u32_at(&w, st, 16)
    );
    check!(u32_at(&w, st, 20) == 1, "st_nlink");
    check!(u64_at(&w, st, 48) == 6, "st_size");
    let fd = arm(&mut w, 56, &[AT_FDCWD, p, O_RDONLY]);
    let st2 = w.buf(128);
    check!(arm(&mut w, 80, &[fd as u64, st2]) == 0, "fstat (80)");
    check!(
        w.get(st, 128) == w.get(st2, 128),
        "fstat agrees with newfstatat"
    );
    let u = w.buf(390);
    check!(arm(&mut w, 160, &[u]) == 0, "uname (160)");
    check!(&w.get(u + 4 * 65, 7) == b"aarch64", "machine");
    // x86_64-only numbers do not exist here: 2 is io_submit's neighbour
    // in the generic table (io_setup is 0); open(2) is not a call.
    check!(
        arm(&mut w, 1024, &[p, O_RDONLY]) == ENOSYS,
        "open (1024, never wired)"
    );
    check!(arm(&mut w, 172, &[]) == w.pid as i64, "getpid (172)");
    Ok(())
}

pub fn aarch64_open_flags_are_translated() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/plain", b"x")?;
    let p = w.cstr("/tmp/plain");
    // arm64 O_DIRECTORY is 0o40000 (x86_64's O_DIRECT).
    check!(
        arm(&mut w, 56, &[AT_FDCWD, p, 0o40_000]) == ENOTDIR,
        "O_DIRECTORY on a file"
    );
    let dir = w.cstr("/tmp");
    check!(
        arm(&mut w, 56, &[AT_FDCWD, dir, 0o40_000]) >= 0,
        "O_DIRECTORY on a directory"
    );
    // On x86_64 numbering the same bit is O_DIRECT: accepted on a file.
    check!(
        sys(&mut w, 257, &[AT_FDCWD, p, 0o40_000]) >= 0,
        "x86_64 O_DIRECT"
    );
    let buf = w.buf(4);
    let fd = arm(&mut w, 56, &[AT_FDCWD, p, O_RDONLY]) as u64;
    check!(arm(&mut w, 63, &[fd, buf, 4]) == 1, "read (63)");
    check!(
        sys(&mut w, READ, &[fd, buf, 4]) == 0,
        "the same descriptor, x86_64 read"
    );
    Ok(())
}

pub fn linkat_symlinkat_fchmodat() -> Result<(), String> {
    let mut w = World::new();
    create(&mut w, "/tmp/orig", b"data")?;
    let dir = w.cstr("/tmp");
    let dfd = sys(&mut w, 257, &[AT_FDCWD, dir, 0o200_000]) as u64;
    let (orig, hard, soft) = (w.cstr("orig"), w.cstr("hard"), w.cstr("soft"));
    let abs_hard = w.cstr("/tmp/hard");
    let (missing, x, y) = (w.cstr("missing"), w.cstr("x"), w.cstr("y"));

    check!(
        sys(&mut w, 265, &[dfd, orig, AT_FDCWD, abs_hard, 0]) == 0,
        "linkat across bases"
    );
    let st = w.buf(144);
    check!(
        sys(&mut w, 262, &[dfd, orig, st, 0]) == 0 && u64_at(&w, st, 16) == 2,
        "two links"
    );
    check!(sys(&mut w, 266, &[orig, dfd, soft]) == 0, "symlinkat");
    let target = w.buf(16);
    check!(
        sys(&mut w, 267, &[dfd, soft, target, 16]) == 4,
        "readlinkat"
    );
    check!(w.get(target, 4) == b"orig", "target");
    check!(sys(&mut w, 268, &[dfd, hard, 0o600]) == 0, "fchmodat");
    sys(&mut w, 262, &[dfd, orig, st, 0]);
    check!(
        u32_at(&w, st, 24) & 0o7777 == 0o600,
        "mode through the other link"
    );
    check!(
        sys(&mut w, 265, &[dfd, missing, dfd, x, 0]) == ENOENT,
        "ENOENT"
    );
    check!(
        sys(&mut w, 265, &[dfd, orig, dfd, y, 0x1]) == -22,
        "unknown flag"
    );
    // aarch64 numbers reach the same handlers.
    check!(arm(&mut w, 53, &[dfd, orig, 0o644]) == 0, "fchmodat (53)");
    Ok(())
}
