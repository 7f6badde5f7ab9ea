//! `bpf`: verify, run and disassemble eBPF programs, and attach them to
//! the simulated devices of `exo_bpf::hooks`.
//!
//! ```text
//! bpf verify <file> [--section S] [--hook H | --ctx-size N] [--packet]
//! bpf run    <file> [--section S] [--hook H | --ctx-size N] [--packet]
//!                   [--ctx FILE] [--packet-file FILE] [--jit] [--budget N]
//! bpf disasm <file> [--section S]
//! bpf load   <file> [--name NAME] [--section S]   [--state DIR]
//! bpf attach <name> <hook>                        [--state DIR]
//! bpf detach <id>                                 [--state DIR]
//! bpf list                                        [--state DIR]
//! bpf sim    <hook> [--count N]                   [--state DIR]
//! ```
//!
//! `<file>` is a `clang -target bpf` object (the first executable section
//! unless `--section` names one) or raw bytecode. The state directory
//! (default `./.bpf-state`) holds copies of loaded programs and a
//! line-based registry (`registry`) of programs and attachments; maps live
//! for one `sim` run.
//!
//! Exit status: 0 success, 1 the program was refused or failed, 2 bad
//! usage or unreadable input (missing file, malformed ELF, unknown
//! section).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use exo_bpf::decode::{decode_at, slot_count};
use exo_bpf::hooks::sim::{Device, SimGpio, SimImu, SimPwm, SimSyscalls, SimTimer};
use exo_bpf::hooks::{
    AttachHandle, AttachPoint, GpioEdge, HOOK_NAMES, Hook, ImuSample, PwmUpdate, SyscallEntry,
    SyscallExit, TimerTick, Tracepoint, layout_of,
};
use exo_bpf::isa::{AluOp, AtomicOp, ByteOrder, Imm64, Insn, JmpCond, Operand, Reg, Size, Width};
use exo_bpf::{
    ArrayMap, Config, ContextLayout, HashMap, Helpers, Input, LruHashMap, Map, MapKind, MapSet,
    PacketFields, PerCpuArrayMap, PerCpuHashMap, Program, RingBufMap, TimeSeriesMap, Vm,
};

/// A failure, with its exit status.
enum Fail {
    /// Bad usage or input: status 2.
    Input(String),
    /// Refused or failed program: status 1.
    Program(String),
}

type Res<T> = Result<T, Fail>;

fn input<T>(msg: impl Into<String>) -> Res<T> {
    Err(Fail::Input(msg.into()))
}

const USAGE: &str = "usage:
  bpf verify <file> [--section S] [--hook H | --ctx-size N] [--packet]
  bpf run    <file> [--section S] [--hook H | --ctx-size N] [--packet]
                    [--ctx FILE] [--packet-file FILE] [--jit] [--budget N]
  bpf disasm <file> [--section S]
  bpf load   <file> [--name NAME] [--section S]   [--state DIR]
  bpf attach <name> <hook>                        [--state DIR]
  bpf detach <id>                                 [--state DIR]
  bpf list                                        [--state DIR]
  bpf sim    <hook> [--count N]                   [--state DIR]
hooks: timer, syscall-entry, syscall-exit, gpio, pwm, imu, tracepoint";

/// Parsed command line: positional arguments and `--option value` pairs.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, String)>,
    flags: Vec<String>,
}

const VALUE_OPTIONS: [&str; 9] = [
    "--section",
    "--hook",
    "--ctx-size",
    "--ctx",
    "--packet-file",
    "--budget",
    "--name",
    "--state",
    "--count",
];
const FLAG_OPTIONS: [&str; 2] = ["--jit", "--packet"];

