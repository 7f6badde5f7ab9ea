//! `exosh`: a small shell over the exo libOS, linked into an ordinary
//! Linux program (hosted backend). It mounts tmpfs, devfs, procfs and
//! sysfs and runs commands against the libOS's VFS — nothing here touches
//! the host's files.
//!
//! ```text
//! cargo run -p exo-examples --bin exosh                   # interactive
//! echo 'ls /proc; cat /proc/meminfo' | cargo run -p exo-examples --bin exosh
//! cargo run -p exo-examples --bin exosh -- -c 'mkdir /tmp/a; ls -l /tmp'
//! ```

use std::io::{BufRead, Write};
use std::sync::Arc;

use libos::Errno;
use libos::fs::tmpfs::Tmpfs;
use libos::process::{INIT, Pid};
use libos::system::System;
use libos::vfs::file::{OpenFile, OpenFlags};
use libos::vfs::node::{FileType, Owner};
use libos::vfs::{Cred, Node};

struct Shell {
    sys: System,
    pid: Pid,
    cred: Cred,
    status: i32,
}

/// Splits a command line into words, honouring '…' and "…" quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn mode_string(kind: FileType, perm: u32) -> String {
    let t = match kind {
        FileType::Directory => 'd',
        FileType::Symlink => 'l',
        FileType::CharDevice => 'c',
        FileType::BlockDevice => 'b',
        FileType::Fifo => 'p',
        FileType::Socket => 's',
        FileType::Regular => '-',
    };
    let mut s = String::from(t);
    for shift in [6, 3, 0] {
        let bits = perm >> shift;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

impl Shell {
    fn cwd(&self) -> Node {
        self.sys
            .procs
            .get(self.pid)
            .map_or_else(|_| self.sys.vfs.root(), |p| p.cwd)
    }

    fn open(&self, path: &str, flags: OpenFlags) -> Result<Arc<OpenFile>, Errno> {
        self.sys
            .vfs
            .open(&self.cred, self.cwd(), path.as_bytes(), flags, 0o644)
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, Errno> {
        let f = self.open(path, OpenFlags::READ)?;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Runs one line; output goes to `out` unless redirected.
    fn run(&mut self, line: &str, out: &mut dyn Write) -> bool {
        let mut args = words(line);
        if args.is_empty() || args[0].starts_with('#') {
            return true;
        }
        // `> file` and `>> file` redirect the output into the libOS.
        let mut redirect = None;
        if let Some(at) = args.iter().position(|a| a == ">" || a == ">>") {
            if at + 1 >= args.len() {
                let _ = writeln!(out, "exosh: missing file after {}", args[at]);
                self.status = 2;
                return true;
            }
            let append = args[at] == ">>";
            let target = args[at + 1].clone();
            args.truncate(at);
            let flags = OpenFlags {
                create: true,
                trunc: !append,
                append,
                ..OpenFlags::WRITE
            };
            match self.open(&target, flags) {
                Ok(f) => redirect = Some(f),
                Err(e) => {
                    let _ = writeln!(out, "exosh: {target}: {e}");
                    self.status = 1;
                    return true;
                }
            }
        }
        let mut buffer = Vec::new();
        let result = self.builtin(&args, &mut buffer);
        match &redirect {
            Some(f) => {
                if let Err(e) = f.write(&buffer) {
                    let _ = writeln!(out, "exosh: write: {e}");
                }
            }
            None => {
                let _ = out.write_all(&buffer);
            }
        }
        match result {
            Ok(keep_going) => {
                self.status = 0;
                keep_going
            }
            Err(e) => {
                let _ = writeln!(out, "{}: {e}", args[0]);
                self.status = 1;
                true
            }
        }
    }

    fn builtin(&mut self, args: &[String], out: &mut Vec<u8>) -> Result<bool, Errno> {
        let vfs = Arc::clone(&self.sys.vfs);
        let (cred, cwd) = (self.cred.clone(), self.cwd());
        let rest = &args[1..];
        match args[0].as_str() {
            "help" => {
                let _ = writeln!(
                    out,
                    "builtins: ls [-l] cat echo mkdir [-p] rmdir rm mv cp ln [-s] touch stat cd pwd \
                     mount -t tmpfs none DIR, umount DIR, ps, df, uname, hostname, true, false, exit\n\
                     redirect output with > FILE or >> FILE"
                );
            }
            "exit" => return Ok(false),
            "true" => {}
            "false" => return Err(Errno::EPERM),
            "pwd" => {
                let p = vfs.path_of(cwd)?;
                out.extend_from_slice(&p);
                out.push(b'\n');
            }
            "cd" => self.sys.procs.chdir(
                self.pid,
                rest.first().map_or("/", String::as_str).as_bytes(),
            )?,
            "echo" => {
                let _ = writeln!(out, "{}", rest.join(" "));
            }
            "cat" => {
                for f in rest {
                    out.extend_from_slice(&self.read_file(f)?);
                }
            }
            "ls" => {
                let long = rest.first().is_some_and(|a| a == "-l");
                let paths: Vec<&str> = rest
                    .iter()
                    .map(String::as_str)
                    .filter(|a| *a != "-l")
                    .collect();
                let path = paths.first().copied().unwrap_or(".");
                let st = vfs.stat(&cred, cwd, path.as_bytes(), true)?;
                let entries = if st.kind == FileType::Directory {
                    let d = self.open(path, OpenFlags::READ)?;
                    d.read_dir(usize::MAX)?
                        .into_iter()
                        .filter(|e| !e.name.starts_with(b"."))
                        .map(|e| e.name)
                        .collect()
                } else {
                    vec![path.as_bytes().to_vec()]
                };
                for name in entries {
                    let name = String::from_utf8_lossy(&name).into_owned();
                    if long {
                        let full = if st.kind == FileType::Directory {
                            format!("{path}/{name}")
                        } else {
                            name.clone()
                        };
                        let s = vfs.stat(&cred, cwd, full.as_bytes(), false)?;
                        let mut line = format!(
                            "{} {:>2} {:>4} {:>4} {:>8} {name}",
                            mode_string(s.kind, s.perm),
                            s.nlink,
                            s.uid,
                            s.gid,
                            s.size
                        );
                        if s.kind == FileType::Symlink {
                            let target = vfs.readlink(&cred, cwd, full.as_bytes())?;
                            line.push_str(&format!(" -> {}", String::from_utf8_lossy(&target)));
                        }
                        let _ = writeln!(out, "{line}");
                    } else {
                        let _ = writeln!(out, "{name}");
                    }
                }
            }
            "mkdir" => {
                let parents = rest.first().is_some_and(|a| a == "-p");
                for p in rest.iter().filter(|a| *a != "-p") {
                    if parents {
                        let mut at = String::new();
                        for part in p.split('/').filter(|s| !s.is_empty()) {
                            at = if at.is_empty() && !p.starts_with('/') {
                                part.to_string()
                            } else {
                                format!("{at}/{part}")
                            };
                            match vfs.mkdir(&cred, cwd, at.as_bytes(), 0o755) {
                                Ok(()) | Err(Errno::EEXIST) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    } else {
                        vfs.mkdir(&cred, cwd, p.as_bytes(), 0o755)?;
                    }
                }
            }
            "rmdir" => rest
                .iter()
                .try_for_each(|p| vfs.rmdir(&cred, cwd, p.as_bytes()))?,
            "rm" => rest
                .iter()
                .try_for_each(|p| vfs.unlink(&cred, cwd, p.as_bytes()))?,
            "touch" => {
                for p in rest {
                    self.open(
                        p,
                        OpenFlags {
                            create: true,
                            ..OpenFlags::WRITE
                        },
                    )?;
                }
            }
            "mv" => match rest {
                [a, b] => vfs.rename(&cred, cwd, a.as_bytes(), b.as_bytes())?,
                _ => return Err(Errno::EINVAL),
            },
            "cp" => match rest {
                [a, b] => {
                    let data = self.read_file(a)?;
                    self.open(
                        b,
                        OpenFlags {
                            create: true,
                            trunc: true,
                            ..OpenFlags::WRITE
                        },
                    )?
                    .write(&data)?;
                }
                _ => return Err(Errno::EINVAL),
            },
            "ln" => match rest {
                [s, a, b] if s == "-s" => vfs.symlink(&cred, cwd, a.as_bytes(), b.as_bytes())?,
                [a, b] => vfs.link(&cred, cwd, a.as_bytes(), b.as_bytes())?,
                _ => return Err(Errno::EINVAL),
            },
            "stat" => {
                for p in rest {
                    let s = vfs.stat(&cred, cwd, p.as_bytes(), false)?;
                    let _ = writeln!(
                        out,
                        "  File: {p}\n  Size: {}\tBlocks: {}\tIO Block: {}\t{:?}\nDevice: {}\tInode: {}\tLinks: {}\nAccess: ({:04o}/{})  Uid: {}  Gid: {}\nModify: {}.{:09}",
                        s.size,
                        s.blocks,
                        s.blksize,
                        s.kind,
                        s.dev,
                        s.ino,
                        s.nlink,
                        s.perm,
                        mode_string(s.kind, s.perm),
                        s.uid,
                        s.gid,
                        s.mtime.sec,
                        s.mtime.nsec
                    );
                }
            }
            "mount" => match rest {
                [t, kind, _source, dir] if t == "-t" && kind == "tmpfs" => {
                    let fs = Tmpfs::new(
                        100 + vfs.mounts().len() as u64,
                        16 << 20,
                        Owner {
                            uid: 0,
                            gid: 0,
                            perm: 0o755,
                        },
                        Arc::clone(&self.sys.clock),
                    );
                    vfs.mount(&cred, cwd, dir.as_bytes(), Arc::new(fs), "tmpfs", false)?;
                }
                [] => out.extend_from_slice(&self.read_file("/proc/mounts")?),
                _ => return Err(Errno::EINVAL),
            },
            "umount" => vfs.umount(&cred, cwd, rest.first().ok_or(Errno::EINVAL)?.as_bytes())?,
            "ps" => {
                let _ = writeln!(out, "  PID  PPID STAT PERSONALITY CMD");
                for pid in self.sys.procs.pids() {
                    let p = self.sys.procs.get(pid)?;
                    let stat =
                        String::from_utf8_lossy(&self.read_file(&format!("/proc/{pid}/status"))?)
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("State:\t")
                                    .map(|s| s.chars().next().unwrap_or('?'))
                            })
                            .unwrap_or('?');
                    let _ = writeln!(
                        out,
                        "{pid:>5} {:>5} {stat:>4} {:>11} {}",
                        p.ppid, p.personality, p.name
                    );
                }
            }
            "df" => {
                let _ = writeln!(
                    out,
                    "Filesystem       Type      1K-blocks     Free Mounted on"
                );
                for m in vfs.mounts() {
                    let s = vfs.statfs(&cred, cwd, &m.target)?;
                    let _ = writeln!(
                        out,
                        "{:<16} {:<9} {:>9} {:>8} {}",
                        m.source,
                        m.fs_type,
                        s.blocks * s.bsize / 1024,
                        s.bfree * s.bsize / 1024,
                        String::from_utf8_lossy(&m.target)
                    );
                }
            }
            "uname" => out.extend_from_slice(&self.read_file("/sys/kernel/version")?),
            "hostname" => out.extend_from_slice(&self.read_file("/sys/kernel/hostname")?),
            other => {
                let _ = writeln!(out, "exosh: {other}: command not found");
                return Err(Errno::ENOENT);
            }
        }
        Ok(true)
    }
}

fn main() {
    let (_machine, _env, sys) = exo_examples::boot("exosh");
    let pid = sys.procs.fork(INIT).expect("fork the shell");
    sys.procs
        .exec(pid, "exosh", vec![b"exosh".to_vec()], Vec::new(), "native")
        .expect("exec");
    let mut shell = Shell {
        sys,
        pid,
        cred: Cred::root(),
        status: 0,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, script] = args.as_slice()
        && flag == "-c"
    {
        for cmd in script.split(';') {
            if !shell.run(cmd, &mut out) {
                break;
            }
        }
        std::process::exit(shell.status);
    }
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let stdin = std::io::stdin();
    loop {
        if interactive {
            let _ = write!(out, "exosh# ");
            let _ = out.flush();
        }
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let mut keep = true;
        for cmd in line.split(';') {
            keep &= shell.run(cmd, &mut out);
        }
        if !keep {
            break;
        }
    }
    std::process::exit(shell.status);
}
