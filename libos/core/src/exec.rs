//! `exec`: running an ELF executable from the VFS as a process.
//!
//! The libOS reads the file (checking execute permission), validates it as
//! a static executable for this machine (the `elf` crate), hands the image
//! to the kernel in frames it owns (`ENV_CREATE`), starts the new
//! environment, and records it as a child process whose memory layout
//! `/proc/<pid>/maps` shows. `wait_child` blocks in `ENV_WAIT` and turns
//! the kernel's report into a POSIX exit status.

use alloc::string::String;
use alloc::vec::Vec;

use elf::ElfBytes;
use elf::abi::{ET_EXEC, PF_R, PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use exo_sys::Exo;

use crate::errno::{Errno, Result};
use crate::process::{ExitStatus, Pid, Region};
use crate::signal::Signal;
use crate::system::System;
use crate::vfs::file::OpenFlags;
use crate::vfs::node::FileType;
use crate::vfs::{Access, Cred, Node, permits};

/// Largest executable accepted (the kernel's `ENV_CREATE` limit is 16 MiB;
/// one `FRAME_ALLOC` run is 2 MiB).
pub const MAX_IMAGE: usize = 2 << 20;

/// `e_machine` of x86_64 executables.
pub const EM_X86_64: u16 = 62;
/// `e_machine` of aarch64 executables.
pub const EM_AARCH64: u16 = 183;
/// `e_machine` of this machine's executables.
#[cfg(target_arch = "aarch64")]
pub const EM_NATIVE: u16 = EM_AARCH64;
/// `e_machine` of this machine's executables.
#[cfg(not(target_arch = "aarch64"))]
pub const EM_NATIVE: u16 = EM_X86_64;

/// What an image will look like in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Entry point.
    pub entry: u64,
    /// Loadable segments as `/proc/<pid>/maps` regions.
    pub regions: Vec<Region>,
}