impl Args {
    fn parse(raw: impl Iterator<Item = String>) -> Res<Args> {
        let mut args = Args {
            positional: Vec::new(),
            options: Vec::new(),
            flags: Vec::new(),
        };
        let mut raw = raw.peekable();
        while let Some(a) = raw.next() {
            if VALUE_OPTIONS.contains(&a.as_str()) {
                let Some(v) = raw.next() else {
                    return input(format!("{a} needs a value"));
                };
                args.options.push((a, v));
            } else if FLAG_OPTIONS.contains(&a.as_str()) {
                args.flags.push(a);
            } else if a.starts_with("--") {
                return input(format!("unknown option {a}"));
            } else {
                args.positional.push(a);
            }
        }
        Ok(args)
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn number(&self, name: &str, default: u64) -> Res<u64> {
        match self.opt(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .or_else(|_| input(format!("{name}: not a number: {v}"))),
        }
    }

    fn arg(&self, i: usize, what: &str) -> Res<&str> {
        match self.positional.get(i) {
            Some(a) => Ok(a),
            None => input(format!("missing {what}\n{USAGE}")),
        }
    }

    fn state_dir(&self) -> PathBuf {
        PathBuf::from(self.opt("--state").unwrap_or("./.bpf-state"))
    }
}

fn main() -> ExitCode {
    // `--help` / `-h` anywhere: the usage, successfully (as `help` does).
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(f) => return report(f),
    };
    let result = match args.positional.first().map(String::as_str) {
        Some("verify") => verify(&args),
        Some("run") => run(&args),
        Some("disasm") => disasm(&args),
        Some("load") => load(&args),
        Some("attach") => attach(&args),
        Some("detach") => detach(&args),
        Some("list") => list(&args),
        Some("sim") => sim(&args),
        Some("help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => input(format!("unknown command {other}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(f),
    }
}

fn report(f: Fail) -> ExitCode {
    match f {
        Fail::Input(m) => {
            eprintln!("error: {m}");
            ExitCode::from(2)
        }
        Fail::Program(m) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
    }
}

// ---------------------------------------------------------------------------
// Reading programs

/// A program read from a file.
struct Loaded {
    code: Vec<u8>,
    /// Section (ELF) or `None` (raw bytecode).
    section: Option<String>,
    /// Maps the object declared: name and index.
    maps: Vec<(String, u32)>,
}

fn read(path: &str) -> Res<Vec<u8>> {
    std::fs::read(path).or_else(|e| input(format!("{path}: {e}")))
}

fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Names of the non-empty executable sections of an object.
fn exec_sections(bytes: &[u8]) -> Res<Vec<String>> {
    use elf::ElfBytes;
    use elf::endian::LittleEndian;
    let malformed = |_| Fail::Input("malformed ELF object".into());
    let file = ElfBytes::<LittleEndian>::minimal_parse(bytes).map_err(malformed)?;
    let (headers, names) = file.section_headers_with_strtab().map_err(malformed)?;
    let (Some(headers), Some(names)) = (headers, names) else {
        return input("malformed ELF object: no section table");
    };
    Ok(headers
        .iter()
        .filter(|h| h.sh_flags & u64::from(elf::abi::SHF_EXECINSTR) != 0 && h.sh_size > 0)
        .filter_map(|h| names.get(h.sh_name as usize).ok().map(str::to_string))
        .collect())
}

/// Reads the program in `bytes` (from `path`), creating its maps in `maps`.
fn extract(path: &str, bytes: &[u8], section: Option<&str>, maps: &mut MapSet) -> Res<Loaded> {
    if !is_elf(bytes) {
        if section.is_some() {
            return input(format!(
                "{path}: --section given, but this is not an ELF object"
            ));
        }
        if bytes.is_empty() || !bytes.len().is_multiple_of(8) {
            return input(format!(
                "{path}: raw bytecode must be a non-empty multiple of 8 bytes (got {})",
                bytes.len()
            ));
        }
        return Ok(Loaded {
            code: bytes.to_vec(),
            section: None,
            maps: Vec::new(),
        });
    }
    let sections = exec_sections(bytes).map_err(|f| match f {
        Fail::Input(m) | Fail::Program(m) => Fail::Input(format!("{path}: {m}")),
    })?;
    let section = match section {
        Some(s) => s.to_string(),
        None => match sections.first() {
            Some(s) => s.clone(),
            None => return input(format!("{path}: no executable section")),
        },
    };
    match exo_bpf::elf::load(bytes, &section, maps) {
        Ok(p) => Ok(Loaded {
            code: p.code,
            section: Some(section),
            maps: p.maps,
        }),
        Err(exo_bpf::elf::ElfError::NoSection(s)) => input(format!(
            "{path}: no section named {s:?} (program sections: {})",
            sections.join(", ")
        )),
        Err(e) => input(format!("{path}: {e}")),
    }
}

/// The context layout the options ask for.
fn layout(args: &Args) -> Res<ContextLayout> {
    let mut l = match (args.opt("--hook"), args.opt("--ctx-size")) {
        (Some(_), Some(_)) => return input("give --hook or --ctx-size, not both"),
        (Some(h), None) => match layout_of(h) {
            Some(l) => l,
            None => {
                return input(format!(
                    "unknown hook {h} (hooks: {})",
                    HOOK_NAMES.join(", ")
                ));
            }
        },
        (None, size) => {
            let size = size.map_or(Ok(64), |s| {
                s.parse::<u32>()
                    .or_else(|_| input(format!("--ctx-size: not a number: {s}")))
            })?;
            ContextLayout::read_only(size)
        }
    };
    if args.flag("--packet") {
        if l.size < 16 {
            return input("--packet needs a context of at least 16 bytes");
        }
        l.packet = Some(PacketFields {
            data: 0,
            data_end: 8,
            writable: false,
        });
    }
    Ok(l)
}

// ---------------------------------------------------------------------------
// verify, run, disasm

fn verify(args: &Args) -> Res<()> {
    let path = args.arg(1, "file")?;
    let bytes = read(path)?;
    let mut maps = MapSet::new();
    let loaded = extract(path, &bytes, args.opt("--section"), &mut maps)?;
    let helpers = Helpers::with_maps();
    let config = Config {
        helpers: &helpers,
        maps: &maps,
        context: layout(args)?,
    };
    let slots = loaded.code.len() / 8;
    let start = Instant::now();
    let verdict = exo_bpf::verify(&loaded.code, &config);
    let elapsed = start.elapsed();
    if let Some(s) = &loaded.section {
        println!("section: {s}");
    }
    match verdict {
        Ok(stats) => {
            println!("verdict: accepted");
            println!("instructions: {slots}");
            println!(
                "functions: {}, loops: {}, peak pending states: {}",
                stats.functions, stats.loops, stats.peak_pending
            );
            println!("verifier time: {:.1} us", elapsed.as_secs_f64() * 1e6);
            println!(
                "peak memory: {} bytes (estimate: {} states + {} bytes of tables)",
                stats.peak_bytes_estimate(),
                stats.peak_states,
                stats.structure_bytes
            );
            Ok(())
        }
        Err(e) => {
            println!("verdict: rejected");
            println!("instructions: {slots}");
            println!("verifier time: {:.1} us", elapsed.as_secs_f64() * 1e6);
            let at = decode_at(&loaded.code, e.index)
                .map(|i| format!(" ({})", fmt_insn(&i, e.index, &helpers)))
                .unwrap_or_default();
            Err(Fail::Program(format!(
                "rejected at instruction {}{at}: {}",
                e.index, e.kind
            )))
        }
    }
}

fn run(args: &Args) -> Res<()> {
    let path = args.arg(1, "file")?;
    let bytes = read(path)?;
    let mut maps = MapSet::new();
    let loaded = extract(path, &bytes, args.opt("--section"), &mut maps)?;
    let helpers = Helpers::with_maps();
    let layout = layout(args)?;
    let config = Config {
        helpers: &helpers,
        maps: &maps,
        context: layout,
    };
    let program = Program::load(&loaded.code, &config)
        .map_err(|e| Fail::Program(format!("load failed: {e}")))?;
    let mut ctx = vec![0u8; layout.size as usize];
    if let Some(f) = args.opt("--ctx") {
        let data = read(f)?;
        if data.len() > ctx.len() {
            ctx.resize(data.len(), 0);
        }
        ctx[..data.len()].copy_from_slice(&data);
    }
    let mut packet = match args.opt("--packet-file") {
        Some(f) => read(f)?,
        None => Vec::new(),
    };
    let mut vm =
        Vm::new().with_budget(args.number("--budget", exo_bpf::interpreter::DEFAULT_BUDGET)?);
    let mut input = Input::context(&mut ctx).with_maps(&mut maps);
    if layout.packet.is_some() {
        input = input.with_packet(&mut packet);
    }
    let start = Instant::now();
    let (mode, result) = if args.flag("--jit") {
        ("jit", run_jit(&mut vm, &program, input)?)
    } else {
        ("interpreter", vm.run(&program, input))
    };
    let elapsed = start.elapsed();
    match result {
        Ok(r0) => {
            println!("r0 = {r0} ({r0:#x})");
            println!("mode: {mode}, time: {:.1} us", elapsed.as_secs_f64() * 1e6);
            print!("{}", map_summary(&maps, &loaded.maps, ""));
            Ok(())
        }
        Err(e) => {
            print!("{}", map_summary(&maps, &loaded.maps, ""));
            Err(Fail::Program(format!("run failed: {e}")))
        }
    }
}

#[cfg(all(
    feature = "jit",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "linux"
))]
fn run_jit(
    vm: &mut Vm,
    program: &Program,
    input: Input<'_, '_>,
) -> Res<Result<u64, exo_bpf::ExecError>> {
    let jit = exo_bpf::JitProgram::compile_host(program)
        .map_err(|e| Fail::Program(format!("JIT failed: {e}")))?;
    Ok(vm.run_jit(&jit, input))
}

