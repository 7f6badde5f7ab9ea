//! Threads through the thread-aware register-level entry
//! (`exo_linux::regs::syscall_as`): `clone` with musl's pthread flag set,
//! thread ids, futex waits that park and wakes that end them, a thread's
//! own `exit` waking its joiner, and the last thread ending the process.

use alloc::string::{String, ToString};

use exo_linux::{Flow, NewThread, Parked, Regs};
use exo_personality::UserMemory;
use exo_personality_tests::{Duration, MEM, World, check, sleep};
use libos::process::ExitStatus;

use super::{EFAULT, EINVAL, GETPID, u32_at};

const CLONE: u64 = 56;
const EXIT: u64 = 60;
const GETTID: u64 = 186;
const FUTEX: u64 = 202;
const SET_TID_ADDRESS: u64 = 218;
const EXIT_GROUP: u64 = 231;
const EAGAIN: i64 = -11;
const ETIMEDOUT: i64 = -110;
const FUTEX_WAIT_PRIVATE: u64 = 128;
const FUTEX_WAKE_PRIVATE: u64 = 129;
/// musl's `pthread_create`: VM FS FILES SIGHAND THREAD SYSVSEM SETTLS
/// PARENT_SETTID CHILD_CLEARTID DETACHED.
const PTHREAD_FLAGS: u64 = 0x7d_0f00;
const CLONE_FILES: u64 = 0x400;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_CHILD_SETTID: u64 = 0x100_0000;

/// Runs call `nr` as thread `tid`.
fn call(w: &mut World, tid: u32, regs: &mut Regs, nr: u64, args: [u64; 6]) -> Flow {
    regs.rax = nr;
    [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9] = args;
    let mut ctx = w.ctx();
    exo_linux::regs::syscall_as(&mut ctx, tid, regs)
}

fn start() -> Regs {
    let mut r = Regs::start(0x40_1000, MEM + 0x1_0000);
    r.rbx = 0xb0b;
    r
}

/// A thread made with the pthread flag set; `ctid` is its
/// `clear_child_tid` word.
fn spawn(w: &mut World, ctid: u64) -> Result<(NewThread, Regs), String> {
    let ptid = w.buf(4);
    let mut regs = start();
    let pid = w.pid;
    let flow = call(
        w,
        pid,
        &mut regs,
        CLONE,
        [PTHREAD_FLAGS, MEM + 0x8000, ptid, ctid, 0x7000_0000, 0],
    );
    let Flow::Spawn(t) = flow else {
        return Err(alloc::format!("clone: {flow:?}, rax {}", regs.rax as i64));
    };
    check!(u32_at(w, ptid, 0) == t.tid, "PARENT_SETTID wrote the id");
    Ok((*t, regs))
}

fn park(flow: Flow) -> Result<Parked, String> {
    match flow {
        Flow::Park(p) => Ok(p),
        other => Err(alloc::format!("expected a parked wait: {other:?}")),
    }
}

pub fn clone_makes_a_thread() -> Result<(), String> {
    let mut w = World::new();
    let ctid = w.buf(4);
    let (t, parent) = spawn(&mut w, ctid)?;
    let pid = w.pid;
    check!(t.tid != pid, "a new id");
    check!(parent.rax == u64::from(t.tid), "the caller gets the id");
    check!(t.regs.rax == 0, "the thread gets 0");
    check!(t.regs.rsp == MEM + 0x8000, "on the new stack");
    check!(
        t.regs.rip == parent.rip && t.regs.rbx == 0xb0b,
        "otherwise the caller's registers"
    );
    check!(t.tls == Some(0x7000_0000), "CLONE_SETTLS");
    check!(u32_at(&w, ctid, 0) == 0, "no CHILD_SETTID: ctid untouched");
    let p = w.sys.procs.get(pid).map_err(|e| e.to_string())?;
    check!(p.threads == [pid, t.tid], "task list: {:?}", p.threads);
    check!(
        p.thread_clear_tid.get(&t.tid) == Some(&ctid),
        "CHILD_CLEARTID recorded"
    );
    // Ids: gettid is the thread's, getpid the process's.
    let mut regs = t.regs.clone();
    call(&mut w, t.tid, &mut regs, GETTID, [0; 6]);
    check!(regs.rax == u64::from(t.tid), "gettid");
    call(&mut w, t.tid, &mut regs, GETPID, [0; 6]);
    check!(regs.rax == u64::from(pid), "getpid");
    let other = w.buf(4);
    call(
        &mut w,
        t.tid,
        &mut regs,
        SET_TID_ADDRESS,
        [other, 0, 0, 0, 0, 0],
    );
    check!(
        regs.rax == u64::from(t.tid),
        "set_tid_address returns the tid"
    );
    // CHILD_SETTID writes the id too; refused sets make nothing.
    let ctid2 = w.buf(4);
    let ptid2 = w.buf(4);
    let mut r = start();
    let flow = call(
        &mut w,
        pid,
        &mut r,
        CLONE,
        [
            PTHREAD_FLAGS | CLONE_CHILD_SETTID,
            MEM + 0x9000,
            ptid2,
            ctid2,
            0,
            0,
        ],
    );
    check!(
        matches!(&flow, Flow::Spawn(t2) if u32_at(&w, ctid2, 0) == t2.tid),
        "CHILD_SETTID: {flow:?}"
    );
    for (flags, ptid, want) in [
        (PTHREAD_FLAGS & !CLONE_FILES, w.buf(4), EINVAL),
        (PTHREAD_FLAGS | CLONE_VFORK, w.buf(4), EINVAL),
        (PTHREAD_FLAGS, 0xdead_0000, EFAULT),
    ] {
        let before = w
            .sys
            .procs
            .get(pid)
            .map_err(|e| e.to_string())?
            .threads
            .len();
        let mut r = start();
        let flow = call(
            &mut w,
            pid,
            &mut r,
            CLONE,
            [flags, MEM + 0x9000, ptid, 0, 0, 0],
        );
        check!(
            flow == Flow::Resume && r.rax as i64 == want,
            "flags {flags:#x}: {flow:?} {}",
            r.rax as i64
        );
        let after = w
            .sys
            .procs
            .get(pid)
            .map_err(|e| e.to_string())?
            .threads
            .len();
        check!(before == after, "no thread left behind");
    }
    Ok(())
}

