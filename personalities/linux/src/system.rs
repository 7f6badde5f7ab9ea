//! Process and system queries: `prctl` (the name), `sysinfo`, and
//! `sendfile` (a copy between descriptors inside the libOS).

use exo_personality::Ctx;
use libos::vfs::Cred;
use libos::vfs::file::OpenFlags;
use libos::{Errno, Result};

use crate::calls::file;

const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
/// `TASK_COMM_LEN`: the name with its NUL.
const COMM_LEN: usize = 16;

/// `prctl`: the thread name (`PR_SET_NAME`/`PR_GET_NAME`, what `comm` and
/// `/proc/[pid]/status` show). Other options are `EINVAL`, as Linux
/// answers options it does not know.
pub(crate) fn prctl(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    match a[0] {
        PR_SET_NAME => {
            let mut raw = [0u8; COMM_LEN];
            // Read byte by byte: the name may sit at the end of a mapping.
            for (i, b) in raw.iter_mut().enumerate().take(COMM_LEN - 1) {
                let mut one = [0u8; 1];
                ctx.mem.read(a[1] + i as u64, &mut one)?;
                if one[0] == 0 {
                    break;
                }
                *b = one[0];
            }
            let len = raw.iter().position(|&b| b == 0).unwrap_or(COMM_LEN - 1);
            let name = alloc::string::String::from_utf8_lossy(&raw[..len]).into_owned();
            ctx.sys.procs.with(ctx.pid, |p| p.name = name)?;
            Ok(0)
        }
        PR_GET_NAME => {
            let name = ctx.sys.procs.with(ctx.pid, |p| p.name.clone())?;
            let mut out = [0u8; COMM_LEN];
            let n = name.len().min(COMM_LEN - 1);
            out[..n].copy_from_slice(&name.as_bytes()[..n]);
            ctx.mem.write(a[1], &out)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// A `/proc` file's text (the libOS's own view of the system).
fn proc_text(ctx: &Ctx<'_>, path: &[u8]) -> Result<alloc::string::String> {
    let f = ctx
        .sys
        .vfs
        .open(&Cred::root(), ctx.sys.vfs.root(), path, OpenFlags::READ, 0)?;
    let mut buf = alloc::vec![0u8; 4096];
    let n = f.read(&mut buf)?;
    Ok(alloc::string::String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The number after `key` in `/proc/meminfo`-style text, in KiB.
fn field_kib(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Size of `struct sysinfo` on x86_64.
pub const SYSINFO_SIZE: usize = 112;

/// `sysinfo`: uptime, memory (from `/proc/meminfo`, in bytes with
/// `mem_unit` 1), process count; no swap, no load average (the libOS does
/// not keep one), so those are 0.
pub(crate) fn sysinfo(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let mem = proc_text(ctx, b"/proc/meminfo")?;
    let uptime = ctx.sys.clock.uptime_ns() / 1_000_000_000;
    let procs = ctx.sys.procs.pids().len().min(usize::from(u16::MAX)) as u16;
    let mut b = [0u8; SYSINFO_SIZE];
    let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(0, uptime);
    // loads[3] at 8, 16, 24 stay 0.
    put(32, field_kib(&mem, "MemTotal:") * 1024);
    put(40, field_kib(&mem, "MemFree:") * 1024);
    put(48, field_kib(&mem, "Shmem:") * 1024);
    put(56, field_kib(&mem, "Buffers:") * 1024);
    // totalswap 64, freeswap 72: 0.
    b[80..82].copy_from_slice(&procs.to_le_bytes());
    // pad 82..88, totalhigh 88, freehigh 96: 0.
    b[104..108].copy_from_slice(&1u32.to_le_bytes());
    ctx.mem.write(a[0], &b)?;
    Ok(0)
}

/// Largest `sendfile` moved per call (Linux caps it near 2 GiB; the libOS
/// copies through a buffer, so less).
const SENDFILE_MAX: usize = 1 << 20;

/// `sendfile(out, in, offset*, count)`: copies from `in` (at `*offset`,
/// which is then advanced, or at its file offset) to `out`.
pub(crate) fn sendfile(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let [out_fd, in_fd, off_ptr, count, ..] = a;
    let out = file(ctx, out_fd)?;
    let input = file(ctx, in_fd)?;
    if !input.flags().read || !out.flags().write {
        return Err(Errno::EBADF);
    }
    let len = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(SENDFILE_MAX);
    let mut buf = alloc::vec![0u8; len];
    let n = if off_ptr == 0 {
        input.read(&mut buf)?
    } else {
        let off = ctx.u64_at(off_ptr)?;
        if (off as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        let n = input.read_at(off, &mut buf)?;
        ctx.mem.write(off_ptr, &(off + n as u64).to_le_bytes())?;
        n
    };
    let mut done = 0;
    while done < n {
        match out.write(&buf[done..n]) {
            Ok(0) => break,
            Ok(w) => done += w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done as u64)
}
