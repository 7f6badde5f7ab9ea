//! Out of the neutral form: what a message's body looks like to a program
//! of a given personality, built with that personality's own layout code.
//!
//! The sender's side needs no table: its personality fills the neutral
//! [`Body`] from libOS objects (a file's `Stat`, directory entries, an
//! [`Errno`]). The receiver's side is where ABIs differ — `struct stat` is
//! 144 bytes on Linux with `st_nlink` before `st_mode`, 224 on FreeBSD with
//! 64-bit `st_nlink` after it, 128 on illumos with an `st_fstype` string;
//! the same error is 35 on FreeBSD and 11 on Linux and illumos — so each
//! personality presents the body with its own encoders.

use alloc::vec::Vec;

use libos::Errno;
use libos::vfs::node::{DirEntry, FileType, Stat, Timespec};

use crate::wire::Body;

/// One personality's presentation of neutral structures.
#[derive(Clone, Copy)]
pub struct View {
    /// The personality's name.
    pub name: &'static str,
    /// Its `struct stat`.
    pub stat: fn(&Stat) -> Vec<u8>,
    /// Its number for an errno.
    pub errno: fn(Errno) -> i64,
    /// Its directory records for `getdents`-style reads.
    pub dirents: fn(&[DirEntry]) -> Vec<u8>,
    /// Its `struct timespec`.
    pub timespec: fn(i64, u32) -> Vec<u8>,
}

impl core::fmt::Debug for View {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("View").field("name", &self.name).finish()
    }
}

/// `d_type` for a kind (the same values on Linux and FreeBSD).
#[must_use]
pub const fn d_type(kind: FileType) -> u8 {
    match kind {
        FileType::Fifo => 1,
        FileType::CharDevice => 2,
        FileType::Directory => 4,
        FileType::BlockDevice => 6,
        FileType::Regular => 8,
        FileType::Symlink => 10,
        FileType::Socket => 12,
    }
}

fn linux_dirents(es: &[DirEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in es.iter().enumerate() {
        out.extend(exo_linux::abi::dirent64(
            e.ino,
            i as i64 + 1,
            d_type(e.kind),
            &e.name,
        ));
    }
    out
}

/// The Linux x86_64 view.
pub const LINUX: View = View {
    name: "linux",
    stat: |s| exo_linux::abi::stat_bytes(s).to_vec(),
    errno: |e| i64::from(e.linux()),
    dirents: linux_dirents,
    timespec: |sec, nsec| exo_linux::abi::timespec(sec, nsec).to_vec(),
};

fn freebsd_dirents(es: &[DirEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in es.iter().enumerate() {
        out.extend(exo_freebsd::abi::dirent(
            e.ino,
            i as u64 + 1,
            d_type(e.kind),
            &e.name,
        ));
    }
    out
}

/// The FreeBSD amd64 view (FreeBSD 12+ layouts).
pub const FREEBSD: View = View {
    name: "freebsd",
    stat: |s| exo_freebsd::abi::stat_bytes(s).to_vec(),
    errno: |e| i64::from(exo_freebsd::errno(e)),
    dirents: freebsd_dirents,
    timespec: |sec, nsec| exo_freebsd::abi::timespec(Timespec { sec, nsec }).to_vec(),
};

fn illumos_dirents(es: &[DirEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in es.iter().enumerate() {
        out.extend(exo_illumos::abi::dirent(e.ino, i as i64 + 1, &e.name));
    }
    out
}

/// The illumos amd64 view: its 128-byte `struct stat` with `st_fstype`,
/// `d_type`-less `dirent` records, its errno numbers.
pub const ILLUMOS: View = View {
    name: "illumos",
    stat: |s| exo_illumos::abi::stat_bytes(s, s.mode(), exo_illumos::abi::fstype(s.dev)).to_vec(),
    errno: |e| i64::from(exo_illumos::abi::errno(e)),
    dirents: illumos_dirents,
    timespec: |sec, nsec| exo_illumos::abi::timespec(sec, nsec).to_vec(),
};

/// Every personality's view.
pub const VIEWS: &[View] = &[LINUX, FREEBSD, ILLUMOS];

/// The view of `personality`, if it has one.
#[must_use]
pub fn view(personality: &str) -> Option<&'static View> {
    VIEWS.iter().find(|v| v.name == personality)
}

/// The bytes a program of `view`'s personality receives for `body`: its
/// struct layout, its errno number (as a little-endian `i64`), its
/// directory records, its `timespec`; opaque bytes unchanged.
#[must_use]
pub fn present(view: &View, body: &Body) -> Vec<u8> {
    match body {
        Body::Bytes(b) => b.clone(),
        Body::Stat(s) => (view.stat)(s),
        Body::Entries(es) => (view.dirents)(es),
        Body::Error(e) => (view.errno)(*e).to_le_bytes().to_vec(),
        Body::Time(t) => (view.timespec)(t.sec, t.nsec),
    }
}
