//! Capability system: operation semantics and every bad-input path.
//!
//! Each hostile input (forged, bit-flipped, truncated, replayed-after-revoke,
//! wrong-version, wrong-environment tokens; amplification attempts;
//! derivation from a revoked parent; table exhaustion) must produce its
//! typed `CapError`, never a panic and never success.

use exokernel::cap::*;

const A: EnvId = EnvId(0);
const B: EnvId = EnvId(1);
const LOW: EnvId = EnvId(2);
const UNREGISTERED: EnvId = EnvId(3);

fn level(n: u8) -> Level {
    Level::new(n).expect("valid level")
}

/// A space with envs A, B at level 8, LOW at level 2; env 3 unregistered.
fn setup(slots: u32) -> (CapSpace, RootAuthority) {
    setup_seeded(slots, [0xa5; 32])
}

fn setup_seeded(slots: u32, seed: [u8; 32]) -> (CapSpace, RootAuthority) {
    let key = CapKey::from_seed(seed);
    let (space, root) = CapSpace::new(
        key,
        CapSpaceConfig {
            max_envs: 4,
            slots_per_env: slots,
        },
    )
    .expect("space");
    space.register_env(&root, A, level(8)).expect("A");
    space.register_env(&root, B, level(8)).expect("B");
    space.register_env(&root, LOW, level(2)).expect("LOW");
    (space, root)
}

fn frames(first: u64, count: u64) -> Resource {
    Resource::Frames { first, count }
}

fn root_cap() -> Capability {
    Capability::new(frames(0, 1000), Rights::all(), level(8))
}

#[test]
fn create_and_lookup() {
    let (space, root) = setup(16);
    let h = space.create(&root, A, root_cap()).expect("create");
    assert_eq!(space.lookup(A, h), Ok(root_cap()));
    assert_eq!(h.generation & 1, 1, "live generations are odd");
    assert_eq!(space.live_caps(A), Ok(1));
    // The handle is meaningless in another environment's table.
    assert_eq!(space.lookup(B, h), Err(CapError::Revoked));
}

#[test]
fn create_refusals() {
    let (space, root) = setup(16);
    assert_eq!(
        space.create(&root, LOW, root_cap()),
        Err(CapError::AboveClearance),
        "level 8 capability for a level-2 environment"
    );
    assert_eq!(
        space.create(&root, A, root_cap().with_resource(frames(5, 0))),
        Err(CapError::InvalidResource)
    );
    assert_eq!(
        space.create(
            &root,
            A,
            root_cap().with_resource(Resource::Mmio {
                base: u64::MAX - 1,
                len: 3
            })
        ),
        Err(CapError::InvalidResource)
    );
    assert_eq!(
        space.create(&root, UNREGISTERED, root_cap()),
        Err(CapError::UnknownEnvironment(UNREGISTERED))
    );
    assert_eq!(
        space.create(&root, EnvId(99), root_cap()),
        Err(CapError::UnknownEnvironment(EnvId(99)))
    );
    assert_eq!(
        space.register_env(&root, A, level(1)),
        Err(CapError::AlreadyRegistered(A))
    );
    assert_eq!(
        space.register_env(&root, EnvId(4), level(1)),
        Err(CapError::UnknownEnvironment(EnvId(4)))
    );
    assert_eq!(space.live_caps(A), Ok(0));
}

#[test]
fn bad_configs_are_typed() {
    for (max_envs, slots_per_env) in [(0, 8), (8, 0), (u32::MAX, 2), (2, u32::MAX)] {
        let key = CapKey::from_seed([0; 32]);
        let r = CapSpace::new(
            key,
            CapSpaceConfig {
                max_envs,
                slots_per_env,
            },
        );
        assert!(
            matches!(r, Err(CapError::InvalidConfig)),
            "{max_envs}x{slots_per_env}"
        );
    }
}

