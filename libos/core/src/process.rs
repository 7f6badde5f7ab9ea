//! Processes: the table, parent/child relations, exit and wait, process
//! groups and sessions, credentials, working directories, descriptor
//! tables, and POSIX signal state and delivery.
//!
//! A process here is the libOS's bookkeeping; what runs it (an environment
//! on bare metal, host threads in a hosted program) is the embedder's
//! business. Blocking operations (`wait`) wait through [`crate::wait`].

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use crate::errno::{Errno, Result};
use crate::signal::{ActionFlags, DefaultAction, Disposition, SigSet, Signal};
use crate::vfs::file::FdTable;
use crate::vfs::{Cred, Node, Vfs};
use crate::wait;

/// A process id.
pub type Pid = u32;

/// The first process, which adopts orphans.
pub const INIT: Pid = 1;

/// How a process ended (or changed state, for `wait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)`.
    Exited(u8),
    /// Killed by a signal (with a core dump when `core`).
    Signaled {
        /// The signal.
        signal: Signal,
        /// Dumped core.
        core: bool,
    },
}

impl ExitStatus {
    /// The `wait` status word in the traditional encoding (Linux, BSD
    /// and illumos agree): exit code in bits 8–15, or the signal in bits
    /// 0–6 with bit 7 for a core dump.
    #[must_use]
    pub const fn wait_status(self) -> i32 {
        match self {
            Self::Exited(code) => (code as i32) << 8,
            Self::Signaled { signal, core } => signal.number() as i32 | if core { 0x80 } else { 0 },
        }
    }
}

/// Run state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// Running or runnable.
    Running,
    /// Stopped by a signal.
    Stopped(Signal),
    /// Ended, waiting to be reaped.
    Zombie(ExitStatus),
}

/// A mapped region, for `/proc/[pid]/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// First address.
    pub start: u64,
    /// One past the last.
    pub end: u64,
    /// `r`, `w`, `x`, `p`/`s` as in Linux's maps.
    pub perms: [u8; 4],
    /// File offset.
    pub offset: u64,
    /// Path or `[heap]`, `[stack]`, empty.
    pub name: String,
}

/// Signal state of a process.
#[derive(Clone, Debug)]
pub struct Signals {
    /// Blocked signals.
    pub mask: SigSet,
    /// Pending signals.
    pub pending: SigSet,
    /// Dispositions, index `n - 1`.
    pub actions: [Disposition; Signal::MAX as usize],
    /// How many times each signal was posted (index `n - 1`), counted
    /// even when it was ignored or merged with a pending instance — what
    /// kqueue's `EVFILT_SIGNAL` reports.
    pub posted: [u64; Signal::MAX as usize],
    /// The alternate signal stack (`sigaltstack`), if one is set: handlers
    /// installed with `SA_ONSTACK` run on it. Inherited by `fork`, gone
    /// after `exec`; switching to it is the embedder's, which builds the
    /// signal frame.
    pub altstack: Option<AltStack>,
}

/// An alternate signal stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AltStack {
    /// Lowest address.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
    /// Disarmed while a handler runs on it (`SS_AUTODISARM`).
    pub autodisarm: bool,
}

impl AltStack {
    /// Whether the stack pointer `sp` is on this stack.
    #[must_use]
    pub const fn contains(&self, sp: u64) -> bool {
        sp > self.base && sp - self.base <= self.size
    }
}

impl Default for Signals {
    fn default() -> Self {
        Self {
            mask: SigSet::EMPTY,
            pending: SigSet::EMPTY,
            actions: [Disposition::Default; Signal::MAX as usize],
            posted: [0; Signal::MAX as usize],
            altstack: None,
        }
    }
}

