//! Fuzz target: arbitrary bytes into capability-token decoding and
//! verification.
//!
//! Oracles (any violation aborts the run):
//! * decoding never panics, and whatever decodes re-encodes to the same
//!   payload bytes (canonical encoding);
//! * `verify` never panics, and accepts a byte string only if it is exactly
//!   a genuine, live token presented by its own environment (no forgery, no
//!   replay of a revoked token, no cross-environment use);
//! * a genuine token XOR-ed with fuzz bytes verifies only if the XOR was a
//!   no-op.
//!
//! `cargo +nightly fuzz run cap_token -- -runs=1000000`
#![no_main]

use std::sync::OnceLock;

use exokernel::cap::*;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    space: CapSpace,
    /// Genuine live tokens and their owners.
    live: Vec<(EnvId, [u8; TOKEN_LEN])>,
    /// Genuine tokens of revoked capabilities.
    dead: Vec<(EnvId, [u8; TOKEN_LEN])>,
}

const ENVS: [EnvId; 3] = [EnvId(0), EnvId(1), EnvId(2)];

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (space, root) = CapSpace::new(
            CapKey::from_seed(*b"exo fuzz fixture seed, not real!"),
            CapSpaceConfig {
                max_envs: 3,
                slots_per_env: 64,
            },
        )
        .expect("space");
        let high = Level::HIGHEST;
        space.register_env(&root, EnvId(0), high).expect("env 0");
        space.register_env(&root, EnvId(1), high).expect("env 1");
        // EnvId(2) stays unregistered.
        let resources = [
            Resource::Frames {
                first: 0,
                count: 1 << 20,
            },
            Resource::CpuTime {
                core: 1,
                first: 0,
                count: 64,
            },
            Resource::Dma {
                device: 3,
                base: 0x1000_0000,
                len: 1 << 24,
            },
            Resource::Irq {
                first: 32,
                count: 16,
            },
            Resource::Mmio {
                base: 0xfee0_0000,
                len: 0x1000,
            },
            Resource::Endpoint { first: 0, count: 8 },
            Resource::Environment { first: 1, count: 1 },
        ];
        let mut live = Vec::new();
        let mut dead = Vec::new();
        for (i, resource) in resources.into_iter().enumerate() {
            let cap = Capability::new(resource, Rights::all(), high).with_badge(Badge(i as u64));
            let h = space.create(&root, EnvId(0), cap).expect("create");
            live.push((EnvId(0), *space.mint(EnvId(0), h).expect("mint").as_bytes()));
            let narrow = cap
                .with_rights(Rights::READ | Rights::GRANT)
                .with_level(Level::LOWEST);
            let c = space.derive(EnvId(0), h, narrow).expect("derive");
            let moved = space
                .transfer(EnvId(0), c, EnvId(1), Rights::READ)
                .expect("transfer");
            live.push((
                EnvId(1),
                *space.mint(EnvId(1), moved).expect("mint").as_bytes(),
            ));
            let doomed = space.derive(EnvId(0), h, cap).expect("derive");
            let t = *space.mint(EnvId(0), doomed).expect("mint").as_bytes();
            space.revoke(EnvId(0), doomed).expect("revoke");
            dead.push((EnvId(0), t));
        }
        Fixture { space, live, dead }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();

    if let Ok(t) = UnverifiedToken::decode(data) {
        assert_eq!(
            &t.claims_unverified().encode_payload()[..],
            &data[..PAYLOAD_LEN],
            "non-canonical decode"
        );
    }

    for env in ENVS {
        if f.space.verify(env, data).is_ok() {
            assert!(
                f.live
                    .iter()
                    .any(|(owner, t)| *owner == env && t[..] == *data),
                "forged, replayed or foreign token accepted"
            );
        }
    }

    if let Some((&pick, rest)) = data.split_first() {
        let pool = if pick & 0x80 == 0 { &f.live } else { &f.dead };
        let (owner, genuine) = pool[usize::from(pick) % pool.len()];
        let mut t = genuine;
        for (i, b) in rest.iter().enumerate() {
            t[i % TOKEN_LEN] ^= b;
        }
        let accepted = f.space.verify(owner, &t).is_ok();
        let live = pick & 0x80 == 0;
        assert_eq!(
            accepted,
            live && t == genuine,
            "mutated token verdict wrong"
        );
        // Truncations of genuine tokens never verify.
        let cut = rest.len() % TOKEN_LEN;
        assert!(f.space.verify(owner, &genuine[..cut]).is_err());
    }
});
