//! kqueue: a descriptor holding knotes, and `kevent` to change them and
//! collect what fired.
//!
//! A knote is `(ident, filter)` with its flags. Filters:
//!
//! * `EVFILT_READ` (-1) / `EVFILT_WRITE` (-2): a descriptor's readiness
//!   from [`libos::poll::readiness`]; `data` is the bytes a read would
//!   return (queue length for pipes and sockets, bytes to end of file for
//!   regular files, which are readable only before their end, as
//!   FreeBSD's vnode filter) or the room a write has; `EV_EOF` once the
//!   other end is gone. A knote goes away when its descriptor is closed.
//!   A kqueue may watch another kqueue one level deep (never itself, nor
//!   one that already watches kqueues: `EINVAL`, so no cycles).
//! * `EVFILT_PROC` (-5) with `NOTE_EXIT`: fires once the process has
//!   ended, `data` holding its wait status (FreeBSD signal numbers),
//!   flags `EV_EOF | EV_ONESHOT`.
//! * `EVFILT_SIGNAL` (-6): the number of times the signal was posted to
//!   the kqueue's owner since the last report (ignored ones too), from
//!   the libOS's per-signal counters; always `EV_CLEAR`.
//! * `EVFILT_TIMER` (-7): a periodic timer (`NOTE_SECONDS`,
//!   `NOTE_MSECONDS` — the default —, `NOTE_USECONDS`, `NOTE_NSECONDS`),
//!   `data` the expirations since the last report; one-shot with
//!   `EV_ONESHOT`.
//!
//! Flags: `EV_ADD`, `EV_DELETE`, `EV_ENABLE`, `EV_DISABLE`, `EV_ONESHOT`,
//! `EV_CLEAR`, `EV_DISPATCH`, `EV_RECEIPT`; per-change errors become
//! `EV_ERROR` events while there is room in the event list (and `kevent`
//! then returns at once), as FreeBSD does. A blocking `kevent` waits
//! through [`libos::wait`], re-checking between pauses; a NULL timeout
//! waits until something fires.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use exo_personality::Ctx;
use libos::process::{Pid, ProcState, Processes};
use libos::signal::Signal;
use libos::time::Clock;
use libos::vfs::file::{OpenFile, OpenFlags, Whence};
use libos::vfs::node::{FileType, Special};
use libos::{Errno, Result};
use spin::Mutex;

use crate::abi;
use crate::calls::{file, install, timespec_ns};

/// Size of `struct kevent` (FreeBSD 12+).
pub const KEVENT_SIZE: usize = 64;

/// Filters.
pub mod filter {
    /// `EVFILT_READ`.
    pub const READ: i16 = -1;
    /// `EVFILT_WRITE`.
    pub const WRITE: i16 = -2;
    /// `EVFILT_PROC`.
    pub const PROC: i16 = -5;
    /// `EVFILT_SIGNAL`.
    pub const SIGNAL: i16 = -6;
    /// `EVFILT_TIMER`.
    pub const TIMER: i16 = -7;
}

/// `flags` bits.
pub mod ev {
    /// `EV_ADD`.
    pub const ADD: u16 = 0x0001;
    /// `EV_DELETE`.
    pub const DELETE: u16 = 0x0002;
    /// `EV_ENABLE`.
    pub const ENABLE: u16 = 0x0004;
    /// `EV_DISABLE`.
    pub const DISABLE: u16 = 0x0008;
    /// `EV_ONESHOT`.
    pub const ONESHOT: u16 = 0x0010;
    /// `EV_CLEAR`.
    pub const CLEAR: u16 = 0x0020;
    /// `EV_RECEIPT`.
    pub const RECEIPT: u16 = 0x0040;
    /// `EV_DISPATCH`.
    pub const DISPATCH: u16 = 0x0080;
    /// `EV_ERROR`.
    pub const ERROR: u16 = 0x4000;
    /// `EV_EOF`.
    pub const EOF: u16 = 0x8000;
}