#[cfg(not(all(
    feature = "jit",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "linux"
)))]
fn run_jit(_: &mut Vm, _: &Program, _: Input<'_, '_>) -> Res<Result<u64, exo_bpf::ExecError>> {
    input("this build has no JIT (feature `jit` on x86_64/aarch64 Linux)")
}

fn disasm(args: &Args) -> Res<()> {
    let path = args.arg(1, "file")?;
    let bytes = read(path)?;
    let loaded = extract(path, &bytes, args.opt("--section"), &mut MapSet::new())?;
    let helpers = Helpers::with_maps();
    let n = slot_count(&loaded.code).map_err(|e| Fail::Program(e.to_string()))?;
    let mut out = String::new();
    if let Some(s) = &loaded.section {
        let _ = writeln!(out, "{s}:");
    }
    let mut pc = 0;
    let mut result = Ok(());
    while pc < n {
        match decode_at(&loaded.code, pc) {
            Ok(insn) => {
                let _ = writeln!(out, "{pc:5}: {}", fmt_insn(&insn, pc, &helpers));
                pc += insn.slots();
            }
            Err(e) => {
                result = Err(Fail::Program(format!("{e}")));
                break;
            }
        }
    }
    // A closed pipe (`bpf disasm x | head`) is not an error.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    result
}

