//! ACPI table discovery on the identity map: the `acpi` crate finds and
//! checksums tables; `crate::acpi` reads their bodies with bounds checks.

use super::IDENTITY_MAP_LIMIT;
use crate::AcpiRoot;
use crate::acpi::{AcpiTableError, Hpet, Madt, parse_hpet, parse_madt};
use acpi::{AcpiHandler, AcpiTable, AcpiTables, PhysicalMapping};
use core::fmt;
use core::ptr::NonNull;

/// Maps ACPI tables by identity: physical address = virtual address.
#[derive(Clone, Copy, Debug)]
pub struct IdentityMapped;

impl AcpiHandler for IdentityMapped {
    unsafe fn map_physical_region<T>(
        &self,
        physical: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        assert!(
            (physical as u64).saturating_add(size as u64) <= IDENTITY_MAP_LIMIT && physical != 0,
            "ACPI table at {physical:#x}+{size:#x} lies outside the identity map"
        );
        // SAFETY: the range is identity-mapped (checked above) and the
        // caller guarantees a valid `T` lives there.
        unsafe {
            PhysicalMapping::new(
                physical,
                NonNull::new_unchecked(physical as *mut T),
                size,
                size,
                *self,
            )
        }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// Why ACPI discovery failed.
#[derive(Debug)]
pub enum DiscoveryError {
    /// The root table pointer lies outside the identity map.
    Unmapped(u64),
    /// The `acpi` crate rejected the RSDT/XSDT.
    Tables(acpi::AcpiError),
    /// A table body was malformed.
    Table(AcpiTableError),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unmapped(a) => write!(f, "ACPI root table at {a:#x} is not identity-mapped"),
            Self::Tables(e) => write!(f, "ACPI tables unusable: {e:?}"),
            Self::Table(e) => write!(f, "{e}"),
        }
    }
}

/// What the firmware's ACPI tables say about interrupt controllers and
/// timers.
#[derive(Debug)]
pub struct Platform {
    /// The MADT, if present.
    pub madt: Option<Madt>,
    /// The HPET, if present and well formed.
    pub hpet: Option<Hpet>,
    /// Signatures of every table found, for the boot log.
    pub signatures: arrayvec::ArrayVec<[u8; 4], 32>,
}

fn table_bytes<T: AcpiTable>(mapping: &PhysicalMapping<IdentityMapped, T>) -> &[u8] {
    // SAFETY: the mapping covers `region_length` identity-mapped bytes of
    // a table the acpi crate has checksummed, and lives as long as the slice.
    unsafe {
        core::slice::from_raw_parts(
            mapping.virtual_start().as_ptr().cast::<u8>(),
            mapping.region_length(),
        )
    }
}

/// Reads the ACPI tables rooted at `root`.
///
/// # Errors
/// [`DiscoveryError`] if the root table is unusable or the MADT is malformed.
pub fn discover(root: AcpiRoot) -> Result<Platform, DiscoveryError> {
    if root.sdt_address == 0 || root.sdt_address.saturating_add(36) > IDENTITY_MAP_LIMIT {
        return Err(DiscoveryError::Unmapped(root.sdt_address));
    }
    // SAFETY: the address came from the boot loader's RSDP copy and lies in
    // the identity map; the crate validates the table's signature.
    let tables =
        unsafe { AcpiTables::from_rsdt(IdentityMapped, root.revision, root.sdt_address as usize) }
            .map_err(DiscoveryError::Tables)?;
    let mut signatures = arrayvec::ArrayVec::new();
    for header in tables.headers() {
        let mut sig = [0u8; 4];
        for (d, b) in sig.iter_mut().zip(header.signature.as_str().bytes()) {
            *d = b;
        }
        let _ = signatures.try_push(sig);
    }
    let madt = match tables.find_table::<acpi::madt::Madt>() {
        Ok(mapping) => Some(parse_madt(table_bytes(&mapping)).map_err(DiscoveryError::Table)?),
        Err(_) => None,
    };
    let hpet =
        tables
            .find_table::<acpi::hpet::HpetTable>()
            .ok()
            .and_then(|mapping| match parse_hpet(table_bytes(&mapping)) {
                Ok(hpet) => Some(hpet),
                Err(e) => {
                    log::warn!("ignoring HPET: {e}");
                    None
                }
            });
    Ok(Platform {
        madt,
        hpet,
        signatures,
    })
}
