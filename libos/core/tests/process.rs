//! Processes, wait, signals (masks, handlers, default actions, stop and
//! continue), and futexes across host threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

use libos::Errno;
use libos::fs::tmpfs::Tmpfs;
use libos::futex::{BITSET_ANY, Futexes};
use libos::process::{Delivery, ExitStatus, INIT, KillTarget, ProcState, Processes, WaitFor};
use libos::signal::{ActionFlags, Disposition, SigSet, Signal};
use libos::time::FixedClock;
use libos::vfs::file::OpenFlags;
use libos::vfs::node::{Owner, Timespec};
use libos::vfs::{Cred, Vfs};

fn table() -> Arc<Processes> {
    let clock = Arc::new(FixedClock(Timespec::default()));
    let vfs = Vfs::new(
        Arc::new(Tmpfs::new(
            1,
            1 << 20,
            Owner {
                uid: 0,
                gid: 0,
                perm: 0o755,
            },
            clock.clone(),
        )),
        "rootfs",
    );
    Processes::new(vfs, Cred::root(), clock)
}

fn handler(entry: u64) -> Disposition {
    Disposition::from_parts(entry, ActionFlags::RESTART, SigSet::EMPTY, 0)
}

#[test]
fn fork_exit_wait_and_orphans() {
    let t = table();
    let a = t.fork(INIT).expect("fork");
    let b = t.fork(a).expect("fork grandchild");
    assert_eq!(t.get(b).map(|p| p.ppid), Ok(a));
    assert_eq!(
        t.wait(INIT, WaitFor::Pid(b), true),
        Err(Errno::ECHILD),
        "not init's child"
    );
    assert_eq!(
        t.wait(INIT, WaitFor::Any, true),
        Ok(None),
        "nothing ended yet"
    );
    t.exit(a, ExitStatus::Exited(3)).expect("exit");
    assert_eq!(t.get(b).map(|p| p.ppid), Ok(INIT), "orphan adopted by init");
    assert!(
        t.get(INIT)
            .expect("init")
            .signals
            .pending
            .contains(Signal::SIGCHLD)
    );
    assert_eq!(
        t.wait(INIT, WaitFor::Pid(a), false),
        Ok(Some((a, ExitStatus::Exited(3))))
    );
    assert_eq!(t.get(a).err(), Some(Errno::ESRCH), "reaped");
    assert_eq!(ExitStatus::Exited(3).wait_status(), 0x300);
    // A blocking wait on another thread.
    let t2 = Arc::clone(&t);
    let waiter = thread::spawn(move || t2.wait(INIT, WaitFor::Any, false));
    thread::sleep(std::time::Duration::from_millis(20));
    t.exit(
        b,
        ExitStatus::Signaled {
            signal: Signal::SIGSEGV,
            core: true,
        },
    )
    .expect("exit");
    let (pid, status) = waiter
        .join()
        .expect("thread")
        .expect("wait")
        .expect("child");
    assert_eq!((pid, status.wait_status()), (b, 11 | 0x80));
    assert_eq!(t.wait(INIT, WaitFor::Any, true), Err(Errno::ECHILD));
}

#[test]
fn ignoring_sigchld_reaps_children_at_once() {
    let t = table();
    t.sigaction(INIT, Signal::SIGCHLD, Some(Disposition::Ignore))
        .expect("sigaction");
    let c = t.fork(INIT).expect("fork");
    t.exit(c, ExitStatus::Exited(0)).expect("exit");
    assert_eq!(t.get(c).err(), Some(Errno::ESRCH));
    assert_eq!(t.wait(INIT, WaitFor::Any, true), Err(Errno::ECHILD));
}