/// `fflags` bits.
pub mod note {
    /// `NOTE_EXIT` (`EVFILT_PROC`).
    pub const EXIT: u32 = 0x8000_0000;
    /// `NOTE_SECONDS` (`EVFILT_TIMER`).
    pub const SECONDS: u32 = 0x1;
    /// `NOTE_MSECONDS`.
    pub const MSECONDS: u32 = 0x2;
    /// `NOTE_USECONDS`.
    pub const USECONDS: u32 = 0x4;
    /// `NOTE_NSECONDS`.
    pub const NSECONDS: u32 = 0x8;
}

/// One `struct kevent`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kevent {
    /// `ident`.
    pub ident: u64,
    /// `filter`.
    pub filter: i16,
    /// `flags`.
    pub flags: u16,
    /// `fflags`.
    pub fflags: u32,
    /// `data`.
    pub data: i64,
    /// `udata`.
    pub udata: u64,
    /// `ext[4]`.
    pub ext: [u64; 4],
}

impl Kevent {
    /// Decodes 64 bytes.
    #[must_use]
    pub fn from_bytes(b: &[u8; KEVENT_SIZE]) -> Self {
        let u64_at = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(w)
        };
        Self {
            ident: u64_at(0),
            filter: i16::from_le_bytes([b[8], b[9]]),
            flags: u16::from_le_bytes([b[10], b[11]]),
            fflags: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
            data: u64_at(16) as i64,
            udata: u64_at(24),
            ext: [u64_at(32), u64_at(40), u64_at(48), u64_at(56)],
        }
    }

    /// Encodes 64 bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; KEVENT_SIZE] {
        let mut b = [0u8; KEVENT_SIZE];
        b[0..8].copy_from_slice(&self.ident.to_le_bytes());
        b[8..10].copy_from_slice(&self.filter.to_le_bytes());
        b[10..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..16].copy_from_slice(&self.fflags.to_le_bytes());
        b[16..24].copy_from_slice(&self.data.to_le_bytes());
        b[24..32].copy_from_slice(&self.udata.to_le_bytes());
        for (i, e) in self.ext.iter().enumerate() {
            b[32 + i * 8..40 + i * 8].copy_from_slice(&e.to_le_bytes());
        }
        b
    }
}

enum Source {
    /// A descriptor: the open file it named when added, and the last
    /// `data` reported under `EV_CLEAR`.
    Fd {
        file: Weak<OpenFile>,
        reported: Option<i64>,
    },
    Proc,
    /// Posts seen so far.
    Signal {
        signal: Signal,
        seen: u64,
    },
    /// Period, start, expirations reported.
    Timer {
        period: u64,
        start: u64,
        fired: u64,
    },
}

struct Knote {
    ident: u64,
    filter: i16,
    /// `EV_ONESHOT`, `EV_CLEAR`, `EV_DISPATCH` as given.
    flags: u16,
    fflags: u32,
    udata: u64,
    ext: [u64; 4],
    enabled: bool,
    source: Source,
}

/// A kqueue: its owner's knotes.
pub struct Kqueue {
    owner: Pid,
    /// Weak: the process table holds the kqueue (through the owner's
    /// descriptors), so a strong reference would be a cycle.
    procs: Weak<Processes>,
    clock: Arc<dyn Clock>,
    knotes: Mutex<Vec<Knote>>,
}

impl core::fmt::Debug for Kqueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Kqueue")
            .field("owner", &self.owner)
            .field("knotes", &self.knotes.lock().len())
            .finish()
    }
}

impl Special for Kqueue {
    fn read(&self, _offset: u64, _buf: &mut [u8], _nonblock: bool) -> Result<usize> {
        Err(Errno::ENXIO)
    }
    fn write(&self, _offset: u64, _data: &[u8], _nonblock: bool) -> Result<usize> {
        Err(Errno::ENXIO)
    }
    fn poll(&self) -> (bool, bool) {
        (self.pending(), false)
    }
    fn as_any(&self) -> Option<&dyn core::any::Any> {
        Some(self)
    }
    fn readable_bytes(&self) -> Option<usize> {
        // EVFILT_READ on a kqueue reports its pending events.
        Some(self.pending_count())
    }
}