#[test]
fn derive_attenuates() {
    let (space, root) = setup(16);
    let p = space.create(&root, A, root_cap()).expect("create");
    let req = root_cap()
        .with_resource(frames(100, 10))
        .with_rights(Rights::READ | Rights::DERIVE)
        .with_level(level(3))
        .with_badge(Badge(7));
    let c = space.derive(A, p, req).expect("derive");
    assert_eq!(space.lookup(A, c), Ok(req));
    // Grandchild of the badged child must keep the badge.
    let gc = space
        .derive(A, c, req.with_rights(Rights::READ))
        .expect("grandchild");
    assert_eq!(space.lookup(A, gc).map(|c| c.badge), Ok(Badge(7)));
    assert_eq!(
        space.derive(A, c, req.with_badge(Badge(8))),
        Err(CapError::BadgeConflict)
    );
}

#[test]
fn amplification_attempts_are_refused() {
    let (space, root) = setup(16);
    let p = space.create(&root, A, root_cap()).expect("create");
    let narrow = root_cap()
        .with_resource(frames(100, 10))
        .with_rights(Rights::READ | Rights::DERIVE)
        .with_level(level(3));
    let c = space.derive(A, p, narrow).expect("derive");
    let before = space.live_caps(A);

    assert_eq!(
        space.derive(
            A,
            c,
            narrow.with_rights(Rights::READ | Rights::WRITE | Rights::DERIVE)
        ),
        Err(CapError::RightsAmplification)
    );
    assert_eq!(
        space.derive(A, c, narrow.with_rights(Rights::all())),
        Err(CapError::RightsAmplification)
    );
    assert_eq!(
        space.derive(A, c, narrow.with_level(level(4))),
        Err(CapError::LevelRaise)
    );
    assert_eq!(
        space.derive(A, c, narrow.with_resource(frames(99, 2))),
        Err(CapError::ResourceNotSubset)
    );
    assert_eq!(
        space.derive(A, c, narrow.with_resource(frames(105, 10))),
        Err(CapError::ResourceNotSubset)
    );
    assert_eq!(
        space.derive(
            A,
            c,
            narrow.with_resource(Resource::Mmio { base: 100, len: 1 })
        ),
        Err(CapError::ResourceNotSubset)
    );
    // A child without DERIVE cannot derive at all, even an identical copy.
    let leaf = space
        .derive(A, c, narrow.with_rights(Rights::READ))
        .expect("leaf");
    assert_eq!(
        space.derive(A, leaf, narrow.with_rights(Rights::READ)),
        Err(CapError::MissingRight(Rights::DERIVE))
    );
    // Nothing was allocated by the refused requests.
    assert_eq!(space.live_caps(A), before.map(|n| n + 1));
}

#[test]
fn derivation_from_revoked_parent_is_refused() {
    let (space, root) = setup(16);
    let p = space.create(&root, A, root_cap()).expect("create");
    let c = space.derive(A, p, root_cap()).expect("derive");
    assert_eq!(space.revoke(A, c), Ok(1));
    assert_eq!(space.derive(A, c, root_cap()), Err(CapError::Revoked));
    // Even after the slot is reused, the stale handle stays dead.
    let reused = space.derive(A, p, root_cap()).expect("derive again");
    assert_eq!(reused.index, c.index, "LIFO free list reuses the slot");
    assert_ne!(reused.generation, c.generation);
    assert_eq!(space.derive(A, c, root_cap()), Err(CapError::Revoked));
    assert_eq!(space.lookup(A, c), Err(CapError::Revoked));
}

#[test]
fn bad_handles() {
    let (space, root) = setup(16);
    let p = space.create(&root, A, root_cap()).expect("create");
    assert_eq!(
        space.lookup(A, CapHandle { index: 16, ..p }),
        Err(CapError::BadIndex(16))
    );
    assert_eq!(
        space.lookup(
            A,
            CapHandle {
                index: u32::MAX,
                ..p
            }
        ),
        Err(CapError::BadIndex(u32::MAX))
    );
    // Guessing generations: the dead (even) predecessor and any other value fail.
    for generation in [
        0,
        p.generation - 1,
        p.generation + 1,
        p.generation + 2,
        u64::MAX,
    ] {
        assert_eq!(
            space.lookup(A, CapHandle { generation, ..p }),
            Err(CapError::Revoked)
        );
    }
    // A free slot with the generation it would have never looks live.
    assert_eq!(
        space.lookup(
            A,
            CapHandle {
                index: 5,
                generation: 1
            }
        ),
        Err(CapError::Revoked)
    );
    assert_eq!(
        space.lookup(UNREGISTERED, p),
        Err(CapError::UnknownEnvironment(UNREGISTERED))
    );
}

