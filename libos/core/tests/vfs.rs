//! The VFS over tmpfs: namespace operations, path resolution, mounts,
//! permissions, descriptors — and every error path the issue names.

use std::sync::Arc;

use libos::Errno;
use libos::fs::tmpfs::Tmpfs;
use libos::time::FixedClock;
use libos::vfs::file::{FdTable, MAX_FDS, OpenFlags, Whence};
use libos::vfs::node::{FileType, Owner, Timespec};
use libos::vfs::{Cred, Node, Vfs};

fn tmpfs(dev: u64) -> Arc<Tmpfs> {
    let clock = Arc::new(FixedClock(Timespec {
        sec: 1_700_000_000,
        nsec: 0,
    }));
    Arc::new(Tmpfs::new(
        dev,
        1 << 20,
        Owner {
            uid: 0,
            gid: 0,
            perm: 0o755,
        },
        clock,
    ))
}

fn setup() -> (Arc<Vfs>, Cred, Node) {
    let vfs = Vfs::new(tmpfs(1), "rootfs");
    let root = vfs.root();
    (vfs, Cred::root(), root)
}

fn create(vfs: &Arc<Vfs>, cred: &Cred, cwd: Node, path: &str, data: &[u8]) {
    let flags = OpenFlags {
        create: true,
        trunc: true,
        ..OpenFlags::WRITE
    };
    let f = vfs
        .open(cred, cwd, path.as_bytes(), flags, 0o644)
        .expect(path);
    assert_eq!(f.write(data), Ok(data.len()));
}

