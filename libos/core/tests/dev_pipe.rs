//! devfs devices (with the kernel's generator through the hosted backend),
//! pipes and poll.

use std::sync::{Arc, Mutex};
use std::thread;

use exo_hosted::{Config, Machine};
use libos::Errno;
use libos::fs::devfs::{Devfs, Terminal};
use libos::fs::tmpfs::Tmpfs;
use libos::pipe::{PIPE_BUF, PIPE_CAPACITY, pipe};
use libos::poll::{Events, poll};
use libos::time::FixedClock;
use libos::vfs::file::{OpenFile, OpenFlags};
use libos::vfs::node::{FileType, Owner, Timespec};
use libos::vfs::{Cred, Vfs};

#[derive(Default)]
struct Screen(Mutex<Vec<u8>>);

impl Terminal for Screen {
    fn write(&self, bytes: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(bytes);
    }
    fn read(&self, buf: &mut [u8]) -> usize {
        let input = b"typed\n";
        buf[..input.len()].copy_from_slice(input);
        input.len()
    }
}

#[test]
fn devices_behave() {
    let machine = Machine::new(Config::default());
    let env = Arc::new(machine.spawn("app").expect("env"));
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
            clock,
        )),
        "rootfs",
    );
    let (cred, root) = (Cred::root(), vfs.root());
    vfs.mkdir(&cred, root, b"/dev", 0o755).expect("mkdir");
    let screen = Arc::new(Screen::default());
    vfs.mount(
        &cred,
        root,
        b"/dev",
        Arc::new(Devfs::new(5, env, screen.clone(), Timespec::default())),
        "devtmpfs",
        false,
    )
    .expect("mount");
    let open = |p: &str| {
        vfs.open(&cred, root, p.as_bytes(), OpenFlags::READ_WRITE, 0)
            .expect(p)
    };
    let mut buf = [0xaau8; 64];
    assert_eq!(open("/dev/null").read(&mut buf), Ok(0));
    assert_eq!(open("/dev/null").write(&buf), Ok(64));
    assert_eq!(open("/dev/zero").read(&mut buf), Ok(64));
    assert!(buf.iter().all(|&b| b == 0));
    assert_eq!(open("/dev/full").write(b"x"), Err(Errno::ENOSPC));
    let mut r1 = [0u8; 300];
    let mut r2 = [0u8; 300];
    open("/dev/urandom").read(&mut r1).expect("urandom");
    open("/dev/random").read(&mut r2).expect("random");
    assert_ne!(r1, r2);
    assert!(r1.iter().collect::<std::collections::BTreeSet<_>>().len() > 100);
    let tty = open("/dev/tty");
    tty.write(b"to the screen").expect("write");
    assert_eq!(&*screen.0.lock().unwrap(), b"to the screen");
    assert_eq!(tty.read(&mut buf), Ok(6));
    assert!(tty.special().is_some_and(|s| s.is_tty()));
    assert_eq!(
        tty.seek(0, libos::vfs::file::Whence::Set),
        Err(Errno::ESPIPE)
    );
    let st = vfs.stat(&cred, root, b"/dev/null", true).expect("stat");
    assert_eq!(
        (st.kind, st.rdev, st.mode()),
        (FileType::CharDevice, (1 << 8) | 3, 0o020_666)
    );
    assert_eq!(vfs.mkdir(&cred, root, b"/dev/x", 0o755), Err(Errno::EROFS));
    assert_eq!(
        vfs.stat(&cred, root, b"/dev/nope", true).err(),
        Some(Errno::ENOENT)
    );
}

fn ends(vfs: &Arc<Vfs>, nonblock: bool) -> (Arc<OpenFile>, Arc<OpenFile>) {
    let (r, w) = pipe();
    let rf = OpenFile::anonymous(
        Arc::clone(vfs),
        r,
        OpenFlags {
            nonblock,
            ..OpenFlags::READ
        },
        FileType::Fifo,
    );
    let wf = OpenFile::anonymous(
        Arc::clone(vfs),
        w,
        OpenFlags {
            nonblock,
            ..OpenFlags::WRITE
        },
        FileType::Fifo,
    );
    (Arc::new(rf), Arc::new(wf))
}

fn vfs() -> Arc<Vfs> {
    let clock = Arc::new(FixedClock(Timespec::default()));
    Vfs::new(
        Arc::new(Tmpfs::new(
            1,
            1 << 20,
            Owner {
                uid: 0,
                gid: 0,
                perm: 0o755,
            },
            clock,
        )),
        "rootfs",
    )
}

#[test]
fn pipes_block_fill_and_break() {
    let vfs = vfs();
    let (r, w) = ends(&vfs, true);
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf), Err(Errno::EAGAIN), "empty, nonblocking");
    assert_eq!(w.write(b"hello"), Ok(5));
    assert_eq!(r.read(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    // Fill it: atomic writes are all or nothing.
    let chunk = vec![1u8; PIPE_BUF];
    let mut total = 0;
    while w.write(&chunk) == Ok(PIPE_BUF) {
        total += PIPE_BUF;
    }
    assert_eq!(total, PIPE_CAPACITY);
    assert_eq!(w.write(&chunk), Err(Errno::EAGAIN));
    assert_eq!(r.read(&mut buf), Ok(8));
    assert_eq!(
        w.write(&chunk),
        Err(Errno::EAGAIN),
        "8 bytes of room is not 4096"
    );
    assert_eq!(w.write(b"ab"), Ok(2));
    // Readers gone: EPIPE. Writers gone: EOF after the data.
    drop(r);
    assert_eq!(w.write(b"x"), Err(Errno::EPIPE));
    let (r, w) = ends(&vfs, false);
    w.write(b"last").expect("write");
    drop(w);
    assert_eq!(r.read(&mut buf), Ok(4));
    assert_eq!(r.read(&mut buf), Ok(0), "EOF");
    assert_eq!(r.write(b"x"), Err(Errno::EBADF));
}

#[test]
fn a_blocking_reader_waits_for_a_writer_on_another_thread() {
    let vfs = vfs();
    let (r, w) = ends(&vfs, false);
    let writer = thread::spawn(move || {
        for i in 0..100u8 {
            w.write(&[i; 1000]).expect("write");
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 777];
    loop {
        let n = r.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    writer.join().expect("writer");
    assert_eq!(got.len(), 100_000);
    assert!(
        got.chunks(1000)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&b| b == i as u8))
    );
}

#[test]
fn poll_reports_readiness_and_times_out() {
    let vfs = vfs();
    let (r, w) = ends(&vfs, true);
    let clock = FixedClock(Timespec::default());
    let want = [
        (
            Arc::clone(&r),
            Events {
                read: true,
                write: false,
            },
        ),
        (
            Arc::clone(&w),
            Events {
                read: false,
                write: true,
            },
        ),
    ];
    let ready = poll(&want, Some(0), &clock);
    assert_eq!(
        ready,
        vec![
            Events::default(),
            Events {
                read: false,
                write: true
            }
        ]
    );
    w.write(b"x").expect("write");
    assert_eq!(
        poll(&want[..1], Some(0), &clock)[0],
        Events {
            read: true,
            write: false
        }
    );
}