/// One process.
#[derive(Clone, Debug)]
pub struct Process {
    /// Id.
    pub pid: Pid,
    /// Parent.
    pub ppid: Pid,
    /// Process group.
    pub pgid: Pid,
    /// Session.
    pub sid: Pid,
    /// Credentials.
    pub cred: Cred,
    /// Working directory.
    pub cwd: Node,
    /// File creation mask.
    pub umask: u32,
    /// Descriptors.
    pub fds: FdTable,
    /// Short name (`comm`).
    pub name: String,
    /// Arguments.
    pub argv: Vec<Vec<u8>>,
    /// The personality it runs under (`linux`, `freebsd`, `illumos`,
    /// `native`).
    pub personality: &'static str,
    /// State.
    pub state: ProcState,
    /// Signal state.
    pub signals: Signals,
    /// Threads (ids), for `/proc/[pid]/task` and `Threads:`.
    pub threads: Vec<u32>,
    /// Its address space's areas and program break (`/proc/[pid]/maps`,
    /// `mmap`, `brk`).
    pub mm: crate::mm::AddressSpace,
    /// Futex wait queues, shared by its threads (a forked child gets its
    /// own).
    pub futexes: Arc<crate::futex::Futexes>,
    /// When it started, nanoseconds since boot.
    pub start_ns: u64,
    /// Address cleared (and futex-woken) when it exits: Linux's
    /// `clear_child_tid` (`set_tid_address`, `CLONE_CHILD_CLEARTID`); 0
    /// for none. Not inherited by `fork`.
    pub clear_child_tid: u64,
    /// Address at which the embedder stores the child's id in the child's
    /// memory when it starts it (`CLONE_CHILD_SETTID`); 0 for none.
    pub set_child_tid: u64,
    /// The `clear_child_tid` words of its threads other than the first
    /// (whose word is `clear_child_tid`), by thread id.
    pub thread_clear_tid: BTreeMap<u32, u64>,
}

/// Which children `wait` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// Any child.
    Any,
    /// That child.
    Pid(Pid),
    /// Any child in that process group.
    Group(Pid),
}

/// Who `kill` signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillTarget {
    /// One process.
    Pid(Pid),
    /// Every process in a group.
    Group(Pid),
    /// Every process the sender may signal, except init.
    All,
}

/// What the process must do about its next signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Run the handler at `entry` for `signal`; restore `old_mask` on
    /// `sigreturn`.
    Handler {
        /// The signal.
        signal: Signal,
        /// The handler.
        entry: u64,
        /// The mask to restore afterwards.
        old_mask: SigSet,
        /// How the handler runs (restart an interrupted call, siginfo,
        /// alternate stack, restorer).
        flags: ActionFlags,
        /// The handler's return address with [`ActionFlags::RESTORER`].
        restorer: u64,
    },
    /// The process was terminated by the signal (it is now a zombie).
    Terminated(ExitStatus),
    /// The process was stopped.
    Stopped(Signal),
}

/// The process table.
pub struct Processes {
    vfs: Arc<Vfs>,
    table: Mutex<BTreeMap<Pid, Process>>,
    next: Mutex<Pid>,
    clock: Arc<dyn crate::time::Clock>,
}

impl core::fmt::Debug for Processes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Processes")
            .field("count", &self.table.lock().len())
            .finish_non_exhaustive()
    }
}

/// Most processes at once.
pub const MAX_PROCESSES: usize = 32_768;

impl Processes {
    /// A table holding only init (pid 1), with `cred`, in `/`.
    #[must_use]
    pub fn new(vfs: Arc<Vfs>, cred: Cred, clock: Arc<dyn crate::time::Clock>) -> Arc<Self> {
        let root = vfs.root();
        vfs.hold(root);
        let init = Process {
            pid: INIT,
            ppid: 0,
            pgid: INIT,
            sid: INIT,
            cred,
            cwd: root,
            umask: 0o022,
            fds: FdTable::new(),
            name: "init".into(),
            argv: alloc::vec![b"init".to_vec()],
            personality: "native",
            state: ProcState::Running,
            signals: Signals::default(),
            threads: alloc::vec![INIT],
            mm: crate::mm::AddressSpace::new(),
            futexes: Arc::new(crate::futex::Futexes::new()),
            start_ns: clock.uptime_ns(),
            clear_child_tid: 0,
            set_child_tid: 0,
            thread_clear_tid: BTreeMap::new(),
        };
        let mut table = BTreeMap::new();
        table.insert(INIT, init);
        Arc::new(Self {
            vfs,
            table: Mutex::new(table),
            next: Mutex::new(INIT + 1),
            clock,
        })
    }

