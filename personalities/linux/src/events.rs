//! Waiting and waking: `futex`, `eventfd`, and `epoll`.
//!
//! Futexes use the process's libOS futex table (keyed by the word's user
//! address, so every thread of the process meets on the same queue);
//! eventfd is the libOS's [`EventCounter`]; an epoll instance is a
//! descriptor whose interest list is kept here and whose readiness comes
//! from the libOS poll core. Edge-triggered interests (`EPOLLET`) report a
//! readiness when it appears and again only after it has dropped and
//! risen, which is what a program that drains its descriptor until
//! `EAGAIN` (the documented way to use `EPOLLET`) observes.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use exo_personality::{Ctx, UserMemory};
use libos::eventfd::EventCounter;
use libos::futex::{BITSET_ANY, Futexes};
use libos::signal::SigSet;
use libos::vfs::file::{OpenFile, OpenFlags};
use libos::vfs::node::{FileType, Special};
use libos::{Errno, Result};
use spin::Mutex;

use crate::abi::o;
use crate::calls::{file, install};

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;

fn u32_at(ctx: &Ctx<'_>, addr: u64) -> Result<u32> {
    let mut b = [0u8; 4];
    ctx.mem.read(addr, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// A `struct timespec` at `addr` as nanoseconds.
fn timespec_ns(ctx: &Ctx<'_>, addr: u64) -> Result<u64> {
    let (sec, nsec) = (ctx.u64_at(addr)? as i64, ctx.u64_at(addr + 8)?);
    if sec < 0 || nsec >= 1_000_000_000 {
        return Err(Errno::EINVAL);
    }
    Ok((sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(nsec))
}

/// A count argument of a wake: Linux treats it as a signed int, and
/// anything not positive wakes nobody.
fn count(v: u64) -> usize {
    usize::try_from((v as u32 as i32).max(0)).unwrap_or(0)
}

/// A checked `FUTEX_WAIT(_BITSET)` request.
pub(crate) struct WaitRequest {
    /// The process's futex table.
    pub(crate) table: Arc<Futexes>,
    pub(crate) uaddr: u64,
    pub(crate) expected: u32,
    pub(crate) bitset: u32,
    /// Relative timeout.
    pub(crate) timeout_ns: Option<u64>,
}

impl WaitRequest {
    /// Whether the word still holds the expected value (for the check
    /// under the table lock).
    pub(crate) fn still_expected(&self, mem: &dyn UserMemory) -> bool {
        let mut b = [0u8; 4];
        mem.read(self.uaddr, &mut b).is_ok() && u32::from_le_bytes(b) == self.expected
    }
}

/// The wait `futex(a…)` asks for, checked (`None`: not a wait command).
///
/// # Errors
/// As `futex`'s wait commands, before any queueing.
pub(crate) fn futex_wait_request(ctx: &Ctx<'_>, a: [u64; 6]) -> Result<Option<WaitRequest>> {
    let [uaddr, op, val, timeout, _, val3] = a;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if cmd != FUTEX_WAIT && cmd != FUTEX_WAIT_BITSET {
        return Ok(None);
    }
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    let table = ctx.sys.procs.with(ctx.pid, |p| Arc::clone(&p.futexes))?;
    let bitset = if cmd == FUTEX_WAIT {
        BITSET_ANY
    } else {
        val3 as u32
    };
    if realtime && cmd == FUTEX_WAIT {
        return Err(Errno::ENOSYS);
    }
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    // FUTEX_WAIT's timeout is relative; FUTEX_WAIT_BITSET's is an
    // absolute time on CLOCK_MONOTONIC (or CLOCK_REALTIME).
    let timeout_ns = if timeout == 0 {
        None
    } else {
        let t = timespec_ns(ctx, timeout)?;
        Some(if cmd == FUTEX_WAIT {
            t
        } else {
            let now = if realtime {
                let t = ctx.sys.clock.now();
                (t.sec.max(0) as u64) * 1_000_000_000 + u64::from(t.nsec)
            } else {
                ctx.sys.clock.uptime_ns()
            };
            t.saturating_sub(now)
        })
    };
    // Fault before queueing, like Linux.
    u32_at(ctx, uaddr)?;
    Ok(Some(WaitRequest {
        table,
        uaddr,
        expected: val as u32,
        bitset,
        timeout_ns,
    }))
}

pub(crate) fn futex(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if let Some(w) = futex_wait_request(ctx, a)? {
        let mem = &*ctx.mem;
        w.table.wait(
            w.uaddr,
            || w.still_expected(mem),
            w.bitset,
            w.timeout_ns,
            &*ctx.sys.clock,
        )?;
        return Ok(0);
    }
    let [uaddr, op, val, timeout, uaddr2, val3] = a;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    let table = ctx.sys.procs.with(ctx.pid, |p| Arc::clone(&p.futexes))?;
    match cmd {
        FUTEX_WAKE => Ok(table.wake(uaddr, count(val), BITSET_ANY) as u64),
        FUTEX_WAKE_BITSET => {
            if val3 as u32 == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(table.wake(uaddr, count(val), val3 as u32) as u64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if !uaddr2.is_multiple_of(4) {
                return Err(Errno::EINVAL);
            }
            if (val as i32) < 0 || (timeout as i32) < 0 {
                return Err(Errno::EINVAL);
            }
            let check = cmd == FUTEX_CMP_REQUEUE;
            if check {
                u32_at(ctx, uaddr)?;
            }
            let mem = &*ctx.mem;
            let moved = table.requeue(uaddr, uaddr2, count(val), count(timeout), || {
                !check || {
                    let mut b = [0u8; 4];
                    mem.read(uaddr, &mut b).is_ok() && u32::from_le_bytes(b) == val3 as u32
                }
            })?;
            Ok(moved as u64)
        }
        _ => Err(Errno::ENOSYS),
    }
}

const EFD_SEMAPHORE: u64 = 1;

pub(crate) fn eventfd(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    eventfd2(ctx, [a[0], 0, 0, 0, 0, 0])
}

pub(crate) fn eventfd2(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[1] & !(EFD_SEMAPHORE | o::CLOEXEC | o::NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let counter = Arc::new(EventCounter::new(
        u64::from(a[0] as u32),
        a[1] & EFD_SEMAPHORE != 0,
    ));
    let f = Arc::new(OpenFile::anonymous(
        Arc::clone(&ctx.sys.vfs),
        counter,
        OpenFlags {
            nonblock: a[1] & o::NONBLOCK != 0,
            ..OpenFlags::READ_WRITE
        },
        FileType::CharDevice,
    ));
    install(ctx, f, a[1] & o::CLOEXEC != 0)
}

/// `EPOLLIN`.
pub const EPOLLIN: u32 = 0x1;
/// `EPOLLOUT`.
pub const EPOLLOUT: u32 = 0x4;
const EPOLLPRI: u32 = 0x2;
const EPOLLERR: u32 = 0x8;
const EPOLLHUP: u32 = 0x10;
const EPOLLRDNORM: u32 = 0x40;
const EPOLLWRNORM: u32 = 0x100;
const EPOLLRDHUP: u32 = 0x2000;
const EPOLLEXCLUSIVE: u32 = 1 << 28;
const EPOLLWAKEUP: u32 = 1 << 29;
/// `EPOLLONESHOT`.
pub const EPOLLONESHOT: u32 = 1 << 30;
/// `EPOLLET`.
pub const EPOLLET: u32 = 1 << 31;
const EPOLL_KNOWN: u32 = EPOLLIN
    | EPOLLOUT
    | EPOLLPRI
    | EPOLLERR
    | EPOLLHUP
    | EPOLLRDNORM
    | EPOLLWRNORM
    | EPOLLRDHUP
    | EPOLLEXCLUSIVE
    | EPOLLWAKEUP
    | EPOLLONESHOT
    | EPOLLET;

const EPOLL_CTL_ADD: u64 = 1;
const EPOLL_CTL_DEL: u64 = 2;
const EPOLL_CTL_MOD: u64 = 3;

/// Size of `struct epoll_event` on x86_64 (packed: events, then data).
pub const EPOLL_EVENT_SIZE: u64 = 12;

#[derive(Debug)]
struct Interest {
    file: Weak<OpenFile>,
    events: u32,
    data: u64,
    /// Cleared once a one-shot interest has fired.
    armed: bool,
    /// What an edge-triggered interest last reported.
    reported: u32,
}

/// An epoll instance: the interest list, by descriptor.
#[derive(Debug, Default)]
pub struct Epoll {
    interests: Mutex<BTreeMap<u64, Interest>>,
}

impl Epoll {
    /// Ready events now, up to `max`, updating one-shot and edge state.
    fn collect(&self, max: usize) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut list = self.interests.lock();
        // An interest whose file is closed everywhere has gone with it.
        list.retain(|_, i| i.file.strong_count() > 0);
        for i in list.values_mut() {
            if out.len() >= max {
                break;
            }
            let Some(f) = i.file.upgrade() else { continue };
            if !i.armed {
                continue;
            }
            let r = libos::poll::readiness(&f);
            let now = (if r.read { EPOLLIN } else { 0 }) | (if r.write { EPOLLOUT } else { 0 });
            let mut hit = now & i.events;
            if i.events & EPOLLET != 0 {
                let fresh = hit & !i.reported;
                i.reported = hit;
                hit = fresh;
            }
            if hit != 0 {
                out.push((hit, i.data));
                if i.events & EPOLLONESHOT != 0 {
                    i.armed = false;
                }
            }
        }
        out
    }
}

impl Special for Epoll {
    fn read(&self, _offset: u64, _buf: &mut [u8], _nonblock: bool) -> Result<usize> {
        Err(Errno::EINVAL)
    }
    fn write(&self, _offset: u64, _data: &[u8], _nonblock: bool) -> Result<usize> {
        Err(Errno::EINVAL)
    }
    fn poll(&self) -> (bool, bool) {
        let list = self.interests.lock();
        let ready = list.values().any(|i| {
            i.armed
                && i.file.upgrade().is_some_and(|f| {
                    let r = libos::poll::readiness(&f);
                    (r.read && i.events & EPOLLIN != 0) || (r.write && i.events & EPOLLOUT != 0)
                })
        });
        (ready, false)
    }
    fn as_any(&self) -> Option<&dyn core::any::Any> {
        Some(self)
    }
}

fn epoll_of(f: &OpenFile) -> Result<&Epoll> {
    f.special()
        .and_then(|s| s.as_any())
        .and_then(|a| a.downcast_ref::<Epoll>())
        .ok_or(Errno::EINVAL)
}

pub(crate) fn epoll_create(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[0] as i32 <= 0 {
        return Err(Errno::EINVAL);
    }
    epoll_create1(ctx, [0; 6])
}

pub(crate) fn epoll_create1(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    if a[0] & !o::CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let f = Arc::new(OpenFile::anonymous(
        Arc::clone(&ctx.sys.vfs),
        Arc::new(Epoll::default()),
        OpenFlags::READ,
        FileType::CharDevice,
    ));
    install(ctx, f, a[0] & o::CLOEXEC != 0)
}

pub(crate) fn epoll_ctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let [epfd, op, fd, event, ..] = a;
    let ep_file = file(ctx, epfd)?;
    let target = file(ctx, fd)?;
    let ep = epoll_of(&ep_file)?;
    if epfd == fd {
        return Err(Errno::EINVAL);
    }
    // Regular files and directories are always ready: Linux refuses them.
    if target.special().is_none() {
        return Err(Errno::EPERM);
    }
    let (events, data) = if op == EPOLL_CTL_DEL {
        (0, 0)
    } else {
        let mut b = [0u8; EPOLL_EVENT_SIZE as usize];
        ctx.mem.read(event, &mut b)?;
        let events = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let data = u64::from_le_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]);
        if events & !EPOLL_KNOWN != 0 {
            return Err(Errno::EINVAL);
        }
        (events, data)
    };
    let mut list = ep.interests.lock();
    list.retain(|_, i| i.file.strong_count() > 0);
    match op {
        EPOLL_CTL_ADD => {
            if list.contains_key(&fd) {
                return Err(Errno::EEXIST);
            }
            list.insert(
                fd,
                Interest {
                    file: Arc::downgrade(&target),
                    events,
                    data,
                    armed: true,
                    reported: 0,
                },
            );
        }
        EPOLL_CTL_MOD => {
            let i = list.get_mut(&fd).ok_or(Errno::ENOENT)?;
            if events & EPOLLEXCLUSIVE != 0 || i.events & EPOLLEXCLUSIVE != 0 {
                return Err(Errno::EINVAL);
            }
            i.events = events;
            i.data = data;
            i.armed = true;
            i.reported = 0;
        }
        EPOLL_CTL_DEL => {
            list.remove(&fd).ok_or(Errno::ENOENT)?;
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

pub(crate) fn epoll_wait(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    epoll_pwait(ctx, [a[0], a[1], a[2], a[3], 0, 0])
}

pub(crate) fn epoll_pwait(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let [epfd, events, max, timeout_ms, sigmask, sigsetsize] = a;
    let max = max as i32;
    if max <= 0 || max as u64 > (i32::MAX as u64) / EPOLL_EVENT_SIZE {
        return Err(Errno::EINVAL);
    }
    let ep_file = file(ctx, epfd)?;
    let ep = epoll_of(&ep_file)?;
    // The whole output array must be writable before anything is taken.
    ctx.mem.write(
        events,
        &alloc::vec![0u8; (max as u64 * EPOLL_EVENT_SIZE) as usize],
    )?;
    let old_mask = if sigmask == 0 {
        None
    } else {
        if sigsetsize != 8 {
            return Err(Errno::EINVAL);
        }
        let set = SigSet(ctx.u64_at(sigmask)?);
        Some(ctx.sys.procs.sigprocmask(ctx.pid, 2, Some(set))?)
    };
    let timeout = timeout_ms as i32;
    let deadline = (timeout >= 0).then(|| {
        ctx.sys
            .clock
            .uptime_ns()
            .saturating_add(timeout as u64 * 1_000_000)
    });
    let clock = Arc::clone(&ctx.sys.clock);
    let ready = libos::wait::until(|| {
        let got = ep.collect(max as usize);
        (!got.is_empty() || deadline.is_some_and(|d| clock.uptime_ns() >= d)).then_some(got)
    });
    if let Some(old) = old_mask {
        ctx.sys.procs.sigprocmask(ctx.pid, 2, Some(old))?;
    }
    for (n, (ev, data)) in ready.iter().enumerate() {
        let mut b = [0u8; EPOLL_EVENT_SIZE as usize];
        b[..4].copy_from_slice(&ev.to_le_bytes());
        b[4..].copy_from_slice(&data.to_le_bytes());
        ctx.mem.write(events + n as u64 * EPOLL_EVENT_SIZE, &b)?;
    }
    Ok(ready.len() as u64)
}
