//! The `door` system call (201): the illumos ABI side of [`crate::door`].
//!
//! Subcode in the sixth argument: `DOOR_CREATE` 0 (procedure, cookie,
//! attributes), `DOOR_REVOKE` 1 (fd), `DOOR_INFO` 2 (fd, `door_info_t *`),
//! `DOOR_CALL` 3 (fd, `door_arg_t *`), `DOOR_RETURN` 10 (data, size,
//! `door_return_desc_t *`, stack base, stack size).

use alloc::sync::Arc;
use alloc::vec::Vec;

use exo_personality::Ctx;
use libos::vfs::file::{OpenFile, OpenFlags};
use libos::vfs::node::FileType;
use libos::{Errno, Result};

use crate::abi::door::{
    ARG_SIZE, CALL, CREATE, DESC_SIZE, DOOR_CREATE_MASK, DOOR_DESCRIPTOR, DOOR_LOCAL, DOOR_QUERY,
    DOOR_RELEASE, DOOR_REVOKED, INFO, INFO_SIZE, RESULTS_SIZE, RETURN, REVOKE,
};
use crate::calls::{IO_MAX, close_fd, file, install};
use crate::door::{self, Door, Payload};

/// Most descriptors one call or return may pass.
const DESC_MAX: u64 = 256;

pub(crate) fn door(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    match a[5] {
        CREATE => create(ctx, a),
        REVOKE => revoke(ctx, a),
        INFO => info(ctx, a),
        CALL => call(ctx, a),
        RETURN => ret(ctx, a),
        // DOOR_BIND/UNBIND (private server pools), DOOR_UNREFSYS,
        // DOOR_UCRED, DOOR_GETPARAM/SETPARAM and the historic return (4)
        // are not provided; illumos answers unknown subcodes with EINVAL.
        _ => Err(Errno::EINVAL),
    }
}

/// The door behind an open file, if it is a door.
pub(crate) fn door_of(f: &OpenFile) -> Option<Arc<Door>> {
    door::door_of(f)
}

fn door_fd(ctx: &Ctx<'_>, fd: u64) -> Result<Arc<Door>> {
    door_of(&*file(ctx, fd)?).ok_or(Errno::EBADF)
}

fn create(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let attributes = u32::try_from(a[2]).map_err(|_| Errno::EINVAL)?;
    if attributes & !DOOR_CREATE_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    let (_, special) = door::create(ctx.sys, ctx.pid, a[0], a[1], attributes)?;
    let f = Arc::new(OpenFile::anonymous(
        Arc::clone(&ctx.sys.vfs),
        special,
        OpenFlags::READ,
        FileType::Regular,
    ));
    install(ctx, f, false)
}

fn revoke(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let d = door_fd(ctx, a[0])?;
    if d.server != ctx.pid {
        return Err(Errno::EPERM);
    }
    d.revoke();
    // door_revoke also closes the descriptor.
    close_fd(ctx, i64::from(a[0] as i32)).map(|()| 0)
}

/// `door_info_t` (pack 4): `di_target` 0, `di_proc` 4, `di_data` 12,
/// `di_attributes` 20, `di_uniquifier` 24, `di_resv[4]` 32.
fn info(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let d = if a[0] as i32 == DOOR_QUERY {
        door::serving_door(ctx.sys, ctx.pid).ok_or(Errno::EBADF)?
    } else {
        door_fd(ctx, a[0])?
    };
    let mut attrs = d.attributes;
    if d.server == ctx.pid {
        attrs |= DOOR_LOCAL;
    }
    if d.revoked() {
        attrs |= DOOR_REVOKED;
    }
    let target = if ctx.sys.procs.get(d.server).is_ok() {
        d.server as i32
    } else {
        -1
    };
    let mut b = [0u8; INFO_SIZE];
    b[0..4].copy_from_slice(&target.to_le_bytes());
    b[4..12].copy_from_slice(&d.procedure.to_le_bytes());
    b[12..20].copy_from_slice(&d.cookie.to_le_bytes());
    b[20..24].copy_from_slice(&attrs.to_le_bytes());
    b[24..32].copy_from_slice(&d.id.to_le_bytes());
    ctx.mem.write(a[1], &b)?;
    Ok(0)
}