/// Which system an executable was built for, from its ELF brand: the
/// `EI_OSABI` byte (3 GNU/Linux, 6 Solaris/illumos, 9 FreeBSD) or, when
/// that is 0 (System V, as most toolchains leave it), an ABI note — the
/// GNU ABI tag with OS 0 (Linux), a `FreeBSD` note, or an illumos
/// (`SUNW Solaris`, `illumos`) note. `None` for an unbranded executable,
/// such as a static musl program or an exo program; the caller decides
/// (`spawn_as`).
#[must_use]
pub fn brand(bytes: &[u8]) -> Option<&'static str> {
    use elf::abi::PT_NOTE;
    use elf::note::Note;
    let file = ElfBytes::<LittleEndian>::minimal_parse(bytes).ok()?;
    match bytes.get(7) {
        Some(3) => return Some("linux"),
        Some(6) => return Some("illumos"),
        Some(9) => return Some("freebsd"),
        _ => {}
    }
    for ph in file.segments()?.iter().filter(|p| p.p_type == PT_NOTE) {
        let Ok(notes) = file.segment_data_as_notes(&ph) else {
            continue;
        };
        for note in notes {
            match note {
                Note::GnuAbiTag(tag) if tag.os == 0 => return Some("linux"),
                Note::Unknown(any) => match any.name_str() {
                    Ok("FreeBSD") => return Some("freebsd"),
                    Ok("SUNW Solaris" | "illumos") => return Some("illumos"),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    None
}

/// Validates `bytes` as a static 64-bit little-endian executable for
/// `machine`.
///
/// # Errors
/// `ENOEXEC` for anything else.
pub fn inspect(bytes: &[u8], machine: u16, path: &str) -> Result<Image> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(bytes).map_err(|_| Errno::ENOEXEC)?;
    if file.ehdr.class != elf::file::Class::ELF64
        || file.ehdr.e_machine != machine
        || file.ehdr.e_type != ET_EXEC
    {
        return Err(Errno::ENOEXEC);
    }
    let mut regions = Vec::new();
    for ph in file
        .segments()
        .ok_or(Errno::ENOEXEC)?
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
    {
        let flag = |bit, c| if ph.p_flags & bit != 0 { c } else { b'-' };
        let start = ph.p_vaddr & !0xfff;
        let end = ph
            .p_vaddr
            .checked_add(ph.p_memsz)
            .ok_or(Errno::ENOEXEC)?
            .next_multiple_of(4096);
        regions.push(Region {
            start,
            end,
            perms: [flag(PF_R, b'r'), flag(PF_W, b'w'), flag(PF_X, b'x'), b'p'],
            offset: ph.p_offset & !0xfff,
            name: path.into(),
        });
    }
    if regions.is_empty() {
        return Err(Errno::ENOEXEC);
    }
    Ok(Image {
        entry: file.ehdr.e_entry,
        regions,
    })
}

/// Reads an executable file, checking `cred` may execute it.
///
/// # Errors
/// Resolution errors, `EACCES` (a directory, not a regular file, or no
/// execute permission), `E2BIG` past [`MAX_IMAGE`], read errors.
pub fn read_executable(sys: &System, cred: &Cred, cwd: Node, path: &[u8]) -> Result<Vec<u8>> {
    let node = sys.vfs.resolve(cred, cwd, path, true)?;
    let st = sys.vfs.stat_node(node)?;
    if st.kind == FileType::Directory {
        return Err(Errno::EACCES);
    }
    if st.kind != FileType::Regular || !permits(cred, &st, Access::Exec) {
        return Err(Errno::EACCES);
    }
    if st.size > MAX_IMAGE as u64 {
        return Err(Errno::E2BIG);
    }
    let f = sys.vfs.open_node(cred, node, OpenFlags::READ)?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(st.size as usize)
        .map_err(|_| Errno::ENOMEM)?;
    bytes.resize(st.size as usize, 0);
    let mut done = 0;
    while done < bytes.len() {
        let n = f.read(&mut bytes[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    bytes.truncate(done);
    Ok(bytes)
}

/// A child created by [`spawn`]: its pid and the kernel's handle for its
/// environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Child {
    /// The process.
    pub pid: Pid,
    /// The environment id.
    pub env: u64,
    /// The environment capability handle (for `ENV_WAIT`, `ENV_DESTROY`).
    pub handle: u64,
}

/// `posix_spawn`: runs the executable at `path` as a new child of
/// `parent`, in its own environment.
///
/// # Errors
/// Resolution errors, `EACCES` (not executable), `ENOEXEC` (not a static
/// executable for this machine), `E2BIG`, `ENOMEM`, or the kernel's
/// refusal as an errno.
pub fn spawn<E: Exo + ?Sized>(
    sys: &System,
    exo: &E,
    parent: Pid,
    path: &[u8],
    argv: Vec<Vec<u8>>,
) -> Result<Child> {
    spawn_as(sys, exo, parent, path, argv, None)
}

/// [`spawn`] with the process's personality chosen explicitly
/// (`personality`), or else from the executable's [`brand`], or else
/// `native` (an exo program). `/proc/<pid>/personality` shows the choice.
///
/// # Errors
/// As [`spawn`].
pub fn spawn_as<E: Exo + ?Sized>(
    sys: &System,
    exo: &E,
    parent: Pid,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    personality: Option<&'static str>,
) -> Result<Child> {
    let (cred, cwd) = sys.procs.with(parent, |p| (p.cred.clone(), p.cwd))?;
    let bytes = read_executable(sys, &cred, cwd, path)?;
    let shown = String::from_utf8_lossy(path).into_owned();
    let image = inspect(&bytes, EM_NATIVE, &shown)?;
    let pages = (bytes.len() as u64).div_ceil(4096);
    let frames = exo.frame_alloc(pages)?;
    let created = exo
        .fill_frames(frames, &bytes)
        .and_then(|()| exo.env_create(frames, bytes.len() as u64));
    // The kernel copied the image; the staging frames go back either way.
    let _ = exo.frame_free(frames);
    let (env, handle) = created.map_err(|e| {
        if e == exo_sys::Error::InvalidArgument {
            Errno::ENOEXEC
        } else {
            Errno::from(e)
        }
    })?;
    let pid = sys.procs.fork(parent)?;
    let name = shown.rsplit('/').next().unwrap_or(&shown);
    let personality = personality.or_else(|| brand(&bytes)).unwrap_or("native");
    sys.procs
        .exec(pid, name, argv, image.regions, personality)?;
    if let Err(e) = exo.env_start(handle) {
        let _ = exo.env_destroy(handle);
        let _ = sys.procs.exit(pid, ExitStatus::Exited(127));
        return Err(e.into());
    }
    Ok(Child { pid, env, handle })
}

/// Waits for `child` to end and records its status in the process table
/// (the parent then reaps it with `wait`).
///
/// # Errors
/// The kernel's refusal as an errno.
pub fn wait_child<E: Exo + ?Sized>(sys: &System, exo: &E, child: Child) -> Result<ExitStatus> {
    let word = exo.env_wait(child.handle)?;
    let status = match word >> 8 {
        0 => ExitStatus::Exited((word & 0xff) as u8),
        // A CPU exception: the signal Linux would send for it.
        1 => {
            let signal = match word & 0xff {
                0 | 16 | 19 => Signal::SIGFPE,
                6 => Signal::SIGILL,
                3 => Signal::SIGTRAP,
                _ => Signal::SIGSEGV,
            };
            ExitStatus::Signaled { signal, core: true }
        }
        _ => ExitStatus::Signaled {
            signal: Signal::SIGKILL,
            core: false,
        },
    };
    sys.procs.exit(child.pid, status)?;
    Ok(status)
}