#[test]
fn revoke_is_transitive_and_frees_slots() {
    let (space, root) = setup(64);
    let r = space.create(&root, A, root_cap()).expect("create");
    let p = space
        .derive(A, r, root_cap().with_resource(frames(0, 500)))
        .expect("p");
    let sibling = space
        .derive(A, r, root_cap().with_resource(frames(500, 500)))
        .expect("sibling");
    let mut descendants = vec![p];
    for i in 0..10 {
        let parent = descendants[i / 2];
        let narrower = root_cap().with_resource(frames(0, 500 - i as u64));
        descendants.push(space.derive(A, parent, narrower).expect("d"));
    }
    let copied = space
        .transfer(A, descendants[3], B, Rights::READ)
        .expect("transfer");
    let tokens: Vec<Token> = descendants
        .iter()
        .map(|&h| space.mint(A, h).expect("mint"))
        .collect();
    let copied_token = space.mint(B, copied).expect("mint copy");

    assert_eq!(space.revoke(A, sibling), Ok(1));
    assert_eq!(space.revoke(A, p), Ok(descendants.len() + 1));
    for (&h, t) in descendants.iter().zip(&tokens) {
        assert_eq!(space.lookup(A, h), Err(CapError::Revoked));
        assert_eq!(space.verify(A, t.as_bytes()), Err(CapError::Revoked));
    }
    assert_eq!(
        space.lookup(B, copied),
        Err(CapError::Revoked),
        "transferred copy dies with its source"
    );
    assert_eq!(
        space.verify(B, copied_token.as_bytes()),
        Err(CapError::Revoked)
    );
    assert_eq!(space.lookup(A, r), Ok(root_cap()), "the ancestor survives");
    assert_eq!(space.live_caps(A), Ok(1));
    assert_eq!(space.live_caps(B), Ok(0));
    assert_eq!(space.revoke(A, p), Err(CapError::Revoked), "double revoke");
}

#[test]
fn revoke_needs_the_revoke_right() {
    let (space, root) = setup(16);
    let r = space.create(&root, A, root_cap()).expect("create");
    let c = space
        .derive(A, r, root_cap().with_rights(Rights::READ))
        .expect("derive");
    assert_eq!(
        space.revoke(A, c),
        Err(CapError::MissingRight(Rights::REVOKE))
    );
    assert_eq!(space.lookup(A, c).map(|c| c.rights), Ok(Rights::READ));
    // The holder of the parent can still revoke it.
    assert_eq!(space.revoke(A, r), Ok(2));
}

