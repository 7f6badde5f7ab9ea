//! A small flattened-device-tree writer for tests: builds trees token by
//! token, so tests can make them wrong in exactly one way.

use std::collections::HashMap;

const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// A tree being written.
#[derive(Default)]
pub struct Dtb {
    structure: Vec<u8>,
    strings: Vec<u8>,
    offsets: HashMap<String, u32>,
    /// Header fields to overwrite after building: (index, value).
    pub header_overrides: Vec<(usize, u32)>,
}

fn pad(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

impl Dtb {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn token(&mut self, t: u32) -> &mut Self {
        self.structure.extend_from_slice(&t.to_be_bytes());
        self
    }

    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.token(BEGIN_NODE);
        self.structure.extend_from_slice(name.as_bytes());
        self.structure.push(0);
        pad(&mut self.structure);
        self
    }

    pub fn end(&mut self) -> &mut Self {
        self.token(END_NODE)
    }

    pub fn nop(&mut self) -> &mut Self {
        self.token(NOP)
    }

    fn name_offset(&mut self, name: &str) -> u32 {
        if let Some(&o) = self.offsets.get(name) {
            return o;
        }
        let o = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.offsets.insert(name.to_string(), o);
        o
    }

    /// A property with a raw value.
    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let offset = self.name_offset(name);
        self.raw_prop(value.len() as u32, offset, value)
    }

    /// A property whose header says `len` and `name_offset` whatever the
    /// value is.
    pub fn raw_prop(&mut self, len: u32, name_offset: u32, value: &[u8]) -> &mut Self {
        self.token(PROP);
        self.structure.extend_from_slice(&len.to_be_bytes());
        self.structure.extend_from_slice(&name_offset.to_be_bytes());
        self.structure.extend_from_slice(value);
        pad(&mut self.structure);
        self
    }

    pub fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let bytes: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &bytes)
    }

    pub fn string(&mut self, name: &str, value: &str) -> &mut Self {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.prop(name, &bytes)
    }

    pub fn strings(&mut self, name: &str, values: &[&str]) -> &mut Self {
        let mut bytes = Vec::new();
        for v in values {
            bytes.extend_from_slice(v.as_bytes());
            bytes.push(0);
        }
        self.prop(name, &bytes)
    }

    pub fn flag(&mut self, name: &str) -> &mut Self {
        self.prop(name, &[])
    }

    /// The blob: header, an empty reservation map, the structure block
    /// (with END appended), the strings.
    pub fn build(&self) -> Vec<u8> {
        let mut structure = self.structure.clone();
        structure.extend_from_slice(&END.to_be_bytes());
        let reservations = 40 + 8; // header, padded to 8
        let struct_at = reservations + 16;
        let strings_at = struct_at + structure.len();
        let total = strings_at + self.strings.len();
        let mut header = [
            0xd00d_feed,
            total as u32,
            struct_at as u32,
            strings_at as u32,
            reservations as u32,
            17,
            16,
            0,
            self.strings.len() as u32,
            structure.len() as u32,
        ];
        for &(i, v) in &self.header_overrides {
            header[i] = v;
        }
        let mut out: Vec<u8> = header.iter().flat_map(|w| w.to_be_bytes()).collect();
        out.resize(reservations, 0);
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&structure);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// Which parts a [`virt_like`] tree leaves out or breaks.
#[derive(Clone, Copy, Default)]
pub struct Variant {
    pub no_stdout_path: bool,
    pub stdout_path: Option<&'static str>,
    pub no_serial0_alias: bool,
    /// The console's `reg` has 3 cells instead of 4.
    pub bad_uart_reg: bool,
    pub no_gic: bool,
    pub gic_v3: bool,
    /// The GIC's `reg` has one entry (v2 needs two).
    pub short_gic_reg: bool,
    pub no_timer: bool,
    pub no_psci: bool,
    pub psci_method: Option<&'static str>,
    pub no_memory: bool,
    pub second_uart: bool,
}

/// A tree shaped like QEMU `virt`'s, with the parts `v` says.
pub fn virt_like(v: Variant) -> Vec<u8> {
    let mut d = Dtb::new();
    d.begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .string("model", "test,virt-like")
        .strings("compatible", &["linux,dummy-virt"])
        .cells("interrupt-parent", &[0x8002]);
    if !v.no_psci {
        d.begin("psci")
            .strings("compatible", &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
            .string("method", v.psci_method.unwrap_or("hvc"))
            .end();
    }
    if !v.no_memory {
        d.begin("memory@40000000")
            .string("device_type", "memory")
            .cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
            .end();
    }
    d.begin("apb-pclk")
        .string("compatible", "fixed-clock")
        .cells("clock-frequency", &[24_000_000])
        .cells("phandle", &[0x8000])
        .end();
    d.begin("pl011@9000000")
        .strings("compatible", &["arm,pl011", "arm,primecell"]);
    if v.bad_uart_reg {
        d.cells("reg", &[0, 0x0900_0000, 0x1000]);
    } else {
        d.cells("reg", &[0, 0x0900_0000, 0, 0x1000]);
    }
    d.cells("clocks", &[0x8000, 0x8000]).end();
    if v.second_uart {
        d.begin("serial@9040000")
            .string("compatible", "ns16550a")
            .cells("reg", &[0, 0x0904_0000, 0, 0x100])
            .cells("clock-frequency", &[1_843_200])
            .cells("reg-shift", &[2])
            .cells("reg-io-width", &[4])
            .end();
    }
    if !v.no_gic {
        d.begin("intc@8000000")
            .cells("phandle", &[0x8002])
            .flag("interrupt-controller")
            .cells("#interrupt-cells", &[3]);
        if v.gic_v3 {
            d.string("compatible", "arm,gic-v3").cells(
                "reg",
                &[0, 0x0800_0000, 0, 0x1_0000, 0, 0x080a_0000, 0, 0xf6_0000],
            );
        } else if v.short_gic_reg {
            d.string("compatible", "arm,cortex-a15-gic")
                .cells("reg", &[0, 0x0800_0000, 0, 0x1_0000]);
        } else {
            d.string("compatible", "arm,cortex-a15-gic").cells(
                "reg",
                &[0, 0x0800_0000, 0, 0x1_0000, 0, 0x0801_0000, 0, 0x1_0000],
            );
        }
        d.end();
    }
    if !v.no_timer {
        d.begin("timer")
            .strings("compatible", &["arm,armv8-timer", "arm,armv7-timer"])
            .cells(
                "interrupts",
                &[1, 13, 0x104, 1, 14, 0x104, 1, 11, 0x104, 1, 10, 0x104],
            )
            .flag("always-on")
            .end();
    }
    if !v.no_serial0_alias {
        d.begin("aliases").string("serial0", "/pl011@9000000").end();
    }
    d.begin("chosen");
    if !v.no_stdout_path {
        d.string("stdout-path", v.stdout_path.unwrap_or("/pl011@9000000"));
    }
    d.end();
    d.begin("cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0])
        .begin("cpu@0")
        .string("device_type", "cpu")
        .string("compatible", "arm,cortex-a72")
        .cells("reg", &[0])
        .end()
        .end();
    d.end();
    d.build()
}
