//! Arbitrary text as the kernel command line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = core::str::from_utf8(data) {
        let mut warnings = 0usize;
        let _ = exokernel::cmdline::parse(line, |w| {
            let _ = w.to_string();
            warnings += 1;
        });
        assert!(warnings <= line.split_ascii_whitespace().count());
    }
});
