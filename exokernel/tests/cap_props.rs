//! Property tests: rights amplification is impossible, derivation is
//! complete for genuine attenuations, the token encoding is canonical, and
//! no mutation of a token verifies.

use exokernel::cap::*;
use proptest::prelude::*;

const ENV: EnvId = EnvId(0);

fn space(slots: u32) -> (CapSpace, RootAuthority) {
    let (space, root) = CapSpace::new(
        CapKey::from_seed([3; 32]),
        CapSpaceConfig {
            max_envs: 1,
            slots_per_env: slots,
        },
    )
    .expect("space");
    space
        .register_env(&root, ENV, Level::HIGHEST)
        .expect("register");
    (space, root)
}

fn arb_rights() -> impl Strategy<Value = Rights> {
    any::<u32>().prop_map(Rights::from_bits_truncate)
}

fn arb_level() -> impl Strategy<Value = Level> {
    (0u8..16).prop_map(|l| Level::new(l).expect("in range"))
}

fn arb_resource() -> impl Strategy<Value = Resource> {
    (
        0u8..7,
        any::<u32>(),
        any::<u64>(),
        1u64..1 << 20,
        any::<bool>(),
    )
        .prop_map(|(kind, object, base, len, top)| {
            // Occasionally push ranges against u64::MAX to exercise the edges.
            let base = if top {
                u64::MAX - len + 1
            } else {
                base % (1 << 40)
            };
            match kind {
                0 => Resource::Frames {
                    first: base,
                    count: len,
                },
                1 => Resource::CpuTime {
                    core: object % 4,
                    first: base,
                    count: len,
                },
                2 => Resource::Dma {
                    device: object % 4,
                    base,
                    len,
                },
                3 => Resource::Irq {
                    first: base,
                    count: len,
                },
                4 => Resource::Mmio { base, len },
                5 => Resource::Endpoint {
                    first: base,
                    count: len,
                },
                _ => Resource::Environment {
                    first: base,
                    count: len,
                },
            }
        })
}

fn arb_cap() -> impl Strategy<Value = Capability> {
    (
        arb_resource(),
        arb_rights(),
        arb_level(),
        prop_oneof![Just(0u64), any::<u64>()],
    )
        .prop_map(|(resource, rights, level, badge)| Capability {
            resource,
            rights,
            level,
            badge: Badge(badge),
        })
}

