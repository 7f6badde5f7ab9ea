//! Arbitrary bytes as an ext2 image, mounted and walked.
//!
//! If the bytes open as a file system, every directory reachable from the
//! root is listed, every name looked up again, every file read and every
//! link resolved, within fixed bounds on depth, entries and bytes read.
//! Besides "no panic, no hang" it checks that answers agree: `lookup`
//! finds what `read_dir` listed, and `read` returns exactly the bytes up to
//! the end of the file.
#![no_main]

use exo_ext2::{Ext2, FileType};
use libfuzzer_sys::fuzz_target;

/// Most entries visited per input.
const MAX_ENTRIES: usize = 1024;
/// Deepest directory visited.
const MAX_DEPTH: usize = 8;
/// Most bytes read from one file.
const MAX_READ: u64 = 128 * 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(fs) = Ext2::open(data) else {
        return;
    };
    let stats = fs.stats();
    assert!(stats.free_blocks <= stats.blocks && stats.free_inodes <= stats.inodes);
    let mut visited = Vec::new();
    let mut stack = vec![(fs.root(), 0)];
    let mut seen = 0;
    let mut buf = vec![0u8; 3000];
    while let Some((dir, depth)) = stack.pop() {
        if depth > MAX_DEPTH || visited.contains(&dir) {
            continue;
        }
        visited.push(dir);
        let Ok(entries) = fs.read_dir(dir) else {
            continue;
        };
        for (i, entry) in entries.iter().enumerate() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return;
            }
            // The same walk finds the first entry of that name.
            let first = entries.iter().find(|e| e.name == entry.name).map(|e| e.ino);
            assert_eq!(fs.lookup(dir, &entry.name), Ok(first));
            if i < 2 {
                continue; // `.` and `..`
            }
            let Ok(inode) = fs.inode(entry.ino) else {
                continue;
            };
            match inode.kind {
                FileType::Directory => stack.push((entry.ino, depth + 1)),
                FileType::Symlink => {
                    if let Ok(target) = fs.read_link(entry.ino) {
                        assert_eq!(target.len() as u64, inode.size);
                    }
                }
                FileType::Regular => {
                    let mut offset = 0;
                    while offset < MAX_READ {
                        let Ok(n) = fs.read(entry.ino, offset, &mut buf) else {
                            break;
                        };
                        let expected = inode.size.saturating_sub(offset).min(buf.len() as u64);
                        assert_eq!(n as u64, expected);
                        if n == 0 {
                            break;
                        }
                        offset += n as u64;
                    }
                    let tail = inode.size.saturating_sub(10);
                    let _ = fs.read(entry.ino, tail, &mut buf);
                }
                _ => {
                    assert!(fs.read(entry.ino, 0, &mut buf).is_err());
                }
            }
        }
    }
});