// ---------------------------------------------------------------------------
// Disassembly, in the style of llvm-objdump

fn size_name(size: Size, signed: bool) -> String {
    format!("{}{}", if signed { 's' } else { 'u' }, size.bits())
}

fn reg(width: Width, r: Reg) -> String {
    match width {
        Width::W64 => format!("{r}"),
        Width::W32 => format!("w{}", &r.to_string()[1..]),
    }
}

fn operand(width: Width, src: Operand) -> String {
    match src {
        Operand::Imm(k) => k.to_string(),
        Operand::Reg(r) => reg(width, r),
    }
}

fn addr(r: Reg, off: i16) -> String {
    if off < 0 {
        format!("{r} - {}", -i32::from(off))
    } else {
        format!("{r} + {off}")
    }
}

fn target(pc: usize, off: i64) -> String {
    let t = pc as i64 + 1 + off;
    format!("{off:+} <{t}>")
}

/// One instruction as llvm-objdump prints it.
fn fmt_insn(insn: &Insn, pc: usize, helpers: &Helpers) -> String {
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let d = reg(width, dst);
            let s = operand(width, src);
            let sym = match op {
                AluOp::Mov => "=",
                AluOp::Add => "+=",
                AluOp::Sub => "-=",
                AluOp::Mul => "*=",
                AluOp::Div => "/=",
                AluOp::SDiv => "s/=",
                AluOp::Or => "|=",
                AluOp::And => "&=",
                AluOp::Lsh => "<<=",
                AluOp::Rsh => ">>=",
                AluOp::Mod => "%=",
                AluOp::SMod => "s%=",
                AluOp::Xor => "^=",
                AluOp::Arsh => "s>>=",
            };
            format!("{d} {sym} {s}")
        }
        Insn::Neg { width, dst } => {
            let d = reg(width, dst);
            format!("{d} = -{d}")
        }
        Insn::MovSx {
            width,
            from,
            dst,
            src,
        } => format!(
            "{} = (s{}){}",
            reg(width, dst),
            from.bits(),
            reg(width, src)
        ),
        Insn::Endian { order, size, dst } => {
            let o = match order {
                ByteOrder::Little => "le",
                ByteOrder::Big => "be",
            };
            format!("{dst} = {o}{} {dst}", size.bits())
        }
        Insn::Bswap { size, dst } => format!("{dst} = bswap{} {dst}", size.bits()),
        Insn::Ja { off } => format!("goto {}", target(pc, off.into())),
        Insn::JaLong { imm } => format!("gotol {}", target(pc, imm.into())),
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let op = match cond {
                JmpCond::Eq => "==",
                JmpCond::Ne => "!=",
                JmpCond::Gt => ">",
                JmpCond::Ge => ">=",
                JmpCond::Lt => "<",
                JmpCond::Le => "<=",
                JmpCond::Sgt => "s>",
                JmpCond::Sge => "s>=",
                JmpCond::Slt => "s<",
                JmpCond::Sle => "s<=",
                JmpCond::Set => "&",
            };
            format!(
                "if {} {op} {} goto {}",
                reg(width, dst),
                operand(width, src),
                target(pc, off.into())
            )
        }
        Insn::Call { id } => match helpers.get(id) {
            Some(h) => format!("call {id} <{}>", h.name),
            None => format!("call {id}"),
        },
        Insn::CallLocal { offset } => format!("call {}", target(pc, offset.into())),
        Insn::CallKfunc { btf_id } => format!("call kfunc {btf_id}"),
        Insn::Exit => "exit".into(),
        Insn::Load {
            size,
            dst,
            src,
            off,
        } => {
            format!(
                "{dst} = *({} *)({})",
                size_name(size, false),
                addr(src, off)
            )
        }
        Insn::LoadSx {
            size,
            dst,
            src,
            off,
        } => {
            format!("{dst} = *({} *)({})", size_name(size, true), addr(src, off))
        }
        Insn::Store {
            size,
            dst,
            off,
            imm,
        } => {
            format!(
                "*({} *)({}) = {imm}",
                size_name(size, false),
                addr(dst, off)
            )
        }
        Insn::StoreReg {
            size,
            dst,
            src,
            off,
        } => format!(
            "*({} *)({}) = {src}",
            size_name(size, false),
            addr(dst, off)
        ),
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            let w = size.bits();
            let a = addr(dst, off);
            let t = size_name(size, false);
            match op {
                AtomicOp::Add => format!("lock *({t} *)({a}) += {src}"),
                AtomicOp::Or => format!("lock *({t} *)({a}) |= {src}"),
                AtomicOp::And => format!("lock *({t} *)({a}) &= {src}"),
                AtomicOp::Xor => format!("lock *({t} *)({a}) ^= {src}"),
                AtomicOp::FetchAdd => format!("{src} = atomic_fetch_add(({t} *)({a}), {src})"),
                AtomicOp::FetchOr => format!("{src} = atomic_fetch_or(({t} *)({a}), {src})"),
                AtomicOp::FetchAnd => format!("{src} = atomic_fetch_and(({t} *)({a}), {src})"),
                AtomicOp::FetchXor => format!("{src} = atomic_fetch_xor(({t} *)({a}), {src})"),
                AtomicOp::Xchg => format!("{src} = xchg_{w}({a}, {src})"),
                AtomicOp::CmpXchg => format!("r0 = cmpxchg_{w}({a}, r0, {src})"),
            }
        }
        Insn::LoadImm64 { dst, value } => match value {
            Imm64::Value(v) => format!("{dst} = {v:#x} ll"),
            Imm64::MapFd(fd) => format!("{dst} = map[fd:{fd}] ll"),
            Imm64::MapValue { fd, offset } => format!("{dst} = map_value[fd:{fd}]+{offset} ll"),
            Imm64::VarAddr(k) => format!("{dst} = var[{k}] ll"),
            Imm64::CodeAddr(k) => format!("{dst} = code[{k}] ll"),
            Imm64::MapIndex(i) => format!("{dst} = map[idx:{i}] ll"),
            Imm64::MapIndexValue { index, offset } => {
                format!("{dst} = map_value[idx:{index}]+{offset} ll")
            }
        },
        Insn::LoadAbs { size, imm } => format!("r0 = *({} *)skb[{imm}]", size_name(size, false)),
        Insn::LoadInd { size, src, imm } => {
            format!("r0 = *({} *)skb[{src} + {imm}]", size_name(size, false))
        }
    }
}