    /// The VFS processes resolve paths in.
    #[must_use]
    pub fn vfs(&self) -> &Arc<Vfs> {
        &self.vfs
    }

    /// Runs `f` on process `pid`.
    ///
    /// # Errors
    /// `ESRCH`.
    pub fn with<R>(&self, pid: Pid, f: impl FnOnce(&mut Process) -> R) -> Result<R> {
        self.table.lock().get_mut(&pid).map(f).ok_or(Errno::ESRCH)
    }

    /// A copy of process `pid`'s record.
    ///
    /// # Errors
    /// `ESRCH`.
    pub fn get(&self, pid: Pid) -> Result<Process> {
        self.with(pid, |p| p.clone())
    }

    /// Every pid, ascending.
    #[must_use]
    pub fn pids(&self) -> Vec<Pid> {
        self.table.lock().keys().copied().collect()
    }

    /// `fork`: a child of `parent` sharing its open files (as duplicated
    /// descriptors), with its credentials, directory, umask, signal
    /// dispositions and mask; nothing pending.
    ///
    /// # Errors
    /// `ESRCH`, `EAGAIN` when the table is full.
    pub fn fork(&self, parent: Pid) -> Result<Pid> {
        let mut table = self.table.lock();
        if table.len() >= MAX_PROCESSES {
            return Err(Errno::EAGAIN);
        }
        let p = table.get(&parent).ok_or(Errno::ESRCH)?;
        if matches!(p.state, ProcState::Zombie(_)) {
            return Err(Errno::ESRCH);
        }
        let pid = self.fresh_id(&table);
        let mut child = p.clone();
        child.pid = pid;
        child.ppid = parent;
        child.state = ProcState::Running;
        child.signals.pending = SigSet::EMPTY;
        child.threads = alloc::vec![pid];
        child.futexes = Arc::new(crate::futex::Futexes::new());
        child.start_ns = self.clock.uptime_ns();
        child.clear_child_tid = 0;
        child.set_child_tid = 0;
        child.thread_clear_tid = BTreeMap::new();
        self.vfs.hold(child.cwd);
        table.insert(pid, child);
        Ok(pid)
    }

    /// An id no process or thread has: pids and thread ids share one
    /// space, as on Linux.
    fn fresh_id(&self, table: &BTreeMap<Pid, Process>) -> Pid {
        let mut next = self.next.lock();
        let mut id = *next;
        while id == 0 || table.contains_key(&id) || table.values().any(|p| p.threads.contains(&id))
        {
            id = id.checked_add(1).unwrap_or(INIT + 1);
        }
        *next = id.checked_add(1).unwrap_or(INIT + 1);
        id
    }

    /// A new thread of `pid` (`clone` with `CLONE_THREAD`): its id, listed
    /// in `/proc/<pid>/task`; `clear_tid` is its `clear_child_tid` word (0
    /// for none). Running it is the embedder's.
    ///
    /// # Errors
    /// `ESRCH`, `EAGAIN` when ids run out.
    pub fn add_thread(&self, pid: Pid, clear_tid: u64) -> Result<u32> {
        let mut table = self.table.lock();
        if table.len() + table.values().map(|p| p.threads.len()).sum::<usize>() >= MAX_PROCESSES {
            return Err(Errno::EAGAIN);
        }
        match table.get(&pid) {
            Some(p) if !matches!(p.state, ProcState::Zombie(_)) => {}
            _ => return Err(Errno::ESRCH),
        }
        let tid = self.fresh_id(&table);
        let p = table.get_mut(&pid).ok_or(Errno::ESRCH)?;
        p.threads.push(tid);
        if clear_tid != 0 {
            p.thread_clear_tid.insert(tid, clear_tid);
        }
        Ok(tid)
    }

    /// Thread `tid` of `pid` ends on its own (`exit`, not `exit_group`):
    /// it leaves the task list; returns its `clear_child_tid` word (0 for
    /// none), for the caller to clear and wake, and how many threads are
    /// left (none: the process ends with it).
    ///
    /// # Errors
    /// `ESRCH`.
    pub fn remove_thread(&self, pid: Pid, tid: u32) -> Result<(u64, usize)> {
        self.with(pid, |p| {
            let word = if tid == p.pid {
                core::mem::take(&mut p.clear_child_tid)
            } else {
                p.thread_clear_tid.remove(&tid).unwrap_or(0)
            };
            p.threads.retain(|&t| t != tid);
            (word, p.threads.len())
        })
    }