/// Whether `f` is a kqueue.
#[must_use]
pub fn is_kqueue(f: &OpenFile) -> bool {
    f.special()
        .and_then(|s| s.as_any())
        .is_some_and(|a| a.is::<Kqueue>())
}

/// What one knote shows now: `(data, fflags, extra flags)` if it fires.
type Fired = Option<(i64, u32, u16)>;

impl Kqueue {
    fn owner_file(&self, fd: u64) -> Option<Arc<OpenFile>> {
        self.procs
            .upgrade()?
            .with(self.owner, |p| p.fds.file(fd as i64).ok())
            .ok()
            .flatten()
    }

    /// Evaluates a knote without changing it; `Err(())` means its
    /// descriptor was closed and the knote must go.
    fn check(&self, k: &Knote, now: u64) -> core::result::Result<Fired, ()> {
        Ok(match &k.source {
            Source::Fd { file, reported } => {
                let f = file.upgrade().ok_or(())?;
                match self.owner_file(k.ident) {
                    Some(cur) if Arc::ptr_eq(&cur, &f) => {}
                    _ => return Err(()),
                }
                let (ready, data, eof) = fd_state(&f, k.filter == filter::READ);
                let fresh = k.flags & ev::CLEAR == 0 || *reported != Some(data);
                (ready && fresh).then_some((data, 0, if eof { ev::EOF } else { 0 }))
            }
            Source::Proc if k.fflags & note::EXIT == 0 => None,
            Source::Proc => match self
                .procs
                .upgrade()
                .ok_or(())?
                .with(k.ident as u32, |p| p.state)
            {
                Ok(state) => match state {
                    ProcState::Zombie(st) => Some((
                        i64::from(abi::wait_status(st)),
                        note::EXIT,
                        ev::EOF | ev::ONESHOT,
                    )),
                    _ => None,
                },
                // Reaped before the queue looked: it ended, status unknown.
                Err(_) => Some((0, note::EXIT, ev::EOF | ev::ONESHOT)),
            },
            Source::Signal { signal, seen } => {
                let now = posted(&*self.procs.upgrade().ok_or(())?, self.owner, *signal);
                let n = now.wrapping_sub(*seen);
                (n > 0).then_some((n as i64, 0, 0))
            }
            Source::Timer {
                period,
                start,
                fired,
            } => {
                let due = now.saturating_sub(*start) / period;
                let due = if k.flags & ev::ONESHOT != 0 {
                    due.min(1)
                } else {
                    due
                };
                (due > *fired).then(|| ((due - fired) as i64, k.fflags, 0))
            }
        })
    }

    /// Whether a knote watches a kqueue descriptor.
    fn watches_kqueues(&self) -> bool {
        self.knotes.lock().iter().any(|k| match &k.source {
            Source::Fd { file, .. } => file.upgrade().is_some_and(|f| is_kqueue(&f)),
            _ => false,
        })
    }

    /// Whether any enabled knote would fire now.
    fn pending(&self) -> bool {
        self.pending_count() > 0
    }

    /// How many enabled knotes would fire now.
    fn pending_count(&self) -> usize {
        let now = self.clock.uptime_ns();
        self.knotes
            .lock()
            .iter()
            .filter(|k| k.enabled && matches!(self.check(k, now), Ok(Some(_))))
            .count()
    }

