//! Host-thread stress: 256 concurrent derivers, then concurrent revokers,
//! verifiers and racing derivers, checking the capability invariants.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use exokernel::cap::*;

const ENV: EnvId = EnvId(0);
const THREADS: usize = 256;
const PER_THREAD: usize = 40;
const SPAN: u64 = 4096;

/// Tiny deterministic PRNG (xorshift64*), one per thread.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Node {
    handle: CapHandle,
    cap: Capability,
    token: Token,
}

/// A random attenuation of `parent` (sub-range, rights subset, level ≤).
fn attenuation(rng: &mut Rng, parent: &Capability) -> Capability {
    let span = parent.resource.span();
    let off = rng.below(span.len);
    let len = 1 + rng.below(span.len - off);
    let resource = Resource::Frames {
        first: span.base + off,
        count: len,
    };
    let rights = Rights::from_bits_truncate(rng.next() as u32) & parent.rights;
    // Keep DERIVE mostly, so trees grow deep.
    let rights = if rng.below(4) != 0 {
        rights | (parent.rights & Rights::DERIVE)
    } else {
        rights
    };
    let level = Level::new(rng.below(u64::from(parent.level.get()) + 1) as u8).expect("level");
    Capability {
        resource,
        rights,
        level,
        badge: parent.badge,
    }
}

fn below(child: &Capability, parent: &Capability) -> bool {
    child.rights.is_subset_of(parent.rights)
        && parent.resource.contains(&child.resource)
        && child.level <= parent.level
}

