//! Capabilities: HMAC-SHA256-authenticated names for every kernel resource.
//!
//! A capability names one [`Resource`] range (frames, CPU time, DMA, IRQ
//! lines, MMIO, IPC endpoints, environments) and carries [`Rights`], a
//! security [`Level`], a [`Badge`] and — through the slot it lives in — a
//! generation used for revocation. The full model, the lattices, the token
//! encoding, the revocation design with its invariants and the threat
//! model are in `docs/CAPABILITIES.md`.
//!
//! The kernel uses one [`CapSpace`]:
//!
//! ```
//! use exokernel::cap::*;
//!
//! # fn main() -> Result<(), CapError> {
//! // Boot: the seed comes from the HAL's entropy source.
//! let key = CapKey::from_seed([0x5a; 32]);
//! let config = CapSpaceConfig { max_envs: 4, slots_per_env: 64 };
//! let (space, root) = CapSpace::new(key, config)?;
//! let env = EnvId(1);
//! space.register_env(&root, env, Level::HIGHEST)?;
//! let all = Capability::new(Resource::Frames { first: 0, count: 1024 }, Rights::all(), Level::HIGHEST);
//! let frames = space.create(&root, env, all)?;
//!
//! // The environment derives a read-only window and gets a token for it.
//! let window = all
//!     .with_resource(Resource::Frames { first: 16, count: 4 })
//!     .with_rights(Rights::READ | Rights::MAP);
//! let child = space.derive(env, frames, window)?;
//! let token = space.mint(env, child)?;
//!
//! // Later, the token comes back: verify it; syscalls use the handle.
//! let verified = space.verify(env, token.as_bytes())?;
//! assert_eq!(space.lookup(env, verified.handle)?, window);
//!
//! // Revoking the parent kills the child, its token and its handle.
//! assert_eq!(space.revoke(env, frames)?, 2);
//! assert_eq!(space.verify(env, token.as_bytes()), Err(CapError::Revoked));
//! assert_eq!(space.lookup(env, child), Err(CapError::Revoked));
//! # Ok(())
//! # }
//! ```

mod capability;
mod error;
mod handle;
mod key;
mod level;
mod resource;
mod revocation;
mod rights;
mod space;
mod sync;
mod table;
mod token;

pub use capability::{Badge, Capability};
pub use error::CapError;
pub use handle::{CapHandle, EnvId};
pub use key::{CapKey, TAG_LEN};
pub use level::Level;
pub use resource::{Resource, ResourceKind, Span};
pub use rights::Rights;
pub use space::{CapSpace, CapSpaceConfig, RootAuthority, Verified};
pub use table::CapTable;
pub use token::{PAYLOAD_LEN, TOKEN_LEN, TOKEN_VERSION, Token, TokenClaims, UnverifiedToken};
