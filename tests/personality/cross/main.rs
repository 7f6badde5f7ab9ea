//! The cross-personality suite: processes of different personalities on
//! one hosted libOS exchange Cap'n Proto messages over channels and
//! delegate descriptors; each side acts through its own ABI (its call
//! numbers, its errno values, its struct layouts). Built for bare metal
//! (`tests/user`'s `crosssuite`), the cases without a second thread or
//! environment run on the exokernel itself.

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use exo_cross::channel::QUEUE_DEPTH;
use exo_cross::convert::{self, View};
use exo_cross::{Body, Message, Rights, channel, recv, send};
#[cfg(not(target_os = "none"))]
use exo_hosted::{Config, Machine};
use exo_personality::{Ctx, UserMemory, VecMemory};
use exo_personality_tests::{Case, check};
use libos::Errno;
use libos::fs::procfs::{CpuInfo, MemInfo, SystemInfo};
use libos::process::{INIT, Pid};
use libos::system::{Options, System};
use libos::vfs::node::{DirEntry, FileType, Timespec};

#[cfg(not(target_os = "none"))]
mod doors;

const MEM: u64 = 0x10_0000;

struct Info;

impl SystemInfo for Info {
    fn meminfo(&self) -> MemInfo {
        MemInfo::default()
    }
    fn cpus(&self) -> Vec<CpuInfo> {
        Vec::new()
    }
    fn bootlog(&self) -> Vec<u8> {
        Vec::new()
    }
    fn version(&self) -> String {
        "exo cross".into()
    }
    fn uptime_ns(&self) -> u64 {
        0
    }
}

/// One process of some personality, with its own memory.
struct Proc {
    pid: Pid,
    personality: &'static str,
    mem: VecMemory,
    next: u64,
}

/// Processes of several personalities on one libOS.
struct Mixed {
    /// Keeps the hosted machine alive.
    #[cfg(not(target_os = "none"))]
    machine: Machine,
    sys: System,
}

impl Mixed {
    #[cfg(not(target_os = "none"))]
    fn new() -> Self {
        let machine = Machine::new(Config::default());
        let env = Arc::new(machine.spawn("cross").expect("environment"));
        let sys = System::boot(env, Arc::new(Info), Options::default()).expect("libOS");
        Self { machine, sys }
    }

    /// On bare metal: the libOS on the running environment.
    #[cfg(target_os = "none")]
    fn new() -> Self {
        let sys = System::boot(
            Arc::new(exo_sys::BareMetal),
            Arc::new(Info),
            Options::default(),
        )
        .expect("libOS");
        Self { sys }
    }

    fn spawn(&self, personality: &'static str) -> Proc {
        let pid = self.sys.procs.fork(INIT).expect("fork");
        self.sys
            .procs
            .exec(pid, personality, vec![], vec![], personality)
            .expect("exec");
        let mut mem = VecMemory::new();
        mem.map(MEM, 1 << 16);
        Proc {
            pid,
            personality,
            mem,
            next: MEM,
        }
    }

    /// A system call in `p`'s own ABI: `Ok(value)` or `Err(that ABI's
    /// errno)`.
    fn call(&self, p: &mut Proc, nr: u64, args: &[u64]) -> Result<u64, i64> {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        let mut ctx = Ctx {
            sys: &self.sys,
            pid: p.pid,
            mem: &mut p.mem,
        };
        match p.personality {
            "linux" => {
                let r = exo_linux::syscall(&mut ctx, nr, a);
                if r < 0 { Err(-r) } else { Ok(r as u64) }
            }
            "freebsd" => {
                let r = exo_freebsd::syscall(&mut ctx, nr, a);
                r.errno().map_or(Ok(r.rax), |e| Err(i64::from(e)))
            }
            "illumos" => {
                let r = exo_illumos::syscall(&mut ctx, nr, a);
                r.errno().map_or(Ok(r.rax), |e| Err(i64::from(e)))
            }
            other => panic!("no personality {other}"),
        }
    }
}

