//! Signed bytecode: Ed25519 over SHA-256, checked before verification.

mod common;

use common::*;
use exo_bpf::signing::{
    PROGRAM_DOMAIN, SIGNATURE_SIZE, Signature, SigningKey, program_digest, sign_digest,
    sign_program,
};
use exo_bpf::{
    ContextLayout, Helpers, LoadError, MapSet, Program, SignatureError, SigningPolicy,
    VerifyErrorKind,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32])
}

fn load(
    code: &[u8],
    sig: Option<&Signature>,
    policy: &SigningPolicy,
) -> Result<Program, LoadError> {
    let helpers = Helpers::with_maps();
    let maps = MapSet::new();
    Program::load_signed(
        code,
        sig,
        policy,
        &config(&helpers, &maps, ContextLayout::default()),
    )
}

fn answer() -> Vec<u8> {
    prog(&[mov64(0, 6), alu64_imm(MUL, 0, 7), exit()])
}

#[test]
fn signed_program_loads_and_runs() {
    let k = key(1);
    let code = answer();
    let sig = sign_program(&k, &code);
    let policy = SigningPolicy::require(&[key(9).public_key(), k.public_key()]);
    let program = load(&code, Some(&sig), &policy).expect("loads");
    assert_eq!(run_both(&program), Ok(42));
    // The encoding round-trips.
    let bytes = sig.to_bytes();
    assert_eq!(bytes.len(), SIGNATURE_SIZE);
    assert_eq!(Signature::from_bytes(&bytes), Ok(sig));
    assert_eq!(
        Signature::from_bytes(&bytes[1..]),
        Err(SignatureError::Malformed)
    );
    // It is a signature of the domain-tagged SHA-256 digest.
    assert_eq!(
        sign_digest(&k, PROGRAM_DOMAIN, &program_digest(&code)),
        sig,
        "Ed25519 is deterministic"
    );
}

#[test]
fn refusals_are_typed() {
    let k = key(1);
    let code = answer();
    let sig = sign_program(&k, &code);
    let policy = SigningPolicy::require(&[k.public_key()]);
    let refused = |code: &[u8], sig: Option<&Signature>, policy: &SigningPolicy| match load(
        code, sig, policy,
    ) {
        Err(LoadError::Signature(e)) => e,
        other => panic!("expected a signature error, got {other:?}"),
    };
    assert_eq!(refused(&code, None, &policy), SignatureError::Missing);
    let stranger = sign_program(&key(2), &code);
    assert_eq!(
        refused(&code, Some(&stranger), &policy),
        SignatureError::UnknownKey
    );
    // Every tampered byte is caught.
    for at in 0..code.len() {
        let mut tampered = code.clone();
        tampered[at] ^= 0x40;
        assert_eq!(
            refused(&tampered, Some(&sig), &policy),
            SignatureError::BadSignature,
            "byte {at}"
        );
    }
    let mut forged = sig;
    forged.signature[5] ^= 1;
    assert_eq!(
        refused(&code, Some(&forged), &policy),
        SignatureError::BadSignature
    );
    // A key substituted in the signature must itself be trusted.
    let mut relabelled = stranger;
    relabelled.public_key = sig.public_key;
    assert_eq!(
        refused(&code, Some(&relabelled), &policy),
        SignatureError::BadSignature
    );
}

#[test]
fn signature_is_checked_before_verification() {
    // A program the verifier refuses (reads r2 uninitialised)...
    let bad = prog(&[mov64_reg(0, 2), exit()]);
    let k = key(3);
    let policy = SigningPolicy::require(&[k.public_key()]);
    // ... is refused for its signature when unsigned,
    assert_eq!(
        load(&bad, None, &policy).unwrap_err(),
        LoadError::Signature(SignatureError::Missing)
    );
    // and only reaches the verifier once signed.
    let sig = sign_program(&k, &bad);
    match load(&bad, Some(&sig), &policy) {
        Err(LoadError::Verify(e)) => {
            assert!(matches!(e.kind, VerifyErrorKind::UninitRegister(_)));
        }
        other => panic!("{other:?}"),
    }
    // A permissive policy loads unsigned programs.
    let mut lax = SigningPolicy::if_signed(&[]);
    assert!(!lax.is_required());
    assert!(load(&answer(), None, &lax).is_ok());
    lax.trust(k.public_key());
    let sig = sign_program(&k, &answer());
    assert!(load(&answer(), Some(&sig), &lax).is_ok());
}
