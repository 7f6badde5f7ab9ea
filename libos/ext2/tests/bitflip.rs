//! Randomly damaged images never panic or hang the driver.
//!
//! One small valid image is built with `mkfs.ext2`; each case overwrites
//! random bytes or 32-bit fields — mostly in its metadata: superblock,
//! group descriptors, inode table, directory blocks and indirect blocks —
//! then opens it and walks the whole tree with every read-only call.
//! Reaching the end of a case is the assertion: no panic, and every loop
//! terminated.

mod common;

use std::ops::Range;
use std::sync::OnceLock;

use common::{Image, get_u32, populate_small, walk};
use exo_ext2::Ext2;
use proptest::prelude::*;
use proptest::sample::Index;
use tempfile::TempDir;

/// The undamaged image and the byte ranges of its metadata.
struct Fixture {
    bytes: Vec<u8>,
    metadata: Vec<Range<usize>>,
}

/// Block size of the fixture image.
const BLOCK: usize = 1024;
/// Inodes in the fixture image (one group), 128 bytes each.
const INODES: usize = 64;

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let src = TempDir::new().unwrap();
        populate_small(src.path());
        let image = Image::build(
            src.path(),
            1024,
            1 << 20,
            &["-I", "128", "-N", &INODES.to_string()],
        );
        let bytes = image.bytes();
        let fs = Ext2::open(bytes.as_slice()).expect("the undamaged image opens");
        assert!(walk(&fs) > 20, "the undamaged image walks");

        let block = |n: u32| n as usize * BLOCK..(n as usize + 1) * BLOCK;
        let inode_table = get_u32(&bytes, 2048 + 8) as usize * BLOCK;
        let mut metadata = vec![
            1024..3072, // superblock and group descriptors
            inode_table..inode_table + INODES * 128,
            block(image.block_of("<2>", 0)),
            block(image.block_of("/dir", 0)),
        ];
        // Every indirect block on the first path of each big file.
        for path in ["/big", "/sparse"] {
            let inode = image.inode_offset(image.ino_of(path));
            for level in 0..3 {
                let mut pointer = get_u32(&bytes, inode + 40 + (12 + level) * 4);
                for _ in 0..=level {
                    if pointer == 0 {
                        break;
                    }
                    metadata.push(block(pointer));
                    let children = block(pointer);
                    pointer = bytes[children]
                        .chunks(4)
                        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                        .find(|&p| p != 0)
                        .unwrap_or(0);
                }
            }
        }
        Fixture { bytes, metadata }
    })
}

/// One change to the image: where, and what.
#[derive(Clone, Debug)]
struct Damage {
    /// Metadata range (or, if `None`, the whole image) to damage.
    region: Option<Index>,
    /// Position inside the region.
    at: Index,
    kind: Change,
}

#[derive(Clone, Debug)]
enum Change {
    /// XOR one byte with a non-zero mask.
    Flip(u8),
    /// Overwrite the aligned 32-bit field there with an interesting value.
    Field(u32),
}

fn damage() -> impl Strategy<Value = Damage> {
    let value = prop_oneof![
        Just(0u32),
        Just(1),
        Just(2),
        Just(u32::MAX),
        Just(0x8000_0000),
        0..2048u32,
        any::<u32>()
    ];
    let kind = prop_oneof![
        (1..=255u8).prop_map(Change::Flip),
        value.prop_map(Change::Field),
    ];
    let region = prop_oneof![9 => any::<Index>().prop_map(Some), 1 => Just(None)];
    (region, any::<Index>(), kind).prop_map(|(region, at, kind)| Damage { region, at, kind })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        ..ProptestConfig::default()
    })]

    #[test]
    fn damaged_images_never_panic(changes in proptest::collection::vec(damage(), 1..12)) {
        let fixture = fixture();
        let mut bytes = fixture.bytes.clone();
        for change in changes {
            let range = match &change.region {
                Some(index) => index.get(&fixture.metadata).clone(),
                None => 0..bytes.len(),
            };
            let at = range.start + change.at.index(range.len());
            match change.kind {
                Change::Flip(mask) => bytes[at] ^= mask,
                Change::Field(value) => {
                    let at = (at & !3).min(bytes.len() - 4);
                    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
                }
            }
        }
        if let Ok(fs) = Ext2::open(bytes.as_slice()) {
            walk(&fs);
            for ino in 0..=INODES as u32 + 1 {
                let _ = fs.inode(ino);
                let _ = fs.read_dir(ino);
                let _ = fs.read_link(ino);
                let _ = fs.lookup(ino, b"file");
                let _ = fs.read(ino, 0, &mut [0; 2000]);
            }
        }
    }
}