#[test]
fn signals_follow_posix() {
    let t = table();
    let p = t.fork(INIT).expect("fork");
    // Default actions: SIGCHLD ignored, SIGUSR1 terminates.
    t.raise(p, Signal::SIGCHLD).expect("raise");
    assert_eq!(t.deliver(p), Ok(None));
    // Blocked signals wait; handlers get a mask; sigreturn restores it.
    t.sigaction(p, Signal::SIGUSR1, Some(handler(0x1000)))
        .expect("handler");
    let mut set = SigSet::EMPTY;
    set.insert(Signal::SIGUSR1);
    assert_eq!(t.sigprocmask(p, 0, Some(set)), Ok(SigSet::EMPTY));
    t.kill(&Cred::root(), KillTarget::Pid(p), Some(Signal::SIGUSR1))
        .expect("kill");
    assert_eq!(t.deliver(p), Ok(None), "blocked");
    t.sigprocmask(p, 1, Some(set)).expect("unblock");
    match t.deliver(p).expect("deliver") {
        Some(Delivery::Handler {
            signal,
            entry,
            old_mask,
            flags,
            restorer,
        }) => {
            assert_eq!(
                (signal, entry, old_mask, flags, restorer),
                (
                    Signal::SIGUSR1,
                    0x1000,
                    SigSet::EMPTY,
                    ActionFlags::RESTART,
                    0
                )
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        t.get(p).expect("p").signals.mask.contains(Signal::SIGUSR1),
        "blocked during its handler"
    );
    t.sigreturn(p, SigSet::EMPTY).expect("sigreturn");
    // SIGKILL and SIGSTOP cannot be caught or blocked.
    assert_eq!(
        t.sigaction(p, Signal::SIGKILL, Some(Disposition::Ignore)),
        Err(Errno::EINVAL)
    );
    let mut all = SigSet(u64::MAX);
    all.remove(Signal::SIGUSR1);
    t.sigprocmask(p, 2, Some(all)).expect("block all");
    assert!(!t.get(p).expect("p").signals.mask.contains(Signal::SIGKILL));
    // Stop and continue.
    t.raise(p, Signal::SIGSTOP).expect("stop");
    assert_eq!(t.deliver(p), Ok(Some(Delivery::Stopped(Signal::SIGSTOP))));
    assert_eq!(
        t.get(p).map(|p| p.state),
        Ok(ProcState::Stopped(Signal::SIGSTOP))
    );
    t.raise(p, Signal::SIGCONT).expect("cont");
    assert_eq!(t.get(p).map(|p| p.state), Ok(ProcState::Running));
    // Permission: an ordinary user cannot signal root's process.
    assert_eq!(
        t.kill(
            &Cred::user(1000, 1000),
            KillTarget::Pid(p),
            Some(Signal::SIGTERM)
        ),
        Err(Errno::EPERM)
    );
    assert_eq!(
        t.kill(&Cred::root(), KillTarget::Pid(999), None),
        Err(Errno::ESRCH)
    );
    // The default action of SIGTERM ends it; the parent reaps the status.
    t.sigprocmask(p, 2, Some(SigSet::EMPTY)).expect("unblock");
    t.kill(&Cred::root(), KillTarget::Pid(p), Some(Signal::SIGTERM))
        .expect("kill");
    let term = ExitStatus::Signaled {
        signal: Signal::SIGTERM,
        core: false,
    };
    assert_eq!(t.deliver(p), Ok(Some(Delivery::Terminated(term))));
    assert_eq!(t.wait(INIT, WaitFor::Any, true), Ok(Some((p, term))));
    // exec resets handlers but keeps ignored signals ignored.
    let q = t.fork(INIT).expect("fork");
    t.sigaction(q, Signal::SIGUSR1, Some(handler(0x2000)))
        .expect("h");
    t.sigaction(q, Signal::SIGUSR2, Some(Disposition::Ignore))
        .expect("ign");
    t.exec(q, "prog", vec![b"prog".to_vec()], Vec::new(), "linux")
        .expect("exec");
    assert_eq!(
        t.sigaction(q, Signal::SIGUSR1, None),
        Ok(Disposition::Default)
    );
    assert_eq!(
        t.sigaction(q, Signal::SIGUSR2, None),
        Ok(Disposition::Ignore)
    );
    assert_eq!(Signal::new(65).err(), Some(Errno::EINVAL));
}

#[test]
fn process_groups_and_group_kill() {
    let t = table();
    let leader = t.fork(INIT).expect("fork");
    t.setpgid(leader, 0, 0).expect("own group");
    let member = t.fork(leader).expect("fork");
    assert_eq!(t.get(member).map(|p| p.pgid), Ok(leader), "inherited");
    t.kill(
        &Cred::root(),
        KillTarget::Group(leader),
        Some(Signal::SIGHUP),
    )
    .expect("group kill");
    for pid in [leader, member] {
        assert!(
            t.get(pid)
                .expect("p")
                .signals
                .pending
                .contains(Signal::SIGHUP)
        );
    }
    assert_eq!(t.setsid(leader), Err(Errno::EPERM), "a group leader");
    let loner = t.fork(INIT).expect("fork");
    assert_eq!(t.setsid(loner), Ok(loner));
}

#[test]
fn fork_shares_open_files_and_chdir_holds_mounts() {
    let t = table();
    let vfs = Arc::clone(t.vfs());
    let root = vfs.root();
    vfs.mkdir(&Cred::root(), root, b"/d", 0o755).expect("mkdir");
    let f = vfs
        .open(
            &Cred::root(),
            root,
            b"/d/f",
            OpenFlags {
                create: true,
                ..OpenFlags::READ_WRITE
            },
            0o644,
        )
        .expect("open");
    t.with(INIT, |p| p.fds.insert(f, true))
        .expect("init")
        .expect("fd");
    let c = t.fork(INIT).expect("fork");
    let parent_file = t.with(INIT, |p| p.fds.file(0)).expect("p").expect("fd");
    let child_file = t.with(c, |p| p.fds.file(0)).expect("c").expect("fd");
    assert!(
        Arc::ptr_eq(&parent_file, &child_file),
        "one open file description"
    );
    child_file.write(b"abc").expect("write");
    assert_eq!(
        parent_file.seek(0, libos::vfs::file::Whence::Current),
        Ok(3),
        "shared offset"
    );
    t.exec(c, "x", vec![], vec![], "native").expect("exec");
    assert!(t.with(c, |p| p.fds.file(0)).expect("c").is_err(), "cloexec");
    t.chdir(c, b"/d").expect("chdir");
    assert_eq!(t.chdir(c, b"/d/f"), Err(Errno::ENOTDIR));
    assert_eq!(vfs.path_of(t.get(c).expect("c").cwd), Ok(b"/d".to_vec()));
}

#[test]
fn futexes_wake_requeue_and_time_out() {
    let clock = FixedClock(Timespec::default());
    let f = Arc::new(Futexes::new());
    let word = Arc::new(AtomicU32::new(0));
    // A changed word: EAGAIN without sleeping.
    assert_eq!(
        f.wait(
            1,
            || word.load(Ordering::SeqCst) == 1,
            BITSET_ANY,
            None,
            &clock
        ),
        Err(Errno::EAGAIN)
    );
    assert_eq!(f.wait(1, || true, 0, None, &clock), Err(Errno::EINVAL));
    // Four waiters on two threads each; wake 1, requeue 2, wake the rest.
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let (f, word) = (Arc::clone(&f), Arc::clone(&word));
            thread::spawn(move || {
                f.wait(
                    1,
                    || word.load(Ordering::SeqCst) == 0,
                    BITSET_ANY,
                    None,
                    &FixedClock(Timespec::default()),
                )
            })
        })
        .collect();
    while f.waiters(1) < 4 {
        thread::yield_now();
    }
    assert_eq!(f.wake(1, 1, BITSET_ANY), 1);
    assert_eq!(f.requeue(1, 2, 0, 2, || true), Ok(2));
    assert_eq!((f.waiters(1), f.waiters(2)), (1, 2));
    assert_eq!(f.requeue(1, 2, 0, 2, || false), Err(Errno::EAGAIN));
    assert_eq!(f.wake(2, 10, BITSET_ANY) + f.wake(1, 10, BITSET_ANY), 3);
    for w in waiters {
        assert_eq!(w.join().expect("thread"), Ok(()));
    }
    // Bitsets select waiters.
    let (f2, w2) = (Arc::clone(&f), Arc::clone(&word));
    let picky = thread::spawn(move || {
        f2.wait(
            5,
            || w2.load(Ordering::SeqCst) == 0,
            0b10,
            None,
            &FixedClock(Timespec::default()),
        )
    });
    while f.waiters(5) < 1 {
        thread::yield_now();
    }
    assert_eq!(f.wake(5, 1, 0b01), 0);
    assert_eq!(f.wake(5, 1, 0b10), 1);
    assert_eq!(picky.join().expect("thread"), Ok(()));
    // A timeout (the fixed clock is at 0, so a zero timeout expires).
    assert_eq!(
        f.wait(9, || true, BITSET_ANY, Some(0), &clock),
        Err(Errno::ETIMEDOUT)
    );
    assert_eq!(f.waiters(9), 0);
}

