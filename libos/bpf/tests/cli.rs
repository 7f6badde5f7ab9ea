//! The `bpf` command-line tool, run as a process on clang-compiled objects
//! (`tests/c/hooks.c`, `tests/c/map_counter.c`) and on bad input.
#![cfg(feature = "std")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn tmp() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli")
}

/// Compiles `tests/c/<name>.c` into the test directory, once per test
/// run (tests run in parallel and share the object).
fn compile(name: &str) -> PathBuf {
    static DONE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tmp();
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{name}.o"));
    if done.iter().any(|d| d == name) {
        return out;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c"));
    let status = Command::new("clang")
        .args(["-target", "bpf", "-O2", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("these tests need clang with the BPF target");
    assert!(status.success(), "clang failed on {name}.c");
    done.push(name.to_string());
    out
}

/// A file in the test directory with `bytes`.
fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = tmp();
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the tool. When the tests are cross-run under qemu-user (see
/// `.cargo/config.toml`) and the binary cannot be started directly, it is
/// started through `qemu-aarch64 -L /usr/aarch64-linux-gnu`.
fn launch(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let bin = env!("CARGO_BIN_EXE_bpf");
    let direct = Command::new(bin)
        .args(args.iter().map(|a| a.as_ref()))
        .output();
    let emulated = cfg!(target_arch = "aarch64")
        && Path::new("/usr/aarch64-linux-gnu").is_dir()
        && direct.as_ref().map_or(true, |o| {
            o.status.code() == Some(127) && o.stdout.is_empty()
        });
    if emulated {
        return Command::new("qemu-aarch64")
            .args(["-L", "/usr/aarch64-linux-gnu", bin])
            .args(args.iter().map(|a| a.as_ref()))
            .output()
            .expect("runs bpf under qemu-aarch64");
    }
    direct.expect("runs bpf")
}

fn bpf(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = launch(args);
    let r = Run {
        code: status.code().expect("exit code"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    };
    eprintln!("--- bpf stdout:\n{}--- stderr:\n{}", r.stdout, r.stderr);
    r
}

#[test]
fn verify_accepts_and_reports() {
    let obj = compile("hooks");
    let r = bpf(&[&"verify", &obj, &"--section", &"gpio", &"--hook", &"gpio"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("verdict: accepted"));
    assert!(r.stdout.contains("instructions: 28"), "{}", r.stdout);
    assert!(r.stdout.contains("verifier time: "));
    assert!(r.stdout.contains("peak memory: "));
    // Without --section: the first program section.
    let r = bpf(&[&"verify", &obj]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("section: imu"));
}

#[test]
fn verify_rejection_names_the_instruction() {
    // r0 = 0; r0 = *(u64 *)(r1 + 56); exit — outside a 16-byte GPIO context.
    let code = prog(&[mov64(0, 0), ldx(DW, 0, 1, 56), exit()]);
    let f = file("ctx56.bin", &code);
    let r = bpf(&[&"verify", &f, &"--hook", &"gpio"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("verdict: rejected"));
    assert!(
        r.stderr
            .contains("rejected at instruction 1 (r0 = *(u64 *)(r1 + 56))"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("out of bounds"));
    // Fine in a syscall context.
    assert_eq!(bpf(&[&"verify", &f, &"--hook", &"syscall-entry"]).code, 0);
    // Reading an uninitialised register.
    let f = file("uninit.bin", &prog(&[mov64_reg(0, 2), exit()]));
    let r = bpf(&[&"verify", &f]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("instruction 0"), "{}", r.stderr);
    assert!(r.stderr.contains("r2 is uninitialised"), "{}", r.stderr);
}

#[test]
fn bad_input_is_a_clear_error() {
    let obj = compile("map_counter");
    let r = bpf(&[&"verify", &obj, &"--section", &"nope"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("no section named \"nope\" (program sections: prog)"),
        "{}",
        r.stderr
    );
    let bytes = std::fs::read(&obj).unwrap();
    let truncated = file("truncated.o", &bytes[..bytes.len() / 3]);
    let r = bpf(&[&"verify", &truncated]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("malformed ELF object"), "{}", r.stderr);
    let r = bpf(&[&"run", &tmp().join("does-not-exist.o")]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("does-not-exist.o"));
    let odd = file("odd.bin", &[0x95, 0, 0]);
    let r = bpf(&[&"verify", &odd]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("multiple of 8"));
    assert_eq!(bpf(&[&"frobnicate"]).code, 2);
    assert_eq!(bpf(&[&"verify", &obj, &"--bogus"]).code, 2);
    assert_eq!(bpf(&[&"verify", &obj, &"--hook", &"nohook"]).code, 2);
    // --help anywhere prints the usage and succeeds.
    for args in [
        &[&"--help" as &dyn AsRef<std::ffi::OsStr>][..],
        &[&"run", &"-h"],
    ] {
        let r = bpf(args);
        assert_eq!(r.code, 0);
        assert!(r.stdout.starts_with("usage:"), "{}", r.stdout);
    }
}

#[test]
fn run_prints_r0_and_maps() {
    let obj = compile("map_counter");
    let mut ctx = [0u8; 24];
    ctx[16] = 5;
    let ctx = file("ctx5.bin", &ctx);
    let r = bpf(&[&"run", &obj, &"--ctx", &ctx]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("r0 = 1 (0x1)"));
    assert!(r.stdout.contains("map counts (Hash): 1 of 16 entries"));
    if exo_bpf::HAS_JIT {
        let r = bpf(&[&"run", &obj, &"--ctx", &ctx, &"--jit"]);
        assert_eq!(r.code, 0);
        assert!(r.stdout.contains("r0 = 1 (0x1)"));
        assert!(r.stdout.contains("mode: jit"));
    }
    // A loop that runs out of budget.
    let spin = file(
        "spin.bin",
        &prog(&[
            mov64(0, 0),
            mov64(1, 0),
            alu64_imm(ADD, 1, 1),
            jmp_imm(JLT, 1, 1000, -2),
            exit(),
        ]),
    );
    assert_eq!(bpf(&[&"run", &spin]).code, 0);
    let r = bpf(&[&"run", &spin, &"--budget", &"50"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("budget exhausted"), "{}", r.stderr);
}

#[test]
fn disasm_prints_one_line_per_instruction() {
    let obj = compile("map_counter");
    let r = bpf(&[&"disasm", &obj]);
    assert_eq!(r.code, 0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "prog:");
    assert!(r.stdout.contains("= map[fd:0] ll"), "{}", r.stdout);
    assert!(r.stdout.contains("call 1 <map_lookup_elem>"));
    assert!(
        r.stdout.contains("r1 = *(u32 *)(r1 + 16)") || r.stdout.contains("= *(u64 *)(r1 + 16)")
    );
    assert!(
        r.stdout.contains("atomic_fetch_add((u64 *)(r0 + 0), r1)")
            || r.stdout.contains("atomic_fetch_add")
    );
    assert!(lines.last().unwrap().ends_with("exit"));
}

#[test]
fn load_attach_sim_detach() {
    let obj = compile("hooks");
    let state = tmp().join("state");
    let _ = std::fs::remove_dir_all(&state);
    let st: &dyn AsRef<std::ffi::OsStr> = &state;
    let r = bpf(&[
        &"load",
        &obj,
        &"--section",
        &"pwm",
        &"--name",
        &"clamp",
        &"--state",
        st,
    ]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("loaded clamp from section pwm"));
    assert_eq!(
        bpf(&[
            &"load",
            &obj,
            &"--section",
            &"pwm",
            &"--name",
            &"clamp",
            &"--state",
            st
        ])
        .code,
        1,
        "names are unique"
    );
    let r = bpf(&[
        &"load",
        &obj,
        &"--section",
        &"gpio",
        &"--name",
        &"debounce",
        &"--state",
        st,
    ]);
    assert_eq!(r.code, 0);
    let wide = file("wide.bin", &prog(&[ldx(DW, 0, 1, 48), exit()]));
    assert_eq!(
        bpf(&[&"load", &wide, &"--name", &"wide", &"--state", st]).code,
        0
    );

    let r = bpf(&[&"attach", &"clamp", &"pwm", &"--state", st]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("attached clamp to pwm as #1"));
    assert_eq!(
        bpf(&[&"attach", &"debounce", &"gpio", &"--state", st]).code,
        0
    );
    // Verified against the hook's context at attach time.
    let r = bpf(&[&"attach", &"wide", &"gpio", &"--state", st]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("does not verify against the gpio context")
    );
    let r = bpf(&[&"attach", &"wide", &"tracepoint", &"--state", st]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("#3"));
    assert_eq!(bpf(&[&"attach", &"nobody", &"pwm", &"--state", st]).code, 1);
    assert_eq!(
        bpf(&[&"attach", &"clamp", &"warp-drive", &"--state", st]).code,
        2
    );

    let r = bpf(&[&"list", &"--state", st]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("pwm: #1 clamp"));
    assert!(r.stdout.contains("gpio: #2 debounce"));
    assert!(r.stdout.contains("tracepoint: #3 wide"));

    let r = bpf(&[&"sim", &"pwm", &"--count", &"50", &"--state", st]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("max applied 800"), "{}", r.stdout);
    assert!(r.stdout.contains("#1 clamp: 50 runs, 0 errors"));
    let r = bpf(&[&"sim", &"gpio", &"--count", &"35", &"--state", st]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("35 edges, 5 delivered"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("map debounce.edges (TimeSeries): 5 samples")
    );
    let r = bpf(&[&"sim", &"tracepoint", &"--count", &"3", &"--state", st]);
    assert!(r.stdout.contains("#3 wide: 3 runs, 0 errors"));

    assert_eq!(bpf(&[&"detach", &"1", &"--state", st]).code, 0);
    let r = bpf(&[&"detach", &"1", &"--state", st]);
    assert_eq!(r.code, 1, "detaching twice is an error");
    assert!(r.stderr.contains("no attachment #1"));
    let r = bpf(&[&"sim", &"pwm", &"--count", &"50", &"--state", st]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("max applied 1000"), "no clamp any more");
    assert!(!r.stdout.contains("#1"));
}
