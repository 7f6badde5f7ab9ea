//! Programs written in C and compiled with `clang -target bpf -O2` when the
//! test runs (sources in `tests/c/`), then verified and run.
//!
//! clang is required: without it these tests fail, saying so, rather than
//! silently passing.

use std::path::{Path, PathBuf};
use std::process::Command;

use exo_bpf::elf::ElfProgram;
use exo_bpf::{Config, ContextLayout, Helpers, Input, MapSet, PacketFields, Program, Vm};

const CTX: ContextLayout = ContextLayout {
    size: 24,
    writable: false,
    packet: Some(PacketFields {
        data: 0,
        data_end: 8,
        writable: false,
    }),
};

/// Compiles `tests/c/<name>.c` and returns the object's bytes.
fn compile(name: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
    let out: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.o"));
    let status = Command::new("clang")
        .args(["-target", "bpf", "-O2", "-c"])
        .arg(dir.join(format!("{name}.c")))
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "could not run clang ({e}): these tests need clang with the BPF target \
                 (Debian: apt-get install clang)"
            )
        });
    assert!(status.success(), "clang failed on {name}.c");
    std::fs::read(&out).expect("read object")
}

/// The `section` of the compiled `name`, maps created in `maps`.
fn extract(name: &str, section: &str, maps: &mut MapSet) -> ElfProgram {
    exo_bpf::elf::load(&compile(name), section, maps).unwrap_or_else(|e| panic!("{name}.o: {e}"))
}

fn load(name: &str) -> Program {
    let helpers = Helpers::with_maps();
    let maps = MapSet::new();
    let config = Config {
        helpers: &helpers,
        maps: &maps,
        context: CTX,
    };
    let code = extract(name, ".text", &mut MapSet::new()).code;
    Program::load(&code, &config).unwrap_or_else(|e| panic!("{name}.c: {e}"))
}

fn run(program: &Program, packet: &mut [u8], arg: u64) -> u64 {
    let mut ctx = [0u8; 24];
    ctx[16..].copy_from_slice(&arg.to_le_bytes());
    Vm::new()
        .run(program, Input::context(&mut ctx).with_packet(packet))
        .expect("runs")
}

fn reference_checksum(packet: &[u8]) -> u64 {
    let mut sum: u64 = packet[..packet.len().min(64)]
        .chunks_exact(2)
        .map(|w| u64::from(w[0]) << 8 | u64::from(w[1]))
        .sum();
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !sum & 0xffff
}

#[test]
fn checksum_over_a_packet() {
    let program = load("checksum");
    for len in [0usize, 1, 2, 7, 20, 63, 64, 100, 1500] {
        let mut packet: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        let expect = reference_checksum(&packet);
        assert_eq!(run(&program, &mut packet, 0), expect, "length {len}");
    }
    // The classic RFC 1071 example words.
    let mut packet = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(run(&program, &mut packet, 0), 0x220d);
}

#[test]
fn loop_bounded_sum() {
    let program = load("sum_loop");
    for seed in [0u64, 1, 0xcbf2_9ce4_8422_2325] {
        let mut h = seed;
        for i in 0..100u64 {
            h = (h ^ i).wrapping_mul(0x0000_0100_0000_01b3);
        }
        assert_eq!(run(&program, &mut [], seed), h);
    }
}

#[test]
fn bpf_to_bpf_call() {
    let program = load("call");
    for seed in [0u64, 5, 1 << 40] {
        let (a, b) = (seed.wrapping_mul(3), seed + 7);
        assert_eq!(run(&program, &mut [], seed), (a ^ b) + a + b);
    }
}

#[test]
fn map_counter_with_relocated_maps_and_atomics() {
    let mut maps = MapSet::new();
    let elf = extract("map_counter", "prog", &mut maps);
    assert_eq!(elf.maps, vec![("counts".to_string(), 0)]);
    let helpers = Helpers::with_maps();
    let config = Config {
        helpers: &helpers,
        maps: &maps,
        context: CTX,
    };
    let program =
        Program::load(&elf.code, &config).unwrap_or_else(|e| panic!("map_counter.c: {e}"));
    let mut vm = Vm::new();
    let mut count = |key: u64, maps: &mut MapSet| {
        let mut ctx = [0u8; 24];
        ctx[16..].copy_from_slice(&key.to_le_bytes());
        vm.run(&program, Input::context(&mut ctx).with_maps(maps))
            .expect("runs")
    };
    assert_eq!(count(5, &mut maps), 1);
    assert_eq!(count(5, &mut maps), 2);
    assert_eq!(count(9, &mut maps), 1);
    assert_eq!(count(5, &mut maps), 3);
    let map = maps.get(0).unwrap();
    assert_eq!(map.get(&5u32.to_le_bytes()).unwrap(), &3u64.to_le_bytes());
    assert_eq!(map.get(&9u32.to_le_bytes()).unwrap(), &1u64.to_le_bytes());
}

#[test]
fn elf_errors_are_typed() {
    let mut maps = MapSet::new();
    let object = compile("map_counter");
    assert!(matches!(
        exo_bpf::elf::load(&object, "nope", &mut maps),
        Err(exo_bpf::elf::ElfError::NoSection(_))
    ));
    assert_eq!(
        exo_bpf::elf::load(&object[..10], "prog", &mut maps),
        Err(exo_bpf::elf::ElfError::Malformed)
    );
}
