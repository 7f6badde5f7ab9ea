//! A read-only ext2 file-system driver for the exo libOS.
//!
//! The libOS's VFS mounts ext2 images (a boot module, a virtio disk) through
//! this crate: [`Ext2::open`] validates the superblock and group
//! descriptors, and the methods on [`Ext2`] give what the VFS needs —
//! [`inode`](Ext2::inode) for `stat`, [`lookup`](Ext2::lookup) and
//! [`read_dir`](Ext2::read_dir) for path walks and `getdents`,
//! [`read`](Ext2::read) for file data, [`read_link`](Ext2::read_link) for
//! `readlink`, and [`stats`](Ext2::stats) for `statfs`. The device is
//! anything implementing [`BlockDevice`], including in-memory images.
//!
//! # Scope
//!
//! - Revision 0 and 1 file systems with 1 KiB to 64 KiB blocks; block maps
//!   with direct, single-, double- and triple-indirect blocks; holes.
//! - The `filetype` and `flex_bg` incompatible features; images with any
//!   other incompatible feature (extents, `64bit`, `meta_bg`, journal
//!   recovery, compression, inline data, …) are refused with
//!   [`Ext2Error::UnsupportedFeatures`]. Compatible and read-only-compatible
//!   features are safe to ignore when reading; `large_file` and `huge_file`
//!   are honoured for sizes and block counts.
//! - `dir_index` directories are read linearly, which their format allows.
//!
//! # Limits
//!
//! - Read-only: there is no write API (the VFS answers writes with
//!   `EROFS`), and no journal is replayed.
//! - Times have one-second resolution (the extra fields of large inodes are
//!   not read); extended attributes and ACLs are not read.
//! - No cache: every call reads its inode and the blocks it needs from the
//!   device, so a cache, if wanted, belongs in the [`BlockDevice`] below.
//!
//! # Robustness
//!
//! Images are untrusted. Every malformed image yields an [`Ext2Error`],
//! never a panic or an unbounded loop: block pointers are checked against
//! the block count, the block-map walk is at most three levels deep and
//! refuses cycles, directory records are checked like the kernel's
//! `ext2_check_page`, and directory and symlink sizes are bounded by the
//! file system's size, so all work and allocation is bounded by what the
//! image can hold (or, for [`read`](Ext2::read), by the caller's buffer).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod block_map;
mod bytes;
mod device;
mod dir;
mod error;
mod fs;
mod group;
mod inode;
mod superblock;

pub use device::BlockDevice;
pub use dir::DirEntry;
pub use error::Ext2Error;
pub use fs::Ext2;
pub use inode::{FileType, Inode, ROOT_INO};
pub use superblock::{EXT2_MAGIC, FsStats};
