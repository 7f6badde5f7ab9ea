//! The library OS on bare metal: boots the same `exo-libos` the hosted
//! examples use, over the `BareMetal` backend, and exercises it — files,
//! directories, symlinks, devices (the kernel's generator behind
//! `/dev/urandom`), procfs, a pipe — then `exec`s an ELF executable from
//! its own tmpfs as a child environment and waits for its exit status.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use exo_sys::{BareMetal, Exo, println};
use libos::fs::procfs::{CpuInfo, MemInfo, SystemInfo};
use libos::process::INIT;
use libos::system::{Options, System};
use libos::vfs::Cred;
use libos::vfs::file::{OpenFile, OpenFlags};
use libos::vfs::node::FileType;

struct Info;

impl SystemInfo for Info {
    fn meminfo(&self) -> MemInfo {
        // The environment's frame quota is what it may use.
        MemInfo {
            total_kib: 16 * 1024,
            free_kib: 12 * 1024,
            available_kib: 12 * 1024,
        }
    }
    fn cpus(&self) -> Vec<CpuInfo> {
        vec![CpuInfo {
            vendor: "exo".into(),
            model: format!("{ARCH} (bare metal)"),
            mhz: 0,
            flags: Vec::new(),
        }]
    }
    fn bootlog(&self) -> Vec<u8> {
        // The kernel's early boot ring, through LOG_READ.
        let mut log = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = BareMetal.log_read(log.len() as u64, &mut buf) {
            if n == 0 {
                break;
            }
            log.extend_from_slice(&buf[..n]);
        }
        log
    }
    fn version(&self) -> String {
        format!("exo 0.1.0 ({ARCH}, bare metal)")
    }
    fn uptime_ns(&self) -> u64 {
        BareMetal.clock_ns()
    }
}

/// This machine.
#[cfg(target_arch = "x86_64")]
const ARCH: &str = "x86_64";
/// This machine.
#[cfg(target_arch = "aarch64")]
const ARCH: &str = "aarch64";

/// `ENV_EXIT(42)`: `mov eax, 1; mov edi, 42; syscall`.
#[cfg(target_arch = "x86_64")]
const CHILD_CODE: [u8; 12] = [0xb8, 1, 0, 0, 0, 0xbf, 42, 0, 0, 0, 0x0f, 0x05];
/// `ENV_EXIT(42)`: `mov x0, #42; mov x8, #1; svc #0`.
#[cfg(target_arch = "aarch64")]
const CHILD_CODE: [u8; 12] = [
    0x40, 0x05, 0x80, 0xd2, 0x28, 0x00, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4,
];

