//! exec from the VFS on the hosted backend: validation, permission, the
//! image handed to the kernel, the process recorded with its layout.

use std::sync::Arc;

use exo_hosted::{Config, Machine};
use exo_sys::Exo;
use libos::Errno;
use libos::exec::{self, EM_X86_64};
use libos::fs::procfs::{CpuInfo, MemInfo, SystemInfo};
use libos::process::INIT;
use libos::system::{Options, System};
use libos::vfs::Cred;
use libos::vfs::file::OpenFlags;

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
        "test".into()
    }
    fn uptime_ns(&self) -> u64 {
        0
    }
}

/// A minimal static executable: one R+X segment at 0x400000 that exits 42.
fn tiny_elf() -> Vec<u8> {
    let code: [u8; 12] = [0xb8, 1, 0, 0, 0, 0xbf, 42, 0, 0, 0, 0x0f, 0x05];
    let total = 64 + 56 + code.len();
    let mut b = vec![0u8; total];
    b[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    b[16..18].copy_from_slice(&2u16.to_le_bytes());
    b[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[24..32].copy_from_slice(&(0x40_0000u64 + 120).to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes());
    b[52..54].copy_from_slice(&64u16.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    b[56..58].copy_from_slice(&1u16.to_le_bytes());
    let ph = 64;
    b[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
    b[ph + 4..ph + 8].copy_from_slice(&5u32.to_le_bytes());
    b[ph + 16..ph + 24].copy_from_slice(&0x40_0000u64.to_le_bytes());
    b[ph + 24..ph + 32].copy_from_slice(&0x40_0000u64.to_le_bytes());
    b[ph + 32..ph + 40].copy_from_slice(&(total as u64).to_le_bytes());
    b[ph + 40..ph + 48].copy_from_slice(&(total as u64).to_le_bytes());
    b[ph + 48..ph + 56].copy_from_slice(&0x1000u64.to_le_bytes());
    b[120..].copy_from_slice(&code);
    b
}

fn write(sys: &System, path: &str, bytes: &[u8], perm: u32) {
    let f = sys
        .vfs
        .open(
            &Cred::root(),
            sys.vfs.root(),
            path.as_bytes(),
            OpenFlags {
                create: true,
                ..OpenFlags::WRITE
            },
            perm,
        )
        .expect("create");
    f.write(bytes).expect("write");
}

#[test]
fn executables_become_child_environments() {
    let machine = Machine::new(Config::default());
    let env = Arc::new(machine.spawn("libos").expect("env"));
    let sys = System::boot(Arc::clone(&env), Arc::new(Info), Options::default()).expect("boot");
    sys.vfs
        .mkdir(&Cred::root(), sys.vfs.root(), b"/bin", 0o755)
        .expect("mkdir");
    write(&sys, "/bin/tiny", &tiny_elf(), 0o755);
    write(&sys, "/bin/text", b"#!/bin/sh\necho not elf\n", 0o755);
    write(&sys, "/bin/noexec", &tiny_elf(), 0o644);
    let image = exec::inspect(&tiny_elf(), EM_X86_64, "/bin/tiny").expect("inspect");
    assert_eq!(image.entry, 0x40_0078);
    assert_eq!(
        exec::inspect(&tiny_elf(), 183, "x").err(),
        Some(Errno::ENOEXEC),
        "wrong machine"
    );

    let child =
        exec::spawn(&sys, &*env, INIT, b"/bin/tiny", vec![b"tiny".to_vec()]).expect("spawn");
    let p = sys.procs.get(child.pid).expect("process");
    assert_eq!((p.name.as_str(), p.ppid), ("tiny", INIT));
    assert_eq!(p.mm.regions()[0].start, 0x40_0000);
    assert_eq!(&p.mm.regions()[0].perms, b"r-xp");
    // The kernel has the environment, started, with the image loaded.
    assert_eq!(
        machine.with_kernel(|k| k
            .name(exokernel::cap::EnvId(child.env as u32))
            .map(str::to_string)),
        Some("child".into())
    );
    let loaded =
        machine.with_kernel(|k| k.translate(exokernel::cap::EnvId(child.env as u32), 0x40_0000));
    assert!(loaded.is_some(), "the image is mapped in the child");
    // Nothing runs hosted code for it here; end it and reap.
    env.env_destroy(child.handle).expect("destroy");
    assert_eq!(
        env.env_wait(child.handle),
        Err(exo_sys::Error::BadCapability),
        "ended"
    );

    let cases: [(&[u8], Errno); 4] = [
        (b"/bin/text", Errno::ENOEXEC),
        (b"/bin/noexec", Errno::EACCES),
        (b"/bin", Errno::EACCES),
        (b"/bin/missing", Errno::ENOENT),
    ];
    for (path, errno) in cases {
        assert_eq!(
            exec::spawn(&sys, &*env, INIT, path, vec![]).err(),
            Some(errno),
            "{}",
            String::from_utf8_lossy(path)
        );
    }
    // Failed spawns leave no process behind.
    assert_eq!(sys.procs.pids(), vec![INIT, child.pid]);
}

/// `tiny_elf` with a `PT_NOTE` segment holding one note.
fn noted_elf(name: &[u8], n_type: u32, desc: &[u8]) -> Vec<u8> {
    let mut b = tiny_elf();
    // Move the code out of the way: the note and a second program header
    // go at the end; e_phoff points at the new table.
    let mut note = Vec::new();
    note.extend_from_slice(&((name.len() + 1) as u32).to_le_bytes());
    note.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    note.extend_from_slice(&n_type.to_le_bytes());
    note.extend_from_slice(name);
    note.push(0);
    while !note.len().is_multiple_of(4) {
        note.push(0);
    }
    note.extend_from_slice(desc);
    while !b.len().is_multiple_of(8) {
        b.push(0);
    }
    let note_at = b.len();
    b.extend_from_slice(&note);
    while !b.len().is_multiple_of(8) {
        b.push(0);
    }
    let table = b.len();
    let load: Vec<u8> = b[64..120].to_vec();
    b.extend_from_slice(&load);
    let mut ph = vec![0u8; 56];
    ph[..4].copy_from_slice(&4u32.to_le_bytes()); // PT_NOTE
    ph[4..8].copy_from_slice(&4u32.to_le_bytes());
    ph[8..16].copy_from_slice(&(note_at as u64).to_le_bytes());
    ph[32..40].copy_from_slice(&(note.len() as u64).to_le_bytes());
    ph[40..48].copy_from_slice(&(note.len() as u64).to_le_bytes());
    ph[48..56].copy_from_slice(&4u64.to_le_bytes());
    b.extend_from_slice(&ph);
    b[32..40].copy_from_slice(&(table as u64).to_le_bytes());
    b[56..58].copy_from_slice(&2u16.to_le_bytes());
    b
}

#[test]
fn brands_choose_the_personality() {
    let mut e = tiny_elf();
    assert_eq!(exec::brand(&e), None, "unbranded (System V, no note)");
    for (osabi, name) in [(3, "linux"), (6, "illumos"), (9, "freebsd")] {
        e[7] = osabi;
        assert_eq!(exec::brand(&e), Some(name), "EI_OSABI {osabi}");
    }
    assert_eq!(
        exec::brand(&noted_elf(b"FreeBSD", 1, &[0; 4])),
        Some("freebsd")
    );
    assert_eq!(
        exec::brand(&noted_elf(b"illumos", 1, &[0; 4])),
        Some("illumos")
    );
    let gnu_linux = [0u32, 3, 2, 0].map(u32::to_le_bytes).concat();
    assert_eq!(
        exec::brand(&noted_elf(b"GNU", 1, &gnu_linux)),
        Some("linux")
    );
    let gnu_hurd = [1u32, 0, 0, 0].map(u32::to_le_bytes).concat();
    assert_eq!(
        exec::brand(&noted_elf(b"GNU", 1, &gnu_hurd)),
        None,
        "GNU/Hurd"
    );
    assert_eq!(exec::brand(b"not an ELF file"), None);
    // A real host executable: this test, linked by the GNU toolchain with
    // the GNU ABI tag.
    let me = std::fs::read("/proc/self/exe").expect("own executable");
    assert_eq!(exec::brand(&me), Some("linux"));

    // spawn records the brand, and an explicit choice wins over it.
    let machine = Machine::new(Config::default());
    let env = Arc::new(machine.spawn("libos").expect("env"));
    let sys = System::boot(Arc::clone(&env), Arc::new(Info), Options::default()).expect("boot");
    let mut bsd = tiny_elf();
    bsd[7] = 9;
    write(&sys, "/tmp/bsd", &bsd, 0o755);
    write(&sys, "/tmp/plain", &tiny_elf(), 0o755);
    let shown = |pid| sys.procs.get(pid).expect("process").personality;
    let c = exec::spawn(&sys, &*env, INIT, b"/tmp/bsd", vec![]).expect("spawn");
    assert_eq!(shown(c.pid), "freebsd");
    let c = exec::spawn(&sys, &*env, INIT, b"/tmp/plain", vec![]).expect("spawn");
    assert_eq!(shown(c.pid), "native");
    let c = exec::spawn_as(&sys, &*env, INIT, b"/tmp/plain", vec![], Some("linux")).expect("spawn");
    assert_eq!(shown(c.pid), "linux");
}
