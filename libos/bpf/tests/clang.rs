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
    compile_with(name, &[])
}

/// As [`compile`], with extra clang arguments.
fn compile_with(name: &str, extra: &[&str]) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
    let tag = extra.concat().replace(['-', '='], "");
    let out: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}{tag}.o"));
    let status = Command::new("clang")
        .args(["-target", "bpf", "-O2", "-c"])
        .args(extra)
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

/// The object of `sensor.c`, signed with the key from `seed`.
fn signed_sensor(seed: u8) -> (Vec<u8>, exo_bpf::signing::SigningKey) {
    let key = exo_bpf::signing::SigningKey::from_seed([seed; 32]);
    let signed = exo_bpf::elf::sign(&key, &compile("sensor")).expect("signs");
    (signed, key)
}

#[test]
fn new_map_kinds_from_c() {
    use exo_bpf::Map;
    use exo_bpf::elf::LoadOptions;
    use exo_bpf::maps::{LruHashMap, PerCpuArrayMap, RingBufMap, TimeSeriesMap};

    let (object, key) = signed_sensor(7);
    let policy = exo_bpf::SigningPolicy::require(&[key.public_key()]);
    let mut maps = MapSet::new();
    let options = LoadOptions {
        cpus: 2,
        policy: Some(&policy),
        detached: None,
    };
    let elf = exo_bpf::elf::load_with(&object, "prog", &mut maps, &options)
        .unwrap_or_else(|e| panic!("sensor.o: {e}"));
    let names: Vec<&str> = elf.maps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["events", "per_cpu", "recent", "samples"]);
    let helpers = Helpers::with_maps();
    let config = Config {
        helpers: &helpers,
        maps: &maps,
        context: CTX,
    };
    let program = Program::load(&elf.code, &config).unwrap_or_else(|e| panic!("sensor.c: {e}"));
    let mut vm = Vm::new();
    for (i, ts) in [100u64, 200, 300].into_iter().enumerate() {
        let mut ctx = [0u8; 24];
        ctx[16..].copy_from_slice(&ts.to_le_bytes());
        let r = vm
            .run(
                &program,
                Input::context(&mut ctx)
                    .with_maps(&mut maps)
                    .on_cpu(i as u32 % 2),
            )
            .expect("runs");
        assert_eq!(r, i as u64 + 1);
    }
    let index = |name: &str| elf.maps.iter().find(|(n, _)| n == name).unwrap().1;
    let series = maps.get_as::<TimeSeriesMap>(index("samples")).unwrap();
    let stats = series.stats(0, 1000);
    assert_eq!(
        (stats.count, stats.min, stats.max, stats.mean),
        (3, 950, 2950, 1950)
    );
    let per_cpu = maps.get_as::<PerCpuArrayMap>(index("per_cpu")).unwrap();
    assert_eq!(
        per_cpu.get_all(&0u32.to_le_bytes()).unwrap(),
        [2u64.to_le_bytes(), 1u64.to_le_bytes()].concat()
    );
    let lru = maps.get_as::<LruHashMap>(index("recent")).unwrap();
    assert_eq!(lru.len(), 2, "capacity 2: the oldest key was evicted");
    assert!(lru.get(&100u32.to_le_bytes()).is_none());
    let ring = maps
        .get_as::<RingBufMap>(index("events"))
        .unwrap()
        .ring()
        .clone();
    let mut events = Vec::new();
    ring.consumer().unwrap().consume(|r| {
        events.push((
            u64::from_le_bytes(r[..8].try_into().unwrap()),
            u64::from_le_bytes(r[8..].try_into().unwrap()),
        ));
    });
    assert_eq!(events, [(100, 0), (200, 1), (300, 0)]);
}

#[test]
fn signed_objects_are_checked_before_loading() {
    use exo_bpf::SignatureError;
    use exo_bpf::elf::{ElfError, LoadOptions};

    let unsigned = compile("sensor");
    let (signed, key) = signed_sensor(7);
    let (_, other) = signed_sensor(8);
    let policy = exo_bpf::SigningPolicy::require(&[key.public_key()]);
    let load = |object: &[u8], policy: &exo_bpf::SigningPolicy, detached| {
        let options = LoadOptions {
            cpus: 1,
            policy: Some(policy),
            detached,
        };
        exo_bpf::elf::load_with(object, "prog", &mut MapSet::new(), &options).map(|_| ())
    };
    assert_eq!(load(&signed, &policy, None), Ok(()));
    assert_eq!(
        load(&unsigned, &policy, None),
        Err(ElfError::Signature(SignatureError::Missing))
    );
    // A permissive policy lets the unsigned object through, and still
    // checks signed ones.
    let lax = exo_bpf::SigningPolicy::if_signed(&[other.public_key()]);
    assert_eq!(load(&unsigned, &lax, None), Ok(()));
    assert_eq!(
        load(&signed, &lax, None),
        Err(ElfError::Signature(SignatureError::UnknownKey))
    );
    // Any changed byte outside the signature breaks it: in the program,
    // in a map definition, in the section headers.
    let file = elf::ElfBytes::<elf::endian::LittleEndian>::minimal_parse(&signed).unwrap();
    let prog = file.section_header_by_name("prog").unwrap().unwrap();
    let maps_sec = file.section_header_by_name("maps").unwrap().unwrap();
    for at in [
        prog.sh_offset as usize + 4,
        maps_sec.sh_offset as usize + 12,
        signed.len() - 3,
    ] {
        let mut tampered = signed.clone();
        tampered[at] ^= 0x01;
        assert_eq!(
            load(&tampered, &policy, None),
            Err(ElfError::Signature(SignatureError::BadSignature)),
            "byte {at}"
        );
    }
    // Detached signatures over the same digest.
    let detached = exo_bpf::elf::sign_detached(&key, &unsigned).unwrap();
    assert_eq!(load(&unsigned, &policy, Some(&detached)), Ok(()));
    assert_eq!(
        exo_bpf::elf::digest(&unsigned).unwrap(),
        exo_bpf::elf::digest(&signed).unwrap(),
        "the signature section is outside the digest"
    );
    // Objects without a signature section cannot be signed in place.
    assert!(matches!(
        exo_bpf::elf::sign(&key, &compile("map_counter")),
        Err(ElfError::NoSection(_))
    ));
}

