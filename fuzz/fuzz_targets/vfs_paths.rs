//! Path resolution and namespace operations with arbitrary paths: a small
//! tmpfs tree (directories, a file, a symlink loop, a mount) and every
//! path operation the VFS has, fed fuzzer-chosen paths. Errors are fine;
//! panics, hangs and inconsistent answers are not.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use libos::fs::tmpfs::Tmpfs;
use libos::time::FixedClock;
use libos::vfs::file::OpenFlags;
use libos::vfs::node::{Owner, Timespec};
use libos::vfs::{Cred, Vfs};

fn tree() -> (Arc<Vfs>, Cred) {
    let clock = Arc::new(FixedClock(Timespec::default()));
    let owner = Owner { uid: 0, gid: 0, perm: 0o755 };
    let vfs = Vfs::new(Arc::new(Tmpfs::new(1, 1 << 20, owner, clock.clone())), "rootfs");
    let (cred, root) = (Cred::root(), vfs.root());
    for d in [&b"/a"[..], b"/a/b", b"/mnt"] {
        let _ = vfs.mkdir(&cred, root, d, 0o755);
    }
    let _ = vfs.open(&cred, root, b"/a/f", OpenFlags { create: true, ..OpenFlags::WRITE }, 0o644);
    let _ = vfs.symlink(&cred, root, b"/l2", b"/l1");
    let _ = vfs.symlink(&cred, root, b"/l1", b"/l2");
    let _ = vfs.symlink(&cred, root, b"a/b", b"/rel");
    let _ = vfs.mount(&cred, root, b"/mnt", Arc::new(Tmpfs::new(2, 1 << 16, owner, clock)), "tmpfs", false);
    (vfs, cred)
}

fuzz_target!(|data: &[u8]| {
    let (vfs, cred) = tree();
    let root = vfs.root();
    // Split the input into up to four paths; the first byte picks the
    // credentials and the operation order.
    let Some((&sel, rest)) = data.split_first() else { return };
    let cred = if sel & 0x80 != 0 { Cred::user(1000, 1000) } else { cred };
    let paths: Vec<&[u8]> = rest.split(|&b| b == b'\n').take(4).collect();
    let p = |i: usize| paths.get(i).copied().unwrap_or(b"/");
    let _ = vfs.stat(&cred, root, p(0), true);
    let _ = vfs.stat(&cred, root, p(0), false);
    let _ = vfs.readlink(&cred, root, p(0));
    let _ = vfs.open(&cred, root, p(1), OpenFlags { create: sel & 1 != 0, ..OpenFlags::READ_WRITE }, 0o644);
    let _ = vfs.mkdir(&cred, root, p(1), 0o755);
    let _ = vfs.symlink(&cred, root, p(2), p(3));
    let _ = vfs.rename(&cred, root, p(1), p(2));
    let _ = vfs.link(&cred, root, p(2), p(3));
    let _ = vfs.unlink(&cred, root, p(3));
    let _ = vfs.rmdir(&cred, root, p(1));
    let _ = vfs.truncate(&cred, root, p(0), u64::from(sel));
    if let Ok(node) = vfs.resolve(&cred, root, p(0), true) {
        // Whatever resolves must also stat, and a directory must have a
        // path that resolves back to it.
        let st = vfs.stat_node(node).expect("a resolved node stats");
        if st.kind == libos::vfs::node::FileType::Directory
            && let Ok(path) = vfs.path_of(node)
        {
            assert_eq!(vfs.resolve(&Cred::root(), root, &path, true).ok(), Some(node), "path_of round trip");
        }
    }
    let _ = vfs.umount(&cred, root, p(0));
});