#[test]
fn transfer_rules() {
    let (space, root) = setup(16);
    let r = space.create(&root, A, root_cap()).expect("create");
    let no_grant = space
        .derive(A, r, root_cap().with_rights(Rights::READ | Rights::WRITE))
        .expect("derive");
    assert_eq!(
        space.transfer(A, no_grant, B, Rights::READ),
        Err(CapError::MissingRight(Rights::GRANT))
    );
    assert_eq!(
        space
            .transfer(A, r, B, Rights::all())
            .map(|h| space.lookup(B, h)),
        Ok(Ok(root_cap()))
    );
    let weak = space
        .derive(A, r, root_cap().with_rights(Rights::READ | Rights::GRANT))
        .expect("weak");
    assert_eq!(
        space.transfer(A, weak, B, Rights::READ | Rights::WRITE),
        Err(CapError::RightsAmplification)
    );
    // Write-down: A (level 8) may not send to LOW (level 2), even a low capability.
    let low_cap = space
        .derive(A, r, root_cap().with_level(level(1)))
        .expect("low cap");
    assert_eq!(
        space.transfer(A, low_cap, LOW, Rights::READ),
        Err(CapError::FlowViolation)
    );
    assert_eq!(space.check_ipc_flow(A, LOW), Err(CapError::FlowViolation));
    assert_eq!(space.check_ipc_flow(LOW, A), Ok(()));
    assert_eq!(space.check_ipc_flow(A, B), Ok(()));
    assert_eq!(
        space.check_ipc_flow(A, UNREGISTERED),
        Err(CapError::UnknownEnvironment(UNREGISTERED))
    );
    // Up-flow is fine and keeps the level.
    let l = space
        .create(&root, LOW, root_cap().with_level(level(2)))
        .expect("low root");
    let up = space.transfer(LOW, l, A, Rights::READ).expect("up");
    assert_eq!(
        space.lookup(A, up).map(|c| (c.level, c.rights)),
        Ok((level(2), Rights::READ))
    );
    assert_eq!(
        space.transfer(A, r, UNREGISTERED, Rights::READ),
        Err(CapError::UnknownEnvironment(UNREGISTERED))
    );
}

#[test]
fn token_round_trip() {
    let (space, root) = setup(16);
    let r = space.create(&root, A, root_cap()).expect("create");
    let t = space.mint(A, r).expect("mint");
    assert_eq!(t.as_bytes().len(), TOKEN_LEN);
    assert_eq!(
        space.verify(A, t.as_bytes()),
        Ok(Verified {
            handle: r,
            cap: root_cap()
        })
    );
    let claims = *UnverifiedToken::decode(t.as_bytes())
        .expect("decode")
        .claims_unverified();
    assert_eq!(
        claims,
        TokenClaims {
            env: A,
            handle: r,
            cap: root_cap()
        }
    );
}

#[test]
fn forged_tokens_fail() {
    let (space, root) = setup(16);
    let r = space.create(&root, A, root_cap()).expect("create");
    // A well-formed token with an all-zero tag, claiming a live slot.
    let claims = TokenClaims {
        env: A,
        handle: r,
        cap: root_cap(),
    };
    let mut forged = [0u8; TOKEN_LEN];
    forged[..PAYLOAD_LEN].copy_from_slice(&claims.encode_payload());
    assert_eq!(space.verify(A, &forged), Err(CapError::BadTag));
    // Same claims, tag from a different boot's key.
    let (other, other_root) = setup_seeded(16, [0x5a; 32]);
    let _ = other.create(&other_root, A, root_cap()).expect("create");
    let foreign = other.mint(A, r).expect("mint");
    assert_eq!(space.verify(A, foreign.as_bytes()), Err(CapError::BadTag));
    // Amplification by editing the rights field of a real token.
    let real = space
        .derive(A, r, root_cap().with_rights(Rights::READ))
        .expect("derive");
    let mut edited = *space.mint(A, real).expect("mint").as_bytes();
    edited[19..23].copy_from_slice(&Rights::all().bits().to_le_bytes());
    assert_eq!(space.verify(A, &edited), Err(CapError::BadTag));
}

#[test]
fn every_single_bit_flip_fails() {
    let (space, root) = setup(16);
    let r = space.create(&root, A, root_cap()).expect("create");
    let good = *space.mint(A, r).expect("mint").as_bytes();
    for bit in 0..TOKEN_LEN * 8 {
        let mut t = good;
        t[bit / 8] ^= 1 << (bit % 8);
        let err = space.verify(A, &t).expect_err("flipped token verified");
        assert!(
            matches!(
                err,
                CapError::BadTag
                    | CapError::UnsupportedVersion(_)
                    | CapError::UnknownResourceKind(_)
                    | CapError::InvalidLevel(_)
                    | CapError::UnknownRights(_)
                    | CapError::InvalidResource
            ),
            "bit {bit}: {err:?}"
        );
    }
}

