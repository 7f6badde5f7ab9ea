//! A whole libOS on the hosted backend: /proc and /sys in Linux's
//! formats, /proc/self, /proc/<pid>/fd, /proc/mounts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use exo_hosted::{Config, Machine};
use libos::Errno;
use libos::fs::procfs::{CpuInfo, DeviceInfo, MemInfo, SystemInfo};
use libos::process::{INIT, Region};
use libos::system::{Options, System};
use libos::vfs::Cred;
use libos::vfs::file::OpenFlags;

struct Info;

impl SystemInfo for Info {
    fn meminfo(&self) -> MemInfo {
        MemInfo {
            total_kib: 262_144,
            free_kib: 200_000,
            available_kib: 190_000,
        }
    }
    fn cpus(&self) -> Vec<CpuInfo> {
        vec![CpuInfo {
            vendor: "GenuineIntel".into(),
            model: "QEMU Virtual CPU".into(),
            mhz: 2600,
            flags: vec!["fpu".into(), "rdrand".into()],
        }]
    }
    fn bootlog(&self) -> Vec<u8> {
        b"[    0.000000] INFO  exo: entered long mode\n".to_vec()
    }
    fn version(&self) -> String {
        "exo 0.1.0 (x86_64)".into()
    }
    fn uptime_ns(&self) -> u64 {
        12_345_678_901
    }
    fn devices(&self) -> Vec<DeviceInfo> {
        vec![DeviceInfo {
            path: "platform/hpet".into(),
            attributes: vec![("address".into(), "0xfed00000".into())],
        }]
    }
}

fn read(sys: &System, path: &str) -> Result<String, Errno> {
    let f = sys.vfs.open(
        &Cred::root(),
        sys.vfs.root(),
        path.as_bytes(),
        OpenFlags::READ,
        0,
    )?;
    let mut out = Vec::new();
    let mut buf = [0u8; 100];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn proc_and_sys_describe_the_system() {
    let machine = Machine::new(Config::default());
    let env = Arc::new(machine.spawn("libos").expect("env"));
    let me = Arc::new(AtomicU32::new(INIT));
    let who = Arc::clone(&me);
    let sys = System::boot(
        env,
        Arc::new(Info),
        Options {
            current: Some(Arc::new(move || who.load(Ordering::SeqCst))),
            ..Options::default()
        },
    )
    .expect("boot");
    let child = sys.procs.fork(INIT).expect("fork");
    sys.procs
        .exec(
            child,
            "sh",
            vec![b"sh".to_vec(), b"-c".to_vec(), b"echo hi".to_vec()],
            vec![Region {
                start: 0x40_0000,
                end: 0x45_2000,
                perms: *b"r-xp",
                offset: 0,
                name: "/bin/sh".into(),
            }],
            "linux",
        )
        .expect("exec");
    let f = sys
        .vfs
        .open(
            &Cred::root(),
            sys.vfs.root(),
            b"/tmp/log",
            OpenFlags {
                create: true,
                ..OpenFlags::WRITE
            },
            0o644,
        )
        .expect("open");
    sys.procs
        .with(child, |p| p.fds.insert(f, false))
        .expect("p")
        .expect("fd");

    let status = read(&sys, &format!("/proc/{child}/status")).expect("status");
    assert!(
        status.starts_with("Name:\tsh\nUmask:\t0022\nState:\tR (running)\n"),
        "{status}"
    );
    assert!(status.contains(&format!("\nPid:\t{child}\nPPid:\t1\n")));
    assert!(status.contains("\nUid:\t0\t0\t0\t0\n"));
    assert!(status.contains("\nPersonality:\tlinux\n"));
    assert_eq!(
        read(&sys, &format!("/proc/{child}/cmdline")).expect("cmdline"),
        "sh\0-c\0echo hi\0"
    );
    assert_eq!(
        read(&sys, &format!("/proc/{child}/comm")).expect("comm"),
        "sh\n"
    );
    let maps = read(&sys, &format!("/proc/{child}/maps")).expect("maps");
    assert!(
        maps.starts_with("00400000-00452000 r-xp 00000000 00:00 0 "),
        "{maps}"
    );
    assert!(maps.trim_end().ends_with("/bin/sh"));
    let link = sys
        .vfs
        .readlink(
            &Cred::root(),
            sys.vfs.root(),
            format!("/proc/{child}/fd/0").as_bytes(),
        )
        .expect("fd link");
    assert_eq!(link, b"/tmp/log");
    assert_eq!(
        sys.vfs
            .stat(
                &Cred::root(),
                sys.vfs.root(),
                format!("/proc/{child}/fd/1").as_bytes(),
                false
            )
            .err(),
        Some(Errno::ENOENT)
    );
    // /proc/self follows whoever asks.
    assert_eq!(
        sys.vfs
            .readlink(&Cred::root(), sys.vfs.root(), b"/proc/self"),
        Ok(b"1".to_vec())
    );
    me.store(child, Ordering::SeqCst);
    assert_eq!(read(&sys, "/proc/self/comm").expect("self"), "sh\n");
    // System files.
    let meminfo = read(&sys, "/proc/meminfo").expect("meminfo");
    assert_eq!(meminfo.lines().next(), Some("MemTotal:         262144 kB"));
    assert_eq!(read(&sys, "/proc/uptime").expect("uptime"), "12.34 0.00\n");
    let cpu = read(&sys, "/proc/cpuinfo").expect("cpuinfo");
    assert!(cpu.starts_with("processor\t: 0\nvendor_id\t: GenuineIntel\n"));
    let mounts = read(&sys, "/proc/mounts").expect("mounts");
    assert!(mounts.contains("rootfs / tmpfs rw 0 0\n"), "{mounts}");
    assert!(mounts.contains("proc /proc proc rw 0 0\n"));
    assert!(mounts.contains("devtmpfs /dev devtmpfs rw 0 0\n"));
    assert!(
        read(&sys, "/proc/bootlog")
            .expect("bootlog")
            .contains("entered long mode")
    );
    assert_eq!(
        read(&sys, "/sys/kernel/hostname").expect("hostname"),
        "exo\n"
    );
    assert_eq!(
        read(&sys, "/sys/devices/platform/hpet/address").expect("hpet"),
        "0xfed00000\n"
    );
    // A directory listing of /proc has the processes.
    let d = sys
        .vfs
        .open(&Cred::root(), sys.vfs.root(), b"/proc", OpenFlags::READ, 0)
        .expect("dir");
    let names: Vec<String> = d
        .read_dir(100)
        .expect("readdir")
        .into_iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect();
    assert!(
        names.contains(&"1".to_string())
            && names.contains(&child.to_string())
            && names.contains(&"self".to_string())
    );
    // Read-only, and a dead process vanishes.
    let w = sys
        .vfs
        .open(
            &Cred::root(),
            sys.vfs.root(),
            b"/proc/meminfo",
            OpenFlags::WRITE,
            0,
        )
        .expect("open for write");
    assert_eq!(w.write(b"x"), Err(Errno::EACCES));
    sys.procs
        .exit(child, libos::process::ExitStatus::Exited(0))
        .expect("exit");
    sys.procs
        .wait(INIT, libos::process::WaitFor::Any, true)
        .expect("reap");
    assert_eq!(
        read(&sys, &format!("/proc/{child}/status")).err(),
        Some(Errno::ENOENT)
    );
}