/// Reads `n` `door_desc_t`s at `at`: the open files they pass and the
/// descriptors to close afterwards (`DOOR_RELEASE`).
fn read_descs(ctx: &Ctx<'_>, at: u64, n: u64) -> Result<(Vec<Arc<OpenFile>>, Vec<i64>)> {
    if n > DESC_MAX {
        return Err(Errno::E2BIG);
    }
    let raw = ctx.bytes(at, n * DESC_SIZE as u64, DESC_MAX as usize * DESC_SIZE)?;
    let mut files = Vec::new();
    let mut release = Vec::new();
    for d in raw.chunks_exact(DESC_SIZE) {
        let attr = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
        let fd = i32::from_le_bytes([d[4], d[5], d[6], d[7]]);
        if attr & DOOR_DESCRIPTOR == 0 {
            return Err(Errno::EINVAL);
        }
        files.push(file(ctx, fd as u32 as u64)?);
        if attr & DOOR_RELEASE != 0 {
            release.push(i64::from(fd));
        }
    }
    Ok((files, release))
}

/// Installs passed files in the caller's table and encodes them as
/// `door_desc_t`s.
fn receive_descs(ctx: &Ctx<'_>, files: Vec<Arc<OpenFile>>) -> Result<(Vec<u8>, Vec<i64>)> {
    let mut out = Vec::new();
    let mut fds = Vec::new();
    for f in files {
        let id = door_of(&f).map_or(0, |d| d.id);
        let fd = match install(ctx, f, false) {
            Ok(fd) => fd,
            Err(e) => {
                for fd in fds {
                    let _ = close_fd(ctx, fd);
                }
                return Err(e);
            }
        };
        fds.push(fd as i64);
        let mut d = [0u8; DESC_SIZE];
        d[0..4].copy_from_slice(&DOOR_DESCRIPTOR.to_le_bytes());
        d[4..8].copy_from_slice(&(fd as i32).to_le_bytes());
        d[8..16].copy_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&d);
    }
    Ok((out, fds))
}

/// `door_call(fd, door_arg_t *)`. `door_arg_t`: `data_ptr` 0, `data_size`
/// 8, `desc_ptr` 16, `desc_num` 24, `rbuf` 32, `rsize` 40. On return the
/// results are in `rbuf`: `data_ptr` = `rbuf`, `data_size` = their length,
/// returned descriptors (new fds of the caller) follow the data, 8-aligned,
/// at `desc_ptr`.
fn call(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let d = door_fd(ctx, a[0])?;
    let params = a[1];
    let raw = ctx.bytes(params, ARG_SIZE as u64, ARG_SIZE)?;
    let word = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().unwrap_or([0; 8]));
    let (data_ptr, data_size, desc_ptr) = (word(0), word(8), word(16));
    let desc_num = u64::from(u32::from_le_bytes([raw[24], raw[25], raw[26], raw[27]]));
    let (rbuf, rsize) = (word(32), word(40));
    if data_size > IO_MAX as u64 {
        return Err(Errno::E2BIG);
    }
    let data = ctx.bytes(data_ptr, data_size, IO_MAX)?;
    let (files, release) = read_descs(ctx, desc_ptr, desc_num)?;
    // The results must be writable before the server runs for us.
    ctx.mem.write(params, &raw)?;
    let results = door::call(ctx.sys, ctx.pid, &d, Payload { data, files })?;
    for fd in release {
        let _ = close_fd(ctx, fd);
    }
    let off = results.data.len().next_multiple_of(8);
    let need = off + results.files.len() * DESC_SIZE;
    if need as u64 > rsize {
        // illumos would map a larger buffer into the caller; the
        // personality cannot allocate in the caller's address space.
        return Err(Errno::E2BIG);
    }
    ctx.mem.write(rbuf, &results.data)?;
    let n = results.files.len();
    let (descs, fds) = receive_descs(ctx, results.files)?;
    if let Err(e) = ctx.mem.write(rbuf + off as u64, &descs) {
        for fd in fds {
            let _ = close_fd(ctx, fd);
        }
        return Err(e);
    }
    let mut out = raw.clone();
    out[0..8].copy_from_slice(&rbuf.to_le_bytes());
    out[8..16].copy_from_slice(&(results.data.len() as u64).to_le_bytes());
    let dp = if n > 0 { rbuf + off as u64 } else { 0 };
    out[16..24].copy_from_slice(&dp.to_le_bytes());
    out[24..28].copy_from_slice(&(n as u32).to_le_bytes());
    ctx.mem.write(params, &out)?;
    Ok(0)
}

