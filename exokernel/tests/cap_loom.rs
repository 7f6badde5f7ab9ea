//! Loom models of the capability system's core state machine.
//!
//! Run with (release, own target dir so the loom build does not evict the
//! normal one):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p exokernel --release --test cap_loom --target-dir target/loom
//! ```
//!
//! Under `cfg(loom)` the library's sync shim (`src/cap/sync.rs`) swaps in
//! loom's atomics, fences and mutex, so these models explore the real
//! `CapSpace` code under every interleaving (bounded by `PREEMPTIONS`).
#![cfg(loom)]

use exokernel::cap::*;
use loom::sync::Arc;
use loom::thread;

const ENV: EnvId = EnvId(0);
/// Preemption bound: enough to interleave every step of one revoke with a
/// reader, small enough to finish in seconds.
const PREEMPTIONS: usize = 3;

/// Runs `f` under loom and checks that loom really explored interleavings
/// (a model whose threads never conflict would pass vacuously in one run).
fn model(f: impl Fn() + Sync + Send + 'static) {
    model_bounded(PREEMPTIONS, f);
}

/// [`model`] with an explicit preemption bound (for three-thread models).
fn model_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&runs);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let runs = runs.load(Ordering::Relaxed);
    println!("explored {runs} interleavings");
    assert!(runs > 10, "loom explored only {runs} interleavings");
}

fn cap(first: u64, count: u64) -> Capability {
    Capability::new(
        Resource::Frames { first, count },
        Rights::all(),
        Level::HIGHEST,
    )
}

/// A space with root R, child P of R and grandchild C of P.
fn tree(slots: u32) -> (Arc<CapSpace>, RootAuthority, [CapHandle; 3]) {
    let (space, root) = CapSpace::new(
        CapKey::from_seed([1; 32]),
        CapSpaceConfig {
            max_envs: 1,
            slots_per_env: slots,
        },
    )
    .expect("space");
    space
        .register_env(&root, ENV, Level::HIGHEST)
        .expect("register");
    let r = space.create(&root, ENV, cap(0, 100)).expect("R");
    let p = space.derive(ENV, r, cap(0, 50)).expect("P");
    let c = space.derive(ENV, p, cap(0, 10)).expect("C");
    (Arc::new(space), root, [r, p, c])
}

/// Spawns a thread revoking `h`, expecting `n` capabilities to die.
///
/// Every participant of a model runs in a spawned thread: loom explores
/// interleavings of spawned threads, while work left on the model's main
/// thread tends to run before them.
fn spawn_revoke(space: &Arc<CapSpace>, h: CapHandle, n: usize) -> thread::JoinHandle<()> {
    let space = Arc::clone(space);
    thread::spawn(move || assert_eq!(space.revoke(ENV, h), Ok(n)))
}

/// Revocation of a subtree is atomic for readers: a reader that sees the
/// parent revoked must then see the child revoked (the walk kills the
/// parent first, so without the revocation seqlock this fails).
#[test]
fn revoke_is_atomic_for_verifiers() {
    model(|| {
        let (space, _root, [_, p, c]) = tree(4);
        let tp = space.mint(ENV, p).expect("mint P");
        let tc = space.mint(ENV, c).expect("mint C");
        let revoker = spawn_revoke(&space, p, 2);
        let verifier = {
            let space = Arc::clone(&space);
            thread::spawn(move || {
                (
                    space.verify(ENV, tp.as_bytes()),
                    space.verify(ENV, tc.as_bytes()),
                )
            })
        };
        let (parent, child) = verifier.join().expect("verifier");
        assert!(
            !(parent == Err(CapError::Revoked) && child.is_ok()),
            "saw parent revoked but child live: partial revocation observed"
        );
        assert!(parent.is_ok() || parent == Err(CapError::Revoked));
        revoker.join().expect("revoker");
        assert_eq!(space.verify(ENV, tc.as_bytes()), Err(CapError::Revoked));
        assert_eq!(space.verify(ENV, tp.as_bytes()), Err(CapError::Revoked));
    });
}

/// Same property on the handle fast path, reading child first then parent.
#[test]
fn revoke_is_atomic_for_lookups() {
    model(|| {
        let (space, _root, [_, p, c]) = tree(4);
        let revoker = spawn_revoke(&space, p, 2);
        let reader = {
            let space = Arc::clone(&space);
            thread::spawn(move || (space.lookup(ENV, p), space.lookup(ENV, c)))
        };
        let (parent, child) = reader.join().expect("reader");
        assert!(
            !(parent.is_err() && child.is_ok()),
            "partial revocation observed"
        );
        revoker.join().expect("revoker");
    });
}

/// Derive racing a revoke of its parent: either the derive fails with
/// `Revoked`, or it succeeded first and the child died with the parent.
/// Never a live child of a revoked parent, and no leaked slot.
#[test]
fn derive_races_revoke() {
    model(|| {
        let (space, _root, [r, p, _]) = tree(4);
        let deriver = {
            let space = Arc::clone(&space);
            thread::spawn(move || space.derive(ENV, p, cap(20, 5)))
        };
        let revoker = {
            let space = Arc::clone(&space);
            thread::spawn(move || space.revoke(ENV, p))
        };
        let derived = deriver.join().expect("deriver");
        let revoked = revoker.join().expect("revoker");
        // 2 (P, C) if the revoke won the race, 3 if the new child was linked first.
        assert_eq!(revoked, Ok(if derived.is_ok() { 3 } else { 2 }));
        match derived {
            Ok(x) => assert_eq!(space.lookup(ENV, x), Err(CapError::Revoked)),
            Err(e) => assert_eq!(e, CapError::Revoked),
        }
        assert_eq!(space.live_caps(ENV), Ok(1));
        assert!(space.lookup(ENV, r).is_ok());
    });
}