#[test]
fn truncated_and_padded_tokens_fail() {
    let (space, root) = setup(16);
    let r = space.create(&root, A, root_cap()).expect("create");
    let good = *space.mint(A, r).expect("mint").as_bytes();
    for len in 0..TOKEN_LEN {
        assert_eq!(
            space.verify(A, &good[..len]),
            Err(CapError::BadLength {
                got: len,
                expected: TOKEN_LEN
            })
        );
    }
    let mut long = good.to_vec();
    long.push(0);
    assert_eq!(
        space.verify(A, &long),
        Err(CapError::BadLength {
            got: TOKEN_LEN + 1,
            expected: TOKEN_LEN
        })
    );
}

#[test]
fn wrong_version_fails() {
    let (space, root) = setup(16);
    let r = space.create(&root, A, root_cap()).expect("create");
    let good = *space.mint(A, r).expect("mint").as_bytes();
    for v in [0u8, 2, 0x80, 0xff] {
        let mut t = good;
        t[0] = v;
        assert_eq!(space.verify(A, &t), Err(CapError::UnsupportedVersion(v)));
    }
}

#[test]
fn wrong_environment_fails() {
    let (space, root) = setup(16);
    let r = space.create(&root, A, root_cap()).expect("create");
    let t = space.mint(A, r).expect("mint");
    assert_eq!(
        space.verify(B, t.as_bytes()),
        Err(CapError::WrongEnvironment {
            owner: A,
            presenter: B
        })
    );
    // Rewriting the env field to the presenter breaks the tag instead.
    let mut edited = *t.as_bytes();
    edited[3..7].copy_from_slice(&B.0.to_le_bytes());
    assert_eq!(space.verify(B, &edited), Err(CapError::BadTag));
}

#[test]
fn replay_after_revoke_fails() {
    let (space, root) = setup(16);
    let r = space.create(&root, A, root_cap()).expect("create");
    let c = space.derive(A, r, root_cap()).expect("derive");
    let t = space.mint(A, c).expect("mint");
    assert!(space.verify(A, t.as_bytes()).is_ok());
    assert_eq!(space.revoke(A, c), Ok(1));
    assert_eq!(space.verify(A, t.as_bytes()), Err(CapError::Revoked));
    // Slot reused by a new capability: the old token still names the old generation.
    let again = space.derive(A, r, root_cap()).expect("derive");
    assert_eq!(again.index, c.index);
    assert_eq!(space.verify(A, t.as_bytes()), Err(CapError::Revoked));
    assert!(
        space
            .verify(A, space.mint(A, again).expect("mint").as_bytes())
            .is_ok()
    );
}

#[test]
fn garbage_is_rejected_without_panic() {
    let (space, _root) = setup(16);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..2000 {
        let len = if round % 2 == 0 {
            TOKEN_LEN
        } else {
            round % 100
        };
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(space.verify(A, &bytes).is_err());
        assert!(space.verify(UNREGISTERED, &bytes).is_err());
    }
}

#[test]
fn table_exhaustion_is_typed_and_isolated() {
    let (space, root) = setup(8);
    let r = space.create(&root, A, root_cap()).expect("create");
    let mut kids = vec![];
    for _ in 0..7 {
        kids.push(space.derive(A, r, root_cap()).expect("derive"));
    }
    assert_eq!(space.derive(A, r, root_cap()), Err(CapError::TableFull(A)));
    assert_eq!(
        space.create(&root, A, root_cap()),
        Err(CapError::TableFull(A))
    );
    assert_eq!(
        space.transfer(
            B,
            space.create(&root, B, root_cap()).expect("B root"),
            A,
            Rights::READ
        ),
        Err(CapError::TableFull(A))
    );
    // B's table is unaffected by A's exhaustion.
    assert_eq!(space.live_caps(B), Ok(1));
    // Freeing a slot makes room again.
    assert_eq!(space.revoke(A, kids[0]), Ok(1));
    assert!(space.derive(A, r, root_cap()).is_ok());
    assert_eq!(space.derive(A, r, root_cap()), Err(CapError::TableFull(A)));
}