// ---------------------------------------------------------------------------
// Map summaries

fn word(bytes: &[u8]) -> String {
    if bytes.len() == 8 {
        u64::from_le_bytes(bytes.try_into().unwrap_or_default()).to_string()
    } else if bytes.len() == 4 {
        u32::from_le_bytes(bytes.try_into().unwrap_or_default()).to_string()
    } else {
        let mut s = String::from("0x");
        for b in bytes.iter().take(32) {
            let _ = write!(s, "{b:02x}");
        }
        if bytes.len() > 32 {
            s.push('…');
        }
        s
    }
}

/// One line per map (and one per non-zero array slot, up to 16).
fn map_summary(maps: &MapSet, names: &[(String, u32)], prefix: &str) -> String {
    let mut out = String::new();
    for (name, index) in names {
        let Some(map) = maps.get(*index) else {
            continue;
        };
        let def = map.def();
        let _ = write!(out, "map {prefix}{name} ({:?}", def.kind);
        match def.kind {
            MapKind::Array => {
                let _ = writeln!(out, ", {} slots):", def.max_entries);
                if let Some(a) = maps.get_as::<ArrayMap>(*index) {
                    array_lines(&mut out, def.max_entries, |k| a.get(&k.to_le_bytes()));
                }
            }
            MapKind::PerCpuArray => {
                let _ = writeln!(
                    out,
                    ", {} slots, summed over CPUs shown per CPU):",
                    def.max_entries
                );
                if let Some(a) = maps.get_as::<PerCpuArrayMap>(*index) {
                    array_lines(&mut out, def.max_entries, |k| a.get_all(&k.to_le_bytes()));
                }
            }
            MapKind::Hash => {
                let n = maps.get_as::<HashMap>(*index).map_or(0, HashMap::len);
                let _ = writeln!(out, "): {n} of {} entries", def.max_entries);
            }
            MapKind::PerCpuHash => {
                let n = maps
                    .get_as::<PerCpuHashMap>(*index)
                    .map_or(0, PerCpuHashMap::len);
                let _ = writeln!(out, "): {n} of {} entries", def.max_entries);
            }
            MapKind::LruHash => {
                let n = maps.get_as::<LruHashMap>(*index).map_or(0, LruHashMap::len);
                let _ = writeln!(out, "): {n} of {} entries", def.max_entries);
            }
            MapKind::TimeSeries => {
                if let Some(ts) = maps.get_as::<TimeSeriesMap>(*index) {
                    let st = ts.stats(0, u64::MAX);
                    let _ = writeln!(
                        out,
                        "): {} samples, min {}, max {}, mean {}",
                        ts.len(),
                        st.min,
                        st.max,
                        st.mean
                    );
                }
            }
            MapKind::RingBuf => {
                if let Some(rb) = maps.get_as::<RingBufMap>(*index) {
                    let ring = rb.ring().clone();
                    let (mut records, mut bytes) = (0, 0);
                    if let Some(mut c) = ring.consumer() {
                        c.consume(|r| {
                            records += 1;
                            bytes += r.len();
                        });
                    }
                    let _ = writeln!(out, "): {records} records, {bytes} bytes");
                }
            }
        }
    }
    out
}

