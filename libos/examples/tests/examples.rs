//! The hosted examples run as ordinary programs and do what they say.

use std::io::Write;
use std::process::{Command, Stdio};

fn exosh(script: &str) -> (String, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_exosh"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run exosh");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script");
    let out = child.wait_with_output().expect("exosh finishes");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn the_shell_runs_commands_against_the_libos_vfs() {
    let (out, status) = exosh(
        "echo hello exo > /tmp/greeting\n\
         cat /tmp/greeting\n\
         mkdir -p /tmp/a/b; ln -s /tmp/greeting /tmp/a/link; ls -l /tmp/a\n\
         cd /tmp/a; pwd; cat link\n\
         mkdir /mnt; mount -t tmpfs none /mnt; touch /mnt/x; mount\n\
         rmdir /tmp/a\n\
         cat /proc/self/comm\n\
         cat /sys/kernel/hostname\n\
         ps\n\
         nosuchcommand\n\
         exit\n",
    );
    let expect = [
        "hello exo\n",
        "drwxr-xr-x  2    0    0        0 b\n",
        "lrwxrwxrwx  1    0    0       13 link -> /tmp/greeting\n",
        "/tmp/a\nhello exo\n",
        "tmpfs /mnt tmpfs rw 0 0\n",
        "proc /proc proc rw 0 0\n",
        "rmdir: Directory not empty (ENOTEMPTY)\n",
        "init\n",
        "exo\n",
        "    2     1    R      native exosh\n",
        "exosh: nosuchcommand: command not found\n",
    ];
    for e in expect {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    assert_eq!(status, 0, "`exit` succeeds");
}

#[test]
fn the_shell_takes_a_command_string() {
    let out = Command::new(env!("CARGO_BIN_EXE_exosh"))
        .args([
            "-c",
            "mkdir /tmp/d; echo x > /tmp/d/f; ls /tmp/d; cat /nope",
        ])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("f\n"), "{text}");
    assert!(
        text.contains("cat: No such file or directory (ENOENT)"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_robot_runs_its_control_loop_over_ipc() {
    let out = Command::new(env!("CARGO_BIN_EXE_robot"))
        .arg("200")
        .output()
        .expect("run robot");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("robot: 200 samples over IPC"), "{text}");
    assert!(text.contains("bytes in /tmp/telemetry.csv"), "{text}");
}
