//! The Raspberry Pis' real device trees, fetched at test time from
//! Debian's arm64 kernel packages by `exo-debian-dtb` (never committed),
//! cached under `target/tmp/dtb/<suite>` — where `cargo xtask` finds the
//! Raspberry Pi 4's for the `raspi4b` boot too.

#[allow(unused_imports, reason = "each test binary uses a different part")]
pub use exo_debian_dtb::{BOOKWORM_BACKPORTS, RPI4_DTB, RPI5_DTB, Source, TRIXIE_BACKPORTS};

/// The Broadcom DTB `name` of `source` and a line saying which package it
/// came from.
pub fn dtb(source: Source, name: &str) -> Result<(Vec<u8>, String), String> {
    let cache = super::cache_dir(&format!("dtb/{}", source.suite));
    exo_debian_dtb::broadcom_dtb(&cache, source, name)
}

/// The Raspberry Pi 5's DTB of `source`.
pub fn rpi5_dtb(source: Source) -> Result<(Vec<u8>, String), String> {
    dtb(source, RPI5_DTB)
}
