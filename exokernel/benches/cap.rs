//! Capability-system benchmarks: create, derive, full HMAC verify, the
//! fast-path handle lookup, token minting, and revoking a tree of 1,000
//! descendants.
//!
//! `cargo bench -p exokernel --bench cap`
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use exokernel::cap::*;

const ENV: EnvId = EnvId(0);
const SLOTS: u32 = 4096;

fn space() -> (CapSpace, RootAuthority) {
    let (space, root) = CapSpace::new(
        CapKey::from_seed([0x42; 32]),
        CapSpaceConfig {
            max_envs: 1,
            slots_per_env: SLOTS,
        },
    )
    .expect("space");
    space
        .register_env(&root, ENV, Level::HIGHEST)
        .expect("register");
    (space, root)
}

fn top() -> Capability {
    Capability::new(
        Resource::Frames {
            first: 0,
            count: 1 << 20,
        },
        Rights::all(),
        Level::HIGHEST,
    )
}

fn child() -> Capability {
    top()
        .with_resource(Resource::Frames {
            first: 256,
            count: 16,
        })
        .with_rights(Rights::READ | Rights::MAP | Rights::REVOKE)
}

/// Times `op` in batches that fit the table, emptying it (untimed) between
/// batches.
fn batched(
    iters: u64,
    mut op: impl FnMut() -> CapHandle,
    mut cleanup: impl FnMut(&[CapHandle]),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut made = Vec::with_capacity(SLOTS as usize);
    while left > 0 {
        let n = left.min(u64::from(SLOTS) - 2);
        let start = Instant::now();
        for _ in 0..n {
            made.push(op());
        }
        total += start.elapsed();
        cleanup(&made);
        made.clear();
        left -= n;
    }
    total
}

fn benches(c: &mut Criterion) {
    let (space, root) = space();

    c.bench_function("cap/create", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                || space.create(&root, ENV, black_box(top())).expect("create"),
                |hs| {
                    hs.iter()
                        .for_each(|&h| assert_eq!(space.revoke(ENV, h), Ok(1)))
                },
            )
        })
    });

    let parent = space.create(&root, ENV, top()).expect("parent");
    c.bench_function("cap/derive", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                || {
                    space
                        .derive(ENV, parent, black_box(child()))
                        .expect("derive")
                },
                |hs| {
                    hs.iter()
                        .for_each(|&h| assert_eq!(space.revoke(ENV, h), Ok(1)))
                },
            )
        })
    });

    let h = space.derive(ENV, parent, child()).expect("derive");
    let token = space.mint(ENV, h).expect("mint");
    c.bench_function("cap/mint", |b| {
        b.iter(|| space.mint(ENV, black_box(h)).expect("mint"))
    });
    c.bench_function("cap/verify_hmac", |b| {
        b.iter(|| {
            space
                .verify(ENV, black_box(token.as_bytes()))
                .expect("verify")
        })
    });
    c.bench_function("cap/lookup_fast_path", |b| {
        b.iter(|| space.lookup(ENV, black_box(h)).expect("lookup"))
    });

    // A tree of 1,000 descendants under one root: node i (1-based) hangs
    // under node (i-1)/3, a ternary tree of depth 7.
    c.bench_function("cap/revoke_tree_1000", |b| {
        b.iter_batched(
            || {
                let r = space.derive(ENV, parent, top()).expect("tree root");
                let mut nodes = vec![r];
                for i in 1..=1000 {
                    let p = nodes[(i - 1) / 3];
                    nodes.push(space.derive(ENV, p, top()).expect("descendant"));
                }
                r
            },
            |r| assert_eq!(space.revoke(ENV, r), Ok(1001)),
            BatchSize::PerIteration,
        )
    });
}

criterion_group! {
    name = cap;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(cap);