/// `door_return(data, size, door_return_desc_t *, sp, ssize)`: delivers
/// the results of the call being served (if any) and blocks for the next
/// call. The call's arguments are copied into the server's stack area
/// `[sp, sp + ssize)`: `struct door_results` at `sp` (`cookie` 0,
/// `data_ptr` 8, `data_size` 16, `desc_ptr` 24, `desc_num` 32, `pc` 40,
/// `nservers` 48, `door_info` 56), the data after it, then the received
/// descriptors (new fds of the server) 8-aligned. Returns `sp`: where the
/// server thread's user code finds its invocation.
fn ret(ctx: &mut Ctx<'_>, a: [u64; 6]) -> Result<u64> {
    let (sp, ssize) = (a[3], a[4]);
    let results = (|| {
        if a[1] > IO_MAX as u64 {
            return Err(Errno::E2BIG);
        }
        let data = ctx.bytes(a[0], a[1], IO_MAX)?;
        let (files, release) = if a[2] == 0 {
            (Vec::new(), Vec::new())
        } else {
            let dp = ctx.u64_at(a[2])?;
            let mut n = [0u8; 4];
            ctx.mem.read(a[2] + 8, &mut n)?;
            read_descs(ctx, dp, u64::from(u32::from_le_bytes(n)))?
        };
        Ok((Payload { data, files }, release))
    })();
    let results = match results {
        Ok((payload, release)) => {
            for fd in release {
                let _ = close_fd(ctx, fd);
            }
            Ok(payload)
        }
        Err(e) => Err(e),
    };
    let sys = ctx.sys;
    let pid = ctx.pid;
    door::serve(sys, pid, results, |incoming| {
        deliver(ctx, incoming, sp, ssize)
    })?;
    Ok(sp)
}

fn deliver(ctx: &mut Ctx<'_>, call: &door::Incoming, sp: u64, ssize: u64) -> Result<()> {
    let args = &call.args;
    let data_at = sp.checked_add(RESULTS_SIZE as u64).ok_or(Errno::EFAULT)?;
    let off = args.data.len().next_multiple_of(8);
    let need = RESULTS_SIZE + off + args.files.len() * DESC_SIZE;
    if sp == 0 || (need as u64) > ssize {
        // illumos maps oversized arguments elsewhere; here the caller
        // learns its arguments did not fit the server's stack.
        return Err(Errno::E2BIG);
    }
    ctx.mem.write(data_at, &args.data)?;
    let (descs, fds) = receive_descs(ctx, args.files.clone())?;
    let desc_at = data_at + off as u64;
    let mut r = [0u8; RESULTS_SIZE];
    r[0..8].copy_from_slice(&call.door.cookie.to_le_bytes());
    r[8..16].copy_from_slice(&data_at.to_le_bytes());
    r[16..24].copy_from_slice(&(args.data.len() as u64).to_le_bytes());
    let dp = if fds.is_empty() { 0 } else { desc_at };
    r[24..32].copy_from_slice(&dp.to_le_bytes());
    r[32..40].copy_from_slice(&(fds.len() as u64).to_le_bytes());
    r[40..48].copy_from_slice(&call.door.procedure.to_le_bytes());
    let written = ctx
        .mem
        .write(desc_at, &descs)
        .and_then(|()| ctx.mem.write(sp, &r));
    if let Err(e) = written {
        for fd in fds {
            let _ = close_fd(ctx, fd);
        }
        return Err(e);
    }
    Ok(())
}
