//! Each kind of corruption gives its own typed error, never a panic.
//!
//! Every test formats a small valid image with `mkfs.ext2`, damages one
//! structure (located with `debugfs`, not with the driver under test), and
//! checks the exact error.

mod common;

use common::{Image, entry_offset, get_u32, populate_small, put_u16, put_u32};
use exo_ext2::{Ext2, Ext2Error};
use tempfile::TempDir;

/// Byte offset of the superblock.
const SB: u64 = 1024;
/// Byte offset of the group descriptor table with 1 KiB blocks.
const GDT: u64 = 2048;
/// Byte offset of `i_block` inside an inode.
const I_BLOCK: u64 = 40;

/// A small valid image with 1 KiB blocks: its file, and its bytes.
fn small() -> (Image, Vec<u8>) {
    let src = TempDir::new().unwrap();
    populate_small(src.path());
    let image = Image::build(src.path(), 1024, 1 << 20, &[]);
    let bytes = image.bytes();
    Ext2::open(bytes.as_slice()).expect("the undamaged image opens");
    (image, bytes)
}

fn open(bytes: &[u8]) -> Result<Ext2<&[u8]>, Ext2Error> {
    Ext2::open(bytes)
}

fn open_error(bytes: &[u8]) -> Ext2Error {
    open(bytes).expect_err("the damaged image must not open")
}

#[test]
fn bad_magic() {
    let (_, mut bytes) = small();
    put_u16(&mut bytes, SB + 56, 0x1234);
    assert_eq!(open_error(&bytes), Ext2Error::BadMagic(0x1234));
    bytes.fill(0);
    assert_eq!(open_error(&bytes), Ext2Error::BadMagic(0));
}

#[test]
fn impossible_block_sizes() {
    let (_, bytes) = small();
    let bad = Ext2Error::BadSuperblock {
        field: "s_log_block_size",
    };
    // 1 KiB << 7 = 128 KiB is too big; 32 would shift a naive u32 to 0.
    for log in [7, 32, u32::MAX] {
        let mut bytes = bytes.clone();
        put_u32(&mut bytes, SB + 24, log);
        assert_eq!(open_error(&bytes), bad, "log block size {log}");
    }
    // A legal size that contradicts the layout: 4 KiB blocks, but the
    // superblock claims to be in block 1.
    let mut bytes = bytes.clone();
    put_u32(&mut bytes, SB + 24, 2);
    assert_eq!(
        open_error(&bytes),
        Ext2Error::BadSuperblock {
            field: "s_first_data_block"
        }
    );
}

#[test]
fn impossible_group_geometry() {
    let (_, bytes) = small();
    for (at, value, field) in [
        (40, 0, "s_inodes_per_group"),
        (40, u32::MAX, "s_inodes_per_group"),
        (32, 0, "s_blocks_per_group"),
        (32, 8193, "s_blocks_per_group"),
        (0, get_u32(&bytes, SB) + 1, "s_inodes_count"),
        (4, 0, "s_blocks_count"),
        (12, u32::MAX, "s_free_blocks_count"),
        (84, 1, "s_first_ino"),
    ] {
        let mut bytes = bytes.clone();
        put_u32(&mut bytes, SB + at, value);
        assert_eq!(
            open_error(&bytes),
            Ext2Error::BadSuperblock { field },
            "{field} = {value}"
        );
    }
    let mut bytes = bytes.clone();
    put_u16(&mut bytes, SB + 88, 100);
    assert_eq!(
        open_error(&bytes),
        Ext2Error::BadSuperblock {
            field: "s_inode_size"
        }
    );
}

#[test]
fn block_count_past_the_device() {
    let (_, mut bytes) = small();
    let blocks = get_u32(&bytes, SB + 4);
    put_u32(&mut bytes, SB + 4, blocks * 2);
    put_u32(&mut bytes, SB + 32, blocks * 2); // keep one group
    assert_eq!(
        open_error(&bytes),
        Ext2Error::DeviceTooSmall {
            needed: u64::from(blocks) * 2048,
            size: u64::from(blocks) * 1024
        }
    );
}

#[test]
fn unsupported_revision_and_features() {
    let (_, bytes) = small();
    let mut revision = bytes.clone();
    put_u32(&mut revision, SB + 76, 2);
    assert_eq!(open_error(&revision), Ext2Error::UnsupportedRevision(2));
    let incompat = get_u32(&bytes, SB + 96);
    for feature in [0x1, 0x4, 0x10, 0x40, 0x80, 0x8000, 0x8000_0000] {
        let mut bytes = bytes.clone();
        put_u32(&mut bytes, SB + 96, incompat | feature);
        assert_eq!(open_error(&bytes), Ext2Error::UnsupportedFeatures(feature));
    }
    // Read-only-compatible features do not matter to a read-only driver.
    let mut ro_compat = bytes.clone();
    put_u32(&mut ro_compat, SB + 100, u32::MAX);
    assert!(open(&ro_compat).is_ok());
}

