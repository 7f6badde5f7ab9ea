//! `CapError`: the one typed error every capability operation returns.
//!
//! Every malformed, forged, stale or over-reaching request maps to a variant
//! here; no capability operation panics on bad input. Variants carry only
//! public data (never key material or tag bytes), so they are safe to log
//! and to return to the requesting environment.

use super::handle::EnvId;
use super::rights::Rights;

/// Why a capability operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapError {
    // --- token decoding -------------------------------------------------
    /// The token is not exactly [`TOKEN_LEN`](super::token::TOKEN_LEN) bytes
    /// (truncated or padded).
    #[error("token is {got} bytes, expected {expected}")]
    BadLength {
        /// Length presented.
        got: usize,
        /// The only length version 1 accepts.
        expected: usize,
    },
    /// The token's version byte names an encoding this kernel does not speak.
    #[error("unsupported token version {0}")]
    UnsupportedVersion(u8),
    /// The resource-kind byte is not one of [`ResourceKind`](super::resource::ResourceKind).
    #[error("unknown resource kind {0}")]
    UnknownResourceKind(u8),
    /// A security level outside `0..=15`.
    #[error("security level {0} is outside 0..=15")]
    InvalidLevel(u8),
    /// A rights word with bits that name no right.
    #[error("rights word {0:#x} has undefined bits")]
    UnknownRights(u32),
    /// A resource range that is empty, wraps past `u64::MAX`, or uses an
    /// object id its kind does not have.
    #[error("resource range is empty, overflows or has a bad object id")]
    InvalidResource,

    // --- authentication and liveness ------------------------------------
    /// The HMAC tag does not match: the token was forged or altered.
    #[error("token authentication tag mismatch")]
    BadTag,
    /// An authentic token presented by an environment other than its owner.
    #[error("token belongs to environment {owner:?}, presented by {presenter:?}")]
    WrongEnvironment {
        /// The environment the token was minted for.
        owner: EnvId,
        /// The environment that presented it.
        presenter: EnvId,
    },
    /// The capability (or an ancestor) was revoked, or the handle's
    /// generation is stale.
    #[error("capability has been revoked")]
    Revoked,
    /// A slot index beyond the environment's table.
    #[error("capability index {0} is outside the table")]
    BadIndex(u32),

    // --- derivation, transfer, rights -----------------------------------
    /// The operation needs a right the capability lacks.
    #[error("capability lacks the {0:?} right")]
    MissingRight(Rights),
    /// A derivation or transfer asked for rights the parent lacks.
    #[error("requested rights are not a subset of the parent's")]
    RightsAmplification,
    /// A derivation asked for a higher security level than the parent.
    #[error("derivation may not raise the security level")]
    LevelRaise,
    /// A derivation asked for a resource outside the parent's.
    #[error("requested resource is not within the parent's")]
    ResourceNotSubset,
    /// A derivation tried to change a badge that is already set.
    #[error("the parent's badge is already set and cannot change")]
    BadgeConflict,
    /// The capability's level is above the holder's clearance.
    #[error("capability level exceeds the environment's clearance")]
    AboveClearance,
    /// An IPC send or transfer would move information to a lower level.
    #[error("information may not flow from a higher to a lower level")]
    FlowViolation,

    // --- environments and capacity ----------------------------------------
    /// The environment's capability table has no free slot.
    #[error("capability table of environment {0:?} is full")]
    TableFull(EnvId),
    /// The environment id is out of range or was never registered.
    #[error("environment {0:?} is not registered")]
    UnknownEnvironment(EnvId),
    /// `register_env` for an environment that is already registered.
    #[error("environment {0:?} is already registered")]
    AlreadyRegistered(EnvId),
    /// A [`CapSpaceConfig`](super::space::CapSpaceConfig) with zero or
    /// too-large dimensions.
    #[error("invalid capability-space configuration")]
    InvalidConfig,
    /// A kernel-internal record failed to decode. Indicates memory
    /// corruption; never caused by environment input.
    #[error("internal capability record is corrupt")]
    Corrupt,
}