    /// `exec` bookkeeping: new name and arguments, close-on-exec
    /// descriptors closed, caught signals reset to default (ignored ones
    /// stay ignored), the given memory layout.
    ///
    /// # Errors
    /// `ESRCH`.
    pub fn exec(
        &self,
        pid: Pid,
        name: &str,
        argv: Vec<Vec<u8>>,
        regions: Vec<Region>,
        personality: &'static str,
    ) -> Result<()> {
        self.with(pid, |p| {
            p.name = name.chars().take(15).collect();
            p.argv = argv;
            p.mm = crate::mm::AddressSpace::from_regions(&regions);
            p.personality = personality;
            p.fds.close_on_exec();
            p.signals.altstack = None;
            // Every other thread ends at exec; the caller continues as the
            // process's one thread.
            p.threads = alloc::vec![p.pid];
            p.thread_clear_tid.clear();
            for a in &mut p.signals.actions {
                if matches!(a, Disposition::Handler { .. }) {
                    *a = Disposition::Default;
                }
            }
        })
    }

    /// Ends `pid` with `status`: its descriptors close, its children go to
    /// init, its parent gets `SIGCHLD` — and it stays a zombie until
    /// reaped, unless the parent ignores `SIGCHLD`, which reaps it at once.
    ///
    /// # Errors
    /// `ESRCH`.
    pub fn exit(&self, pid: Pid, status: ExitStatus) -> Result<()> {
        let mut table = self.table.lock();
        let p = table.get_mut(&pid).ok_or(Errno::ESRCH)?;
        if matches!(p.state, ProcState::Zombie(_)) {
            return Ok(());
        }
        p.state = ProcState::Zombie(status);
        p.fds = FdTable::new();
        let (ppid, cwd) = (p.ppid, p.cwd);
        self.vfs.release(cwd);
        for child in table.values_mut() {
            if child.ppid == pid {
                child.ppid = INIT;
            }
        }
        let auto_reap = match table.get_mut(&ppid) {
            Some(parent) => {
                let ignore = parent.signals.actions[usize::from(Signal::SIGCHLD.number() - 1)]
                    == Disposition::Ignore;
                if !ignore {
                    parent.signals.pending.insert(Signal::SIGCHLD);
                }
                ignore
            }
            None => true,
        };
        if auto_reap && pid != INIT {
            table.remove(&pid);
        }
        Ok(())
    }

    /// `wait`/`waitpid`: reaps a zombie child of `parent` matching `which`.
    /// With `nohang`, `Ok(None)` if none has ended yet.
    ///
    /// # Errors
    /// `ECHILD` when `parent` has no matching child at all.
    pub fn wait(
        &self,
        parent: Pid,
        which: WaitFor,
        nohang: bool,
    ) -> Result<Option<(Pid, ExitStatus)>> {
        wait::until(|| {
            let mut table = self.table.lock();
            let matches = |p: &Process| {
                p.ppid == parent
                    && match which {
                        WaitFor::Any => true,
                        WaitFor::Pid(pid) => p.pid == pid,
                        WaitFor::Group(g) => p.pgid == g,
                    }
            };
            if !table.values().any(&matches) {
                return Some(Err(Errno::ECHILD));
            }
            let zombie = table.values().find_map(|p| match p.state {
                ProcState::Zombie(status) if matches(p) => Some((p.pid, status)),
                _ => None,
            });
            match zombie {
                Some((pid, status)) => {
                    table.remove(&pid);
                    Some(Ok(Some((pid, status))))
                }
                None if nohang => Some(Ok(None)),
                None => None,
            }
        })
    }

