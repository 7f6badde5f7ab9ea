//! Hosted VFS throughput next to the Linux host's, in one run: open + read
//! + close of a small file, and stat, per second.
//!
//! `cargo bench -p exo-libos --bench vfs` (part of `cargo xtask bench`).
//! The host side uses `std::fs` on a file in the host's temporary
//! directory (the kernel's page cache makes that a memory benchmark too);
//! the libOS side runs the same operations through the VFS on tmpfs. Set
//! `EXO_BENCH_ITERS` to change the iteration count.

use std::hint::black_box;
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use libos::fs::tmpfs::Tmpfs;
use libos::time::FixedClock;
use libos::vfs::file::OpenFlags;
use libos::vfs::node::{Owner, Timespec};
use libos::vfs::{Cred, Vfs};

fn rate(iters: u64, f: impl FnMut()) -> f64 {
    let mut f = f;
    // Warm up, then measure.
    for _ in 0..iters / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    iters as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let iters: u64 = std::env::var("EXO_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let data = vec![0x5au8; 1024];

    // The libOS: tmpfs root, /etc/motd of 1 KiB, three directories deep.
    let clock = Arc::new(FixedClock(Timespec::default()));
    let vfs = Vfs::new(
        Arc::new(Tmpfs::new(
            1,
            64 << 20,
            Owner {
                uid: 0,
                gid: 0,
                perm: 0o755,
            },
            clock,
        )),
        "rootfs",
    );
    let (cred, root) = (Cred::root(), vfs.root());
    vfs.mkdir(&cred, root, b"/a", 0o755).expect("mkdir");
    vfs.mkdir(&cred, root, b"/a/b", 0o755).expect("mkdir");
    let f = vfs
        .open(
            &cred,
            root,
            b"/a/b/file",
            OpenFlags {
                create: true,
                ..OpenFlags::WRITE
            },
            0o644,
        )
        .expect("create");
    f.write(&data).expect("write");
    drop(f);
    let mut buf = [0u8; 1024];
    let libos_orc = rate(iters, || {
        let f = vfs
            .open(&cred, root, b"/a/b/file", OpenFlags::READ, 0)
            .expect("open");
        black_box(f.read(&mut buf).expect("read"));
    });
    let libos_stat = rate(iters, || {
        black_box(vfs.stat(&cred, root, b"/a/b/file", true).expect("stat"));
    });

    // The host: the same layout in its temporary directory.
    let dir = std::env::temp_dir().join(format!("exo-vfs-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a/b")).expect("mkdir");
    let path = dir.join("a/b/file");
    std::fs::write(&path, &data).expect("write");
    let host_orc = rate(iters, || {
        let mut f = std::fs::File::open(&path).expect("open");
        black_box(f.read(&mut buf).expect("read"));
    });
    let host_stat = rate(iters, || {
        black_box(std::fs::metadata(&path).expect("stat"));
    });
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "hosted libOS VFS vs Linux host ({iters} iterations each, 1 KiB file three levels deep):"
    );
    println!(
        "  open+read+close: libOS {libos_orc:>12.0}/s   host {host_orc:>12.0}/s   ratio {:.2}x",
        libos_orc / host_orc
    );
    println!(
        "  stat:            libOS {libos_stat:>12.0}/s   host {host_stat:>12.0}/s   ratio {:.2}x",
        libos_stat / host_stat
    );
}