#[test]
fn group_descriptors_pointing_outside() {
    let (_, bytes) = small();
    let blocks = get_u32(&bytes, SB + 4);
    for (field, value) in [(0, blocks), (4, u32::MAX), (8, blocks - 1), (8, 0)] {
        let mut bytes = bytes.clone();
        put_u32(&mut bytes, GDT + field, value);
        assert_eq!(
            open_error(&bytes),
            Ext2Error::BadGroupDescriptor { group: 0 },
            "descriptor field {field} = {value}"
        );
    }
}

#[test]
fn truncated_images() {
    let (_, bytes) = small();
    let size = bytes.len() as u64;
    assert_eq!(
        open_error(&bytes[..bytes.len() / 2]),
        Ext2Error::DeviceTooSmall {
            needed: size,
            size: size / 2
        }
    );
    assert_eq!(
        open_error(&bytes[..1500]),
        Ext2Error::DeviceTooSmall {
            needed: 2048,
            size: 1500
        }
    );
    assert_eq!(
        open_error(&[]),
        Ext2Error::DeviceTooSmall {
            needed: 2048,
            size: 0
        }
    );
}

#[test]
fn root_must_be_a_directory() {
    let (image, mut bytes) = small();
    let root = image.inode_offset(2);
    put_u16(&mut bytes, root, 0o100_644);
    assert_eq!(open_error(&bytes), Ext2Error::NotADirectory(2));
    put_u16(&mut bytes, root, 0o170_644);
    assert_eq!(
        open_error(&bytes),
        Ext2Error::BadFileType {
            ino: 2,
            mode: 0o170_644
        }
    );
}

/// The root directory's first block and the byte offset of entry `name`
/// in it.
fn root_entry(image: &Image, bytes: &[u8], name: &[u8]) -> (u32, u64) {
    let block = image.block_of("<2>", 0);
    (block, entry_offset(bytes, 1024, block, name))
}

#[test]
fn entry_naming_an_inode_past_the_count() {
    let (image, mut bytes) = small();
    let (block, at) = root_entry(&image, &bytes, b"file");
    let inodes = get_u32(&bytes, SB);
    put_u32(&mut bytes, at, inodes + 1);
    let fs = open(&bytes).unwrap();
    let corrupt = Ext2Error::CorruptDirectory {
        ino: 2,
        offset: at - u64::from(block) * 1024,
    };
    assert_eq!(fs.read_dir(2), Err(corrupt));
    assert_eq!(fs.lookup(2, b"file"), Err(corrupt));
}

#[test]
fn entry_naming_inode_0_is_deleted_except_for_dot() {
    let (image, mut bytes) = small();
    // Inode 0 is how ext2 marks a deleted entry: the name just disappears.
    let (block, at) = root_entry(&image, &bytes, b"file");
    put_u32(&mut bytes, at, 0);
    let fs = open(&bytes).unwrap();
    assert_eq!(fs.lookup(2, b"file"), Ok(None));
    assert!(fs.read_dir(2).unwrap().iter().all(|e| e.name != b"file"));
    // `.` must name the directory itself, `..` some directory.
    let dot = u64::from(block) * 1024;
    let mut no_dot = bytes.clone();
    put_u32(&mut no_dot, dot, 0);
    let fs = open(&no_dot).unwrap();
    assert_eq!(
        fs.read_dir(2),
        Err(Ext2Error::CorruptDirectory { ino: 2, offset: 0 })
    );
    let mut no_dotdot = bytes.clone();
    put_u32(&mut no_dotdot, dot + 12, 0);
    let fs = open(&no_dotdot).unwrap();
    assert_eq!(
        fs.lookup(2, b"dir"),
        Err(Ext2Error::CorruptDirectory { ino: 2, offset: 12 })
    );
}