impl Proc {
    fn put(&mut self, bytes: &[u8]) -> u64 {
        let at = self.next;
        self.mem.write(at, bytes).expect("scratch");
        self.next = (at + bytes.len() as u64 + 16).next_multiple_of(16);
        at
    }
    fn cstr(&mut self, s: &str) -> u64 {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.put(&b)
    }
    fn buf(&mut self, len: usize) -> u64 {
        self.put(&vec![0; len])
    }
    fn get(&self, at: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0; len];
        self.mem.read(at, &mut b).expect("scratch");
        b
    }
}

/// Each personality's numbers for the few calls the suite makes.
struct Abi {
    read: u64,
    write: u64,
    close: u64,
    open: u64,
    o_rdonly: u64,
    o_rdwr: u64,
    o_creat: u64,
    ebadf: i64,
}

fn abi(personality: &str) -> Abi {
    match personality {
        "linux" => Abi {
            read: 0,
            write: 1,
            close: 3,
            open: 2,
            o_rdonly: 0,
            o_rdwr: 2,
            o_creat: 0o100,
            ebadf: 9,
        },
        "freebsd" => Abi {
            read: 3,
            write: 4,
            close: 6,
            open: 5,
            o_rdonly: 0,
            o_rdwr: 2,
            o_creat: 0x200,
            ebadf: 9,
        },
        "illumos" => Abi {
            read: 3,
            write: 4,
            close: 6,
            open: 5,
            o_rdonly: 0,
            o_rdwr: 2,
            o_creat: 0x100,
            ebadf: 9,
        },
        other => panic!("no personality {other}"),
    }
}

fn open(m: &Mixed, p: &mut Proc, path: &str, flags: u64) -> u64 {
    let a = abi(p.personality);
    let s = p.cstr(path);
    m.call(p, a.open, &[s, flags, 0o644]).expect("open")
}

fn write_file(m: &Mixed, p: &mut Proc, path: &str, data: &[u8]) {
    let a = abi(p.personality);
    let fd = open(m, p, path, a.o_rdwr | a.o_creat);
    let d = p.put(data);
    assert_eq!(
        m.call(p, a.write, &[fd, d, data.len() as u64]),
        Ok(data.len() as u64)
    );
    m.call(p, a.close, &[fd]).expect("close");
}

fn message(p: &Proc, body: Body) -> Message {
    Message {
        personality: p.personality.into(),
        pid: p.pid,
        body,
        capabilities: vec![],
    }
}

fn view(name: &str) -> &'static View {
    convert::view(name).expect("a view for every personality")
}

const PAIRS: [(&str, &str); 6] = [
    ("linux", "freebsd"),
    ("linux", "illumos"),
    ("freebsd", "linux"),
    ("freebsd", "illumos"),
    ("illumos", "linux"),
    ("illumos", "freebsd"),
];

fn delegated_file_reads_through_the_receivers_abi() -> Result<(), String> {
    for (from, to) in PAIRS {
        let m = Mixed::new();
        let (mut a, mut b) = (m.spawn(from), m.spawn(to));
        write_file(&m, &mut a, "/tmp/shared", b"cross data");
        let fd = open(&m, &mut a, "/tmp/shared", abi(from).o_rdonly);
        let (ca, cb) = channel(&m.sys, a.pid, b.pid).map_err(|e| format!("{e:?}"))?;
        send(
            &m.sys,
            a.pid,
            ca,
            &message(&a, Body::Bytes(b"here".into())),
            &[(fd, Rights::READ)],
        )
        .map_err(|e| format!("send {from}->{to}: {e:?}"))?;
        let got = recv(&m.sys, b.pid, cb, true)
            .map_err(|e| format!("{e:?}"))?
            .ok_or("closed")?;
        check!(got.fds.len() == 1, "one descriptor");
        let buf = b.buf(32);
        let n = m.call(&mut b, abi(to).read, &[got.fds[0], buf, 32]);
        check!(n == Ok(10), "{from}->{to}: read {n:?}");
        check!(b.get(buf, 10) == b"cross data", "{from}->{to}: contents");
    }
    Ok(())
}

