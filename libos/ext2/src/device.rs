//! What the driver reads from: a byte-addressed, read-only block device.
//!
//! The trait is deliberately byte-addressed rather than sector-addressed:
//! ext2 structures (the superblock at byte 1024, 128-byte inodes, 4-byte
//! block pointers) rarely line up with sectors, and the VFS's block cache
//! below is the right place to round reads to sectors. In-memory images
//! (`[u8]`, `Vec<u8>`, shared through `&` or `Arc`) implement it directly.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::Ext2Error;

/// A read-only device the file system lives on.
pub trait BlockDevice {
    /// Size of the device in bytes.
    fn size(&self) -> u64;

    /// Fills `buf` with the bytes starting at `offset`.
    ///
    /// # Errors
    /// [`Ext2Error::OutOfRange`] if any byte of the range lies past
    /// [`size`](Self::size) (never a short read, never a panic), or
    /// [`Ext2Error::Io`] if the device fails.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Ext2Error>;
}

impl BlockDevice for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Ext2Error> {
        let out_of_range = Ext2Error::OutOfRange {
            offset,
            len: buf.len() as u64,
        };
        let start = usize::try_from(offset).map_err(|_| out_of_range)?;
        let end = start.checked_add(buf.len()).ok_or(out_of_range)?;
        let source = self.get(start..end).ok_or(out_of_range)?;
        buf.copy_from_slice(source);
        Ok(())
    }
}

impl BlockDevice for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Ext2Error> {
        self.as_slice().read_at(offset, buf)
    }
}

impl<D: BlockDevice + ?Sized> BlockDevice for &D {
    fn size(&self) -> u64 {
        (**self).size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Ext2Error> {
        (**self).read_at(offset, buf)
    }
}

impl<D: BlockDevice + ?Sized> BlockDevice for Arc<D> {
    fn size(&self) -> u64 {
        (**self).size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Ext2Error> {
        (**self).read_at(offset, buf)
    }
}

impl<D: BlockDevice + ?Sized> BlockDevice for Box<D> {
    fn size(&self) -> u64 {
        (**self).size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Ext2Error> {
        (**self).read_at(offset, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_and_refuses_past_the_end() {
        let bytes: &[u8] = &[1, 2, 3, 4];
        let mut buf = [0; 2];
        bytes.read_at(2, &mut buf).unwrap();
        assert_eq!(buf, [3, 4]);
        assert_eq!(
            bytes.read_at(3, &mut buf),
            Err(Ext2Error::OutOfRange { offset: 3, len: 2 })
        );
        assert!(bytes.read_at(u64::MAX, &mut buf).is_err());
        bytes.read_at(4, &mut []).unwrap();
    }

    #[test]
    fn owned_and_shared_images_agree() {
        let vec = alloc::vec![9u8; 16];
        let arc: Arc<[u8]> = Arc::from(vec.clone());
        assert_eq!(vec.size(), 16);
        assert_eq!(arc.size(), 16);
        let mut buf = [0; 4];
        arc.read_at(12, &mut buf).unwrap();
        assert_eq!(buf, [9; 4]);
        assert!(vec.read_at(13, &mut buf).is_err());
        let boxed: Box<dyn BlockDevice> = Box::new(vec);
        assert!(boxed.read_at(usize::MAX as u64, &mut buf).is_err());
    }
}
