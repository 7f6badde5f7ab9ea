//! Board profiles, chosen from the device tree's root `compatible`.
//!
//! A profile holds what is known about a board *beyond* its device tree:
//! its name and what its hardware is documented to have, so that boot can
//! warn when the tree contradicts it. It never holds an MMIO address: every
//! address comes from the device tree (an earlier Raspberry Pi 5 port typed
//! in a GICv3 and a 48 MHz UART clock that the board does not have).

use core::fmt;

/// A board exo knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// QEMU's `virt` machine (`linux,dummy-virt`).
    QemuVirt,
    /// Raspberry Pi 5 (BCM2712, `brcm,bcm2712`).
    RaspberryPi5,
    /// Raspberry Pi 4 (BCM2711, `brcm,bcm2711`), also QEMU's `raspi4b`.
    RaspberryPi4,
    /// Anything else: driven by its device tree alone.
    Generic,
}

/// Which GIC architecture a board's documentation says it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedGic {
    /// GICv2 (e.g. Arm's GIC-400).
    V2,
    /// GICv3.
    V3,
    /// Either (QEMU `virt` has `gic-version=2|3`).
    Any,
}

/// What exo expects of a board; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardProfile {
    /// Which board.
    pub board: Board,
    /// Human-readable name.
    pub name: &'static str,
    /// The interrupt controller its documentation names.
    pub gic: ExpectedGic,
    /// Whether the console is documented to be a PL011.
    pub pl011_console: bool,
    /// The root `compatible` string that selected it.
    pub matched: &'static str,
}

/// Profiles, most specific first.
const PROFILES: &[BoardProfile] = &[
    BoardProfile {
        board: Board::RaspberryPi5,
        name: "Raspberry Pi 5",
        gic: ExpectedGic::V2,
        pl011_console: true,
        matched: "brcm,bcm2712",
    },
    BoardProfile {
        board: Board::RaspberryPi4,
        name: "Raspberry Pi 4",
        gic: ExpectedGic::V2,
        // Its tree's stdout-path is the mini UART (`serial1`), a 16550.
        pl011_console: false,
        matched: "brcm,bcm2711",
    },
    BoardProfile {
        board: Board::QemuVirt,
        name: "QEMU virt",
        gic: ExpectedGic::Any,
        pl011_console: true,
        matched: "linux,dummy-virt",
    },
];

/// The profile used when no root `compatible` string is known.
pub const GENERIC: BoardProfile = BoardProfile {
    board: Board::Generic,
    name: "generic device-tree board",
    gic: ExpectedGic::Any,
    pl011_console: false,
    matched: "",
};

/// The first profile one of whose `compatible` strings appears in
/// `compatible` (the root node's list), else [`GENERIC`].
pub fn select<'a>(compatible: impl IntoIterator<Item = &'a str> + Clone) -> BoardProfile {
    PROFILES
        .iter()
        .find(|p| compatible.clone().into_iter().any(|c| c == p.matched))
        .copied()
        .unwrap_or(GENERIC)
}

impl fmt::Display for BoardProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.matched.is_empty() {
            f.write_str(self.name)
        } else {
            write!(f, "{} (matched '{}')", self.name, self.matched)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_chosen_by_any_compatible_entry() {
        assert_eq!(
            select(["raspberrypi,5-model-b", "brcm,bcm2712"]).board,
            Board::RaspberryPi5
        );
        assert_eq!(select(["linux,dummy-virt"]).board, Board::QemuVirt);
        assert_eq!(select(["acme,board"]).board, Board::Generic);
        assert_eq!(select([]).board, Board::Generic);
    }
}
