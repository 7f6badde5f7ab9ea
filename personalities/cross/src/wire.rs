//! Messages and their Cap'n Proto wire form.

use alloc::string::String;
use alloc::vec::Vec;

use capnp::message::{Builder, ReaderOptions};
use libos::Errno;
use libos::vfs::node::{DirEntry, FileType, Stat, Timespec};

use crate::cross_capnp::{FileKind, dir_entry, file_stat, message, timespec};

/// Largest encoded message accepted (bytes).
pub const MAX_MESSAGE: usize = 1 << 20;
/// Most descriptors delegated by one message.
pub const MAX_DELEGATIONS: usize = 16;

/// Access a delegated descriptor carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rights {
    /// May read.
    pub read: bool,
    /// May write.
    pub write: bool,
}

impl Rights {
    /// Read only.
    pub const READ: Self = Self {
        read: true,
        write: false,
    };
    /// Write only.
    pub const WRITE: Self = Self {
        read: false,
        write: true,
    };
    /// Read and write.
    pub const READ_WRITE: Self = Self {
        read: true,
        write: true,
    };

    /// The wire bits (1 read, 2 write).
    #[must_use]
    pub const fn bits(self) -> u32 {
        (self.read as u32) | ((self.write as u32) << 1)
    }

    /// From wire bits.
    ///
    /// # Errors
    /// `EINVAL` for unknown bits.
    pub const fn from_bits(bits: u32) -> Result<Self, Errno> {
        if bits & !3 != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(Self {
            read: bits & 1 != 0,
            write: bits & 2 != 0,
        })
    }

    /// Whether `self` grants nothing beyond `other`.
    #[must_use]
    pub const fn within(self, other: Self) -> bool {
        (!self.read || other.read) && (!self.write || other.write)
    }
}

/// A message's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Opaque bytes.
    Bytes(Vec<u8>),
    /// A file's status.
    Stat(Stat),
    /// Directory entries.
    Entries(Vec<DirEntry>),
    /// An error, by name on the wire.
    Error(Errno),
    /// A point in time.
    Time(Timespec),
}

/// A descriptor delegated with a message, on the wire: which one of the
/// message's descriptors, with what access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delegation {
    /// Index in the message's descriptor list.
    pub slot: u32,
    /// Access granted.
    pub rights: Rights,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sender's personality.
    pub personality: String,
    /// The sender's pid.
    pub pid: u32,
    /// The content.
    pub body: Body,
    /// Descriptors delegated with it.
    pub capabilities: Vec<Delegation>,
}

fn kind_to_wire(k: FileType) -> FileKind {
    use FileKind as K;
    match k {
        FileType::Regular => K::Regular,
        FileType::Directory => K::Directory,
        FileType::Symlink => K::Symlink,
        FileType::CharDevice => K::CharDevice,
        FileType::BlockDevice => K::BlockDevice,
        FileType::Fifo => K::Fifo,
        FileType::Socket => K::Socket,
    }
}

fn kind_from_wire(k: FileKind) -> FileType {
    use FileKind as K;
    match k {
        K::Regular => FileType::Regular,
        K::Directory => FileType::Directory,
        K::Symlink => FileType::Symlink,
        K::CharDevice => FileType::CharDevice,
        K::BlockDevice => FileType::BlockDevice,
        K::Fifo => FileType::Fifo,
        K::Socket => FileType::Socket,
    }
}

fn time_to_wire(t: Timespec, mut b: timespec::Builder<'_>) {
    b.set_sec(t.sec);
    b.set_nsec(t.nsec);
}

fn time_from_wire(r: timespec::Reader<'_>) -> Result<Timespec, Errno> {
    let nsec = r.get_nsec();
    if nsec >= 1_000_000_000 {
        return Err(Errno::EINVAL);
    }
    Ok(Timespec {
        sec: r.get_sec(),
        nsec,
    })
}

fn stat_to_wire(s: &Stat, mut b: file_stat::Builder<'_>) {
    b.set_dev(s.dev);
    b.set_ino(s.ino);
    b.set_kind(kind_to_wire(s.kind));
    b.set_perm((s.perm & 0o7777) as u16);
    b.set_nlink(s.nlink);
    b.set_uid(s.uid);
    b.set_gid(s.gid);
    b.set_rdev(s.rdev);
    b.set_size(s.size);
    b.set_blocks(s.blocks);
    b.set_blksize(s.blksize);
    time_to_wire(s.atime, b.reborrow().init_atime());
    time_to_wire(s.mtime, b.reborrow().init_mtime());
    time_to_wire(s.ctime, b.init_ctime());
}

