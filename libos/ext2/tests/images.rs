//! Images made by `mkfs.ext2 -d` read back exactly like their source trees.
//!
//! Each test copies the same directory tree into an image with different
//! block sizes and features, then compares every file's type, size,
//! permissions, owner, mtime, link count and content, every directory's
//! listing and every symlink's target with the source.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

use common::{Image, populate_full};
use exo_ext2::{BlockDevice, Ext2, Ext2Error, FileType};
use tempfile::TempDir;

/// The file type `std` reports, in this crate's terms.
fn host_kind(meta: &fs::Metadata) -> FileType {
    let t = meta.file_type();
    if t.is_dir() {
        FileType::Directory
    } else if t.is_symlink() {
        FileType::Symlink
    } else if t.is_fifo() {
        FileType::Fifo
    } else if t.is_socket() {
        FileType::Socket
    } else if t.is_char_device() {
        FileType::CharDevice
    } else if t.is_block_device() {
        FileType::BlockDevice
    } else {
        FileType::Regular
    }
}

/// Reads file `ino` through the driver in odd-sized chunks and compares
/// it with the host file at `path`.
fn compare_contents<D: BlockDevice>(fs: &Ext2<D>, ino: u32, path: &Path, size: u64) {
    let mut host = fs::File::open(path).unwrap();
    let mut ours = vec![0u8; 7777];
    let mut theirs = vec![0u8; 7777];
    let mut offset = 0u64;
    loop {
        let n = fs.read(ino, offset, &mut ours).unwrap();
        let expected = (size - offset).min(ours.len() as u64) as usize;
        assert_eq!(n, expected, "{}: short read at {offset}", path.display());
        if n == 0 {
            break;
        }
        host.read_exact(&mut theirs[..n]).unwrap();
        assert!(
            ours[..n] == theirs[..n],
            "{}: contents differ in {n} bytes at {offset}",
            path.display()
        );
        offset += n as u64;
    }
    assert_eq!(fs.read(ino, size, &mut ours), Ok(0));
    assert_eq!(fs.read(ino, u64::MAX, &mut ours), Ok(0));
}

/// Compares directory `dir` of the image (whose parent is `parent`) with
/// `path`, recursively; returns how many files were compared.
fn compare_dir<D: BlockDevice>(fs: &Ext2<D>, dir: u32, parent: u32, path: &Path) -> usize {
    let entries = fs.read_dir(dir).unwrap();
    assert_eq!(entries[0].name, b".");
    assert_eq!(entries[0].ino, dir);
    assert_eq!(entries[0].kind, FileType::Directory);
    assert_eq!(entries[1].name, b"..");
    assert_eq!(entries[1].ino, parent);
    assert_eq!(fs.lookup(dir, b".."), Ok(Some(parent)));

    let ours: BTreeSet<Vec<u8>> = entries[2..]
        .iter()
        .map(|e| e.name.clone())
        .filter(|name| !(dir == fs.root() && name == b"lost+found"))
        .collect();
    let theirs: BTreeSet<Vec<u8>> = fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_encoded_bytes())
        .collect();
    assert_eq!(ours, theirs, "listing of {}", path.display());
    assert_eq!(
        ours.len() + 2 + usize::from(dir == fs.root()),
        entries.len()
    );

    let mut compared = 0;
    for entry in &entries[2..] {
        let host_path = path.join(std::ffi::OsStr::from_bytes(&entry.name));
        if !theirs.contains(&entry.name) {
            continue;
        }
        compared += 1;
        assert_eq!(fs.lookup(dir, &entry.name), Ok(Some(entry.ino)));
        let meta = fs::symlink_metadata(&host_path).unwrap();
        let inode = fs.inode(entry.ino).unwrap();
        let what = host_path.display();
        assert_eq!(inode.ino, entry.ino);
        assert_eq!(inode.kind, host_kind(&meta), "{what}: kind");
        assert_eq!(entry.kind, inode.kind, "{what}: entry kind");
        assert_eq!(u32::from(inode.mode), meta.mode() & 0o7777, "{what}: mode");
        assert_eq!(inode.uid, meta.uid(), "{what}: uid");
        assert_eq!(inode.gid, meta.gid(), "{what}: gid");
        match inode.kind {
            FileType::Directory => {
                assert_eq!(inode.mtime as i64, meta.mtime(), "{what}: mtime");
                compared += compare_dir(fs, entry.ino, dir, &host_path);
            }
            FileType::Regular => {
                assert_eq!(inode.size, meta.len(), "{what}: size");
                assert_eq!(u64::from(inode.links), meta.nlink(), "{what}: links");
                assert_eq!(inode.mtime as i64, meta.mtime(), "{what}: mtime");
                assert!(
                    inode.blocks_512 <= meta.len().div_ceil(512) + 16 * 1024,
                    "{what}: blocks"
                );
                compare_contents(fs, entry.ino, &host_path, inode.size);
                assert_eq!(
                    fs.read_link(entry.ino),
                    Err(Ext2Error::NotASymlink(entry.ino))
                );
            }
            FileType::Symlink => {
                let target = fs::read_link(&host_path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes();
                assert_eq!(inode.size, target.len() as u64, "{what}: size");
                assert_eq!(fs.read_link(entry.ino).unwrap(), target, "{what}: target");
                assert_eq!(
                    fs.read(entry.ino, 0, &mut [0; 8]),
                    Err(Ext2Error::NotARegularFile(entry.ino))
                );
            }
            _ => {
                assert_eq!(inode.size, 0, "{what}: size");
                assert_eq!(
                    fs.read(entry.ino, 0, &mut [0; 8]),
                    Err(Ext2Error::NotARegularFile(entry.ino))
                );
            }
        }
    }
    compared
}