#[test]
fn action_flags_translate_through_an_abi_table() {
    // Linux x86_64's bits.
    let linux: &[(u64, ActionFlags)] = &[
        (0x4, ActionFlags::SIGINFO),
        (0x0800_0000, ActionFlags::ONSTACK),
        (0x1000_0000, ActionFlags::RESTART),
        (0x4000_0000, ActionFlags::NODEFER),
        (0x8000_0000, ActionFlags::RESETHAND),
        (0x0400_0000, ActionFlags::RESTORER),
    ];
    let raw = 0x0400_0004 | 0x1000_0000 | 0x1; // SA_NOCLDSTOP is not a handler flag
    let f = ActionFlags::from_abi(raw, linux);
    assert_eq!(
        f,
        ActionFlags::SIGINFO | ActionFlags::RESTART | ActionFlags::RESTORER
    );
    assert_eq!(f.to_abi(linux), raw & !0x1);
    // SIG_DFL and SIG_IGN carry no flags; a handler keeps them all, with
    // its mask made blockable.
    assert_eq!(
        Disposition::from_parts(0, f, SigSet(!0), 9),
        Disposition::Default
    );
    assert_eq!(
        Disposition::from_parts(1, f, SigSet(!0), 9).parts(),
        (1, ActionFlags::empty(), SigSet::EMPTY, 0)
    );
    let (entry, flags, mask, restorer) =
        Disposition::from_parts(0x40_1000, f, SigSet(!0), 9).parts();
    assert_eq!((entry, flags, restorer), (0x40_1000, f, 9));
    assert_eq!(mask, SigSet(!0).blockable());
}