    /// `kill`: posts `sig` (`None`: only check) to the target(s), if
    /// `sender` may signal them (root, or same real/effective uid).
    ///
    /// # Errors
    /// `ESRCH` if no process matched, `EPERM` if none could be signalled.
    pub fn kill(&self, sender: &Cred, target: KillTarget, sig: Option<Signal>) -> Result<()> {
        let mut table = self.table.lock();
        let mut matched = 0;
        let mut sent = 0;
        for p in table.values_mut() {
            let hit = match target {
                KillTarget::Pid(pid) => p.pid == pid,
                KillTarget::Group(g) => p.pgid == g,
                KillTarget::All => p.pid != INIT,
            };
            if !hit || matches!(p.state, ProcState::Zombie(_)) {
                continue;
            }
            matched += 1;
            if sender.uid != 0 && sender.uid != p.cred.uid {
                continue;
            }
            sent += 1;
            if let Some(sig) = sig {
                post(p, sig);
            }
        }
        match (matched, sent) {
            (0, _) => Err(Errno::ESRCH),
            (_, 0) => Err(Errno::EPERM),
            _ => Ok(()),
        }
    }

    /// Posts `sig` to one process without permission checks (the kernel
    /// side: `SIGPIPE`, `SIGSEGV`, `SIGCHLD`).
    ///
    /// # Errors
    /// `ESRCH`.
    pub fn raise(&self, pid: Pid, sig: Signal) -> Result<()> {
        self.with(pid, |p| post(p, sig))
    }

    /// `sigaction`: installs `action` (when given) for `sig`; returns the
    /// previous one.
    ///
    /// # Errors
    /// `EINVAL` for `SIGKILL`/`SIGSTOP`, `ESRCH`.
    pub fn sigaction(
        &self,
        pid: Pid,
        sig: Signal,
        action: Option<Disposition>,
    ) -> Result<Disposition> {
        if sig.is_unblockable() && action.is_some() {
            return Err(Errno::EINVAL);
        }
        self.with(pid, |p| {
            let slot = &mut p.signals.actions[usize::from(sig.number() - 1)];
            let old = *slot;
            if let Some(a) = action {
                *slot = a;
                // Setting SIG_IGN discards a pending instance.
                if a == Disposition::Ignore {
                    p.signals.pending.remove(sig);
                }
            }
            old
        })
    }

    /// `sigprocmask`: `how` 0 block, 1 unblock, 2 set; returns the old mask.
    ///
    /// # Errors
    /// `EINVAL` for another `how`, `ESRCH`.
    pub fn sigprocmask(&self, pid: Pid, how: u32, set: Option<SigSet>) -> Result<SigSet> {
        if how > 2 {
            return Err(Errno::EINVAL);
        }
        self.with(pid, |p| {
            let old = p.signals.mask;
            if let Some(set) = set {
                p.signals.mask = match how {
                    0 => SigSet(old.0 | set.0),
                    1 => SigSet(old.0 & !set.0),
                    _ => set,
                }
                .blockable();
            }
            old
        })
    }

    /// Decides the next signal for `pid` on its way back to user code:
    /// ignored ones are discarded, default actions applied (terminate,
    /// stop, continue), and the first caught one returned for delivery
    /// with the handler's mask applied.
    ///
    /// # Errors
    /// `ESRCH`.
    pub fn deliver(&self, pid: Pid) -> Result<Option<Delivery>> {
        let outcome = self.with(pid, |p| {
            loop {
                let ready = SigSet(p.signals.pending.0 & !p.signals.mask.0);
                let sig = ready.first()?;
                p.signals.pending.remove(sig);
                let slot = usize::from(sig.number() - 1);
                match p.signals.actions[slot] {
                    Disposition::Ignore => {}
                    Disposition::Default => match sig.default_action() {
                        DefaultAction::Ignore | DefaultAction::Continue => {}
                        DefaultAction::Stop => {
                            p.state = ProcState::Stopped(sig);
                            return Some(Delivery::Stopped(sig));
                        }
                        DefaultAction::Terminate => {
                            return Some(Delivery::Terminated(ExitStatus::Signaled {
                                signal: sig,
                                core: false,
                            }));
                        }
                        DefaultAction::Core => {
                            return Some(Delivery::Terminated(ExitStatus::Signaled {
                                signal: sig,
                                core: true,
                            }));
                        }
                    },
                    Disposition::Handler {
                        entry,
                        mask,
                        flags,
                        restorer,
                    } => {
                        let old_mask = p.signals.mask;
                        let mut new = SigSet(old_mask.0 | mask.0);
                        if !flags.contains(ActionFlags::NODEFER) {
                            new.insert(sig);
                        }
                        p.signals.mask = new.blockable();
                        if flags.contains(ActionFlags::RESETHAND) {
                            p.signals.actions[slot] = Disposition::Default;
                        }
                        return Some(Delivery::Handler {
                            signal: sig,
                            entry,
                            old_mask,
                            flags,
                            restorer,
                        });
                    }
                }
            }
        })?;
        if let Some(Delivery::Terminated(status)) = outcome {
            self.exit(pid, status)?;
        }
        Ok(outcome)
    }