fn rights_only_shrink() -> Result<(), String> {
    let m = Mixed::new();
    let (mut a, mut b) = (m.spawn("linux"), m.spawn("freebsd"));
    write_file(&m, &mut a, "/tmp/rw", b"0123456789");
    let rw = open(&m, &mut a, "/tmp/rw", 2);
    let ro = open(&m, &mut a, "/tmp/rw", 0);
    let (ca, cb) = channel(&m.sys, a.pid, b.pid).unwrap();
    let msg = message(&a, Body::Bytes(vec![]));
    check!(
        send(&m.sys, a.pid, ca, &msg, &[(ro, Rights::READ_WRITE)]) == Err(Errno::EPERM),
        "widening a read-only descriptor"
    );
    send(&m.sys, a.pid, ca, &msg, &[(rw, Rights::READ)]).unwrap();
    let got = recv(&m.sys, b.pid, cb, true).unwrap().unwrap();
    let d = b.put(b"x");
    let w = m.call(&mut b, 4, &[got.fds[0], d, 1]);
    check!(
        w == Err(abi("freebsd").ebadf),
        "FreeBSD write on a read-only delegation: {w:?}"
    );
    let buf = b.buf(4);
    check!(
        m.call(&mut b, 3, &[got.fds[0], buf, 4]) == Ok(4),
        "but it reads"
    );
    check!(
        got.message.capabilities[0].rights == Rights::READ,
        "the message records the right"
    );
    Ok(())
}

fn same_rights_share_the_offset() -> Result<(), String> {
    let m = Mixed::new();
    let (mut a, mut b) = (m.spawn("illumos"), m.spawn("linux"));
    write_file(&m, &mut a, "/tmp/off", b"abcdef");
    let fd = open(&m, &mut a, "/tmp/off", 0);
    let (ca, cb) = channel(&m.sys, a.pid, b.pid).unwrap();
    send(
        &m.sys,
        a.pid,
        ca,
        &message(&a, Body::Bytes(vec![])),
        &[(fd, Rights::READ)],
    )
    .unwrap();
    let got = recv(&m.sys, b.pid, cb, true).unwrap().unwrap();
    let bb = b.buf(3);
    check!(
        m.call(&mut b, 0, &[got.fds[0], bb, 3]) == Ok(3),
        "Linux reads 3"
    );
    let ab = a.buf(8);
    check!(
        m.call(&mut a, 3, &[fd, ab, 8]) == Ok(3),
        "illumos continues at 3"
    );
    check!(a.get(ab, 3) == b"def", "one open file description");
    Ok(())
}

fn stat_is_converted_not_reinterpreted() -> Result<(), String> {
    let m = Mixed::new();
    let (mut a, b) = (m.spawn("linux"), m.spawn("illumos"));
    write_file(&m, &mut a, "/tmp/st", &[7u8; 1234]);
    let st = m
        .sys
        .vfs
        .stat(
            &libos::vfs::Cred::root(),
            m.sys.vfs.root(),
            b"/tmp/st",
            true,
        )
        .unwrap();
    let (ca, cb) = channel(&m.sys, a.pid, b.pid).unwrap();
    send(&m.sys, a.pid, ca, &message(&a, Body::Stat(st)), &[]).unwrap();
    let got = recv(&m.sys, b.pid, cb, true).unwrap().unwrap();
    check!(got.message.body == Body::Stat(st), "neutral form intact");
    let linux = convert::present(view("linux"), &got.message.body);
    let illumos = convert::present(view("illumos"), &got.message.body);
    let freebsd = convert::present(view("freebsd"), &got.message.body);
    check!(
        (linux.len(), freebsd.len(), illumos.len()) == (144, 224, 128),
        "each ABI's size: {} {} {}",
        linux.len(),
        freebsd.len(),
        illumos.len()
    );
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    // st_size: Linux at 48, FreeBSD at 112, illumos at 40.
    check!(u64_at(&linux, 48) == 1234, "Linux st_size");
    check!(u64_at(&freebsd, 112) == 1234, "FreeBSD st_size");
    check!(u64_at(&illumos, 40) == 1234, "illumos st_size");
    check!(
        linux[..24] != illumos[..24],
        "different layouts, not a byte copy"
    );
    Ok(())
}