#[test]
fn record_length_zero_or_overrunning() {
    let (image, bytes) = small();
    let (block, at) = root_entry(&image, &bytes, b"file");
    let within = at - u64::from(block) * 1024;
    let corrupt = Ext2Error::CorruptDirectory {
        ino: 2,
        offset: within,
    };
    for rec_len in [0, 4, 13, 1024, u16::MAX] {
        let mut bytes = bytes.clone();
        put_u16(&mut bytes, at + 4, rec_len);
        let fs = open(&bytes).unwrap();
        assert_eq!(fs.read_dir(2), Err(corrupt), "rec_len {rec_len}");
        assert_eq!(
            fs.lookup(2, b"not there"),
            Err(corrupt),
            "rec_len {rec_len}"
        );
    }
    // A name longer than its record.
    let mut bytes = bytes.clone();
    bytes[at as usize + 6] = 255;
    assert_eq!(open(&bytes).unwrap().read_dir(2), Err(corrupt));
}

#[test]
fn absurd_directory_sizes() {
    let (image, bytes) = small();
    let dir = image.ino_of("/dir");
    let size_at = image.inode_offset(dir) + 4;
    for size in [0, 1000, 0xFFFF_FC00] {
        let mut bytes = bytes.clone();
        put_u32(&mut bytes, size_at, size);
        let fs = open(&bytes).unwrap();
        assert_eq!(
            fs.read_dir(dir),
            Err(Ext2Error::CorruptDirectory {
                ino: dir,
                offset: 0
            })
        );
    }
    // A directory with a hole where its second block should be.
    let mut bytes = bytes.clone();
    put_u32(&mut bytes, size_at, 2048);
    let fs = open(&bytes).unwrap();
    assert!(fs.lookup(dir, b"f1").unwrap().is_some());
    assert_eq!(
        fs.read_dir(dir),
        Err(Ext2Error::CorruptDirectory {
            ino: dir,
            offset: 1024
        })
    );
}

#[test]
fn indirect_block_pointing_to_itself() {
    let (image, bytes) = small();
    let big = image.ino_of("/big");
    let inode = image.inode_offset(big);
    let mut buf = [0u8; 16];

    // Single-indirect block whose first pointer is itself.
    let single = get_u32(&bytes, inode + I_BLOCK + 12 * 4);
    let mut looped = bytes.clone();
    put_u32(&mut looped, u64::from(single) * 1024, single);
    let fs = open(&looped).unwrap();
    assert_eq!(fs.read(big, 11 * 1024, &mut buf), Ok(16));
    assert_eq!(
        fs.read(big, 12 * 1024, &mut buf),
        Err(Ext2Error::IndirectLoop {
            ino: big,
            block: single
        })
    );

    // Double-indirect block naming itself as its first single-indirect
    // block, and one whose single-indirect block points back to it.
    let double = get_u32(&bytes, inode + I_BLOCK + 13 * 4);
    assert_ne!(double, 0, "the test file must need a double-indirect block");
    let second_level = get_u32(&bytes, u64::from(double) * 1024);
    let offset = (12 + 256) * 1024;
    let mut looped = bytes.clone();
    put_u32(&mut looped, u64::from(double) * 1024, double);
    let fs = open(&looped).unwrap();
    assert_eq!(
        fs.read(big, offset, &mut buf),
        Err(Ext2Error::IndirectLoop {
            ino: big,
            block: double
        })
    );
    let mut looped = bytes.clone();
    put_u32(&mut looped, u64::from(second_level) * 1024, double);
    let fs = open(&looped).unwrap();
    assert_eq!(
        fs.read(big, offset, &mut buf),
        Err(Ext2Error::IndirectLoop {
            ino: big,
            block: double
        })
    );
}

#[test]
fn block_numbers_past_the_end() {
    let (image, bytes) = small();
    let blocks = get_u32(&bytes, SB + 4);
    let big = image.ino_of("/big");
    let inode = image.inode_offset(big);
    let mut buf = [0u8; 8];
    for (pointer, offset) in [(0u64, 0u64), (12, 12 * 1024), (13, 300 * 1024 - 8)] {
        for block in [blocks, u32::MAX] {
            let mut bytes = bytes.clone();
            put_u32(&mut bytes, inode + I_BLOCK + pointer * 4, block);
            let fs = open(&bytes).unwrap();
            assert_eq!(
                fs.read(big, offset, &mut buf),
                Err(Ext2Error::BadBlock { ino: big, block }),
                "pointer {pointer} = {block}"
            );
        }
    }
    // Inside an indirect block.
    let single = get_u32(&bytes, inode + I_BLOCK + 12 * 4);
    let mut bytes = bytes.clone();
    put_u32(&mut bytes, u64::from(single) * 1024 + 4, blocks + 7);
    let fs = open(&bytes).unwrap();
    assert_eq!(
        fs.read(big, 13 * 1024, &mut buf),
        Err(Ext2Error::BadBlock {
            ino: big,
            block: blocks + 7
        })
    );
}

