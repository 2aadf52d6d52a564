//! Framebuffer text console: what a PC booted from a USB stick shows on its
//! screen (no serial cable needed). Mirrors everything the console prints.
//!
//! Glyphs come from `noto-sans-mono-bitmap` (anti-aliased 8x16 bitmaps,
//! drawn as intensity times the line colour). Lines are coloured by what
//! they start with: KTAP `ok` green, `not ok` and fatal reports red, `#`
//! diagnostics grey. When the screen is full it scrolls by half a screen at
//! once.
//!
//! Video memory is never read: on real PCs it is uncached (or write-combined),
//! and reading it back to scroll costs about a second per scroll on a 4K
//! screen. The console keeps its text in RAM ([`Cells`]) and a scroll moves
//! that text and redraws the rows, writing pixels only. It comes up as soon
//! as the boot info names a framebuffer (before timer calibration, the APIC
//! and the heap), clears only the visible rows, and a panic reaches it even
//! when the failing code holds its lock ([`emergency_write_str`]).

use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};
use protocol::{fatal, ktap};
use spin::Mutex;

use hwparse::fb::Layout;

use crate::bootinfo::{Framebuffer, PixelFormat};

const WEIGHT: FontWeight = FontWeight::Regular;
const HEIGHT: RasterHeight = RasterHeight::Size16;
const LINE_HEIGHT: usize = 16;
const MARGIN: usize = 8;

const WHITE: (u8, u8, u8) = (0xdd, 0xdd, 0xdd);
const GREEN: (u8, u8, u8) = (0x40, 0xe0, 0x40);
const RED: (u8, u8, u8) = (0xff, 0x50, 0x50);
const GREY: (u8, u8, u8) = (0x90, 0x90, 0x90);

/// Largest text area kept, in cells: a 4K screen (3840x2160) with the 8x16
/// font. A bigger screen shows a console of this size in its top left.
const MAX_COLS: usize = 480;
const MAX_ROWS: usize = 135;

/// The text on screen, one `u32` per cell: the character in bits 0-20, its
/// colour's index into [`COLORS`] in bits 24-25; 0 is an empty cell. Kept in
/// `.bss` (no heap needed this early).
type Cells = [u32; MAX_COLS * MAX_ROWS];
const COLORS: [(u8, u8, u8); 4] = [WHITE, GREEN, RED, GREY];

fn cell(c: char, color: (u8, u8, u8)) -> u32 {
    let index = COLORS.iter().position(|&k| k == color).unwrap_or(0) as u32;
    u32::from(c) | (index << 24)
}

fn cell_char(cell: u32) -> Option<(char, (u8, u8, u8))> {
    let c = char::from_u32(cell & 0x1F_FFFF)?;
    (cell != 0).then(|| (c, COLORS[(cell >> 24) as usize & 3]))
}

struct FbCon {
    fb: Option<Framebuffer>,
    cols: usize,
    rows: usize,
    col: usize,
    row: usize,
    /// First row that scrolls (rows above it hold a banner).
    top: usize,
    color: (u8, u8, u8),
    /// `color` was chosen for the current line.
    colored: bool,
    cells: Cells,
}

static FBCON: Mutex<FbCon> = Mutex::new(FbCon {
    fb: None,
    cols: 0,
    rows: 0,
    col: 0,
    row: 0,
    top: 0,
    color: WHITE,
    colored: false,
    cells: [0; MAX_COLS * MAX_ROWS],
});

/// Where the pixels are: addressed by bytes per line, so padded lines that
/// are not a whole number of pixels (24-bit VESA modes) draw right.
fn layout(fb: &Framebuffer) -> Layout {
    Layout {
        width: fb.width,
        height: fb.height,
        bytes_per_line: fb.bytes_per_line,
        bytes_per_pixel: fb.bytes_per_pixel,
        byte_len: fb.byte_len,
    }
}

/// Bytes of the visible screen: `height` lines, never more than the
/// firmware's buffer (which may also cover memory not shown).
fn visible_bytes(fb: &Framebuffer) -> usize {
    layout(fb).visible_bytes()
}

fn clear_screen(fb: &Framebuffer) {
    // SAFETY: the first `visible_bytes` of the framebuffer are mapped video
    // memory that only this console writes (its lock is held).
    unsafe { core::ptr::write_bytes(fb.base as *mut u8, 0, visible_bytes(fb)) };
}