#[test]
fn resethand_and_nodefer_shape_delivery() {
    let t = table();
    let p = t.fork(INIT).expect("fork");
    let flags = ActionFlags::RESETHAND | ActionFlags::NODEFER;
    t.sigaction(
        p,
        Signal::SIGUSR2,
        Some(Disposition::from_parts(
            0x2000,
            flags,
            SigSet::EMPTY,
            0x3000,
        )),
    )
    .expect("sigaction");
    t.raise(p, Signal::SIGUSR2).expect("raise");
    let d = t.deliver(p).expect("deliver");
    assert_eq!(
        d,
        Some(Delivery::Handler {
            signal: Signal::SIGUSR2,
            entry: 0x2000,
            old_mask: SigSet::EMPTY,
            flags,
            restorer: 0x3000,
        })
    );
    let mask = t.get(p).expect("process").signals.mask;
    assert!(!mask.contains(Signal::SIGUSR2), "NODEFER: not blocked");
    assert_eq!(
        t.sigaction(p, Signal::SIGUSR2, None),
        Ok(Disposition::Default),
        "RESETHAND: back to the default"
    );
}

#[test]
fn thread_ids_share_the_pid_space() {
    let t = table();
    let p = t.fork(INIT).expect("fork");
    let a = t.add_thread(p, 0x1000).expect("thread");
    let b = t.add_thread(p, 0).expect("thread");
    assert!(a != p && b != p && a != b, "distinct ids: {p} {a} {b}");
    // A process forked later takes none of them.
    let q = t.fork(INIT).expect("fork");
    assert!(![p, a, b].contains(&q), "pid {q} reuses a thread id");
    let proc_ = t.get(p).expect("process");
    assert_eq!(proc_.threads, [p, a, b]);
    assert_eq!(proc_.thread_clear_tid.get(&a), Some(&0x1000));
    assert_eq!(t.add_thread(99_999, 0), Err(Errno::ESRCH));
    // Each thread's end gives back its tid word and the count left.
    assert_eq!(t.remove_thread(p, a), Ok((0x1000, 2)));
    assert_eq!(t.remove_thread(p, b), Ok((0, 1)));
    // exec leaves one thread.
    let c = t.add_thread(p, 0).expect("thread");
    t.exec(p, "x", vec![], vec![], "linux").expect("exec");
    let after = t.get(p).expect("process");
    assert_eq!(after.threads, [p], "exec ended thread {c}");
    assert!(after.thread_clear_tid.is_empty());
}
