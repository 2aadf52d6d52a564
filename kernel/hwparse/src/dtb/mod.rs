//! The flattened device tree (DTB) the loader hands an aarch64 kernel:
//! the blob checked, then what the kernel reads from it: RAM, reserved
//! memory, the console UART, the GIC, CPUs, the PSCI conduit and
//! `/chosen/bootargs` (Devicetree Specification v0.4, chapters 3 and 5;
//! Linux `drivers/of/fdt.c`).
//!
//! The order is fixed: [`compact_nops`] (in place, once, at boot), then
//! [`parse`], which checks the whole blob ([`check`], module `blob`) and
//! only then hands it to the `fdt` crate; the queries below take that
//! [`Fdt`] and find nodes with [`find`] (module `path`), never with the
//! crate's own alias-following lookup. A blob `parse` refuses stops the
//! boot with the [`BlobError`], since the machine is unknown without it.
//!
//! Rules of the queries (module `facts`), so that no machine shape is
//! misread silently:
//!
//! - **No silent drops.** Early boot has no heap, so ranges are copied into
//!   fixed-capacity lists ([`MAX_DTB_RANGES`] entries each), but a list that
//!   overflows counts what it could not keep and boot stops with a message
//!   naming the list and the limit ([`EarlyFacts::overflow`]). A `reg`
//!   range whose end passes 2^64 is left out and reported
//!   ([`EarlyFacts::errors`]).
//! - **`status`** is honoured on every node read (`"okay"`/`"ok"` or absent
//!   means enabled; Linux `of_fdt_device_is_available`): memory, reserved
//!   memory, the UART, the GIC, CPUs. QEMU `virt,secure=on` describes the
//!   secure world's PL011 first, with `status = "disabled"`.
//! - **The console** is `/chosen/stdout-path` (a path or an alias, with an
//!   optional `:options` suffix; a PL011 or the Pi's mini UART), else the
//!   first enabled `arm,pl011`.
//! - **Bus addresses** are translated to CPU addresses through the
//!   `ranges` of every bus above a device (module `bus`): the Raspberry
//!   Pi's `/soc` maps VideoCore bus addresses `0x7e..` to `0xfe..`.
//! - **Edited DTBs.** Firmware and boot loaders edit DTBs in place with
//!   libfdt, which leaves `FDT_NOP` tokens where it deleted nodes or
//!   properties (QEMU does this to `/memory` nodes of a `-dtb` file). The
//!   `fdt` crate (0.1.5) stops looking at a node's children at the first
//!   NOP between them, so everything after such a hole was invisible
//!   (`/cpus`, `/chosen`), and panics on a NOP between a node's properties
//!   and its children. [`compact_nops`] removes NOP tokens from the
//!   structure block before anything parses it.
//! - **Queries after the early parse** return a [`DtbError`] that names the
//!   node, never a default.
//! - **What the boot cannot do without** ([`usable`]): RAM (memory nodes
//!   whose `reg` fits the root's cell counts, no entry of size 0), an
//!   existing `/chosen/stdout-path` target, an interrupt controller and
//!   `/cpus` with a `cpu` node. A blob that lacks one is refused with an
//!   [`Unusable`] that says which, and the boot prints it and stops.

mod blob;
mod board;
mod bus;
mod facts;
mod path;
mod usable;

pub use blob::{
    BlobError, Block, HEADER_LEN, Header, MAGIC, MAX_DEPTH, MAX_TOTAL_SIZE, check, compact_nops,
    parse,
};
pub use board::{BoardDevices, board_devices};
pub use bus::{dma_window, reg_cpu, to_cpu};
pub use facts::{
    CpuNode, DtbError, EarlyFacts, GIC_V3_REDIST_REGIONS, GicV3Regs, MAX_DTB_RANGES, PsciMethod,
    Ranges, UartKind, bootargs, cpus, early_facts, enabled, is_qemu_virt, psci,
};
pub use fdt::Fdt;
pub use path::{find, find_path_or_alias};
pub use usable::{Unusable, usable};