/// A reader racing revocation *and reuse* of the slot it reads never sees a
/// torn record: it gets exactly P's capability or `Revoked`, never a mix of
/// P's and the new occupant's fields.
#[test]
fn slot_reuse_never_tears() {
    model(|| {
        let (space, _root, [r, p, c]) = tree(3);
        let writer = {
            let space = Arc::clone(&space);
            thread::spawn(move || {
                assert_eq!(space.revoke(ENV, c), Ok(1));
                let q = Capability::new(
                    Resource::Frames {
                        first: 60,
                        count: 1,
                    },
                    Rights::READ,
                    Level::LOWEST,
                )
                .with_badge(Badge(9));
                let h = space.derive(ENV, r, q).expect("reuse");
                assert_eq!(h.index, c.index, "the freed slot is reused");
            })
        };
        let reader = {
            let space = Arc::clone(&space);
            thread::spawn(move || space.lookup(ENV, c))
        };
        match reader.join().expect("reader") {
            Ok(seen) => assert_eq!(seen, cap(0, 10)),
            Err(e) => assert_eq!(e, CapError::Revoked),
        }
        writer.join().expect("writer");
        assert!(space.lookup(ENV, p).is_ok());
    });
}

/// As above with the revocation and the reuse on different threads, so the
/// reader's safety cannot lean on the revoker's fences: the publishing
/// thread's own release fence must order the dead generation before the new
/// fields.
#[test]
fn slot_reuse_by_another_thread_never_tears() {
    model_bounded(2, || {
        let (space, _root, [r, _, c]) = tree(3);
        let revoker = spawn_revoke(&space, c, 1);
        let reuser = {
            let space = Arc::clone(&space);
            thread::spawn(move || {
                let q = Capability::new(
                    Resource::Frames {
                        first: 60,
                        count: 1,
                    },
                    Rights::READ,
                    Level::LOWEST,
                )
                .with_badge(Badge(9));
                // Before the revoke frees C's slot the table is full.
                match space.derive(ENV, r, q) {
                    Ok(h) => assert_eq!(h.index, c.index),
                    Err(e) => assert_eq!(e, CapError::TableFull(ENV)),
                }
            })
        };
        let reader = {
            let space = Arc::clone(&space);
            thread::spawn(move || space.lookup(ENV, c))
        };
        match reader.join().expect("reader") {
            Ok(seen) => assert_eq!(seen, cap(0, 10)),
            Err(e) => assert_eq!(e, CapError::Revoked),
        }
        revoker.join().expect("revoker");
        reuser.join().expect("reuser");
    });
}

/// Two overlapping revocations: exactly one kills each node, and the counts
/// add up whichever wins.
#[test]
fn overlapping_revokes() {
    model(|| {
        let (space, _root, [r, p, c]) = tree(4);
        let other = {
            let space = Arc::clone(&space);
            thread::spawn(move || space.revoke(ENV, c))
        };
        let first = {
            let space = Arc::clone(&space);
            thread::spawn(move || space.revoke(ENV, p))
        };
        let mine = first.join().expect("first");
        let theirs = other.join().expect("other");
        match (mine, theirs) {
            (Ok(2), Err(CapError::Revoked)) | (Ok(1), Ok(1)) => {}
            outcome => panic!("impossible outcome {outcome:?}"),
        }
        assert_eq!(space.live_caps(ENV), Ok(1));
        assert!(space.lookup(ENV, r).is_ok());
    });
}

/// Deleting a middle node while another thread revokes the root: the
/// spliced-out node's child must still die with the root, whichever runs
/// first, and nothing is left behind.
#[test]
fn delete_racing_revoke_keeps_the_child_revocable() {
    model(|| {
        let (space, _root, [r, p, c]) = tree(4);
        let deleter = {
            let space = Arc::clone(&space);
            thread::spawn(move || space.delete(ENV, p))
        };
        let revoker = {
            let space = Arc::clone(&space);
            thread::spawn(move || {
                let n = space.revoke(ENV, r);
                (n, space.lookup(ENV, c))
            })
        };
        let deleted = deleter.join().expect("deleter");
        let (revoked, child_after) = revoker.join().expect("revoker");
        match deleted {
            // Delete first: the revoke finds R and C (C now under R).
            Ok(()) => assert_eq!(revoked, Ok(2)),
            // Revoke first: P was already dead.
            Err(e) => {
                assert_eq!(e, CapError::Revoked);
                assert_eq!(revoked, Ok(3));
            }
        }
        assert_eq!(child_after, Err(CapError::Revoked));
        assert_eq!(space.lookup(ENV, p), Err(CapError::Revoked));
        assert_eq!(space.live_caps(ENV), Ok(0));
    });
}