#[test]
fn btf_defined_maps() {
    use exo_bpf::maps::{LruHashMap, PerCpuHashMap, RingBufMap};
    use exo_bpf::{Map, MapKind};

    let object = compile_with("btf_maps", &["-g"]);
    let mut maps = MapSet::new();
    let options = exo_bpf::elf::LoadOptions {
        cpus: 2,
        ..Default::default()
    };
    let elf = exo_bpf::elf::load_with(&object, "prog", &mut maps, &options)
        .unwrap_or_else(|e| panic!("btf_maps.o: {e}"));
    // In section order (which is the compiler's choice).
    let index = |name: &str| elf.maps.iter().find(|(n, _)| n == name).unwrap().1;
    let mut sorted: Vec<u32> = elf.maps.iter().map(|&(_, i)| i).collect();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 1, 2]);
    let defs: Vec<_> = ["events", "per_key", "lru"]
        .iter()
        .map(|n| maps.def(index(n)).unwrap())
        .collect();
    assert_eq!(
        defs.iter()
            .map(|d| (d.kind, d.key_size, d.value_size, d.max_entries))
            .collect::<Vec<_>>(),
        [
            (MapKind::RingBuf, 0, 0, 4096),
            (MapKind::PerCpuHash, 4, 8, 64),
            (MapKind::LruHash, 8, 16, 8),
        ]
    );
    // Without BTF, `.maps` cannot be read.
    assert_eq!(
        exo_bpf::elf::load(&compile("btf_maps"), "prog", &mut MapSet::new()).map(|_| ()),
        Err(exo_bpf::elf::ElfError::BtfMaps)
    );

    let helpers = Helpers::with_maps();
    let config = Config {
        helpers: &helpers,
        maps: &maps,
        context: CTX,
    };
    let program = Program::load(&elf.code, &config).unwrap_or_else(|e| panic!("btf_maps.c: {e}"));
    let mut vm = Vm::new();
    let mut run = |key: u64, cpu: u32, maps: &mut MapSet| {
        let mut ctx = [0u8; 24];
        ctx[16..].copy_from_slice(&key.to_le_bytes());
        vm.run(
            &program,
            Input::context(&mut ctx).with_maps(maps).on_cpu(cpu),
        )
        .expect("runs")
    };
    assert_eq!(run(5, 0, &mut maps), 1);
    assert_eq!(run(5, 0, &mut maps), 2);
    assert_eq!(run(5, 1, &mut maps), 1);
    assert_eq!(run(6, 1, &mut maps), 1);
    let per_key = maps.get_as::<PerCpuHashMap>(index("per_key")).unwrap();
    assert_eq!(
        per_key.get_all(&5u32.to_le_bytes()).unwrap(),
        [2u64.to_le_bytes(), 1u64.to_le_bytes()].concat()
    );
    let lru = maps.get_as::<LruHashMap>(index("lru")).unwrap();
    assert_eq!(
        lru.get(&5u64.to_le_bytes()).unwrap(),
        [1u64.to_le_bytes(), 5u64.to_le_bytes()].concat()
    );
    let ring = maps
        .get_as::<RingBufMap>(index("events"))
        .unwrap()
        .ring()
        .clone();
    let mut got = Vec::new();
    ring.consumer()
        .unwrap()
        .consume(|r| got.push(u64::from_le_bytes(r.try_into().unwrap())));
    assert_eq!(got, [1, 2, 1, 1]);
}

#[test]
fn corrupted_btf_is_an_error_not_a_panic() {
    let object = compile_with("btf_maps", &["-g"]);
    let file = elf::ElfBytes::<elf::endian::LittleEndian>::minimal_parse(&object).unwrap();
    let btf = file.section_header_by_name(".BTF").unwrap().unwrap();
    let (start, len) = (btf.sh_offset as usize, btf.sh_size as usize);
    let mut outcomes = [0usize; 2];
    for at in start..start + len {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = object.clone();
            bad[at] ^= flip;
            let r = exo_bpf::elf::load(&bad, "prog", &mut MapSet::new());
            outcomes[usize::from(r.is_ok())] += 1;
        }
    }
    // Some corruptions are harmless (names, unused types), others refused.
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}