/// The child: `ENV_EXIT(42)` just after its headers, as a static ELF
/// executable at the start of user programs' space.
fn child_image() -> Vec<u8> {
    let code = CHILD_CODE;
    let load = exo_sys::user_address(0x40_0000);
    let total = 64 + 56 + code.len();
    let mut b = vec![0u8; total];
    b[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    b[16..18].copy_from_slice(&2u16.to_le_bytes());
    b[18..20].copy_from_slice(&libos::exec::EM_NATIVE.to_le_bytes());
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[24..32].copy_from_slice(&(load + 120).to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes());
    b[52..54].copy_from_slice(&64u16.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    b[56..58].copy_from_slice(&1u16.to_le_bytes());
    let ph = 64;
    b[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
    b[ph + 4..ph + 8].copy_from_slice(&5u32.to_le_bytes());
    b[ph + 16..ph + 24].copy_from_slice(&load.to_le_bytes());
    b[ph + 24..ph + 32].copy_from_slice(&load.to_le_bytes());
    b[ph + 32..ph + 40].copy_from_slice(&(total as u64).to_le_bytes());
    b[ph + 40..ph + 48].copy_from_slice(&(total as u64).to_le_bytes());
    b[ph + 48..ph + 56].copy_from_slice(&0x1000u64.to_le_bytes());
    b[120..].copy_from_slice(&code);
    b
}

fn read_all(f: &OpenFile) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn run() -> Result<(), libos::Errno> {
    libos::wait::install(Box::new(exo_sys::yield_now));
    let exo = Arc::new(BareMetal);
    let sys = System::boot(Arc::clone(&exo), Arc::new(Info), Options::default())?;
    let (cred, root) = (Cred::root(), sys.vfs.root());
    let create = OpenFlags {
        create: true,
        trunc: true,
        ..OpenFlags::WRITE
    };

    sys.vfs.mkdir(&cred, root, b"/tmp/docs", 0o755)?;
    sys.vfs
        .open(&cred, root, b"/tmp/docs/readme", create, 0o644)?
        .write(b"an exokernel libOS on bare metal\n")?;
    sys.vfs
        .symlink(&cred, root, b"/tmp/docs/readme", b"/tmp/link")?;
    let text = read_all(
        &*sys
            .vfs
            .open(&cred, root, b"/tmp/link", OpenFlags::READ, 0)?,
    );
    println!(
        "libosdemo: /tmp/link says: {}",
        String::from_utf8_lossy(&text).trim_end()
    );

    let mut random = [0u8; 16];
    sys.vfs
        .open(&cred, root, b"/dev/urandom", OpenFlags::READ, 0)?
        .read(&mut random)?;
    println!("libosdemo: /dev/urandom gave {:02x?}", &random[..8]);

    let status = read_all(
        &*sys
            .vfs
            .open(&cred, root, b"/proc/self/status", OpenFlags::READ, 0)?,
    );
    let first = String::from_utf8_lossy(&status)
        .lines()
        .take(3)
        .collect::<Vec<_>>()
        .join(" | ");
    println!("libosdemo: /proc/self/status: {first}");
    let mounts = read_all(
        &*sys
            .vfs
            .open(&cred, root, b"/proc/mounts", OpenFlags::READ, 0)?,
    );
    println!(
        "libosdemo: {} mounts",
        String::from_utf8_lossy(&mounts).lines().count()
    );
    let bootlog = read_all(
        &*sys
            .vfs
            .open(&cred, root, b"/proc/bootlog", OpenFlags::READ, 0)?,
    );
    let marker = String::from_utf8_lossy(&bootlog).contains("booted in");
    println!(
        "libosdemo: /proc/bootlog ({} bytes) has the kernel's marker: {marker}",
        bootlog.len()
    );

    let (r, w) = libos::pipe::pipe();
    let reader = OpenFile::anonymous(Arc::clone(&sys.vfs), r, OpenFlags::READ, FileType::Fifo);
    let writer = OpenFile::anonymous(Arc::clone(&sys.vfs), w, OpenFlags::WRITE, FileType::Fifo);
    writer.write(b"through a pipe")?;
    drop(writer);
    println!(
        "libosdemo: pipe carried '{}'",
        String::from_utf8_lossy(&read_all(&reader))
    );

    sys.vfs.mkdir(&cred, root, b"/bin", 0o755)?;
    sys.vfs
        .open(&cred, root, b"/bin/answer", create, 0o755)?
        .write(&child_image())?;
    let child = libos::exec::spawn(&sys, &*exo, INIT, b"/bin/answer", vec![b"answer".to_vec()])?;
    println!(
        "libosdemo: exec'd /bin/answer as pid {} in environment {}",
        child.pid, child.env
    );
    let status = libos::exec::wait_child(&sys, &*exo, child)?;
    let reaped = sys
        .procs
        .wait(INIT, libos::process::WaitFor::Pid(child.pid), true)?;
    println!(
        "libosdemo: child ended with {status:?}, wait status {:#x}, reaped {}",
        status.wait_status(),
        reaped.is_some()
    );
    Ok(())
}

#[unsafe(no_mangle)]
fn main(_env: u64) -> u64 {
    match run() {
        Ok(()) => {
            println!("libosdemo: done");
            0
        }
        Err(e) => {
            println!("libosdemo: failed: {e}");
            1
        }
    }
}
