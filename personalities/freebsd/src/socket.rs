//! `socketpair(AF_UNIX, SOCK_STREAM)`: two connected stream sockets.
//!
//! Each direction is a libOS pipe: one end's writes are the other's
//! reads, so a socket pair is a bidirectional byte stream with the pipe's
//! semantics — reads block until data or until the peer is gone (then
//! 0), writes block for room, `O_NONBLOCK` turns waits into `EAGAIN`, and
//! a write whose peer has closed fails with `EPIPE` (and `SIGPIPE`).
//! Readiness (`poll`, kqueue) is the pipes'. Only `SOCK_STREAM` is
//! built: datagram and seqpacket pairs, which keep record boundaries, are
//! `EPROTONOSUPPORT`; other families `EAFNOSUPPORT`.

use alloc::sync::Arc;

use exo_personality::Ctx;
use libos::pipe::{ReadEnd, WriteEnd};
use libos::vfs::file::{OpenFile, OpenFlags};
use libos::vfs::node::{FileType, Special};
use libos::{Errno, Result};

use crate::calls::install_pair;
use crate::errno::nr;

/// `AF_UNIX` / `AF_LOCAL`.
pub const AF_UNIX: u64 = 1;
/// `SOCK_STREAM`.
pub const SOCK_STREAM: u64 = 1;
/// `SOCK_DGRAM`.
pub const SOCK_DGRAM: u64 = 2;
/// `SOCK_SEQPACKET`.
pub const SOCK_SEQPACKET: u64 = 5;
/// `SOCK_CLOEXEC`.
pub const SOCK_CLOEXEC: u64 = 0x1000_0000;
/// `SOCK_NONBLOCK`.
pub const SOCK_NONBLOCK: u64 = 0x2000_0000;

/// One end of a stream pair.
#[derive(Debug)]
pub struct StreamEnd {
    rx: Arc<ReadEnd>,
    tx: Arc<WriteEnd>,
}

impl Special for StreamEnd {
    fn read(&self, offset: u64, buf: &mut [u8], nonblock: bool) -> Result<usize> {
        self.rx.read(offset, buf, nonblock)
    }
    fn write(&self, offset: u64, data: &[u8], nonblock: bool) -> Result<usize> {
        self.tx.write(offset, data, nonblock)
    }
    fn poll(&self) -> (bool, bool) {
        (self.rx.poll().0, self.tx.poll().1)
    }
    fn readable_bytes(&self) -> Option<usize> {
        self.rx.readable_bytes()
    }
    fn writable_bytes(&self) -> Option<usize> {
        self.tx.writable_bytes()
    }
}

/// Errors FreeBSD gives that the libOS has no name for: checked before
/// dispatch, in FreeBSD's numbers. `None` when the arguments are fine.
#[must_use]
pub fn precheck(a: [u64; 6]) -> Option<i32> {
    let ty = a[1] & !(SOCK_CLOEXEC | SOCK_NONBLOCK) & 0xffff_ffff;
    if a[0] & 0xffff_ffff != AF_UNIX {
        return Some(nr::EAFNOSUPPORT);
    }
    match ty {
        SOCK_STREAM if a[2] & 0xffff_ffff == 0 => None,
        SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET => Some(nr::EPROTONOSUPPORT),
        _ => Some(nr::EPROTOTYPE),
    }
}

/// `socketpair(domain, type, protocol, sv)`.
pub(crate) fn socketpair(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if precheck(a).is_some() {
        // Reached only through the table directly; the personality's
        // entry point answers these in FreeBSD's own numbers.
        return Err(Errno::EINVAL);
    }
    let nonblock = a[1] & SOCK_NONBLOCK != 0;
    let (r1, w1) = libos::pipe::pipe();
    let (r2, w2) = libos::pipe::pipe();
    let flags = OpenFlags {
        nonblock,
        ..OpenFlags::READ_WRITE
    };
    let end = |rx, tx| {
        Arc::new(OpenFile::anonymous(
            Arc::clone(&ctx.sys.vfs),
            Arc::new(StreamEnd { rx, tx }),
            flags,
            FileType::Socket,
        ))
    };
    let (a_end, b_end) = (end(r1, w2), end(r2, w1));
    install_pair(ctx, a[3], a_end, b_end, a[1] & SOCK_CLOEXEC != 0)
}