/// Builds the full tree once per test (each test gets its own copy).
fn source() -> TempDir {
    let dir = TempDir::new().unwrap();
    populate_full(dir.path());
    dir
}

/// Formats the full tree with `extra` options and compares it all.
fn round_trip(block_size: u32, size: u64, extra: &[&str]) -> (Image, Vec<u8>) {
    let src = source();
    let image = Image::build(src.path(), block_size, size, extra);
    let bytes = image.bytes();
    let fs = Ext2::open(bytes.as_slice()).unwrap();
    assert_eq!(fs.block_size(), block_size);
    let root = fs.inode(fs.root()).unwrap();
    assert_eq!(root.kind, FileType::Directory);
    let compared = compare_dir(&fs, fs.root(), fs.root(), src.path());
    assert!(compared > 230, "only {compared} files compared");
    check_special_cases(&fs, &src);
    (image, bytes)
}

/// Checks that need to know which file is which.
fn check_special_cases<D: BlockDevice>(fs: &Ext2<D>, src: &TempDir) {
    let path = |p: &str| -> u32 {
        p.split('/')
            .try_fold(fs.root(), |dir, name| {
                fs.lookup(dir, name.as_bytes()).unwrap()
            })
            .unwrap_or_else(|| panic!("{p} not found"))
    };
    // Holes stay holes: the 68 MiB file uses a handful of blocks.
    let sparse = fs.inode(path("sparse_triple")).unwrap();
    assert_eq!(sparse.size, 68 << 20);
    let sectors_per_block = u64::from(fs.block_size() / 512);
    assert!(
        sparse.blocks_512 <= 16 * sectors_per_block,
        "sparse file uses {} sectors",
        sparse.blocks_512
    );
    // Reads crossing block boundaries at odd offsets.
    let big = path("double_1k");
    let host = fs::read(src.path().join("double_1k")).unwrap();
    for (offset, len) in [
        (0, 1),
        (1023, 2),
        (4095, 4097),
        (12 * 1024 - 1, 3000),
        (268 * 1024 - 5, 10),
        (333_000, 1000),
    ] {
        let mut buf = vec![0; len];
        let n = fs.read(big, offset as u64, &mut buf).unwrap();
        let end = (offset + len).min(host.len());
        assert_eq!(&buf[..n], &host[offset..end], "read {len} at {offset}");
    }
    // Hard links share an inode.
    assert_eq!(path("one"), path("one_again"));
    assert_eq!(fs.inode(path("one")).unwrap().links, 2);
    // Names are exact: no prefix, case or trailing-slash matches.
    let root = fs.root();
    assert_eq!(fs.lookup(root, b"on"), Ok(None));
    assert_eq!(fs.lookup(root, b"ONE"), Ok(None));
    assert_eq!(fs.lookup(root, b"one/"), Ok(None));
    assert_eq!(fs.lookup(root, b""), Ok(None));
    assert_eq!(fs.lookup(root, &[b'a'; 300]), Ok(None));
    assert_eq!(fs.lookup(root, b"."), Ok(Some(root)));
    // Wrong kinds give typed errors.
    let file = path("one");
    assert_eq!(fs.read_dir(file), Err(Ext2Error::NotADirectory(file)));
    assert_eq!(fs.lookup(file, b"x"), Err(Ext2Error::NotADirectory(file)));
    assert_eq!(fs.lookup(file, b""), Err(Ext2Error::NotADirectory(file)));
    assert_eq!(
        fs.read(root, 0, &mut [0; 4]),
        Err(Ext2Error::IsADirectory(root))
    );
    assert_eq!(fs.read_link(root), Err(Ext2Error::NotASymlink(root)));
    assert_eq!(fs.inode(0), Err(Ext2Error::InodeOutOfRange(0)));
    let inodes = fs.stats().inodes as u32;
    assert_eq!(
        fs.inode(inodes + 1),
        Err(Ext2Error::InodeOutOfRange(inodes + 1))
    );
    assert_eq!(
        fs.inode(u32::MAX),
        Err(Ext2Error::InodeOutOfRange(u32::MAX))
    );
}

