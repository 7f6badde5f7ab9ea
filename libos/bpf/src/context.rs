//! What a program's context argument looks like, to the verifier and to a
//! run.
//!
//! The context is a byte buffer the embedder passes to each run; `r1`
//! points at it on entry. Its layout is the embedder's to define; the
//! runtime only needs its size, whether stores into it are allowed, and,
//! for programs that inspect a packet, which two 8-byte fields hold the
//! packet's start and end addresses: the runtime fills those in before each
//! run, and the verifier types loads of them as packet pointers (the
//! `xdp_md` `data`/`data_end` idiom, with 64-bit fields).

/// Where a packet's bounds live in the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketFields {
    /// Offset of the 8-byte field holding the packet's first byte's address.
    pub data: u32,
    /// Offset of the 8-byte field holding the address one past its end.
    pub data_end: u32,
    /// Whether programs may store into the packet.
    pub writable: bool,
}

/// The shape of the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ContextLayout {
    /// Bytes a program may access; a run's context must be at least this
    /// long.
    pub size: u32,
    /// Whether programs may store into the context (never into the packet
    /// fields).
    pub writable: bool,
    /// The packet fields, for programs that get a packet.
    pub packet: Option<PacketFields>,
}

impl ContextLayout {
    /// A context of `size` read-only bytes with no packet.
    #[must_use]
    pub const fn read_only(size: u32) -> ContextLayout {
        ContextLayout {
            size,
            writable: false,
            packet: None,
        }
    }

    /// Whether `[offset, offset + len)` overlaps a packet field.
    #[must_use]
    pub fn touches_packet_fields(&self, offset: u64, len: u64) -> bool {
        self.packet.is_some_and(|p| {
            [p.data, p.data_end]
                .iter()
                .any(|&f| offset < u64::from(f) + 8 && u64::from(f) < offset + len)
        })
    }
}