/// A request that is *usually* an attenuation of `parent` and sometimes
/// over-reaches in one or more fields.
fn arb_request(parent: Capability) -> impl Strategy<Value = Capability> {
    let span = parent.resource.span();
    (
        0..span.len,
        1..=span.len,
        any::<bool>(),
        arb_rights(),
        any::<bool>(),
        arb_level(),
        any::<bool>(),
        prop_oneof![Just(parent.badge.0), Just(0), any::<u64>()],
    )
        .prop_map(
            move |(off, len, over_range, rights, over_rights, level, over_level, badge)| {
                let len = len.min(span.len - off);
                let mut s = span;
                s.base += off;
                s.len = len;
                if over_range {
                    s.len = s.len.saturating_add(1);
                }
                let resource = Resource::from_span(s).unwrap_or(parent.resource);
                let rights = if over_rights {
                    rights
                } else {
                    rights & parent.rights
                };
                let level = if over_level {
                    level
                } else {
                    level.meet(parent.level)
                };
                Capability {
                    resource,
                    rights,
                    level,
                    badge: Badge(badge),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Derivation either refuses with the right typed error or yields a
    /// child that is below the parent in every dimension; it never
    /// succeeds with more, and it always succeeds for a genuine attenuation.
    #[test]
    fn derive_never_amplifies((parent, request) in arb_cap().prop_flat_map(|p| (Just(p), arb_request(p)))) {
        let (space, root) = space(4);
        let parent = parent.with_rights(parent.rights | Rights::DERIVE);
        let p = space.create(&root, ENV, parent).expect("create");
        let is_attenuation = parent.resource.contains(&request.resource)
            && request.rights.is_subset_of(parent.rights)
            && parent.level.dominates(request.level)
            && (parent.badge == Badge::NONE || parent.badge == request.badge);
        match space.derive(ENV, p, request) {
            Ok(h) => {
                prop_assert!(is_attenuation);
                let child = space.lookup(ENV, h).expect("fresh child is live");
                prop_assert_eq!(child, request);
                prop_assert!(child.rights.is_subset_of(parent.rights));
                prop_assert!(parent.resource.contains(&child.resource));
                prop_assert!(child.level <= parent.level);
            }
            Err(e) => {
                prop_assert!(!is_attenuation, "genuine attenuation refused: {:?}", e);
                prop_assert!(matches!(
                    e,
                    CapError::RightsAmplification
                        | CapError::LevelRaise
                        | CapError::ResourceNotSubset
                        | CapError::BadgeConflict
                        | CapError::InvalidResource
                ), "{:?}", e);
                prop_assert_eq!(space.live_caps(ENV), Ok(1));
            }
        }
    }

    /// Along any chain of derivations, rights only shrink and levels only
    /// fall, whatever mix of rights each step asks for.
    #[test]
    fn chains_only_attenuate(steps in prop::collection::vec((any::<u32>(), 0u8..16, any::<usize>()), 1..40)) {
        let (space, root) = space(64);
        let top = Capability::new(Resource::Frames { first: 0, count: 1 << 30 }, Rights::all(), Level::HIGHEST);
        let mut nodes: Vec<(CapHandle, Capability, Option<usize>)> =
            vec![(space.create(&root, ENV, top).expect("create"), top, None)];
        for (bits, level, pick) in steps {
            let parent_ix = pick % nodes.len();
            let (ph, pcap, _) = nodes[parent_ix];
            let request = pcap
                .with_rights(Rights::from_bits_truncate(bits))
                .with_level(Level::new(level).expect("in range"));
            match space.derive(ENV, ph, request) {
                Ok(h) => nodes.push((h, space.lookup(ENV, h).expect("live"), Some(parent_ix))),
                Err(e) => prop_assert!(matches!(
                    e,
                    CapError::RightsAmplification | CapError::LevelRaise | CapError::MissingRight(_)
                ), "{:?}", e),
            }
        }
        // Every node is below every one of its ancestors.
        for (i, &(_, cap, _)) in nodes.iter().enumerate() {
            let mut up = nodes[i].2;
            while let Some(a) = up {
                prop_assert!(cap.rights.is_subset_of(nodes[a].1.rights));
                prop_assert!(cap.level <= nodes[a].1.level);
                up = nodes[a].2;
            }
        }
    }

    /// encode ∘ decode = id on claims.
    #[test]
    fn payload_round_trips(cap in arb_cap(), env in any::<u32>(), index in any::<u32>(), generation in any::<u64>()) {
        let claims = TokenClaims { env: EnvId(env), handle: CapHandle { index, generation }, cap };
        prop_assert_eq!(TokenClaims::decode_payload(&claims.encode_payload()), Ok(claims));
    }

    /// Canonical: any byte string that decodes re-encodes to itself, so no
    /// capability has two encodings (and no tag covers two meanings).
    #[test]
    fn decoding_is_canonical(
        header in prop::array::uniform32(any::<u8>()),
        kind in 0u8..9,
        level in 0u8..17,
        rights in prop_oneof![0u32..256, any::<u32>()],
        object in prop_oneof![Just(0u64), 0..u64::from(u32::MAX) + 2, any::<u64>()],
        base in any::<u64>(),
        len in prop_oneof![1u64..1 << 20, any::<u64>()],
        badge in any::<u64>(),
    ) {
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[..19].copy_from_slice(&header[..19]);
        payload[0] = TOKEN_VERSION;
        payload[1] = kind;
        payload[2] = level;
        payload[19..23].copy_from_slice(&rights.to_le_bytes());
        payload[23..31].copy_from_slice(&object.to_le_bytes());
        payload[31..39].copy_from_slice(&base.to_le_bytes());
        payload[39..47].copy_from_slice(&len.to_le_bytes());
        payload[47..55].copy_from_slice(&badge.to_le_bytes());
        match TokenClaims::decode_payload(&payload) {
            Ok(claims) => prop_assert_eq!(claims.encode_payload(), payload),
            Err(e) => {
                // Every refusal is explained by a field outside its domain.
                let bad_field = !(1..=7).contains(&kind)
                    || level > 15
                    || rights > 0xff
                    || base.checked_add(len - 1).is_none()
                    || object > u64::from(u32::MAX)
                    || (object != 0 && ![2u8, 3].contains(&kind));
                prop_assert!(bad_field, "valid payload refused: {:?}", e);
            }
        }
    }

    /// No mutation of a genuine token verifies, and no arbitrary byte
    /// string does.
    #[test]
    fn mutated_tokens_never_verify(edits in prop::collection::vec((0..TOKEN_LEN, 1u8..=255), 1..8), junk in prop::collection::vec(any::<u8>(), 0..100)) {
        let (space, root) = space(4);
        let cap = Capability::new(Resource::Irq { first: 4, count: 2 }, Rights::READ | Rights::BIND, Level::new(5).expect("level"));
        let h = space.create(&root, ENV, cap).expect("create");
        let good = *space.mint(ENV, h).expect("mint").as_bytes();
        let mut bad = good;
        for (at, x) in edits {
            bad[at] ^= x;
        }
        if bad != good {
            prop_assert!(space.verify(ENV, &bad).is_err());
        }
        if junk.as_slice() != good.as_slice() {
            prop_assert!(space.verify(ENV, &junk).is_err());
        }
    }
}
