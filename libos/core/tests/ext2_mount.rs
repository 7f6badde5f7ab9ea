//! An ext2 image built by mkfs.ext2 mounted in the VFS: readable through
//! every VFS path, every mutation `EROFS`, a corrupt image refused.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use libos::Errno;
use libos::fs::ext2::Ext2Fs;
use libos::fs::tmpfs::Tmpfs;
use libos::time::FixedClock;
use libos::vfs::file::OpenFlags;
use libos::vfs::node::{FileType, Owner, Timespec};
use libos::vfs::{Cred, Vfs};

fn mkfs() -> &'static str {
    ["/usr/sbin/mkfs.ext2", "/sbin/mkfs.ext2"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("mkfs.ext2 (e2fsprogs) is needed: cargo xtask setup installs it")
}

fn image() -> Vec<u8> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("exo-libos-ext2-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("etc")).expect("mkdir");
    std::fs::write(tree.join("etc/hostname"), b"exo\n").expect("write");
    std::fs::write(
        tree.join("big"),
        (0..100_000u32).map(|i| i as u8).collect::<Vec<_>>(),
    )
    .expect("write");
    std::os::unix::fs::symlink("etc/hostname", tree.join("name")).expect("symlink");
    let img = dir.join("fs.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(1 << 20)
        .expect("size");
    let ok = Command::new(mkfs())
        .args(["-q", "-F", "-b", "1024", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg("1024k")
        .status()
        .expect("run mkfs.ext2");
    assert!(ok.success());
    let bytes = std::fs::read(&img).expect("read image");
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

#[test]
fn a_mounted_ext2_image_reads_and_refuses_writes() {
    let clock = Arc::new(FixedClock(Timespec::default()));
    let vfs = Vfs::new(
        Arc::new(Tmpfs::new(
            1,
            1 << 20,
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
    vfs.mkdir(&cred, root, b"/mnt", 0o755).expect("mkdir");
    let fs = Ext2Fs::new(7, image()).expect("valid image");
    vfs.mount(&cred, root, b"/mnt", Arc::new(fs), "/dev/vda", false)
        .expect("mount");
    assert_eq!(vfs.mounts()[1].fs_type, "ext2");
    assert!(vfs.mounts()[1].read_only, "ext2 is read-only");
    // Reads through a symlink, a big file at an offset, stat, readdir.
    let f = vfs
        .open(&cred, root, b"/mnt/name", OpenFlags::READ, 0)
        .expect("open");
    let mut buf = [0u8; 16];
    assert_eq!(f.read(&mut buf), Ok(4));
    assert_eq!(&buf[..4], b"exo\n");
    let big = vfs
        .open(&cred, root, b"/mnt/big", OpenFlags::READ, 0)
        .expect("open big");
    assert_eq!(big.read_at(70_000, &mut buf), Ok(16));
    assert_eq!(buf[0], (70_000u32 % 256) as u8);
    assert_eq!(big.read_at(100_000, &mut buf), Ok(0), "EOF");
    let st = vfs.stat(&cred, root, b"/mnt/big", true).expect("stat");
    assert_eq!((st.size, st.kind, st.dev), (100_000, FileType::Regular, 7));
    let d = vfs
        .open(&cred, root, b"/mnt/etc", OpenFlags::READ, 0)
        .expect("dir");
    let names: Vec<Vec<u8>> = d
        .read_dir(64)
        .expect("readdir")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.contains(&b"hostname".to_vec()));
    assert_eq!(
        vfs.stat(&cred, root, b"/mnt/etc/..", true).map(|s| s.ino),
        Ok(2),
        "the ext2 root"
    );
    // Every mutation is EROFS.
    let w = OpenFlags {
        create: true,
        ..OpenFlags::WRITE
    };
    assert_eq!(
        vfs.open(&cred, root, b"/mnt/new", w, 0o644).err(),
        Some(Errno::EROFS)
    );
    assert_eq!(
        vfs.open(&cred, root, b"/mnt/big", OpenFlags::WRITE, 0)
            .err(),
        Some(Errno::EROFS)
    );
    assert_eq!(vfs.unlink(&cred, root, b"/mnt/big"), Err(Errno::EROFS));
    assert_eq!(vfs.mkdir(&cred, root, b"/mnt/d", 0o755), Err(Errno::EROFS));
    assert_eq!(
        vfs.rename(&cred, root, b"/mnt/big", b"/mnt/b2"),
        Err(Errno::EROFS)
    );
    assert_eq!(vfs.truncate(&cred, root, b"/mnt/big", 0), Err(Errno::EROFS));
    assert_eq!(
        vfs.chmod(&cred, root, b"/mnt/big", 0o600),
        Err(Errno::EROFS)
    );
    assert_eq!(vfs.statfs(&cred, root, b"/mnt").map(|s| s.bsize), Ok(1024));
}

#[test]
fn corrupt_images_are_refused() {
    let mut img = image();
    img[1024 + 56] ^= 0xff; // the superblock magic
    assert_eq!(Ext2Fs::new(1, img).err(), Some(Errno::EINVAL));
    assert_eq!(Ext2Fs::new(1, vec![0u8; 10]).err(), Some(Errno::EINVAL));
}
