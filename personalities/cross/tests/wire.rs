//! The wire form: every message survives encode/decode unchanged, and
//! malformed bytes are refused with `EINVAL`, never a panic.

use exo_cross::wire::{self, Body, Delegation, Message, Rights};
use libos::Errno;
use libos::vfs::node::{DirEntry, FileType, Stat, Timespec};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = FileType> {
    prop_oneof![
        Just(FileType::Regular),
        Just(FileType::Directory),
        Just(FileType::Symlink),
        Just(FileType::CharDevice),
        Just(FileType::BlockDevice),
        Just(FileType::Fifo),
        Just(FileType::Socket),
    ]
}

fn time() -> impl Strategy<Value = Timespec> {
    (any::<i64>(), 0u32..1_000_000_000).prop_map(|(sec, nsec)| Timespec { sec, nsec })
}

fn stat() -> impl Strategy<Value = Stat> {
    (
        (
            any::<u64>(),
            any::<u64>(),
            kind(),
            0u32..0o10000,
            any::<u32>(),
        ),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
        ),
        (any::<u64>(), time(), time(), time()),
    )
        .prop_map(
            |(
                (dev, ino, kind, perm, nlink),
                (uid, gid, rdev, size, blksize),
                (blocks, a, m, c),
            )| {
                Stat {
                    dev,
                    ino,
                    kind,
                    perm,
                    nlink,
                    uid,
                    gid,
                    rdev,
                    size,
                    blksize,
                    blocks,
                    atime: a,
                    mtime: m,
                    ctime: c,
                }
            },
        )
}

fn body() -> impl Strategy<Value = Body> {
    let name =
        proptest::collection::vec(1u8..=255, 1..40).prop_filter("no slash", |n| !n.contains(&b'/'));
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Body::Bytes),
        stat().prop_map(Body::Stat),
        proptest::collection::vec((any::<u64>(), kind(), name), 0..8).prop_map(|es| {
            Body::Entries(
                es.into_iter()
                    .map(|(ino, kind, name)| DirEntry { ino, name, kind })
                    .collect(),
            )
        }),
        proptest::sample::select(Errno::ALL.to_vec()).prop_map(Body::Error),
        time().prop_map(Body::Time),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        "[a-z]{0,10}",
        any::<u32>(),
        body(),
        proptest::collection::vec((any::<u32>(), 0u32..4), 0..4),
    )
        .prop_map(|(personality, pid, body, caps)| Message {
            personality,
            pid,
            body,
            capabilities: caps
                .into_iter()
                .map(|(slot, bits)| Delegation {
                    slot,
                    rights: Rights::from_bits(bits).unwrap(),
                })
                .collect(),
        })
}

proptest! {
    #[test]
    fn round_trips(m in message()) {
        let bytes = wire::encode(&m);
        prop_assert_eq!(bytes.len() % 8, 0, "whole words");
        prop_assert_eq!(wire::decode(&bytes), Ok(m));
    }

    #[test]
    fn garbage_is_refused_not_fatal(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        // Anything may decode or not; nothing may panic, and errors are EINVAL.
        if let Err(e) = wire::decode(&bytes) {
            prop_assert_eq!(e, Errno::EINVAL);
        }
    }

    #[test]
    fn truncations_and_bit_flips_are_refused_or_valid(m in message(), cut in 0usize..64, flip in any::<(usize, u8)>()) {
        let bytes = wire::encode(&m);
        let short = &bytes[..bytes.len().saturating_sub(cut + 1)];
        prop_assert!(wire::decode(short).is_err(), "a truncated stream");
        let mut flipped = bytes.clone();
        let at = flip.0 % flipped.len();
        flipped[at] ^= flip.1 | 1;
        if let Ok(d) = wire::decode(&flipped) {
            // A flip in a value is a different valid message; it still
            // obeys every rule the decoder enforces.
            if let Body::Stat(s) = d.body {
                prop_assert!(s.atime.nsec < 1_000_000_000 && s.perm <= 0o7777);
            }
        }
    }
}

#[test]
fn hostile_fields_are_named_errors() {
    let base = Message {
        personality: "linux".into(),
        pid: 7,
        body: Body::Error(Errno::ENOENT),
        capabilities: vec![],
    };
    // An errno name no ABI knows.
    let mut b = wire::encode(&base);
    let at = b.windows(6).position(|w| w == b"ENOENT").unwrap();
    b[at..at + 6].copy_from_slice(b"EWHAT!");
    assert_eq!(wire::decode(&b), Err(Errno::EINVAL));
    // Rights bits beyond read and write.
    assert_eq!(Rights::from_bits(4), Err(Errno::EINVAL));
    // A directory entry name with a slash.
    let entries = Message {
        body: Body::Entries(vec![DirEntry {
            ino: 1,
            name: b"a/b".to_vec(),
            kind: FileType::Regular,
        }]),
        ..base.clone()
    };
    assert_eq!(wire::decode(&wire::encode(&entries)), Err(Errno::EINVAL));
    // Oversized input.
    assert_eq!(
        wire::decode(&vec![0u8; wire::MAX_MESSAGE + 8]),
        Err(Errno::EINVAL)
    );
    assert_eq!(wire::decode(&[]), Err(Errno::EINVAL));
}
