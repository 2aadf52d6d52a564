//! QEMU's firmware configuration device (fw_cfg): where `make test` puts the
//! kernel command line (`-fw_cfg name=opt/cmdline,string=...`).
//!
//! Protocol (QEMU docs/specs/fw_cfg.rst): write a 16-bit selector to port
//! 0x510, read bytes from 0x511. Selector 0 returns the signature "QEMU";
//! selector 0x19 the file directory (big-endian count, then 64-byte entries:
//! size u32, select u16, reserved u16, name [u8; 56]).
//!
//! Presence is decided by the signature alone, never by CPUID's hypervisor
//! bit: `-cpu ...,hypervisor=off` (and hypervisors that hide themselves)
//! clear that bit while fw_cfg is still there. The probe is harmless on a
//! PC: ports 0x510/0x511 are unassigned there, a write to an unassigned port
//! goes nowhere and a read returns 0xff (all bits set, from the pulled-up
//! bus), so the signature reads `ff ff ff ff` and nothing else is touched.
//! OVMF's fw_cfg library decides presence by this signature as well. (A PC
//! with some other device at 0x510 would have to return "QEMU" from it to be
//! mistaken for fw_cfg.) The directory walk is bounded
//! (`MAX_FILES`) in case something answers the signature but then returns
//! garbage.

use spin::Once;
use x86_64::instructions::port::Port;

const SELECTOR: u16 = 0x510;
const DATA: u16 = 0x511;
const SIG: u16 = 0x0000;
const FILE_DIR: u16 = 0x0019;
const CMDLINE_FILE: &[u8] = protocol::cmdline::FW_CFG_FILE.as_bytes();
const MAX_CMDLINE: usize = protocol::cmdline::MAX_LEN;
/// Upper bound on directory entries read (QEMU's FW_CFG_FILE_SLOTS default
/// is 0x20; machines with many devices have a few dozen).
const MAX_FILES: u32 = 4096;

struct FwCfg {
    selector: Port<u16>,
    data: Port<u8>,
}

impl FwCfg {
    fn select(&mut self, key: u16) {
        // SAFETY: writing a selector to fw_cfg's port has no effect beyond
        // choosing which item the data port reads; on a machine without
        // fw_cfg port 0x510 is unassigned and the write goes nowhere.
        unsafe { self.selector.write(key) }
    }

    fn read(&mut self, buf: &mut [u8]) {
        for b in buf {
            // SAFETY: reading fw_cfg's data port only advances its cursor;
            // without fw_cfg the unassigned port reads 0xff.
            *b = unsafe { self.data.read() };
        }
    }

    fn read_be_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.read(&mut b);
        u32::from_be_bytes(b)
    }
}

static CMDLINE: Once<([u8; MAX_CMDLINE], usize)> = Once::new();

/// The `opt/cmdline` fw_cfg file, or "" when absent (real hardware, or QEMU
/// started without one: both mean the interactive shell).
pub fn cmdline() -> &'static str {
    let (buf, len) = CMDLINE.call_once(read_cmdline);
    core::str::from_utf8(&buf[..*len]).unwrap_or("").trim_end_matches(['\0', '\n', ' '])
}

fn read_cmdline() -> ([u8; MAX_CMDLINE], usize) {
    let mut out = [0u8; MAX_CMDLINE];
    let mut fw = FwCfg { selector: Port::new(SELECTOR), data: Port::new(DATA) };
    fw.select(SIG);
    let mut sig = [0u8; 4];
    fw.read(&mut sig);
    if &sig != b"QEMU" {
        return (out, 0);
    }
    fw.select(FILE_DIR);
    let count = fw.read_be_u32();
    if count > MAX_FILES {
        return (out, 0);
    }
    for _ in 0..count {
        let size = fw.read_be_u32() as usize;
        let mut sel = [0u8; 4];
        fw.read(&mut sel);
        let mut name = [0u8; 56];
        fw.read(&mut name);
        let name_len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        if &name[..name_len] == CMDLINE_FILE {
            let len = size.min(MAX_CMDLINE);
            fw.select(u16::from_be_bytes([sel[0], sel[1]]));
            fw.read(&mut out[..len]);
            return (out, len);
        }
    }
    (out, 0)
}