fn array_lines<'a>(out: &mut String, entries: u32, get: impl Fn(u32) -> Option<&'a [u8]>) {
    let mut shown = 0;
    for k in 0..entries {
        if let Some(v) = get(k).filter(|v| v.iter().any(|&b| b != 0)) {
            if shown == 16 {
                let _ = writeln!(out, "  …");
                break;
            }
            let _ = writeln!(out, "  [{k}] = {}", word(v));
            shown += 1;
        }
    }
    if shown == 0 {
        let _ = writeln!(out, "  (all zero)");
    }
}

// ---------------------------------------------------------------------------
// Persistent state: `<dir>/registry` lines
//   program <name> <section|-> <file>
//   attach <id> <hook> <name>

#[derive(Default)]
struct Registry {
    programs: Vec<(String, Option<String>, String)>,
    attachments: Vec<(u32, String, String)>,
    next_id: u32,
}

impl Registry {
    fn path(dir: &Path) -> PathBuf {
        dir.join("registry")
    }

    fn open(dir: &Path) -> Res<Registry> {
        let mut r = Registry {
            next_id: 1,
            ..Registry::default()
        };
        let text = match std::fs::read_to_string(Registry::path(dir)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(r),
            Err(e) => return input(format!("{}: {e}", Registry::path(dir).display())),
        };
        for (n, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let bad = || {
                Fail::Input(format!(
                    "{}:{}: bad line",
                    Registry::path(dir).display(),
                    n + 1
                ))
            };
            match f.as_slice() {
                [] => {}
                ["next", id] => r.next_id = id.parse().map_err(|_| bad())?,
                ["program", name, section, file] => r.programs.push((
                    name.to_string(),
                    (*section != "-").then(|| section.to_string()),
                    file.to_string(),
                )),
                ["attach", id, hook, name] => r.attachments.push((
                    id.parse().map_err(|_| bad())?,
                    hook.to_string(),
                    name.to_string(),
                )),
                _ => return Err(bad()),
            }
        }
        Ok(r)
    }

    fn save(&self, dir: &Path) -> Res<()> {
        let mut text = format!("next {}\n", self.next_id);
        for (name, section, file) in &self.programs {
            let _ = writeln!(
                text,
                "program {name} {} {file}",
                section.as_deref().unwrap_or("-")
            );
        }
        for (id, hook, name) in &self.attachments {
            let _ = writeln!(text, "attach {id} {hook} {name}");
        }
        std::fs::create_dir_all(dir).or_else(|e| input(format!("{}: {e}", dir.display())))?;
        std::fs::write(Registry::path(dir), text)
            .or_else(|e| input(format!("{}: {e}", Registry::path(dir).display())))
    }

    fn program(&self, name: &str) -> Res<&(String, Option<String>, String)> {
        match self.programs.iter().find(|(n, _, _)| n == name) {
            Some(p) => Ok(p),
            None => Err(Fail::Program(format!(
                "no program named {name} (see `bpf list`)"
            ))),
        }
    }
}

fn check_hook(name: &str) -> Res<()> {
    if HOOK_NAMES.contains(&name) {
        Ok(())
    } else {
        input(format!(
            "unknown hook {name} (hooks: {})",
            HOOK_NAMES.join(", ")
        ))
    }
}