#[test]
fn debug_output_hides_the_key() {
    let (space, root) = setup(4);
    let shown = format!("{space:?} {root:?}");
    assert!(shown.contains("CapKey { .. }"), "{shown}");
    assert!(!shown.contains("a5"), "{shown}");
    let table = space.table(A).expect("table");
    assert_eq!(table.capacity(), 4);
    assert_eq!(table.clearance(), Some(level(8)));
    assert_eq!(table.env(), A);
}

#[test]
fn errors_display() {
    let msg = format!(
        "{}",
        CapError::WrongEnvironment {
            owner: A,
            presenter: B
        }
    );
    assert!(
        msg.contains("EnvId(0)") && msg.contains("EnvId(1)"),
        "{msg}"
    );
    assert_eq!(
        format!("{}", CapError::BadTag),
        "token authentication tag mismatch"
    );
}

#[test]
fn delete_drops_one_capability_and_keeps_descendants_revocable() {
    let (space, root) = setup(16);
    let r = space.create(&root, A, root_cap()).expect("create");
    let mid = space.derive(A, r, root_cap()).expect("mid");
    let leaf = space
        .derive(A, mid, root_cap().with_rights(Rights::READ | Rights::GRANT))
        .expect("leaf");
    let remote = space.transfer(A, mid, B, Rights::READ).expect("remote");
    let token = space.mint(A, mid).expect("token");

    assert_eq!(space.delete(A, mid), Ok(()));
    assert_eq!(space.lookup(A, mid), Err(CapError::Revoked));
    assert_eq!(space.verify(A, token.as_bytes()), Err(CapError::Revoked));
    assert_eq!(
        space.delete(A, mid),
        Err(CapError::Revoked),
        "double delete"
    );
    // Its children live on …
    assert!(space.lookup(A, leaf).is_ok());
    assert!(space.lookup(B, remote).is_ok());
    assert_eq!(space.live_caps(A), Ok(2));
    // … and still die with the grandparent.
    assert_eq!(space.revoke(A, r), Ok(3));
    assert_eq!(space.lookup(A, leaf), Err(CapError::Revoked));
    assert_eq!(space.lookup(B, remote), Err(CapError::Revoked));
    assert_eq!(
        space.delete(UNREGISTERED, r),
        Err(CapError::UnknownEnvironment(UNREGISTERED))
    );
}

#[test]
fn unregister_env_tears_down_its_table() {
    let (space, root) = setup(16);
    let r = space.create(&root, A, root_cap()).expect("create");
    let child = space.derive(A, r, root_cap()).expect("child");
    let given = space.transfer(A, child, B, Rights::READ).expect("give");
    let b_own = space.create(&root, B, root_cap()).expect("B's own");
    let from_b = space.transfer(B, b_own, A, Rights::READ).expect("to A");
    let token = space.mint(A, r).expect("token");

    assert_eq!(space.unregister_env(&root, A), Ok(3));
    assert_eq!(space.lookup(A, r), Err(CapError::UnknownEnvironment(A)));
    assert_eq!(
        space.unregister_env(&root, A),
        Err(CapError::UnknownEnvironment(A))
    );
    // What A gave away survives as a root; what B gave A is gone from A only.
    assert!(space.lookup(B, given).is_ok());
    assert!(space.lookup(B, b_own).is_ok());
    assert_eq!(space.revoke(B, b_own), Ok(1));

    // Re-registering the id gives an empty table; old handles and tokens
    // stay dead because generations never go back.
    space.register_env(&root, A, level(8)).expect("again");
    assert_eq!(space.live_caps(A), Ok(0));
    assert_eq!(space.lookup(A, r), Err(CapError::Revoked));
    assert_eq!(space.lookup(A, from_b), Err(CapError::Revoked));
    assert_eq!(space.verify(A, token.as_bytes()), Err(CapError::Revoked));
    let fresh = space.create(&root, A, root_cap()).expect("fresh");
    assert_ne!(fresh, r, "a reused slot gets a new generation");
}