/// Takes over the screen (clears what the bootloader drew). Called as early
/// as the boot info exists; a second call does nothing.
pub fn init(fb: Framebuffer) {
    let char_width = get_raster_width(WEIGHT, HEIGHT);
    let cols = (fb.width.saturating_sub(2 * MARGIN) / char_width).min(MAX_COLS);
    let rows = (fb.height.saturating_sub(2 * MARGIN) / LINE_HEIGHT).min(MAX_ROWS);
    if cols == 0 || rows < 2 {
        return;
    }
    let mut con = FBCON.lock();
    if con.fb.is_some() {
        return;
    }
    clear_screen(&fb);
    con.fb = Some(fb);
    con.cols = cols;
    con.rows = rows;
}

/// Size of the active screen console in pixels and text cells.
pub fn geometry() -> Option<(usize, usize, usize, usize)> {
    let con = FBCON.lock();
    con.fb.map(|fb| (fb.width, fb.height, con.cols, con.rows))
}

/// How the active screen's video memory is mapped (`write-combining (PAT
/// 4)`), when the arch said (see `bootinfo::Framebuffer::caching`).
pub fn caching() -> Option<&'static str> {
    FBCON.lock().fb.map(|fb| fb.caching).filter(|c| !c.is_empty())
}

/// Prints `s` on the screen (nothing without one).
pub fn write_str(s: &str) {
    FBCON.lock().write(s);
}

/// [`write_str`] for the panic and exception paths: the CPU that failed may
/// hold the console's lock (a fault while drawing) and then never releases
/// it. After a bounded wait for another CPU to finish its line, the lock is
/// broken: the machine is ending, and the worst a still-running holder can
/// do is garble a few pixels of the report.
pub fn emergency_write_str(s: &str) {
    const TRIES: u32 = 1_000_000;
    for _ in 0..TRIES {
        if let Some(mut con) = FBCON.try_lock() {
            con.write(s);
            return;
        }
        core::hint::spin_loop();
    }
    // SAFETY: see above: only reached while the machine is failing, after
    // the holder had ~a millisecond or more to finish; no memory is freed or
    // reused under the console, so a stale holder can only draw pixels.
    unsafe { FBCON.force_unlock() };
    FBCON.lock().write(s);
}

/// Colour for a line, chosen from how it starts: red for a failed KTAP
/// result, a fatal report or FAIL, green for a passed result or PASS.
fn line_color(s: &str) -> (u8, u8, u8) {
    let t = s.trim_start();
    if t.starts_with(ktap::NOT_OK) || fatal::starts_report(t) || t.starts_with("FAIL") {
        RED
    } else if t.starts_with(ktap::OK) || t.starts_with("PASS") {
        GREEN
    } else if t.starts_with('#') {
        GREY
    } else {
        WHITE
    }
}

impl FbCon {
    fn write(&mut self, s: &str) {
        if self.fb.is_none() {
            return;
        }
        for (i, c) in s.char_indices() {
            // The colour is chosen at a line's first visible character: an
            // indented KTAP line arrives as the indent, then `ok ...`, in
            // separate writes (the formatter writes each piece on its own).
            if !self.colored && !c.is_whitespace() {
                self.color = line_color(&s[i..]);
                self.colored = true;
            }
            match c {
                '\n' => self.newline(),
                '\r' => self.col = 0,
                '\x08' => self.col = self.col.saturating_sub(1),
                c => {
                    if self.col >= self.cols {
                        self.newline();
                    }
                    self.cells[self.row * MAX_COLS + self.col] = cell(c, self.color);
                    self.draw(self.col, self.row, c, self.color);
                    self.col += 1;
                }
            }
        }
    }

    fn newline(&mut self) {
        self.col = 0;
        self.colored = false;
        self.row += 1;
        if self.row >= self.rows {
            self.scroll(((self.rows - self.top) / 2).max(1));
        }
    }

    /// Moves the text below `top` up by `lines` rows: in the RAM copy, then
    /// by redrawing every scrolled row (pixel writes only, see the module doc).
    fn scroll(&mut self, lines: usize) {
        let (top, rows) = (self.top, self.rows);
        let lines = lines.min(rows - top);
        self.cells.copy_within((top + lines) * MAX_COLS..rows * MAX_COLS, top * MAX_COLS);
        self.cells[(rows - lines) * MAX_COLS..rows * MAX_COLS].fill(0);
        for row in top..rows {
            for col in 0..self.cols {
                let (c, color) =
                    cell_char(self.cells[row * MAX_COLS + col]).unwrap_or((' ', WHITE));
                self.draw(col, row, c, color);
            }
        }
        self.row -= lines;
    }