fn load(args: &Args) -> Res<()> {
    let path = args.arg(1, "file")?;
    let dir = args.state_dir();
    let bytes = read(path)?;
    let loaded = extract(path, &bytes, args.opt("--section"), &mut MapSet::new())?;
    slot_count(&loaded.code).map_err(|e| Fail::Program(format!("{path}: {e}")))?;
    let name = match args.opt("--name") {
        Some(n) => n.to_string(),
        None => Path::new(path)
            .file_stem()
            .map_or("prog".into(), |s| s.to_string_lossy().into_owned()),
    };
    if name.is_empty() || name.contains(char::is_whitespace) || name.contains('/') {
        return input(format!("bad program name {name:?}"));
    }
    let mut reg = Registry::open(&dir)?;
    if reg.programs.iter().any(|(n, _, _)| *n == name) {
        return Err(Fail::Program(format!(
            "a program named {name} is loaded already"
        )));
    }
    std::fs::create_dir_all(&dir).or_else(|e| input(format!("{}: {e}", dir.display())))?;
    let file = format!("{name}.prog");
    std::fs::write(dir.join(&file), &bytes).or_else(|e| input(format!("{file}: {e}")))?;
    reg.programs
        .push((name.clone(), loaded.section.clone(), file));
    reg.save(&dir)?;
    println!(
        "loaded {name}{} ({} instructions, {} maps)",
        loaded
            .section
            .as_ref()
            .map_or(String::new(), |s| format!(" from section {s}")),
        loaded.code.len() / 8,
        loaded.maps.len()
    );
    Ok(())
}

/// Reads registered program `name` from `dir`, its maps created in `maps`.
fn load_registered(dir: &Path, reg: &Registry, name: &str, maps: &mut MapSet) -> Res<Loaded> {
    let (_, section, file) = reg.program(name)?;
    let path = dir.join(file);
    let path = path.to_string_lossy();
    let bytes = read(&path)?;
    extract(&path, &bytes, section.as_deref(), maps)
}

fn attach(args: &Args) -> Res<()> {
    let name = args.arg(1, "program name")?;
    let hook = args.arg(2, "hook")?;
    check_hook(hook)?;
    let dir = args.state_dir();
    let mut reg = Registry::open(&dir)?;
    let mut maps = MapSet::new();
    let loaded = load_registered(&dir, &reg, name, &mut maps)?;
    let helpers = Helpers::with_maps();
    let config = Config {
        helpers: &helpers,
        maps: &maps,
        context: layout_of(hook).unwrap_or_default(),
    };
    exo_bpf::verify(&loaded.code, &config).map_err(|e| {
        Fail::Program(format!(
            "{name} does not verify against the {hook} context: {e}"
        ))
    })?;
    let id = reg.next_id;
    reg.next_id += 1;
    reg.attachments
        .push((id, hook.to_string(), name.to_string()));
    reg.save(&dir)?;
    println!("attached {name} to {hook} as #{id}");
    Ok(())
}

fn detach(args: &Args) -> Res<()> {
    let id = args.arg(1, "attachment id")?;
    let id: u32 = id
        .trim_start_matches('#')
        .parse()
        .or_else(|_| input(format!("not an attachment id: {id}")))?;
    let dir = args.state_dir();
    let mut reg = Registry::open(&dir)?;
    let Some(i) = reg.attachments.iter().position(|a| a.0 == id) else {
        return Err(Fail::Program(format!(
            "no attachment #{id} (already detached?)"
        )));
    };
    let (_, hook, name) = reg.attachments.remove(i);
    reg.save(&dir)?;
    println!("detached #{id} ({name} from {hook})");
    Ok(())
}