fn stat_from_wire(r: file_stat::Reader<'_>) -> Result<Stat, Errno> {
    Ok(Stat {
        dev: r.get_dev(),
        ino: r.get_ino(),
        kind: kind_from_wire(r.get_kind().map_err(|_| Errno::EINVAL)?),
        perm: u32::from(r.get_perm() & 0o7777),
        nlink: r.get_nlink(),
        uid: r.get_uid(),
        gid: r.get_gid(),
        rdev: r.get_rdev(),
        size: r.get_size(),
        blksize: r.get_blksize(),
        blocks: r.get_blocks(),
        atime: time_from_wire(r.get_atime().map_err(bad)?)?,
        mtime: time_from_wire(r.get_mtime().map_err(bad)?)?,
        ctime: time_from_wire(r.get_ctime().map_err(bad)?)?,
    })
}

fn bad(_: capnp::Error) -> Errno {
    Errno::EINVAL
}

/// The wire form of `m` (a single-segment-or-more Cap'n Proto stream).
#[must_use]
pub fn encode(m: &Message) -> Vec<u8> {
    let mut builder = Builder::new_default();
    {
        let mut msg = builder.init_root::<message::Builder<'_>>();
        msg.set_personality(m.personality.as_str());
        msg.set_pid(m.pid);
        let mut caps = msg
            .reborrow()
            .init_capabilities(m.capabilities.len() as u32);
        for (i, d) in m.capabilities.iter().enumerate() {
            let mut c = caps.reborrow().get(i as u32);
            c.set_slot(d.slot);
            c.set_rights(d.rights.bits());
        }
        let mut body = msg.init_body();
        match &m.body {
            Body::Bytes(b) => body.set_bytes(b),
            Body::Stat(s) => stat_to_wire(s, body.init_stat()),
            Body::Entries(es) => {
                let mut list = body.init_entries(es.len() as u32);
                for (i, e) in es.iter().enumerate() {
                    let mut d: dir_entry::Builder<'_> = list.reborrow().get(i as u32);
                    d.set_ino(e.ino);
                    d.set_kind(kind_to_wire(e.kind));
                    d.set_name(&e.name);
                }
            }
            Body::Error(e) => body.set_error(e.name()),
            Body::Time(t) => time_to_wire(*t, body.init_time()),
        }
    }
    capnp::serialize::write_message_to_words(&builder)
}

/// Parses a wire message, checking everything a hostile sender could get
/// wrong: framing, sizes, union tags, enum values, errno names, rights
/// bits, timestamps.
///
/// # Errors
/// `EMSGSIZE`-like oversize and every malformation are `EINVAL`.
pub fn decode(bytes: &[u8]) -> Result<Message, Errno> {
    if bytes.len() > MAX_MESSAGE {
        return Err(Errno::EINVAL);
    }
    let mut options = ReaderOptions::new();
    options.traversal_limit_in_words(Some(MAX_MESSAGE / 8));
    let reader = capnp::serialize::read_message(&mut &bytes[..], options).map_err(bad)?;
    let msg = reader.get_root::<message::Reader<'_>>().map_err(bad)?;
    let personality = msg
        .get_personality()
        .map_err(bad)?
        .to_string()
        .map_err(|_| Errno::EINVAL)?;
    let caps = msg.get_capabilities().map_err(bad)?;
    if caps.len() as usize > MAX_DELEGATIONS {
        return Err(Errno::EINVAL);
    }
    let mut capabilities = Vec::new();
    for c in caps.iter() {
        capabilities.push(Delegation {
            slot: c.get_slot(),
            rights: Rights::from_bits(c.get_rights())?,
        });
    }
    use message::body::Which;
    let body = match msg.get_body().which().map_err(|_| Errno::EINVAL)? {
        Which::Bytes(b) => Body::Bytes(b.map_err(bad)?.to_vec()),
        Which::Stat(s) => Body::Stat(stat_from_wire(s.map_err(bad)?)?),
        Which::Entries(list) => {
            let mut out = Vec::new();
            for e in list.map_err(bad)?.iter() {
                let name = e.get_name().map_err(bad)?;
                if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
                    return Err(Errno::EINVAL);
                }
                out.push(DirEntry {
                    ino: e.get_ino(),
                    kind: kind_from_wire(e.get_kind().map_err(|_| Errno::EINVAL)?),
                    name: name.to_vec(),
                });
            }
            Body::Entries(out)
        }
        Which::Error(name) => {
            let name = name.map_err(bad)?.to_str().map_err(|_| Errno::EINVAL)?;
            let e = Errno::ALL
                .iter()
                .copied()
                .find(|e| e.name() == name)
                .ok_or(Errno::EINVAL)?;
            Body::Error(e)
        }
        Which::Time(t) => Body::Time(time_from_wire(t.map_err(bad)?)?),
    };
    Ok(Message {
        personality,
        pid: msg.get_pid(),
        body,
        capabilities,
    })
}