pub fn futex_waits_park_and_wakes_end_them() -> Result<(), String> {
    let mut w = World::new();
    let ctid = w.buf(4);
    let (t, mut main) = spawn(&mut w, ctid)?;
    let pid = w.pid;
    let word = w.buf(4);
    // A changed word: EAGAIN at once.
    let flow = call(
        &mut w,
        pid,
        &mut main,
        FUTEX,
        [word, FUTEX_WAIT_PRIVATE, 5, 0, 0, 0],
    );
    check!(
        flow == Flow::Resume && main.rax as i64 == EAGAIN,
        "EAGAIN: {flow:?}"
    );
    let parked = park(call(
        &mut w,
        pid,
        &mut main,
        FUTEX,
        [word, FUTEX_WAIT_PRIVATE, 0, 0, 0, 0],
    ))?;
    check!(parked.addr() == word, "parked on the word");
    check!(parked.poll(&w.sys).is_none(), "still waiting");
    let mut other = t.regs.clone();
    call(
        &mut w,
        t.tid,
        &mut other,
        FUTEX,
        [word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0],
    );
    check!(other.rax == 1, "the wake found the parked thread");
    check!(parked.poll(&w.sys) == Some(0), "woken: 0");
    // A timed wait runs out.
    let ts = w.put(&[0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x42, 0x0f, 0, 0, 0, 0, 0]); // 1 ms
    let timed = park(call(
        &mut w,
        pid,
        &mut main,
        FUTEX,
        [word, FUTEX_WAIT_PRIVATE, 0, ts, 0, 0],
    ))?;
    sleep(Duration::from_millis(5));
    check!(timed.poll(&w.sys) == Some(ETIMEDOUT), "ETIMEDOUT");
    check!(
        w.sys
            .procs
            .get(pid)
            .map(|p| p.futexes.waiters(word))
            .unwrap_or(1)
            == 0,
        "off the queue"
    );
    Ok(())
}

pub fn thread_exit_wakes_the_joiner_and_the_last_ends_the_process() -> Result<(), String> {
    let mut w = World::new();
    let ctid = w.buf(4);
    let (t, mut main) = spawn(&mut w, ctid)?;
    let pid = w.pid;
    // musl's pthread_join: wait while the tid word holds the id.
    w.mem
        .write(ctid, &t.tid.to_le_bytes())
        .map_err(|e| e.to_string())?;
    let joiner = park(call(
        &mut w,
        pid,
        &mut main,
        FUTEX,
        [ctid, FUTEX_WAIT_PRIVATE, u64::from(t.tid), 0, 0, 0],
    ))?;
    let mut regs = t.regs.clone();
    let flow = call(&mut w, t.tid, &mut regs, EXIT, [0; 6]);
    check!(flow == Flow::ThreadExit, "the thread alone ends: {flow:?}");
    check!(u32_at(&w, ctid, 0) == 0, "its tid word cleared");
    check!(joiner.poll(&w.sys) == Some(0), "the joiner woken");
    let p = w.sys.procs.get(pid).map_err(|e| e.to_string())?;
    check!(p.threads == [pid], "one thread left: {:?}", p.threads);
    let flow = call(&mut w, pid, &mut main, EXIT, [3, 0, 0, 0, 0, 0]);
    check!(
        flow == Flow::Exit(ExitStatus::Exited(3)),
        "the last thread's exit ends the process: {flow:?}"
    );
    // exit_group ends a process with threads left.
    drop(w);
    let mut w = World::new();
    let ctid = w.buf(4);
    let (_, mut main) = spawn(&mut w, ctid)?;
    let pid = w.pid;
    let flow = call(&mut w, pid, &mut main, EXIT_GROUP, [4, 0, 0, 0, 0, 0]);
    check!(
        flow == Flow::Exit(ExitStatus::Exited(4)),
        "exit_group: {flow:?}"
    );
    Ok(())
}
