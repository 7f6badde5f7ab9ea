//! Interpreter and JIT throughput on a 1,000-iteration loop (7
//! instructions per iteration, about 7,000 executed per run), next to
//! rbpf's interpreter running the same bytecode.
//!
//! `cargo bench -p exo-bpf --bench interpreter`
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use exo_bpf::isa::{AluOp, Insn, JmpCond, Operand, Reg, Width, assemble};
use exo_bpf::{Config, ContextLayout, Helpers, Input, MapSet, Program, Vm};

/// `r0 = 0; for (r1 = 0; r1 < 1000; r1++) { r2 = r1 * 3 ^ r0; r0 += r2; r0 &= 0xffffff; }`
fn loop_program() -> Vec<u8> {
    let alu = |op, dst, src| Insn::Alu {
        width: Width::W64,
        op,
        dst,
        src,
    };
    assemble(&[
        alu(AluOp::Mov, Reg::R0, Operand::Imm(0)),
        alu(AluOp::Mov, Reg::R1, Operand::Imm(0)),
        alu(AluOp::Mov, Reg::R2, Operand::Reg(Reg::R1)),
        alu(AluOp::Mul, Reg::R2, Operand::Imm(3)),
        alu(AluOp::Xor, Reg::R2, Operand::Reg(Reg::R0)),
        alu(AluOp::Add, Reg::R0, Operand::Reg(Reg::R2)),
        alu(AluOp::And, Reg::R0, Operand::Imm(0xff_ffff)),
        alu(AluOp::Add, Reg::R1, Operand::Imm(1)),
        Insn::Jump {
            width: Width::W64,
            cond: JmpCond::Lt,
            dst: Reg::R1,
            src: Operand::Imm(1000),
            off: -7,
        },
        Insn::Exit,
    ])
}

fn bench(c: &mut Criterion) {
    let code = loop_program();
    let helpers = Helpers::new();
    let maps = MapSet::new();
    let config = Config {
        helpers: &helpers,
        maps: &maps,
        context: ContextLayout::default(),
    };
    let program = Program::load(&code, &config).expect("verifies");
    let mut vm = Vm::new();
    let ours = vm.run(&program, Input::default()).expect("runs");
    let theirs = rbpf::EbpfVmNoData::new(Some(&code))
        .expect("rbpf loads")
        .execute_program()
        .expect("rbpf runs");
    assert_eq!(ours, theirs, "both interpreters compute the same result");

    let mut group = c.benchmark_group("loop_1000");
    group.bench_function("exo_bpf", |b| {
        b.iter(|| vm.run(black_box(&program), Input::default()).expect("runs"));
    });
    #[cfg(all(
        feature = "jit",
        feature = "std",
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_os = "linux"
    ))]
    {
        let jit = exo_bpf::JitProgram::compile_host(&program).expect("JIT compiles");
        assert_eq!(vm.run_jit(&jit, Input::default()), Ok(ours));
        group.bench_function("exo_bpf_jit", |b| {
            b.iter(|| vm.run_jit(black_box(&jit), Input::default()).expect("runs"));
        });
    }
    let rbpf_vm = rbpf::EbpfVmNoData::new(Some(&code)).expect("rbpf loads");
    group.bench_function("rbpf", |b| {
        b.iter(|| black_box(&rbpf_vm).execute_program().expect("runs"));
    });
    group.finish();

    c.bench_function("verify_loop_program", |b| {
        b.iter(|| exo_bpf::verify(black_box(&code), &config).expect("verifies"));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
