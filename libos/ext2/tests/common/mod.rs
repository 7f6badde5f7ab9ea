//! Building real ext2 images with e2fsprogs, and walking them.
//!
//! The images come from `mkfs.ext2 -d`, the reference implementation, so
//! the driver is checked against the format as Linux tools write it rather
//! than against this crate's own idea of it. Missing e2fsprogs is a test
//! failure with a clear message, never a silent skip.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of these helpers"
)]

use std::collections::HashSet;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use exo_ext2::{BlockDevice, Ext2, FileType};
use tempfile::TempDir;

/// Where Debian and Fedora install e2fsprogs; `PATH` is tried as well.
const SBIN: &str = "/usr/sbin";

/// The path of e2fsprogs tool `name`, or a panic explaining what to install.
fn tool(name: &str) -> PathBuf {
    let sbin = Path::new(SBIN).join(name);
    if sbin.exists() {
        return sbin;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.exists());
    on_path.unwrap_or_else(|| {
        panic!(
            "`{name}` from e2fsprogs is required by the ext2 tests but was not found \
             in {SBIN} or on PATH; install e2fsprogs (e.g. `apt-get install e2fsprogs`)"
        )
    })
}

/// Runs `command` and returns its stdout, panicking with its stderr on failure.
fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An ext2 image file made by `mkfs.ext2`.
pub struct Image {
    _dir: TempDir,
    /// The image file.
    pub path: PathBuf,
    /// Bytes per block.
    pub block_size: u32,
}

impl Image {
    /// Formats a `size`-byte image with `block_size`-byte blocks holding a
    /// copy of `source`, passing `extra` options to `mkfs.ext2`.
    pub fn build(source: &Path, block_size: u32, size: u64, extra: &[&str]) -> Self {
        let dir = TempDir::new().expect("temporary directory");
        let path = dir.path().join("image.ext2");
        // mkfs does not always extend the file to the full size itself.
        fs::File::create(&path)
            .and_then(|f| f.set_len(size))
            .expect("create image file");
        run(Command::new(tool("mkfs.ext2"))
            .args(["-q", "-F", "-b", &block_size.to_string()])
            .args(extra)
            .arg("-d")
            .arg(source)
            .arg(&path)
            .arg(format!("{}k", size / 1024)));
        Self {
            _dir: dir,
            path,
            block_size,
        }
    }