    /// Collects up to `max` events, applying `EV_ONESHOT`, `EV_DISPATCH`
    /// and `EV_CLEAR`.
    fn collect(&self, max: usize) -> Vec<Kevent> {
        let now = self.clock.uptime_ns();
        let mut out = Vec::new();
        let mut knotes = self.knotes.lock();
        let mut i = 0;
        while i < knotes.len() {
            if out.len() >= max {
                break;
            }
            let k = &knotes[i];
            if !k.enabled {
                i += 1;
                continue;
            }
            let Ok(state) = self.check(k, now) else {
                knotes.remove(i);
                continue;
            };
            let Some((data, fflags, extra)) = state else {
                i += 1;
                continue;
            };
            let k = &mut knotes[i];
            out.push(Kevent {
                ident: k.ident,
                filter: k.filter,
                flags: (k.flags & (ev::ONESHOT | ev::CLEAR | ev::DISPATCH)) | extra,
                fflags,
                data,
                udata: k.udata,
                ext: k.ext,
            });
            match &mut k.source {
                Source::Fd { reported, .. } => *reported = Some(data),
                Source::Signal { seen, .. } => *seen = seen.wrapping_add(data as u64),
                Source::Timer { fired, .. } => *fired += data as u64,
                Source::Proc => {}
            }
            if k.flags & ev::ONESHOT != 0 || extra & ev::ONESHOT != 0 {
                knotes.remove(i);
                continue;
            }
            if k.flags & ev::DISPATCH != 0 {
                k.enabled = false;
            }
            i += 1;
        }
        // Level-triggered descriptors under EV_CLEAR re-arm once their
        // state changes; forget the report of ones that went quiet.
        for k in knotes.iter_mut() {
            if let Source::Fd { file, reported } = &mut k.source
                && let Some(f) = file.upgrade()
                && !fd_state(&f, k.filter == filter::READ).0
            {
                *reported = None;
            }
        }
        out
    }

    /// Applies one change.
    fn apply(&self, ch: &Kevent) -> Result<()> {
        // Descriptor filters need a valid descriptor for any change; the
        // knotes of an earlier file under the same number died with its
        // close.
        let fd_file = if matches!(ch.filter, filter::READ | filter::WRITE) {
            Some(self.owner_file(ch.ident).ok_or(Errno::EBADF)?)
        } else {
            None
        };
        let mut knotes = self.knotes.lock();
        if let Some(cur) = &fd_file {
            knotes.retain(|k| match &k.source {
                Source::Fd { file, .. } if k.ident == ch.ident => {
                    file.upgrade().is_some_and(|f| Arc::ptr_eq(&f, cur))
                }
                _ => true,
            });
        }
        let at = knotes
            .iter()
            .position(|k| k.ident == ch.ident && k.filter == ch.filter);
        if ch.flags & ev::DELETE != 0 {
            let i = at.ok_or(Errno::ENOENT)?;
            knotes.remove(i);
            return Ok(());
        }
        if ch.flags & ev::ADD != 0 {
            let keep = ev::ONESHOT | ev::CLEAR | ev::DISPATCH;
            match at {
                Some(i) => {
                    let k = &mut knotes[i];
                    let auto = match k.source {
                        Source::Signal { .. } | Source::Timer { .. } => ev::CLEAR,
                        _ => 0,
                    };
                    k.flags = ch.flags & keep | auto;
                    k.fflags = ch.fflags;
                    k.udata = ch.udata;
                    k.ext = ch.ext;
                    match &mut k.source {
                        Source::Timer {
                            period,
                            start,
                            fired,
                        } => {
                            *period = timer_period(ch)?;
                            *start = self.clock.uptime_ns();
                            *fired = 0;
                        }
                        // Re-evaluated as if new.
                        Source::Fd { reported, .. } => *reported = None,
                        _ => {}
                    }
                    // As FreeBSD: EV_ADD alone leaves a disabled knote
                    // disabled.
                    if ch.flags & ev::ENABLE != 0 {
                        k.enabled = true;
                    } else if ch.flags & ev::DISABLE != 0 {
                        k.enabled = false;
                    }
                }
                None => {
                    drop(knotes);
                    let source = self.source(ch)?;
                    let mut flags = ch.flags & keep;
                    if matches!(source, Source::Signal { .. } | Source::Timer { .. }) {
                        flags |= ev::CLEAR;
                    }
                    let new = Knote {
                        ident: ch.ident,
                        filter: ch.filter,
                        flags,
                        fflags: ch.fflags,
                        udata: ch.udata,
                        ext: ch.ext,
                        enabled: ch.flags & ev::DISABLE == 0,
                        source,
                    };
                    // Another thread may have added it meanwhile.
                    let mut knotes = self.knotes.lock();
                    match knotes
                        .iter()
                        .position(|k| k.ident == ch.ident && k.filter == ch.filter)
                    {
                        Some(j) => knotes[j] = new,
                        None => knotes.push(new),
                    }
                }
            }
            return Ok(());
        }
        let i = at.ok_or(Errno::ENOENT)?;
        if ch.flags & ev::ENABLE != 0 {
            knotes[i].enabled = true;
            if let Source::Fd { reported, .. } = &mut knotes[i].source {
                *reported = None;
            }
        }
        if ch.flags & ev::DISABLE != 0 {
            knotes[i].enabled = false;
        }
        Ok(())
    }