#[test]
fn absurd_file_sizes() {
    let (image, bytes) = small();
    let file = image.ino_of("/file");
    let inode = image.inode_offset(file);
    let mut bytes = bytes.clone();
    put_u32(&mut bytes, inode + 4, u32::MAX);
    put_u32(&mut bytes, inode + 108, u32::MAX);
    let fs = open(&bytes).unwrap();
    assert_eq!(fs.inode(file).unwrap().size, u64::MAX);
    let mut buf = [0u8; 12];
    assert_eq!(fs.read(file, 0, &mut buf), Ok(12));
    assert_eq!(&buf, b"hello, ext2\n");
    // Past the first block: holes, read as zeros, up to the triple-indirect
    // limit; beyond it the block map cannot reach.
    assert_eq!(fs.read(file, 1 << 30, &mut buf), Ok(12));
    assert_eq!(buf, [0; 12]);
    assert_eq!(
        fs.read(file, u64::MAX - 5, &mut buf),
        Err(Ext2Error::FileTooLarge(file))
    );
    let limit = (12 + 256 + 256 * 256 + 256 * 256 * 256) * 1024;
    assert_eq!(
        fs.read(file, limit - 4, &mut buf),
        Err(Ext2Error::FileTooLarge(file))
    );
}

#[test]
fn bad_symlinks() {
    let (image, bytes) = small();
    let fast = image.ino_of("/fast_link");
    let slow = image.ino_of("/slow_link");
    // A fast link claiming more than the inode can hold.
    let mut long = bytes.clone();
    put_u32(&mut long, image.inode_offset(fast) + 4, 1000);
    assert_eq!(
        open(&long).unwrap().read_link(fast),
        Err(Ext2Error::BadSymlink(fast))
    );
    // A slow link longer than its one block, or without its block.
    let slow_inode = image.inode_offset(slow);
    let mut long = bytes.clone();
    put_u32(&mut long, slow_inode + 4, 5000);
    assert_eq!(
        open(&long).unwrap().read_link(slow),
        Err(Ext2Error::BadSymlink(slow))
    );
    let mut hole = bytes.clone();
    put_u32(&mut hole, slow_inode + I_BLOCK, 0);
    assert_eq!(
        open(&hole).unwrap().read_link(slow),
        Err(Ext2Error::BadSymlink(slow))
    );
    let mut empty = bytes.clone();
    put_u32(&mut empty, image.inode_offset(fast) + 4, 0);
    assert_eq!(
        open(&empty).unwrap().read_link(fast),
        Err(Ext2Error::BadSymlink(fast))
    );
}

#[test]
fn unused_and_unsupported_inodes() {
    let (image, bytes) = small();
    let fs = open(&bytes).unwrap();
    let inodes = get_u32(&bytes, SB);
    assert_eq!(fs.inode(inodes), Err(Ext2Error::UnusedInode(inodes)));
    assert_eq!(fs.inode(0), Err(Ext2Error::InodeOutOfRange(0)));
    assert_eq!(
        fs.inode(inodes + 1),
        Err(Ext2Error::InodeOutOfRange(inodes + 1))
    );
    // An entry naming a free inode: listing works from the type byte, the
    // inode itself does not.
    let (_, at) = root_entry(&image, &bytes, b"file");
    let mut bytes = bytes.clone();
    put_u32(&mut bytes, at, inodes);
    let fs = open(&bytes).unwrap();
    let ino = fs.lookup(2, b"file").unwrap().unwrap();
    assert_eq!(
        fs.read(ino, 0, &mut [0; 4]),
        Err(Ext2Error::UnusedInode(inodes))
    );
    // An inode mapped with extents.
    let file = image.ino_of("/big");
    let mut extents = bytes.clone();
    let flags_at = image.inode_offset(file) + 32;
    put_u32(&mut extents, flags_at, 0x8_0000);
    assert_eq!(
        open(&extents).unwrap().read(file, 0, &mut [0; 4]),
        Err(Ext2Error::UnsupportedInode {
            ino: file,
            flags: 0x8_0000
        })
    );
}

#[test]
fn name_holding_a_slash() {
    // debugfs links `mknod /dir/node` into the current directory under
    // that whole name; e2fsck calls it corruption, and so does the driver.
    let (image, _) = small();
    image.debugfs("mknod /dir/node p\n", true);
    let bytes = image.bytes();
    let fs = open(&bytes).unwrap();
    assert!(matches!(
        fs.read_dir(2),
        Err(Ext2Error::CorruptDirectory { ino: 2, .. })
    ));
}