    /// The image's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        fs::read(&self.path).expect("read image")
    }

    /// Runs the `debugfs` commands in `script` (one a line); `write` opens
    /// the image read-write.
    pub fn debugfs(&self, script: &str, write: bool) -> String {
        let dir = TempDir::new().expect("temporary directory");
        let commands = dir.path().join("commands");
        fs::write(&commands, script).expect("write debugfs script");
        let mut command = Command::new(tool("debugfs"));
        if write {
            command.arg("-w");
        }
        run(command.arg("-f").arg(&commands).arg(&self.path))
    }

    /// Byte offset of inode `ino` in the image.
    pub fn inode_offset(&self, ino: u32) -> u64 {
        let out = self.debugfs(&format!("imap <{ino}>\n"), false);
        let located = out
            .split("located at block ")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected imap output: {out}"));
        let (block, rest) = located.split_once(", offset 0x").expect("imap offset");
        let block: u64 = block.trim().parse().expect("imap block");
        let offset = u64::from_str_radix(rest.trim(), 16).expect("imap hex offset");
        block * u64::from(self.block_size) + offset
    }

    /// Physical block of logical block `index` of the file at `path`.
    pub fn block_of(&self, path: &str, index: u64) -> u32 {
        let out = self.debugfs(&format!("bmap {path} {index}\n"), false);
        out.lines()
            .filter_map(|line| line.trim().parse().ok())
            .next_back()
            .unwrap_or_else(|| panic!("unexpected bmap output: {out}"))
    }

    /// Inode number of the file at `path`.
    pub fn ino_of(&self, path: &str) -> u32 {
        let out = self.debugfs(&format!("stat {path}\n"), false);
        let rest = out
            .split("Inode: ")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected stat output: {out}"));
        rest.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("inode number")
    }

    /// `field` from `dumpe2fs -h`, e.g. `"Free blocks"`.
    pub fn dumpe2fs_field(&self, field: &str) -> String {
        let out = run(Command::new(tool("dumpe2fs")).arg("-h").arg(&self.path));
        out.lines()
            .find_map(|line| line.strip_prefix(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in dumpe2fs output"))
            .trim()
            .to_owned()
    }
}

/// Reads the little-endian `u32` at `at`.
pub fn get_u32(bytes: &[u8], at: u64) -> u32 {
    let at = at as usize;
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// Writes the little-endian `u32` `value` at `at`.
pub fn put_u32(bytes: &mut [u8], at: u64, value: u32) {
    let at = at as usize;
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Writes the little-endian `u16` `value` at `at`.
pub fn put_u16(bytes: &mut [u8], at: u64, value: u16) {
    let at = at as usize;
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

/// Byte offset of the directory entry `name` in directory block `block`
/// of an image with `block_size`-byte blocks, found with a parser of the
/// test's own.
pub fn entry_offset(bytes: &[u8], block_size: u32, block: u32, name: &[u8]) -> u64 {
    let start = u64::from(block) * u64::from(block_size);
    let mut at = start;
    while at < start + u64::from(block_size) {
        let i = at as usize;
        let rec_len = u16::from_le_bytes([bytes[i + 4], bytes[i + 5]]);
        let name_len = usize::from(bytes[i + 6]);
        if &bytes[i + 8..i + 8 + name_len] == name {
            return at;
        }
        assert!(rec_len >= 12, "test parser hit a bad record");
        at += u64::from(rec_len);
    }
    panic!(
        "no entry {:?} in block {block}",
        String::from_utf8_lossy(name)
    );
}

/// Deterministic, position-dependent bytes, so a misplaced block shows.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A fixed modification time, so mtime comparisons mean something.
pub fn fixed_time(offset: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000 + offset)
}

fn write_file(path: &Path, contents: &[u8], mode: u32) {
    fs::write(path, contents).expect("write source file");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Writes a sparse file of `size` bytes with `chunks` of data at the given
/// offsets and holes elsewhere.
pub fn write_sparse(path: &Path, size: u64, chunks: &[(u64, &[u8])]) {
    let mut file = fs::File::create(path).expect("create sparse file");
    file.set_len(size).expect("size sparse file");
    for (offset, data) in chunks {
        file.seek(SeekFrom::Start(*offset)).expect("seek");
        file.write_all(data).expect("write chunk");
    }
}

/// The tree the image tests copy into images: files of the sizes around
/// block boundaries, files needing single-, double- and triple-indirect
/// blocks (with 1 KiB blocks), sparse files, a 200-entry directory, nested
/// directories, fast and slow symlinks, special files, hard links and
/// unusual permission bits.
pub fn populate_full(root: &Path) {
    for (name, len) in [
        ("empty", 0usize),
        ("one", 1),
        ("b1023", 1023),
        ("b1024", 1024),
        ("b1025", 1025),
        ("b4096", 4096),
        ("direct_only", 12 * 1024),
        ("single_edge", 268 * 1024 + 1),
        ("double_1k", 333_333),
    ] {
        write_file(&root.join(name), &pattern(len as u64, len), 0o644);
    }
    // Data at the start, in the double-indirect range and in the
    // triple-indirect range (past 12 + 256 + 65536 KiB with 1 KiB blocks),
    // with holes between and a hole at the end.
    write_sparse(
        &root.join("sparse_triple"),
        68 << 20,
        &[
            (0, &pattern(1, 100)),
            (300 * 1024 + 7, &pattern(2, 5000)),
            (66 << 20, &pattern(3, 3000)),
        ],
    );
    write_sparse(
        &root.join("hole_at_start"),
        8192 + 10,
        &[(8192, b"0123456789")],
    );
    // Zero blocks in the middle: mkfs stores them as a hole, the driver
    // must still read them as zeros.
    let mut zeros = pattern(4, 10_000);
    zeros[2048..6144].fill(0);
    write_file(&root.join("zeros_inside"), &zeros, 0o644);

    let many = root.join("many");
    fs::create_dir(&many).unwrap();
    for i in 0..200 {
        let name = format!("entry_{i:03}_{}", "x".repeat(i % 40));
        write_file(&many.join(name), format!("file {i}\n").as_bytes(), 0o644);
    }

    let deep = root.join("a/b/c/d");
    fs::create_dir_all(&deep).unwrap();
    write_file(&deep.join("leaf.txt"), b"deep leaf\n", 0o640);
    write_file(&root.join("a/b/middle"), &pattern(5, 3000), 0o600);

    symlink("a/b/c/d/leaf.txt", root.join("fast_link")).unwrap();
    symlink("y".repeat(59), root.join("link_59")).unwrap();
    symlink("z".repeat(60), root.join("link_60")).unwrap();
    let long_target = format!("/{}", "long/path/component/".repeat(8));
    symlink(&long_target, root.join("slow_link")).unwrap();
    symlink("../..", root.join("a/b/up_link")).unwrap();

    write_file(&root.join("setuid"), b"#!/bin/sh\n", 0o4755);
    write_file(&root.join("setgid"), b"x", 0o2711);
    write_file(&root.join("readonly"), b"r", 0o444);
    let sticky = root.join("sticky_dir");
    fs::create_dir(&sticky).unwrap();
    fs::set_permissions(&sticky, fs::Permissions::from_mode(0o1777)).unwrap();
    fs::hard_link(root.join("one"), root.join("one_again")).unwrap();

    run(Command::new("mkfifo").arg(root.join("fifo")));
    let socket = std::os::unix::net::UnixListener::bind(root.join("socket")).expect("bind socket");
    drop(socket);

    // Owners survive only if the tests may chown (as root); either way the
    // image is compared with whatever the source tree ended up with.
    let _ = std::os::unix::fs::chown(root.join("b1023"), Some(1234), Some(5678));
    let _ = std::os::unix::fs::chown(root.join("b1025"), Some(100_000), Some(200_000));

    set_times(root);
}

/// A small tree for the corruption and bit-flip tests.
pub fn populate_small(root: &Path) {
    write_file(&root.join("file"), b"hello, ext2\n", 0o644);
    write_file(&root.join("big"), &pattern(9, 300 * 1024), 0o644);
    write_sparse(&root.join("sparse"), 70 << 20, &[(66 << 20, b"far away")]);
    fs::create_dir(root.join("dir")).unwrap();
    for i in 0..20 {
        write_file(
            &root.join(format!("dir/f{i}")),
            &pattern(i, 100 * i as usize),
            0o600,
        );
    }
    symlink("dir/f1", root.join("fast_link")).unwrap();
    symlink("d/".repeat(50), root.join("slow_link")).unwrap();
    set_times(root);
}

/// Gives every regular file and directory under `root` a fixed mtime.
fn set_times(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    let mut n = 0;
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
            }
            if meta.is_dir() || meta.is_file() {
                n += 1;
                let file = fs::File::open(&path).unwrap();
                file.set_modified(fixed_time(n)).unwrap();
            }
        }
    }
}

/// Limits of [`walk`], so a corrupt image cannot make a test run forever.
const MAX_ENTRIES: usize = 2_000;
const MAX_DEPTH: usize = 16;
const MAX_READ_PER_FILE: u64 = 64 * 1024;

/// Visits everything reachable from the root with every read-only call,
/// ignoring errors: the point is that nothing panics or hangs. Returns how
/// many entries were visited.
pub fn walk<D: BlockDevice>(fs: &Ext2<D>) -> usize {
    let _ = fs.stats();
    let mut visited = HashSet::new();
    let mut stack = vec![(fs.root(), 0)];
    let mut seen = 0;
    let mut buf = vec![0u8; 4096 + 17];
    while let Some((dir, depth)) = stack.pop() {
        if !visited.insert(dir) || depth > MAX_DEPTH {
            continue;
        }
        let Ok(entries) = fs.read_dir(dir) else {
            continue;
        };
        for entry in entries {
            seen += 1;
            if seen > MAX_ENTRIES {
                return seen;
            }
            let _ = fs.lookup(dir, &entry.name);
            let Ok(inode) = fs.inode(entry.ino) else {
                continue;
            };
            match inode.kind {
                FileType::Directory => stack.push((entry.ino, depth + 1)),
                FileType::Symlink => {
                    let _ = fs.read_link(entry.ino);
                }
                _ => {
                    let mut offset = 0;
                    while offset < MAX_READ_PER_FILE {
                        match fs.read(entry.ino, offset, &mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => offset += n as u64,
                        }
                    }
                    let _ = fs.read(entry.ino, inode.size.saturating_sub(100), &mut buf);
                }
            }
        }
    }
    seen
}
