//! Arbitrary bytes as MADT and HPET tables.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hal::acpi::parse_madt(data);
    let _ = hal::acpi::parse_hpet(data);
});