#[test]
fn one_kib_blocks() {
    let (image, bytes) = round_trip(1024, 16 << 20, &["-L", "exo-test"]);
    let fs = Ext2::open(bytes.as_slice()).unwrap();
    let stats = fs.stats();
    assert_eq!(stats.block_size, 1024);
    assert_eq!(stats.volume_name, b"exo-test");
    assert_eq!(stats.name_max, 255);
    assert_eq!(
        stats.blocks.to_string(),
        image.dumpe2fs_field("Block count")
    );
    assert_eq!(
        stats.free_blocks.to_string(),
        image.dumpe2fs_field("Free blocks")
    );
    assert_eq!(
        stats.reserved_blocks.to_string(),
        image.dumpe2fs_field("Reserved block count")
    );
    assert_eq!(
        stats.inodes.to_string(),
        image.dumpe2fs_field("Inode count")
    );
    assert_eq!(
        stats.free_inodes.to_string(),
        image.dumpe2fs_field("Free inodes")
    );
}

#[test]
fn four_kib_blocks_and_small_inodes() {
    let (_image, bytes) = round_trip(4096, 32 << 20, &["-I", "128"]);
    let listed = Ext2::open(bytes.as_slice())
        .unwrap()
        .read_dir(2)
        .unwrap()
        .len();
    // The same image through the other device types.
    let shared: Arc<[u8]> = Arc::from(bytes.clone());
    let fs = Ext2::open(shared).unwrap();
    assert_eq!(fs.read_dir(fs.root()).unwrap().len(), listed);
    let fs = Ext2::open(bytes).unwrap();
    assert_eq!(fs.stats().volume_name, b"");
}

#[test]
fn two_kib_blocks_without_filetype() {
    // Entries carry no type byte: the kind comes from each inode.
    round_trip(2048, 16 << 20, &["-O", "^filetype"]);
}

#[test]
fn revision_0() {
    round_trip(1024, 16 << 20, &["-E", "revision=0"]);
}

#[test]
fn sixty_four_kib_blocks() {
    // Full-block records are stored as rec_len 0 or 65535 here.
    round_trip(65536, 48 << 20, &[]);
}

#[test]
fn device_nodes_made_by_debugfs() {
    let src = TempDir::new().unwrap();
    fs::create_dir(src.path().join("dev")).unwrap();
    let image = Image::build(src.path(), 1024, 1 << 20, &[]);
    image.debugfs(
        "cd /dev\nmknod tty4 c 4 64\nmknod sda1 b 8 1\nmknod big c 300 700\nmknod pipe p\n",
        true,
    );
    let bytes = image.bytes();
    let fs = Ext2::open(bytes.as_slice()).unwrap();
    let dev = fs.lookup(fs.root(), b"dev").unwrap().unwrap();
    let node = |name: &str| {
        fs.inode(fs.lookup(dev, name.as_bytes()).unwrap().unwrap())
            .unwrap()
    };
    let tty = node("tty4");
    assert_eq!(
        (tty.kind, tty.major(), tty.minor()),
        (FileType::CharDevice, 4, 64)
    );
    let sda = node("sda1");
    assert_eq!(
        (sda.kind, sda.major(), sda.minor()),
        (FileType::BlockDevice, 8, 1)
    );
    let big = node("big");
    assert_eq!(
        (big.kind, big.major(), big.minor()),
        (FileType::CharDevice, 300, 700)
    );
    let pipe = node("pipe");
    assert_eq!((pipe.kind, pipe.rdev), (FileType::Fifo, 0));
    let kinds: Vec<_> = fs
        .read_dir(dev)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            FileType::Directory,
            FileType::Directory,
            FileType::CharDevice,
            FileType::BlockDevice,
            FileType::CharDevice,
            FileType::Fifo
        ]
    );
}

#[test]
fn deleted_entries_disappear() {
    let src = TempDir::new().unwrap();
    common::populate_small(src.path());
    let image = Image::build(src.path(), 1024, 1 << 20, &[]);
    image.debugfs("rm /dir/f3\nrm /dir/f0\n", true);
    image.debugfs("unlink /file\n", true);
    let bytes = image.bytes();
    let fs = Ext2::open(bytes.as_slice()).unwrap();
    let dir = fs.lookup(fs.root(), b"dir").unwrap().unwrap();
    let names: BTreeSet<Vec<u8>> = fs
        .read_dir(dir)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(!names.contains(b"f3".as_slice()) && !names.contains(b"f0".as_slice()));
    assert!(names.contains(b"f1".as_slice()));
    assert_eq!(names.len(), 2 + 18);
    assert_eq!(fs.lookup(dir, b"f3"), Ok(None));
    assert_eq!(fs.lookup(fs.root(), b"file"), Ok(None));
}
