//! The robustness matrix: for every refcount scheme, which misuse windows it
//! closes. One question per row: while the misuse is in flight (or after
//! it), can a speculative get succeed on a page that is free, so that the
//! page is later handed out twice? `tests/robustness.rs` checks every cell on
//! the real code and prints the matrix; `tests/loom.rs` proves the racing
//! rows exhaustively. docs/refcount.md ("Which layout") explains each answer.
#![allow(dead_code)]

/// A misuse (or a state) of a free page, and the question asked of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    /// One stale `put_page` of 1 on a free page, in flight.
    OverPut1,
    /// A stale put of 2 (or two of 1 at once) on a free page, in flight.
    OverPut2,
    /// A stale put of `MAX_REF_NR` on a free page, in flight.
    OverPutMax,
    /// Stale puts of `MAX_REF_NR` on every CPU at once, all in flight.
    OverPutAllCpus,
    /// `get_page` (no reference held) on a free page, in flight.
    GetPageMisuse,
    /// Failed speculative gets of `MAX_REF_NR` from every CPU, repeated: the
    /// leftovers never make the page look owned.
    FailedGetLeftovers,
    /// A descriptor left zero-filled (memset memmap, zeroed struct).
    ZeroFilled,
    /// `Zone::page_ref_unfreeze` on a free page.
    UnfreezeFreeZone,
    /// The raw `page_ref_unfreeze` (which trusts its caller) on a free page.
    UnfreezeFreeRaw,
}

/// Every row, in table order.
pub const ROWS: [Row; 9] = [
    Row::OverPut1,
    Row::OverPut2,
    Row::OverPutMax,
    Row::OverPutAllCpus,
    Row::GetPageMisuse,
    Row::FailedGetLeftovers,
    Row::ZeroFilled,
    Row::UnfreezeFreeZone,
    Row::UnfreezeFreeRaw,
];

/// Whether scheme `name` (`RefcountScheme::NAME`) closes `row`: no
/// speculative get can succeed on the free page. The expected answers; the
/// tests check the code against them.
pub fn closes(name: &str, row: Row) -> bool {
    use Row::*;
    // The direct single put changes only a put of the only reference, which
    // no row is: a `-direct` layout answers as its base layout.
    let name = name.strip_suffix("-direct").unwrap_or(name);
    match (name, row) {
        // The raw unfreeze cannot tell "frozen by its owner" from "free" in
        // any scheme: it trusts its caller (the zone's checks the page).
        (_, UnfreezeFreeRaw) => false,
        (_, UnfreezeFreeZone | FailedGetLeftovers) => true,
        // Flag in bit 31, set = frozen, FROZEN = 0x8000_0000 (the series):
        // no room below FROZEN. A single put of 1 leaves 0x7FFF_FFFF, where a
        // get of 1 lands on FROZEN and fails; anything more is an owned count
        // a get succeeds on.
        ("frozen-bit", OverPut1) => true,
        ("frozen-bit", OverPut2 | OverPutMax | OverPutAllCpus) => false,
        // 2^30 of room below FROZEN = 0xC000_0000.
        ("frozen-bit-mid", OverPut1 | OverPut2 | OverPutMax | OverPutAllCpus) => true,
        // Flag in bit 0, steps of 2: every change keeps the parity.
        ("frozen-bit-low", OverPut1 | OverPut2 | OverPutMax | OverPutAllCpus) => true,
        // get_page's plain add on a frozen page stays frozen.
        ("frozen-bit" | "frozen-bit-mid" | "frozen-bit-low", GetPageMisuse) => true,
        // 0 is the transient count-0 state inside a last put, which a get may
        // revive.
        ("frozen-bit" | "frozen-bit-mid" | "frozen-bit-low", ZeroFilled) => false,
        // Inverted, bit 31: FROZEN = 0, so an over-put wraps to 0xFFFF_FFFx,
        // an owned count (a put of 1 leaves the largest, where a get
        // overflows and is undone); 0 itself is frozen.
        ("live-bit", OverPut1 | GetPageMisuse | ZeroFilled) => true,
        ("live-bit", OverPut2 | OverPutMax | OverPutAllCpus) => false,
        // Inverted, bit 0: parity kept, and 0 is frozen.
        ("live-bit-low", _) => true,
        // Zero is dead: an over-put wraps 0 to >= 0xFFFF_0000, above
        // MAX_COUNT, which its get refuses; 0 is dead.
        (
            "legacy" | "legacy-optimistic",
            OverPut1 | OverPut2 | OverPutMax | OverPutAllCpus | ZeroFilled,
        ) => true,
        // get_page adds first (0 -> 1) and undoes: a get's CAS can see the 1.
        ("legacy" | "legacy-optimistic", GetPageMisuse) => false,
        (other, _) => panic!("no expectations for scheme {other}"),
    }
}