fn errors_travel_by_name() -> Result<(), String> {
    let m = Mixed::new();
    let (a, b) = (m.spawn("freebsd"), m.spawn("linux"));
    let (ca, cb) = channel(&m.sys, a.pid, b.pid).unwrap();
    for e in [Errno::EAGAIN, Errno::ENOTEMPTY, Errno::ELOOP, Errno::ENOSYS] {
        send(&m.sys, a.pid, ca, &message(&a, Body::Error(e)), &[]).unwrap();
        let got = recv(&m.sys, b.pid, cb, true).unwrap().unwrap();
        check!(got.message.body == Body::Error(e), "{e:?} by name");
        let n = |v: &str| {
            i64::from_le_bytes(
                convert::present(view(v), &got.message.body)[..8]
                    .try_into()
                    .unwrap(),
            )
        };
        check!(n("linux") == i64::from(e.linux()), "Linux number");
        check!(
            n("freebsd") == i64::from(exo_freebsd::errno::errno(e)),
            "FreeBSD number"
        );
        check!(
            n("illumos") == i64::from(exo_illumos::abi::errno(e)),
            "illumos number"
        );
    }
    // EAGAIN: 11 on Linux and illumos, 35 on FreeBSD.
    check!(
        exo_freebsd::errno::errno(Errno::EAGAIN) == 35,
        "FreeBSD EAGAIN"
    );
    Ok(())
}

fn directory_entries_in_each_layout() -> Result<(), String> {
    let m = Mixed::new();
    let (a, b) = (m.spawn("illumos"), m.spawn("freebsd"));
    let entries = vec![
        DirEntry {
            ino: 5,
            name: b"alpha".to_vec(),
            kind: FileType::Regular,
        },
        DirEntry {
            ino: 9,
            name: b"sub".to_vec(),
            kind: FileType::Directory,
        },
    ];
    let (ca, cb) = channel(&m.sys, a.pid, b.pid).unwrap();
    send(
        &m.sys,
        a.pid,
        ca,
        &message(&a, Body::Entries(entries.clone())),
        &[],
    )
    .unwrap();
    let got = recv(&m.sys, b.pid, cb, true).unwrap().unwrap();
    check!(got.message.body == Body::Entries(entries), "entries intact");
    let linux = convert::present(view("linux"), &got.message.body);
    // linux_dirent64: reclen at 16, d_type at 18, name at 19.
    check!(linux[18] == 8 && &linux[19..24] == b"alpha", "Linux record");
    let freebsd = convert::present(view("freebsd"), &got.message.body);
    // FreeBSD 12 dirent: reclen u16 at 16, d_type at 18, d_namlen u16 at 20, name at 24.
    check!(freebsd[18] == 8, "FreeBSD d_type");
    check!(
        u16::from_le_bytes([freebsd[20], freebsd[21]]) == 5,
        "FreeBSD d_namlen"
    );
    check!(&freebsd[24..29] == b"alpha", "FreeBSD name");
    let illumos = convert::present(view("illumos"), &got.message.body);
    // illumos dirent: d_ino, d_off, d_reclen u16 at 16, name at 18 (no d_type).
    check!(&illumos[18..23] == b"alpha", "illumos name");
    Ok(())
}

