//! sysfs: `/sys/kernel/hostname`, `/sys/kernel/version` and
//! `/sys/devices/...` from the platform's device inventory, built once as
//! a small tmpfs (the hostname stays writable by root).

use alloc::sync::Arc;

use crate::errno::Result;
use crate::fs::procfs::SystemInfo;
use crate::fs::tmpfs::Tmpfs;
use crate::time::Clock;
use crate::vfs::node::{Fs, Ino, NewNode, Owner};

fn dir(fs: &Tmpfs, parent: Ino, name: &[u8]) -> Result<Ino> {
    match fs.lookup(parent, name) {
        Ok(ino) => Ok(ino),
        Err(_) => fs.create(
            parent,
            name,
            NewNode::Directory,
            Owner {
                uid: 0,
                gid: 0,
                perm: 0o755,
            },
        ),
    }
}

fn file(fs: &Tmpfs, parent: Ino, name: &[u8], contents: &[u8], perm: u32) -> Result<()> {
    let ino = fs.create(
        parent,
        name,
        NewNode::File,
        Owner {
            uid: 0,
            gid: 0,
            perm,
        },
    )?;
    fs.write(ino, 0, contents).map(|_| ())
}

/// Builds the sysfs tree for `info` with `hostname`.
///
/// # Errors
/// `ENOSPC` if the inventory is absurdly large, `EINVAL` for device paths
/// with empty components.
pub fn build(
    dev: u64,
    info: &dyn SystemInfo,
    hostname: &[u8],
    clock: Arc<dyn Clock>,
) -> Result<Arc<Tmpfs>> {
    let fs = Tmpfs::new(
        dev,
        1 << 20,
        Owner {
            uid: 0,
            gid: 0,
            perm: 0o755,
        },
        clock,
    );
    let root = fs.root();
    let kernel = dir(&fs, root, b"kernel")?;
    let mut line = hostname.to_vec();
    line.push(b'\n');
    file(&fs, kernel, b"hostname", &line, 0o644)?;
    let mut version = info.version().into_bytes();
    version.push(b'\n');
    file(&fs, kernel, b"version", &version, 0o444)?;
    let devices = dir(&fs, root, b"devices")?;
    for d in info.devices() {
        let mut at = devices;
        for part in d.path.split('/').filter(|p| !p.is_empty()) {
            at = dir(&fs, at, part.as_bytes())?;
        }
        for (name, value) in &d.attributes {
            let mut v = value.clone().into_bytes();
            v.push(b'\n');
            file(&fs, at, name.as_bytes(), &v, 0o444)?;
        }
    }
    Ok(Arc::new(fs))
}
