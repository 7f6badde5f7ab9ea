//! The early boot log: a fixed ring of the most recent log bytes.
//!
//! Every log line goes here as well as to the console, from the first line
//! on, so nothing printed before a console exists is lost; the libOS later
//! serves it as `/proc/bootlog`.

/// A byte ring of capacity `N` that keeps the newest bytes.
#[derive(Debug)]
pub struct BootLog<const N: usize> {
    bytes: [u8; N],
    /// Total bytes ever written; the write position is `written % N`.
    written: u64,
}

impl<const N: usize> Default for BootLog<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> BootLog<N> {
    /// An empty log.
    pub const fn new() -> Self {
        Self {
            bytes: [0; N],
            written: 0,
        }
    }

    /// Appends `data`, overwriting the oldest bytes once full.
    pub fn write(&mut self, data: &[u8]) {
        if N == 0 {
            return;
        }
        // Only the last N bytes of a long write can survive.
        let skip = data.len().saturating_sub(N);
        self.written += skip as u64;
        for &b in &data[skip..] {
            self.bytes[(self.written % N as u64) as usize] = b;
            self.written += 1;
        }
    }

    /// Total bytes ever written, including those overwritten.
    pub fn total_written(&self) -> u64 {
        self.written
    }

    /// Bytes lost to wrap-around.
    pub fn dropped(&self) -> u64 {
        self.written.saturating_sub(N as u64)
    }

    /// The retained bytes, oldest first, as two slices (the ring's halves).
    pub fn contents(&self) -> (&[u8], &[u8]) {
        if self.written <= N as u64 {
            (&self.bytes[..self.written as usize], &[])
        } else {
            let split = (self.written % N as u64) as usize;
            (&self.bytes[split..], &self.bytes[..split])
        }
    }

    /// Copies retained bytes from `offset` (0 is the oldest retained byte)
    /// into `buf`; returns how many were copied (0 at or past the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let (a, b) = self.contents();
        let mut start = usize::try_from(offset).unwrap_or(usize::MAX);
        let mut copied = 0;
        for part in [a, b] {
            if start >= part.len() {
                start -= part.len();
                continue;
            }
            let n = (part.len() - start).min(buf.len() - copied);
            buf[copied..copied + n].copy_from_slice(&part[start..start + n]);
            copied += n;
            start = 0;
        }
        copied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn joined<const N: usize>(log: &BootLog<N>) -> Vec<u8> {
        let (a, b) = log.contents();
        [a, b].concat()
    }

    #[test]
    fn keeps_everything_until_full() {
        let mut log = BootLog::<8>::new();
        log.write(b"abc");
        log.write(b"de");
        assert_eq!(joined(&log), b"abcde");
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn keeps_the_newest_bytes_when_wrapping() {
        let mut log = BootLog::<8>::new();
        log.write(b"0123456789");
        assert_eq!(joined(&log), b"23456789");
        log.write(b"ab");
        assert_eq!(joined(&log), b"456789ab");
        assert_eq!(log.total_written(), 12);
        assert_eq!(log.dropped(), 4);
    }

    proptest::proptest! {
        #[test]
        fn read_at_is_a_window_of_the_contents(
            data in proptest::collection::vec(0u8..255, 0..80),
            offset in 0u64..90,
            len in 0usize..40,
        ) {
            let mut log = BootLog::<32>::new();
            log.write(&data);
            let all = joined(&log);
            let mut buf = alloc::vec![0u8; len];
            let n = log.read_at(offset, &mut buf);
            let from = (offset as usize).min(all.len());
            let expected = &all[from..(from + len).min(all.len())];
            proptest::prop_assert_eq!(&buf[..n], expected);
        }

        #[test]
        fn ring_equals_tail_of_everything(chunks in proptest::collection::vec(proptest::collection::vec(0u8..255, 0..40), 0..20)) {
            let mut log = BootLog::<32>::new();
            let mut all = Vec::new();
            for c in &chunks {
                log.write(c);
                all.extend_from_slice(c);
            }
            let tail = &all[all.len().saturating_sub(32)..];
            proptest::prop_assert_eq!(joined(&log), tail);
        }
    }
}