fn pipe_ends_cross_both_ways() -> Result<(), String> {
    let m = Mixed::new();
    let (mut a, mut b) = (m.spawn("linux"), m.spawn("illumos"));
    let fds = a.buf(8);
    m.call(&mut a, 293, &[fds, 0])
        .map_err(|e| format!("pipe2 {e}"))?;
    let g = a.get(fds, 8);
    let (r, w) = (u64::from(g[0]), u64::from(g[4]));
    let (ca, cb) = channel(&m.sys, a.pid, b.pid).unwrap();
    send(
        &m.sys,
        a.pid,
        ca,
        &message(&a, Body::Bytes(vec![])),
        &[(w, Rights::WRITE)],
    )
    .unwrap();
    m.call(&mut a, 3, &[w]).unwrap();
    let got = recv(&m.sys, b.pid, cb, true).unwrap().unwrap();
    let d = b.put(b"from illumos");
    check!(
        m.call(&mut b, 4, &[got.fds[0], d, 12]) == Ok(12),
        "illumos writes"
    );
    let buf = a.buf(32);
    check!(m.call(&mut a, 0, &[r, buf, 32]) == Ok(12), "Linux reads");
    check!(a.get(buf, 12) == b"from illumos", "contents");
    m.call(&mut b, 6, &[got.fds[0]]).unwrap();
    check!(
        m.call(&mut a, 0, &[r, buf, 32]) == Ok(0),
        "EOF once the delegated end closes"
    );
    Ok(())
}

fn closing_an_end_ends_the_channel() -> Result<(), String> {
    let m = Mixed::new();
    let (mut a, b) = (m.spawn("freebsd"), m.spawn("illumos"));
    let (ca, cb) = channel(&m.sys, a.pid, b.pid).unwrap();
    send(
        &m.sys,
        a.pid,
        ca,
        &message(&a, Body::Time(Timespec { sec: 5, nsec: 6 })),
        &[],
    )
    .unwrap();
    m.call(&mut a, 6, &[ca]).map_err(|e| format!("close {e}"))?;
    let got = recv(&m.sys, b.pid, cb, true).unwrap();
    check!(
        got.map(|g| g.message.body) == Some(Body::Time(Timespec { sec: 5, nsec: 6 })),
        "queued message still delivered"
    );
    check!(
        recv(&m.sys, b.pid, cb, true) == Ok(None),
        "then end of stream"
    );
    check!(
        send(&m.sys, b.pid, cb, &message(&b, Body::Bytes(vec![])), &[]) == Err(Errno::EPIPE),
        "EPIPE towards a closed end"
    );
    Ok(())
}

#[cfg(not(target_os = "none"))]
fn blocking_receive_wakes_on_send() -> Result<(), String> {
    let m = Mixed::new();
    let (a, b) = (m.spawn("linux"), m.spawn("freebsd"));
    let (ca, cb) = channel(&m.sys, a.pid, b.pid).unwrap();
    let got = std::thread::scope(|s| {
        let waiter = s.spawn(|| recv(&m.sys, b.pid, cb, false));
        std::thread::sleep(std::time::Duration::from_millis(20));
        send(
            &m.sys,
            a.pid,
            ca,
            &message(&a, Body::Bytes(b"wake".to_vec())),
            &[],
        )
        .unwrap();
        waiter.join().unwrap()
    });
    check!(
        got.map(|g| g.map(|g| g.message.body)) == Ok(Some(Body::Bytes(b"wake".to_vec()))),
        "woken with the message"
    );
    check!(
        recv(&m.sys, b.pid, cb, true) == Err(Errno::EAGAIN),
        "then empty"
    );
    Ok(())
}