    fn source(&self, ch: &Kevent) -> Result<Source> {
        match ch.filter {
            filter::READ | filter::WRITE => {
                let f = self.owner_file(ch.ident).ok_or(Errno::EBADF)?;
                // A kqueue may watch another, one level deep: never
                // itself, nor one that watches kqueues (no cycles).
                if let Some(inner) = f
                    .special()
                    .and_then(|s| s.as_any())
                    .and_then(|a| a.downcast_ref::<Kqueue>())
                    && (core::ptr::eq(inner, self) || inner.watches_kqueues())
                {
                    return Err(Errno::EINVAL);
                }
                Ok(Source::Fd {
                    file: Arc::downgrade(&f),
                    reported: None,
                })
            }
            filter::PROC => {
                let pid = u32::try_from(ch.ident).map_err(|_| Errno::ESRCH)?;
                self.procs.upgrade().ok_or(Errno::ESRCH)?.get(pid)?;
                Ok(Source::Proc)
            }
            filter::SIGNAL => {
                let signal = abi::signal_from(ch.ident)?;
                Ok(Source::Signal {
                    signal,
                    seen: posted(
                        &*self.procs.upgrade().ok_or(Errno::ESRCH)?,
                        self.owner,
                        signal,
                    ),
                })
            }
            filter::TIMER => Ok(Source::Timer {
                period: timer_period(ch)?,
                start: self.clock.uptime_ns(),
                fired: 0,
            }),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// Whether `pid` has a pending, unblocked signal that would run a
/// handler, stop or end it (not one that is ignored).
pub(crate) fn signal_pending(procs: &Processes, pid: Pid) -> bool {
    use libos::signal::{DefaultAction, Disposition};
    procs
        .with(pid, |p| {
            let ready = p.signals.pending.0 & !p.signals.mask.0;
            (1..=Signal::MAX).any(|n| {
                ready & (1 << (n - 1)) != 0
                    && Signal::new(u32::from(n)).is_ok_and(|s| {
                        match p.signals.actions[usize::from(n - 1)] {
                            Disposition::Handler { .. } => true,
                            Disposition::Ignore => false,
                            Disposition::Default => !matches!(
                                s.default_action(),
                                DefaultAction::Ignore | DefaultAction::Continue
                            ),
                        }
                    })
            })
        })
        .unwrap_or(false)
}

/// Times `signal` was posted to `pid`.
fn posted(procs: &Processes, pid: Pid, signal: Signal) -> u64 {
    procs
        .with(pid, |p| p.signals.posted[usize::from(signal.number() - 1)])
        .unwrap_or(0)
}

/// A timer's period in nanoseconds (0 becomes the smallest unit).
fn timer_period(ch: &Kevent) -> Result<u64> {
    if ch.data < 0 {
        return Err(Errno::EINVAL);
    }
    let unit: u64 = match ch.fflags & 0xf {
        note::SECONDS => 1_000_000_000,
        0 | note::MSECONDS => 1_000_000,
        note::USECONDS => 1_000,
        note::NSECONDS => 1,
        _ => return Err(Errno::EINVAL),
    };
    Ok((ch.data as u64).max(1).saturating_mul(unit))
}

/// `(ready, data, eof)` of a descriptor for reading or writing.
pub(crate) fn fd_state(f: &OpenFile, read: bool) -> (bool, i64, bool) {
    let r = libos::poll::readiness(f);
    match f.special() {
        Some(s) => {
            if read {
                let n = s.readable_bytes();
                // Readable with nothing queued: the writers are gone
                // (a kqueue's count can just have dropped: never EOF).
                let kq = s.as_any().is_some_and(|a| a.is::<Kqueue>());
                let eof = r.read && n == Some(0) && !kq;
                (r.read, n.unwrap_or(0) as i64, eof)
            } else {
                let n = s.writable_bytes();
                let eof = r.write && n == Some(0);
                (r.write, n.unwrap_or(0) as i64, eof)
            }
        }
        None if read => {
            if f.kind() == FileType::Directory || !f.flags().read {
                return (r.read, 0, false);
            }
            let here = f.seek(0, Whence::Current).unwrap_or(0);
            let left = f.stat().map_or(0, |s| s.size.saturating_sub(here));
            (left > 0, left as i64, false)
        }
        None => (r.write, 0, false),
    }
}

/// `kqueue()`: a new, empty kqueue descriptor (close-on-exec clear; not
/// inherited across `fork`).
pub(crate) fn kqueue(ctx: &mut Ctx<'_>, _a: [u64; 6]) -> Result<u64> {
    let kq = Arc::new(Kqueue {
        owner: ctx.pid,
        procs: Arc::downgrade(&ctx.sys.procs),
        clock: Arc::clone(&ctx.sys.clock),
        knotes: Mutex::new(Vec::new()),
    });
    let f = Arc::new(OpenFile::anonymous(
        Arc::clone(&ctx.sys.vfs),
        kq,
        OpenFlags::READ,
        FileType::Fifo,
    ));
    install(ctx, f, false)
}

/// `kevent(kq, changelist, nchanges, eventlist, nevents, timeout)`.
pub(crate) fn kevent(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let f = file(ctx, a[0])?;
    let Some(kq) = f
        .special()
        .and_then(|s| s.as_any())
        .and_then(|a| a.downcast_ref::<Kqueue>())
    else {
        return Err(Errno::EBADF);
    };
    let (nchanges, nevents) = (a[2] as i32, a[4] as i32);
    if nchanges < 0 || nevents < 0 {
        return Err(Errno::EINVAL);
    }
    let timeout = if a[5] == 0 {
        None
    } else {
        Some(timespec_ns(ctx, a[5])?)
    };
    let (mut out_at, mut room) = (a[3], nevents as usize);
    let mut receipts = 0u64;
    for i in 0..nchanges as u64 {
        let mut raw = [0u8; KEVENT_SIZE];
        ctx.mem.read(a[1] + i * KEVENT_SIZE as u64, &mut raw)?;
        let ch = Kevent::from_bytes(&raw);
        let r = kq.apply(&ch);
        if r.is_err() || ch.flags & ev::RECEIPT != 0 {
            let e = match r {
                Ok(()) => 0,
                Err(e) => crate::errno(e),
            };
            if room == 0 {
                // No room for a report: FreeBSD stops here, failing with
                // the change's error (or returning 0 for a receipt).
                r?;
                return Ok(0);
            }
            let rec = Kevent {
                flags: ev::ERROR,
                data: i64::from(e),
                ..ch
            };
            ctx.mem.write(out_at, &rec.to_bytes())?;
            out_at += KEVENT_SIZE as u64;
            room -= 1;
            receipts += 1;
        }
    }
    if receipts > 0 || room == 0 {
        return Ok(receipts);
    }
    let clock = Arc::clone(&ctx.sys.clock);
    let deadline = timeout.map(|t| clock.uptime_ns().saturating_add(t));
    let pid = ctx.pid;
    let procs = Arc::clone(&ctx.sys.procs);
    let events = libos::wait::until(|| {
        let evs = kq.collect(room);
        if !evs.is_empty() || deadline.is_some_and(|d| clock.uptime_ns() >= d) {
            return Some(Ok(evs));
        }
        // A signal to handle (or that kills) interrupts the wait; kevent
        // is never restarted (FreeBSD turns ERESTART into EINTR here).
        signal_pending(&procs, pid).then_some(Err(Errno::EINTR))
    })?;
    for (i, e) in events.iter().enumerate() {
        ctx.mem
            .write(out_at + (i * KEVENT_SIZE) as u64, &e.to_bytes())?;
    }
    Ok(events.len() as u64)
}
