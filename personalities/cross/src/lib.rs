//! Cross-personality IPC: processes of different personalities (Linux,
//! FreeBSD, illumos, native exo programs) exchange Cap'n Proto messages and
//! delegate descriptors to each other.
//!
//! A message ([`Message`]) carries one neutral body — bytes, a file's
//! status, directory entries, an error, a time — and a list of delegated
//! descriptors. Its wire form is the schema
//! `personalities/framework/schema/cross.capnp`, compiled at build time by
//! `capnpc`; structures are converted into that neutral form by the sender
//! and out of it by the receiver's personality (see [`convert`]), never
//! reinterpreted. Errors travel by name, because each ABI numbers them
//! differently.
//!
//! A [`channel`] connects two processes: each end is a descriptor in its
//! process. [`send`] encodes and queues a message; [`recv`] dequeues it,
//! installs the delegated descriptors in the receiver's table and returns
//! their numbers. Rights only shrink: a descriptor is delegated with the
//! access its sender holds or less (a narrower one is a new open file
//! description on the same node), never more.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

/// Code generated from `cross.capnp`.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unused_qualifications,
    clippy::all
)]
pub mod cross_capnp {
    include!(concat!(env!("OUT_DIR"), "/cross_capnp.rs"));
}

pub mod channel;
pub mod convert;
pub mod wire;

pub use channel::{Received, channel, recv, send};
pub use wire::{Body, Delegation, Message, Rights};