fn sender_identity_matches_proc() -> Result<(), String> {
    let m = Mixed::new();
    let (a, b) = (m.spawn("illumos"), m.spawn("linux"));
    let (ca, cb) = channel(&m.sys, a.pid, b.pid).unwrap();
    send(&m.sys, a.pid, ca, &message(&a, Body::Bytes(vec![1])), &[]).unwrap();
    let got = recv(&m.sys, b.pid, cb, true).unwrap().unwrap();
    let shown = m.sys.procs.get(a.pid).unwrap().personality;
    check!(
        got.message.personality == shown,
        "{} vs /proc {shown}",
        got.message.personality
    );
    check!(got.message.pid == a.pid, "pid");
    // The channel ends are sockets in both processes.
    let kind = m
        .sys
        .procs
        .with(b.pid, |p| p.fds.file(cb as i64).map(|f| f.kind()))
        .unwrap();
    check!(kind == Ok(FileType::Socket), "socket-type descriptor");
    Ok(())
}

fn channels_refuse_misuse() -> Result<(), String> {
    let m = Mixed::new();
    let (mut a, b) = (m.spawn("linux"), m.spawn("illumos"));
    let (ca, _cb) = channel(&m.sys, a.pid, b.pid).unwrap();
    let msg = message(&a, Body::Bytes(vec![]));
    check!(
        send(&m.sys, a.pid, 99, &msg, &[]) == Err(Errno::EBADF),
        "bad descriptor"
    );
    write_file(&m, &mut a, "/tmp/f", b"x");
    let f = open(&m, &mut a, "/tmp/f", 0);
    check!(
        send(&m.sys, a.pid, f, &msg, &[]) == Err(Errno::EINVAL),
        "not a channel"
    );
    check!(
        send(&m.sys, a.pid, ca, &msg, &[(77, Rights::READ)]) == Err(Errno::EBADF),
        "bad delegation"
    );
    let many: Vec<_> = (0..17).map(|_| (f, Rights::READ)).collect();
    check!(
        send(&m.sys, a.pid, ca, &msg, &many) == Err(Errno::EINVAL),
        "too many"
    );
    let buf = a.buf(8);
    check!(
        m.call(&mut a, 0, &[ca, buf, 8]) == Err(22),
        "read(2) on a channel is EINVAL"
    );
    for _ in 0..QUEUE_DEPTH {
        send(&m.sys, a.pid, ca, &msg, &[]).unwrap();
    }
    check!(
        send(&m.sys, a.pid, ca, &msg, &[]) == Err(Errno::EAGAIN),
        "queue full"
    );
    Ok(())
}

/// Every case; those needing a host thread or a second environment only
/// when hosted.
pub fn cases() -> Vec<Case> {
    vec![
        (
            "delegated_file_reads_through_the_receivers_abi",
            delegated_file_reads_through_the_receivers_abi,
        ),
        ("rights_only_shrink", rights_only_shrink),
        ("same_rights_share_the_offset", same_rights_share_the_offset),
        (
            "stat_is_converted_not_reinterpreted",
            stat_is_converted_not_reinterpreted,
        ),
        ("errors_travel_by_name", errors_travel_by_name),
        (
            "directory_entries_in_each_layout",
            directory_entries_in_each_layout,
        ),
        ("pipe_ends_cross_both_ways", pipe_ends_cross_both_ways),
        (
            "closing_an_end_ends_the_channel",
            closing_an_end_ends_the_channel,
        ),
        #[cfg(not(target_os = "none"))]
        (
            "blocking_receive_wakes_on_send",
            blocking_receive_wakes_on_send,
        ),
        ("sender_identity_matches_proc", sender_identity_matches_proc),
        ("channels_refuse_misuse", channels_refuse_misuse),
        #[cfg(not(target_os = "none"))]
        (
            "linux_hands_a_file_to_an_illumos_door",
            doors::linux_hands_a_file_to_an_illumos_door,
        ),
        #[cfg(not(target_os = "none"))]
        (
            "illumos_door_returns_a_descriptor_to_linux",
            doors::illumos_door_returns_a_descriptor_to_linux,
        ),
        #[cfg(not(target_os = "none"))]
        (
            "revoked_door_fails_the_linux_caller",
            doors::revoked_door_fails_the_linux_caller,
        ),
    ]
}

#[cfg(not(target_os = "none"))]
fn main() {
    exo_personality_tests::run_and_exit("cross", &cases());
}