fn list(args: &Args) -> Res<()> {
    let reg = Registry::open(&args.state_dir())?;
    println!("programs:");
    for (name, section, file) in &reg.programs {
        println!(
            "  {name} ({file}{})",
            section
                .as_ref()
                .map_or(String::new(), |s| format!(", section {s}"))
        );
    }
    println!("attachments:");
    for hook in HOOK_NAMES {
        let here: Vec<String> = reg
            .attachments
            .iter()
            .filter(|a| a.1 == hook)
            .map(|(id, _, name)| format!("#{id} {name}"))
            .collect();
        if !here.is_empty() {
            println!("  {hook}: {}", here.join(", "));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// sim

/// An attachment as `sim` runs it: id, program name, handle, its maps.
type SimAttached = (u32, String, AttachHandle, Vec<(String, u32)>);

struct SimSetup<H: Hook> {
    point: AttachPoint<H>,
    maps: MapSet,
    attached: Vec<SimAttached>,
}

fn setup<H: Hook>(dir: &Path, reg: &Registry) -> Res<SimSetup<H>> {
    let here: Vec<&(u32, String, String)> =
        reg.attachments.iter().filter(|a| a.1 == H::NAME).collect();
    let mut s = SimSetup {
        point: AttachPoint::new(here.len()),
        maps: MapSet::new(),
        attached: Vec::new(),
    };
    let helpers = Helpers::with_maps();
    for (id, _, name) in here {
        let loaded = load_registered(dir, reg, name, &mut s.maps)?;
        let handle = s
            .point
            .attach(&loaded.code, &helpers, &s.maps)
            .map_err(|e| Fail::Program(format!("#{id} {name}: {e}")))?;
        s.attached.push((*id, name.clone(), handle, loaded.maps));
    }
    Ok(s)
}

fn finish<H: Hook>(s: &SimSetup<H>, device: String) {
    println!("{device}");
    for (id, name, handle, names) in &s.attached {
        if let Ok(st) = s.point.stats(*handle) {
            println!(
                "#{id} {name}: {} runs, {} errors, last r0 = {}",
                st.runs, st.errors, st.last
            );
        }
        print!("{}", map_summary(&s.maps, names, &format!("{name}.")));
    }
}

fn sim(args: &Args) -> Res<()> {
    let hook = args.arg(1, "hook")?;
    check_hook(hook)?;
    let n = args.number("--count", 10)?;
    let n = usize::try_from(n).or_else(|_| input("--count too large"))?;
    let dir = args.state_dir();
    let reg = Registry::open(&dir)?;
    let mut vm = Vm::new();
    match hook {
        TimerTick::NAME => {
            let mut s = setup::<TimerTick>(&dir, &reg)?;
            let mut dev = SimTimer::new(1_000_000);
            dev.run_for(n, &mut s.point, &mut vm, Some(&mut s.maps));
            finish(&s, format!("timer: {} ticks, period 1 ms", dev.ticks));
        }
        GpioEdge::NAME => {
            let mut s = setup::<GpioEdge>(&dir, &reg)?;
            let mut dev = SimGpio::new(0, 3, 10_000_000);
            dev.run_for(n, &mut s.point, &mut vm, Some(&mut s.maps));
            finish(
                &s,
                format!(
                    "gpio: pin 0, {} edges, {} delivered, level {}",
                    dev.edges, dev.delivered, dev.level
                ),
            );
        }
        PwmUpdate::NAME => {
            let mut s = setup::<PwmUpdate>(&dir, &reg)?;
            let mut dev = SimPwm::new(0, 1000, 37);
            dev.run_for(n, &mut s.point, &mut vm, Some(&mut s.maps));
            finish(
                &s,
                format!(
                    "pwm: channel 0, period 1000, last requested {}, applied {}, max applied {}",
                    dev.requested, dev.applied, dev.max_applied
                ),
            );
        }
        ImuSample::NAME => {
            let mut s = setup::<ImuSample>(&dir, &reg)?;
            let mut dev = SimImu::new(1_000_000, 1000);
            dev.run_for(n, &mut s.point, &mut vm, Some(&mut s.maps));
            finish(
                &s,
                format!("imu: {} samples, amplitude 1000 mg", dev.samples),
            );
        }
        SyscallEntry::NAME => {
            let mut s = setup::<SyscallEntry>(&dir, &reg)?;
            let mut dev = SimSyscalls::new(&SIM_SYSCALLS);
            dev.run_for(n, &mut s.point, &mut vm, Some(&mut s.maps));
            finish(
                &s,
                format!("syscall-entry: {} calls, {} denied", dev.calls, dev.denied),
            );
        }
        SyscallExit::NAME => {
            let mut s = setup::<SyscallExit>(&dir, &reg)?;
            let mut entry = AttachPoint::<SyscallEntry>::new(0);
            let mut dev = SimSyscalls::new(&SIM_SYSCALLS);
            for i in 0..n as u64 {
                let nr = SIM_SYSCALLS[(i % SIM_SYSCALLS.len() as u64) as usize];
                let _ = dev.call(
                    nr,
                    [i, 2 * i, 0, 0, 0, 0],
                    &mut entry,
                    &mut s.point,
                    &mut vm,
                    Some(&mut s.maps),
                );
            }
            finish(&s, format!("syscall-exit: {} calls", dev.calls));
        }
        Tracepoint::NAME => {
            let mut s = setup::<Tracepoint>(&dir, &reg)?;
            for i in 0..n as u64 {
                let event = Tracepoint {
                    id: i % 4,
                    data: [i, i * i, 0, 0, 0, 0],
                };
                s.point.run(&mut vm, &event, Some(&mut s.maps));
            }
            finish(&s, format!("tracepoint: {n} events, ids 0-3"));
        }
        _ => unreachable!("checked above"),
    }
    Ok(())
}

/// System call numbers the simulated libOS makes, in turn.
const SIM_SYSCALLS: [u64; 6] = [0, 1, 2, 59, 62, 231];