    /// Draws `c` in cell (`col`, `row`), every pixel of the cell (a space
    /// clears it).
    fn draw(&self, col: usize, row: usize, c: char, color: (u8, u8, u8)) {
        let raster = get_raster(c, WEIGHT, HEIGHT).or_else(|| get_raster('?', WEIGHT, HEIGHT));
        let Some(raster) = raster else { return };
        let x0 = MARGIN + col * raster.width();
        let y0 = MARGIN + row * LINE_HEIGHT;
        for (dy, row) in raster.raster().iter().enumerate() {
            for (dx, &intensity) in row.iter().enumerate() {
                let scale = |v: u8| ((u16::from(v) * u16::from(intensity)) / 255) as u8;
                let (r, g, b) = (scale(color.0), scale(color.1), scale(color.2));
                self.put_pixel(x0 + dx, y0 + dy, (r, g, b));
            }
        }
    }
}

/// Clears the screen and draws `word` in large letters (the console font
/// scaled up to fill about half the screen width), black on a box of green
/// (`pass`) or red; the text console continues below the box. For verdicts
/// meant to be read from across a room (the unattended mode). Does nothing
/// without a screen.
pub fn banner(word: &str, pass: bool) {
    let mut con = FBCON.lock();
    if con.fb.is_some() {
        con.banner(word, if pass { GREEN } else { RED });
    }
}

impl FbCon {
    fn put_pixel(&self, x: usize, y: usize, (r, g, b): (u8, u8, u8)) {
        let Some(fb) = self.fb else { return };
        let Some(offset) = layout(&fb).pixel_offset(x, y) else { return };
        let px: [u8; 4] = match fb.format {
            PixelFormat::Rgb => [r, g, b, 0],
            PixelFormat::Bgr => [b, g, r, 0],
            PixelFormat::Gray => {
                [((u16::from(r) + u16::from(g) + u16::from(b)) / 3) as u8, 0, 0, 0]
            }
        };
        // SAFETY: `offset + bytes_per_pixel <= byte_len` (pixel_offset checks
        // it), and the framebuffer's `byte_len` bytes are mapped video memory
        // only this console writes.
        unsafe {
            core::ptr::copy_nonoverlapping(
                px.as_ptr(),
                (fb.base as *mut u8).add(offset),
                fb.bytes_per_pixel.min(4),
            );
        }
    }

    fn banner(&mut self, word: &str, color: (u8, u8, u8)) {
        let Some(fb) = self.fb else { return };
        let char_width = get_raster_width(WEIGHT, HEIGHT);
        let chars = word.chars().count().max(1);
        // Letters: half the screen wide at most, a third of it tall at most.
        let scale = (fb.width / 2 / (chars * char_width)).min(fb.height / 3 / LINE_HEIGHT).max(1);
        let (text_w, text_h) = (chars * char_width * scale, LINE_HEIGHT * scale);
        let pad = 2 * MARGIN.max(scale * 2);
        let (box_w, box_h) = ((text_w + 2 * pad).min(fb.width), (text_h + 2 * pad).min(fb.height));
        let (bx, by) = ((fb.width - box_w) / 2, MARGIN);
        clear_screen(&fb);
        self.cells.fill(0);
        for y in by..by + box_h {
            for x in bx..bx + box_w {
                self.put_pixel(x, y, color);
            }
        }
        for (i, c) in word.chars().enumerate() {
            let Some(raster) = get_raster(c, WEIGHT, HEIGHT) else { continue };
            let x0 = bx + pad + i * char_width * scale;
            for (dy, row) in raster.raster().iter().enumerate() {
                for (dx, &intensity) in row.iter().enumerate() {
                    // Anti-aliased glyph with thin strokes: ink where it is
                    // a quarter on, which keeps the scaled strokes solid.
                    if intensity < 64 {
                        continue;
                    }
                    for y in 0..scale {
                        for x in 0..scale {
                            self.put_pixel(
                                x0 + dx * scale + x,
                                by + pad + dy * scale + y,
                                (0, 0, 0),
                            );
                        }
                    }
                }
            }
        }
        // The console continues on the first text row below the box, and
        // only the rows below it scroll.
        self.row = ((by + box_h).saturating_sub(MARGIN)).div_ceil(LINE_HEIGHT).min(self.rows - 1);
        self.top = self.row;
        self.col = 0;
    }
}