    /// `sigreturn`: restores the mask saved at delivery.
    ///
    /// # Errors
    /// `ESRCH`.
    pub fn sigreturn(&self, pid: Pid, old_mask: SigSet) -> Result<()> {
        self.with(pid, |p| p.signals.mask = old_mask.blockable())
    }

    /// `setpgid(pid, pgid)` (0 means "the process itself").
    ///
    /// # Errors
    /// `ESRCH`, `EPERM` (a session leader, or another session).
    pub fn setpgid(&self, caller: Pid, pid: Pid, pgid: Pid) -> Result<()> {
        let pid = if pid == 0 { caller } else { pid };
        let pgid = if pgid == 0 { pid } else { pgid };
        let mut table = self.table.lock();
        let sid = table.get(&caller).ok_or(Errno::ESRCH)?.sid;
        let p = table.get_mut(&pid).ok_or(Errno::ESRCH)?;
        if p.pid != caller && p.ppid != caller {
            return Err(Errno::ESRCH);
        }
        if p.sid != sid || p.pid == p.sid {
            return Err(Errno::EPERM);
        }
        p.pgid = pgid;
        Ok(())
    }

    /// `setsid`: a new session and group led by `pid`.
    ///
    /// # Errors
    /// `EPERM` if it already leads a group.
    pub fn setsid(&self, pid: Pid) -> Result<Pid> {
        let mut table = self.table.lock();
        if table.values().any(|p| p.pgid == pid && p.pid != pid)
            || table.get(&pid).is_some_and(|p| p.pgid == pid)
        {
            return Err(Errno::EPERM);
        }
        let p = table.get_mut(&pid).ok_or(Errno::ESRCH)?;
        p.sid = pid;
        p.pgid = pid;
        Ok(pid)
    }

    /// `chdir` for `pid`.
    ///
    /// # Errors
    /// As [`Vfs::chdir`].
    pub fn chdir(&self, pid: Pid, path: &[u8]) -> Result<()> {
        let (cred, cwd) = self.with(pid, |p| (p.cred.clone(), p.cwd))?;
        let node = self.vfs.chdir(&cred, cwd, path)?;
        self.vfs.hold(node);
        self.vfs.release(cwd);
        self.with(pid, |p| p.cwd = node)
    }
}

/// Posts `sig` to `p`: SIGCONT resumes a stopped process and discards
/// pending stop signals; a stop signal discards a pending SIGCONT.
fn post(p: &mut Process, sig: Signal) {
    let count = &mut p.signals.posted[usize::from(sig.number() - 1)];
    *count = count.wrapping_add(1);
    if sig == Signal::SIGCONT || sig == Signal::SIGKILL {
        if let ProcState::Stopped(_) = p.state {
            p.state = ProcState::Running;
        }
        for stop in [
            Signal::SIGSTOP,
            Signal::SIGTSTP,
            Signal::SIGTTIN,
            Signal::SIGTTOU,
        ] {
            p.signals.pending.remove(stop);
        }
    }
    if sig.default_action() == DefaultAction::Stop {
        p.signals.pending.remove(Signal::SIGCONT);
    }
    let ignored = p.signals.actions[usize::from(sig.number() - 1)] == Disposition::Ignore
        || (p.signals.actions[usize::from(sig.number() - 1)] == Disposition::Default
            && sig.default_action() == DefaultAction::Ignore);
    if !ignored || sig.is_unblockable() {
        p.signals.pending.insert(sig);
    }
}
