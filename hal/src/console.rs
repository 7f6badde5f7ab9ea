//! The console trait: where kernel log lines go.

/// A byte sink for kernel output (a UART on every board exo supports).
///
/// Implementations must be usable from any context, including exception
/// handlers and the panic path, so `write_bytes` takes `&self` and never
/// allocates or blocks on anything but the device itself.
pub trait Console: Sync {
    /// Writes every byte of `bytes`, translating nothing.
    fn write_bytes(&self, bytes: &[u8]);
}