fn read_all(vfs: &Arc<Vfs>, cred: &Cred, cwd: Node, path: &str) -> Result<Vec<u8>, Errno> {
    let f = vfs.open(cred, cwd, path.as_bytes(), OpenFlags::READ, 0)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn files_read_write_seek_append_truncate() {
    let (vfs, cred, root) = setup();
    create(&vfs, &cred, root, "/a", b"hello world");
    assert_eq!(
        read_all(&vfs, &cred, root, "/a").as_deref(),
        Ok(&b"hello world"[..])
    );
    let f = vfs
        .open(&cred, root, b"/a", OpenFlags::READ_WRITE, 0)
        .expect("open");
    assert_eq!(f.seek(6, Whence::Set), Ok(6));
    assert_eq!(f.write(b"WORLD!"), Ok(6));
    assert_eq!(f.seek(0, Whence::End), Ok(12));
    assert_eq!(f.seek(-13, Whence::End), Err(Errno::EINVAL));
    let mut buf = [0u8; 4];
    assert_eq!(f.read(&mut buf), Ok(0), "read past EOF");
    assert_eq!(f.read_at(0, &mut buf), Ok(4));
    assert_eq!(&buf, b"hell");
    // O_APPEND writes at the end whatever the offset.
    let a = vfs
        .open(
            &cred,
            root,
            b"/a",
            OpenFlags {
                append: true,
                ..OpenFlags::WRITE
            },
            0,
        )
        .expect("append");
    a.write(b"+").expect("write");
    assert_eq!(
        read_all(&vfs, &cred, root, "/a").as_deref(),
        Ok(&b"hello WORLD!+"[..])
    );
    // Truncation both ways; a hole reads as zeros.
    f.truncate(2).expect("shrink");
    f.truncate(5).expect("grow");
    assert_eq!(
        read_all(&vfs, &cred, root, "/a").as_deref(),
        Ok(&b"he\0\0\0"[..])
    );
    let st = vfs.stat(&cred, root, b"/a", true).expect("stat");
    assert_eq!(
        (st.size, st.kind, st.mode()),
        (5, FileType::Regular, 0o100_644)
    );
    // Reading a write-only file, writing a read-only one.
    let w = vfs
        .open(&cred, root, b"/a", OpenFlags::WRITE, 0)
        .expect("w");
    assert_eq!(w.read(&mut buf), Err(Errno::EBADF));
    let r = vfs.open(&cred, root, b"/a", OpenFlags::READ, 0).expect("r");
    assert_eq!(r.write(b"x"), Err(Errno::EBADF));
    // Exclusive create.
    let excl = OpenFlags {
        create: true,
        excl: true,
        ..OpenFlags::WRITE
    };
    assert_eq!(
        vfs.open(&cred, root, b"/a", excl, 0o644).err(),
        Some(Errno::EEXIST)
    );
    // A directory is not writable as a file and not readable with read().
    assert_eq!(
        vfs.open(&cred, root, b"/", OpenFlags::WRITE, 0).err(),
        Some(Errno::EISDIR)
    );
    let d = vfs
        .open(&cred, root, b"/", OpenFlags::READ, 0)
        .expect("dir");
    assert_eq!(d.read(&mut buf), Err(Errno::EISDIR));
    assert_eq!(
        vfs.open(
            &cred,
            root,
            b"/a",
            OpenFlags {
                directory: true,
                ..OpenFlags::READ
            },
            0
        )
        .err(),
        Some(Errno::ENOTDIR)
    );
}

#[test]
fn namespace_operations_and_their_errors() {
    let (vfs, cred, root) = setup();
    vfs.mkdir(&cred, root, b"/d", 0o755).expect("mkdir");
    vfs.mkdir(&cred, root, b"/d/e", 0o755)
        .expect("mkdir nested");
    assert_eq!(vfs.mkdir(&cred, root, b"/d", 0o755), Err(Errno::EEXIST));
    assert_eq!(
        vfs.mkdir(&cred, root, b"/nope/x", 0o755),
        Err(Errno::ENOENT)
    );
    create(&vfs, &cred, root, "/d/f", b"data");
    assert_eq!(
        vfs.mkdir(&cred, root, b"/d/f/g", 0o755),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(vfs.rmdir(&cred, root, b"/d"), Err(Errno::ENOTEMPTY));
    assert_eq!(vfs.rmdir(&cred, root, b"/d/f"), Err(Errno::ENOTDIR));
    assert_eq!(vfs.unlink(&cred, root, b"/d/e"), Err(Errno::EISDIR));
    assert_eq!(vfs.rmdir(&cred, root, b"/"), Err(Errno::EBUSY));
    // Hard links share data and count.
    vfs.link(&cred, root, b"/d/f", b"/g").expect("link");
    assert_eq!(vfs.stat(&cred, root, b"/g", true).map(|s| s.nlink), Ok(2));
    assert_eq!(vfs.link(&cred, root, b"/d", b"/dl"), Err(Errno::EPERM));
    vfs.unlink(&cred, root, b"/d/f").expect("unlink");
    assert_eq!(
        read_all(&vfs, &cred, root, "/g").as_deref(),
        Ok(&b"data"[..])
    );
    // Rename: files, directories, replacing, into itself.
    vfs.rename(&cred, root, b"/g", b"/d/e/h")
        .expect("rename file");
    assert_eq!(
        vfs.stat(&cred, root, b"/g", true).err(),
        Some(Errno::ENOENT)
    );
    assert_eq!(
        vfs.rename(&cred, root, b"/d", b"/d/e/inside"),
        Err(Errno::EINVAL)
    );
    assert_eq!(vfs.rename(&cred, root, b"/d", b"/d"), Ok(()));
    vfs.mkdir(&cred, root, b"/empty", 0o755).expect("mkdir");
    create(&vfs, &cred, root, "/file", b"");
    assert_eq!(
        vfs.rename(&cred, root, b"/file", b"/empty"),
        Err(Errno::EISDIR)
    );
    assert_eq!(
        vfs.rename(&cred, root, b"/empty", b"/file"),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        vfs.rename(&cred, root, b"/empty", b"/d"),
        Err(Errno::ENOTEMPTY)
    );
    vfs.rename(&cred, root, b"/d", b"/empty")
        .expect("replace an empty directory");
    assert_eq!(
        read_all(&vfs, &cred, root, "/empty/e/h").as_deref(),
        Ok(&b"data"[..])
    );
    assert_eq!(
        vfs.path_of(vfs.resolve(&cred, root, b"/empty/e", true).expect("e")),
        Ok(b"/empty/e".to_vec())
    );
    // Directory listing.
    let d = vfs
        .open(&cred, root, b"/empty", OpenFlags::READ, 0)
        .expect("open dir");
    let names: Vec<Vec<u8>> = d
        .read_dir(100)
        .expect("readdir")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, vec![b".".to_vec(), b"..".to_vec(), b"e".to_vec()]);
    assert!(
        d.read_dir(100).expect("again").is_empty(),
        "offset advanced"
    );
}

#[test]
fn path_resolution_limits_and_symlinks() {
    let (vfs, cred, root) = setup();
    vfs.mkdir(&cred, root, b"/a", 0o755).expect("mkdir");
    vfs.mkdir(&cred, root, b"/a/b", 0o755).expect("mkdir");
    create(&vfs, &cred, root, "/a/b/file", b"x");
    let a = vfs.resolve(&cred, root, b"/a", true).expect("a");
    // Relative, ., .., and .. above the root.
    assert_eq!(
        read_all(&vfs, &cred, a, "b/./../b//file").as_deref(),
        Ok(&b"x"[..])
    );
    assert_eq!(
        read_all(&vfs, &cred, a, "../../../a/b/file").as_deref(),
        Ok(&b"x"[..])
    );
    assert_eq!(
        vfs.stat(&cred, root, b"/a/b/file/", true).err(),
        Some(Errno::ENOTDIR)
    );
    assert_eq!(
        vfs.stat(&cred, root, b"/a/b/file/x", true).err(),
        Some(Errno::ENOTDIR)
    );
    assert_eq!(vfs.stat(&cred, root, b"", true).err(), Some(Errno::ENOENT));
    // Symlinks: absolute, relative, to directories, dangling, loops.
    vfs.symlink(&cred, root, b"/a/b/file", b"/abs")
        .expect("symlink");
    vfs.symlink(&cred, root, b"b/file", b"/a/rel")
        .expect("symlink");
    vfs.symlink(&cred, root, b"/a/b", b"/dirlink")
        .expect("symlink");
    vfs.symlink(&cred, root, b"/missing", b"/dangling")
        .expect("symlink");
    vfs.symlink(&cred, root, b"/loop2", b"/loop1")
        .expect("symlink");
    vfs.symlink(&cred, root, b"/loop1", b"/loop2")
        .expect("symlink");
    assert_eq!(
        read_all(&vfs, &cred, root, "/abs").as_deref(),
        Ok(&b"x"[..])
    );
    assert_eq!(
        read_all(&vfs, &cred, root, "/a/rel").as_deref(),
        Ok(&b"x"[..])
    );
    assert_eq!(
        read_all(&vfs, &cred, root, "/dirlink/file").as_deref(),
        Ok(&b"x"[..])
    );
    assert_eq!(
        vfs.stat(&cred, root, b"/dangling", true).err(),
        Some(Errno::ENOENT)
    );
    assert_eq!(
        vfs.stat(&cred, root, b"/dangling", false).map(|s| s.kind),
        Ok(FileType::Symlink)
    );
    assert_eq!(vfs.readlink(&cred, root, b"/a/rel"), Ok(b"b/file".to_vec()));
    assert_eq!(vfs.readlink(&cred, root, b"/a"), Err(Errno::EINVAL));
    assert_eq!(
        vfs.stat(&cred, root, b"/loop1", true).err(),
        Some(Errno::ELOOP)
    );
    assert_eq!(
        vfs.stat(&cred, root, b"/loop1/x", true).err(),
        Some(Errno::ELOOP)
    );
    let nofollow = OpenFlags {
        nofollow: true,
        ..OpenFlags::READ
    };
    assert_eq!(
        vfs.open(&cred, root, b"/abs", nofollow, 0).err(),
        Some(Errno::ELOOP)
    );
    // Length limits.
    let long_name = "n".repeat(256);
    assert_eq!(
        vfs.mkdir(&cred, root, format!("/{long_name}").as_bytes(), 0o755),
        Err(Errno::ENAMETOOLONG)
    );
    assert!(
        vfs.mkdir(
            &cred,
            root,
            format!("/{}", "n".repeat(255)).as_bytes(),
            0o755
        )
        .is_ok()
    );
    let long_path = "/a".repeat(2100);
    assert_eq!(
        vfs.stat(&cred, root, long_path.as_bytes(), true).err(),
        Some(Errno::ENAMETOOLONG)
    );
    assert_eq!(
        vfs.stat(&cred, root, b"/a\0b", true).err(),
        Some(Errno::EINVAL)
    );
    // The dentry cache serves repeated lookups.
    let before = vfs.dcache_hits();
    for _ in 0..10 {
        vfs.stat(&cred, root, b"/a/b/file", true).expect("stat");
    }
    assert!(vfs.dcache_hits() >= before + 20);
}

#[test]
fn mounts_cross_and_refuse_busy_unmounts() {
    let (vfs, cred, root) = setup();
    vfs.mkdir(&cred, root, b"/mnt", 0o755).expect("mkdir");
    create(&vfs, &cred, root, "/mnt/hidden", b"under");
    vfs.mount(&cred, root, b"/mnt", tmpfs(2), "tmpfs", false)
        .expect("mount");
    assert_eq!(
        vfs.stat(&cred, root, b"/mnt/hidden", true).err(),
        Some(Errno::ENOENT),
        "covered"
    );
    create(&vfs, &cred, root, "/mnt/new", b"over");
    assert_eq!(
        vfs.stat(&cred, root, b"/mnt/new", true).map(|s| s.dev),
        Ok(2)
    );
    // `..` from the mount's root leaves the mount.
    let m = vfs.resolve(&cred, root, b"/mnt", true).expect("mnt");
    assert_eq!(vfs.stat(&cred, m, b"..", true).map(|s| s.dev), Ok(1));
    assert_eq!(vfs.path_of(m), Ok(b"/mnt".to_vec()));
    // Cross-device operations and busy mount points.
    assert_eq!(
        vfs.rename(&cred, root, b"/mnt/new", b"/new"),
        Err(Errno::EXDEV)
    );
    assert_eq!(
        vfs.link(&cred, root, b"/mnt/new", b"/new"),
        Err(Errno::EXDEV)
    );
    assert_eq!(vfs.rmdir(&cred, root, b"/mnt"), Err(Errno::EBUSY));
    assert_eq!(
        vfs.rename(&cred, root, b"/mnt", b"/elsewhere"),
        Err(Errno::EBUSY)
    );
    let open = vfs
        .open(&cred, root, b"/mnt/new", OpenFlags::READ, 0)
        .expect("open");
    assert_eq!(vfs.umount(&cred, root, b"/mnt"), Err(Errno::EBUSY));
    drop(open);
    let table = vfs.mounts();
    assert_eq!(table.len(), 2);
    assert_eq!(
        (table[1].target.as_slice(), table[1].fs_type),
        (&b"/mnt"[..], "tmpfs")
    );
    assert_eq!(
        vfs.umount(&Cred::user(1000, 1000), root, b"/mnt"),
        Err(Errno::EPERM)
    );
    vfs.umount(&cred, root, b"/mnt").expect("umount");
    assert_eq!(
        read_all(&vfs, &cred, root, "/mnt/hidden").as_deref(),
        Ok(&b"under"[..])
    );
    assert_eq!(
        vfs.umount(&cred, root, b"/mnt"),
        Err(Errno::EINVAL),
        "nothing mounted"
    );
}

#[test]
fn permissions_follow_posix() {
    let (vfs, cred, root) = setup();
    let alice = Cred::user(1000, 1000);
    let bob = Cred::user(1001, 1001);
    vfs.mkdir(&cred, root, b"/home", 0o755).expect("mkdir");
    assert_eq!(
        vfs.mkdir(&alice, root, b"/home/alice", 0o755),
        Err(Errno::EACCES)
    );
    vfs.mkdir(&cred, root, b"/home/alice", 0o700)
        .expect("mkdir");
    vfs.chown(&cred, root, b"/home/alice", Some(1000), Some(1000))
        .expect("chown");
    create(&vfs, &alice, root, "/home/alice/diary", b"secret");
    assert_eq!(
        read_all(&vfs, &bob, root, "/home/alice/diary").err(),
        Some(Errno::EACCES),
        "no search permission"
    );
    vfs.chmod(&alice, root, b"/home/alice", 0o755)
        .expect("chmod");
    vfs.chmod(&alice, root, b"/home/alice/diary", 0o600)
        .expect("chmod");
    assert_eq!(
        read_all(&vfs, &bob, root, "/home/alice/diary").err(),
        Some(Errno::EACCES)
    );
    assert_eq!(
        vfs.chmod(&bob, root, b"/home/alice/diary", 0o644),
        Err(Errno::EPERM)
    );
    assert_eq!(
        vfs.chown(&alice, root, b"/home/alice/diary", Some(1001), None),
        Err(Errno::EPERM)
    );
    assert_eq!(
        read_all(&vfs, &cred, root, "/home/alice/diary").as_deref(),
        Ok(&b"secret"[..]),
        "root reads anything"
    );
    // Sticky /tmp: bob cannot remove alice's file.
    vfs.mkdir(&cred, root, b"/tmp", 0o777).expect("mkdir");
    vfs.chmod(&cred, root, b"/tmp", 0o1777).expect("sticky");
    create(&vfs, &alice, root, "/tmp/a", b"");
    assert_eq!(vfs.unlink(&bob, root, b"/tmp/a"), Err(Errno::EPERM));
    vfs.unlink(&alice, root, b"/tmp/a").expect("owner may");
    // The umask applies to new files.
    create(&vfs, &alice, root, "/tmp/m", b"");
    assert_eq!(
        vfs.stat(&cred, root, b"/tmp/m", true).map(|s| s.perm),
        Ok(0o644)
    );
}

#[test]
fn descriptor_tables() {
    let (vfs, cred, root) = setup();
    create(&vfs, &cred, root, "/f", b"abc");
    let f = vfs
        .open(&cred, root, b"/f", OpenFlags::READ, 0)
        .expect("open");
    let mut t = FdTable::new();
    assert_eq!(t.insert(f, false), Ok(0));
    assert_eq!(t.dup(0), Ok(1));
    assert_eq!(t.dup2(0, 10, true), Ok(10));
    assert_eq!(t.dup2(0, 0, false), Ok(0));
    assert_eq!(t.dup(7), Err(Errno::EBADF));
    assert_eq!(t.get(-1).err(), Some(Errno::EBADF));
    assert_eq!(t.dup2(0, MAX_FDS as i64, false), Err(Errno::EBADF));
    // Shared offset between duplicates.
    let mut b = [0u8; 1];
    t.file(0).expect("0").read(&mut b).expect("read");
    t.file(1).expect("1").read(&mut b).expect("read");
    assert_eq!(&b, b"b");
    t.close_on_exec();
    assert_eq!(t.get(10).err(), Some(Errno::EBADF), "cloexec closed");
    assert_eq!(t.close(1), Ok(()));
    assert_eq!(t.close(1), Err(Errno::EBADF));
    let file = t.file(0).expect("0");
    for _ in 1..MAX_FDS {
        t.insert(Arc::clone(&file), false).expect("fill");
    }
    assert_eq!(t.insert(file, false), Err(Errno::EMFILE));
    assert_eq!(t.iter().count(), MAX_FDS);
}