#[test]
fn concurrent_derive_verify_revoke() {
    let (space, root) = CapSpace::new(
        CapKey::from_seed([0x77; 32]),
        CapSpaceConfig {
            max_envs: 1,
            slots_per_env: 1 << 15,
        },
    )
    .expect("space");
    space
        .register_env(&root, ENV, Level::HIGHEST)
        .expect("register");
    let top = Capability::new(
        Resource::Frames {
            first: 0,
            count: SPAN * THREADS as u64,
        },
        Rights::all(),
        Level::HIGHEST,
    );
    let top_h = space.create(&root, ENV, top).expect("create");
    let space = Arc::new(space);

    // ---- Phase 1: 256 threads derive concurrently -----------------------
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (space, start) = (Arc::clone(&space), Arc::clone(&start));
            thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9 ^ ((t as u64 + 1) * 0x1_0000_0001));
                start.wait();
                // Each thread's subtree root covers its own SPAN of frames.
                let mine = top.with_resource(Resource::Frames {
                    first: t as u64 * SPAN,
                    count: SPAN,
                });
                let h = space.derive(ENV, top_h, mine).expect("thread root");
                let mut nodes = vec![Node {
                    handle: h,
                    cap: mine,
                    token: space.mint(ENV, h).expect("mint"),
                }];
                let mut attempts = 0;
                while nodes.len() < PER_THREAD {
                    attempts += 1;
                    let p = rng.below(nodes.len() as u64) as usize;
                    let parent = nodes[p].cap;
                    let request = attenuation(&mut rng, &parent);
                    match space.derive(ENV, nodes[p].handle, request) {
                        Ok(ch) => {
                            let got = space.lookup(ENV, ch).expect("fresh child live");
                            assert_eq!(got, request);
                            assert!(
                                below(&got, &parent),
                                "child {got:?} above parent {parent:?}"
                            );
                            nodes.push(Node {
                                handle: ch,
                                cap: got,
                                token: space.mint(ENV, ch).expect("mint"),
                            });
                        }
                        Err(CapError::MissingRight(r)) => assert!(!parent.rights.contains(r)),
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                    // Amplification attempts by every thread, concurrently.
                    if attempts % 8 == 0 {
                        let greedy = parent.with_rights(Rights::all());
                        let r = space.derive(ENV, nodes[p].handle, greedy);
                        if parent.rights == Rights::all() {
                            assert!(r.is_ok());
                            if let Ok(extra) = r {
                                assert_eq!(space.revoke(ENV, extra), Ok(1));
                            }
                        } else if parent.rights.contains(Rights::DERIVE) {
                            assert_eq!(r, Err(CapError::RightsAmplification));
                        } else {
                            assert_eq!(r, Err(CapError::MissingRight(Rights::DERIVE)));
                        }
                    }
                }
                nodes
            })
        })
        .collect();
    let trees: Vec<Vec<Node>> = workers
        .into_iter()
        .map(|w| w.join().expect("worker"))
        .collect();

    // No handle was handed out twice.
    let distinct: HashSet<(u32, u64)> = trees
        .iter()
        .flatten()
        .map(|n| (n.handle.index, n.handle.generation))
        .collect();
    assert_eq!(distinct.len(), THREADS * PER_THREAD);
    let slots: HashSet<u32> = trees.iter().flatten().map(|n| n.handle.index).collect();
    assert_eq!(
        slots.len(),
        THREADS * PER_THREAD,
        "two live caps share a slot"
    );
    assert_eq!(space.live_caps(ENV), Ok(1 + THREADS * PER_THREAD));

    // ---- Phase 2: even threads revoke their subtree while odd threads
    // verify everything and race derivations against the revocations. ------
    let trees = Arc::new(trees);
    let raced: Arc<Mutex<Vec<CapHandle>>> = Arc::new(Mutex::new(vec![]));
    // How often a watcher saw a token live and later dead (evidence the
    // phases really overlapped; printed, not asserted, as it is timing-bound).
    let transitions = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (space, trees, raced, start, transitions) = (
                Arc::clone(&space),
                Arc::clone(&trees),
                Arc::clone(&raced),
                Arc::clone(&start),
                Arc::clone(&transitions),
            );
            thread::spawn(move || {
                let mut rng = Rng(0x51ed ^ ((t as u64 + 7) * 0x1_0000_0003));
                start.wait();
                if t % 2 == 0 {
                    let n = space
                        .revoke(ENV, trees[t][0].handle)
                        .expect("revoke own subtree");
                    assert!(n >= PER_THREAD, "revoked {n} < {PER_THREAD}");
                    // After revoke returns, every descendant is dead.
                    for node in &trees[t] {
                        assert_eq!(
                            space.verify(ENV, node.token.as_bytes()),
                            Err(CapError::Revoked)
                        );
                        assert_eq!(space.lookup(ENV, node.handle), Err(CapError::Revoked));
                        assert_eq!(
                            space.derive(ENV, node.handle, node.cap),
                            Err(CapError::Revoked)
                        );
                    }
                } else {
                    // Verify own (never revoked) tokens: must all stay valid.
                    for node in &trees[t] {
                        let v = space.verify(ENV, node.token.as_bytes()).expect("own token");
                        assert_eq!(v.cap, node.cap);
                    }
                    // Watch a victim's subtree: once revoked, never valid again.
                    let victim = &trees[t - 1];
                    let mut dead = vec![false; victim.len()];
                    for round in 0..20 {
                        for (i, node) in victim.iter().enumerate() {
                            match space.verify(ENV, node.token.as_bytes()) {
                                Ok(v) => {
                                    assert!(!dead[i], "token came back to life");
                                    assert_eq!(v.cap, node.cap);
                                }
                                Err(CapError::Revoked) => {
                                    if !dead[i] && round > 0 {
                                        transitions.fetch_add(1, Ordering::Relaxed);
                                    }
                                    dead[i] = true;
                                }
                                Err(e) => panic!("unexpected {e:?}"),
                            }
                        }
                        // Race a derivation against the victim's revocation.
                        let p = &victim[rng.below(victim.len() as u64) as usize];
                        if p.cap.rights.contains(Rights::DERIVE) {
                            match space.derive(ENV, p.handle, p.cap) {
                                Ok(h) => raced.lock().expect("raced").push(h),
                                Err(CapError::Revoked) => {}
                                Err(e) => panic!("round {round}: unexpected {e:?}"),
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("phase 2 worker");
    }

    println!(
        "raced derivations that succeeded: {}; live-to-revoked transitions seen: {}",
        raced.lock().expect("raced").len(),
        transitions.load(Ordering::Relaxed)
    );
    // Every child derived from a victim during the race died with it.
    for &h in raced.lock().expect("raced").iter() {
        assert_eq!(space.lookup(ENV, h), Err(CapError::Revoked));
    }
    for (t, tree) in trees.iter().enumerate() {
        for node in tree {
            let r = space.verify(ENV, node.token.as_bytes());
            if t % 2 == 0 {
                assert_eq!(r, Err(CapError::Revoked));
            } else {
                assert_eq!(r.map(|v| v.cap), Ok(node.cap));
            }
        }
    }
    // Revoked slots were all freed: only the root and the odd threads' trees remain.
    assert_eq!(space.live_caps(ENV), Ok(1 + THREADS / 2 * PER_THREAD));

    // Finally revoking the top kills everything.
    assert_eq!(space.revoke(ENV, top_h), Ok(1 + THREADS / 2 * PER_THREAD));
    assert_eq!(space.live_caps(ENV), Ok(0));
    for node in trees.iter().flatten() {
        assert_eq!(
            space.verify(ENV, node.token.as_bytes()),
            Err(CapError::Revoked)
        );
    }
}

#[test]
fn concurrent_exhaustion_hands_out_each_slot_once() {
    const SLOTS: u32 = 1000;
    let (space, root) = CapSpace::new(
        CapKey::from_seed([1; 32]),
        CapSpaceConfig {
            max_envs: 1,
            slots_per_env: SLOTS,
        },
    )
    .expect("space");
    space
        .register_env(&root, ENV, Level::HIGHEST)
        .expect("register");
    let top = Capability::new(
        Resource::Endpoint {
            first: 0,
            count: 10,
        },
        Rights::all(),
        Level::HIGHEST,
    );
    let top_h = space.create(&root, ENV, top).expect("create");
    let space = Arc::new(space);
    let start = Arc::new(Barrier::new(64));
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let (space, start) = (Arc::clone(&space), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let mut got = vec![];
                loop {
                    match space.derive(ENV, top_h, top) {
                        Ok(h) => got.push(h),
                        Err(CapError::TableFull(ENV)) => return got,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
            })
        })
        .collect();
    let all: Vec<CapHandle> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    assert_eq!(all.len(), SLOTS as usize - 1);
    let distinct: HashSet<u32> = all.iter().map(|h| h.index).collect();
    assert_eq!(distinct.len(), all.len());
    assert_eq!(space.revoke(ENV, top_h), Ok(SLOTS as usize));
}
