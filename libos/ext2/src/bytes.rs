//! Little-endian fields out of on-disk structures.
//!
//! ext2 stores every integer little-endian. These helpers take a slice and
//! an offset and return 0 for a field that does not fit, so a parser bug
//! can give a wrong value (caught by the checks after it) but never a
//! panic; callers read fixed-size buffers whose layout they know.

/// The `u16` at byte `at` of `bytes`, or 0 if it does not fit.
pub(crate) fn u16_at(bytes: &[u8], at: usize) -> u16 {
    let mut field = [0; 2];
    if let Some(source) = bytes.get(at..at.saturating_add(2)) {
        field.copy_from_slice(source);
    }
    u16::from_le_bytes(field)
}

/// The `u32` at byte `at` of `bytes`, or 0 if it does not fit.
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut field = [0; 4];
    if let Some(source) = bytes.get(at..at.saturating_add(4)) {
        field.copy_from_slice(source);
    }
    u32::from_le_bytes(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_zero_outside() {
        let bytes = [0x34, 0x12, 0x78, 0x56];
        assert_eq!(u16_at(&bytes, 0), 0x1234);
        assert_eq!(u32_at(&bytes, 0), 0x5678_1234);
        assert_eq!(u16_at(&bytes, 3), 0);
        assert_eq!(u32_at(&bytes, usize::MAX), 0);
    }
}
