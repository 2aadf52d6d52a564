//! Framebuffer text console: what a PC booted from a USB stick shows on its
//! screen (no serial cable needed). Mirrors everything the console prints.
//!
//! Glyphs come from `noto-sans-mono-bitmap` (anti-aliased 8x16 bitmaps,
//! drawn as intensity times the line colour). Lines are coloured by what
//! they start with: KTAP `ok` green, `not ok` and fatal reports red, `#`
//! diagnostics grey. When the screen is full it scrolls by half a screen at
//! once, which keeps scrolling cheap even under emulation.

use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};
use protocol::{fatal, ktap};
use spin::Mutex;

use crate::bootinfo::{Framebuffer, PixelFormat};

const WEIGHT: FontWeight = FontWeight::Regular;
const HEIGHT: RasterHeight = RasterHeight::Size16;
const LINE_HEIGHT: usize = 16;
const MARGIN: usize = 8;

const WHITE: (u8, u8, u8) = (0xdd, 0xdd, 0xdd);
const GREEN: (u8, u8, u8) = (0x40, 0xe0, 0x40);
const RED: (u8, u8, u8) = (0xff, 0x50, 0x50);
const GREY: (u8, u8, u8) = (0x90, 0x90, 0x90);

struct FbCon {
    fb: Framebuffer,
    cols: usize,
    rows: usize,
    col: usize,
    row: usize,
    color: (u8, u8, u8),
}

static FBCON: Mutex<Option<FbCon>> = Mutex::new(None);

/// Takes over the screen (clears what the bootloader drew).
pub fn init(fb: Framebuffer) {
    let char_width = get_raster_width(WEIGHT, HEIGHT);
    let con = FbCon {
        fb,
        cols: (fb.width.saturating_sub(2 * MARGIN)) / char_width,
        rows: (fb.height.saturating_sub(2 * MARGIN)) / LINE_HEIGHT,
        col: 0,
        row: 0,
        color: WHITE,
    };
    if con.cols == 0 || con.rows < 2 {
        return;
    }
    // SAFETY: the framebuffer is `byte_len` bytes of mapped video memory that
    // only this console writes.
    unsafe { core::ptr::write_bytes(fb.base as *mut u8, 0, fb.byte_len) };
    *FBCON.lock() = Some(con);
}

/// Size of the active screen console in pixels and text cells.
pub fn geometry() -> Option<(usize, usize, usize, usize)> {
    FBCON.lock().as_ref().map(|c| (c.fb.width, c.fb.height, c.cols, c.rows))
}

pub fn write_str(s: &str) {
    if let Some(con) = FBCON.lock().as_mut() {
        con.write(s);
    }
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
        for (i, c) in s.char_indices() {
            if self.col == 0 && c != '\n' {
                self.color = line_color(&s[i..]);
            }
            match c {
                '\n' => self.newline(),
                '\r' => self.col = 0,
                '\x08' => self.col = self.col.saturating_sub(1),
                c => {
                    if self.col >= self.cols {
                        self.newline();
                    }
                    self.draw(c);
                    self.col += 1;
                }
            }
        }
    }

    fn newline(&mut self) {
        self.col = 0;
        self.row += 1;
        if self.row >= self.rows {
            self.scroll(self.rows / 2);
        }
    }

    /// Moves the text up by `lines` and clears the freed rows.
    fn scroll(&mut self, lines: usize) {
        let fb = &self.fb;
        let line_bytes = fb.stride * fb.bytes_per_pixel * LINE_HEIGHT;
        let top = MARGIN * fb.stride * fb.bytes_per_pixel;
        let text_bytes = self.rows * line_bytes;
        let shift = lines * line_bytes;
        // SAFETY: all offsets stay within the text area, inside `byte_len`.
        unsafe {
            let base = (fb.base as *mut u8).add(top);
            core::ptr::copy(base.add(shift), base, text_bytes - shift);
            core::ptr::write_bytes(base.add(text_bytes - shift), 0, shift);
        }
        self.row -= lines;
    }

    fn draw(&mut self, c: char) {
        let raster = get_raster(c, WEIGHT, HEIGHT).or_else(|| get_raster('?', WEIGHT, HEIGHT));
        let Some(raster) = raster else { return };
        let x0 = MARGIN + self.col * raster.width();
        let y0 = MARGIN + self.row * LINE_HEIGHT;
        let fb = self.fb;
        for (dy, row) in raster.raster().iter().enumerate() {
            for (dx, &intensity) in row.iter().enumerate() {
                let scale = |v: u8| ((u16::from(v) * u16::from(intensity)) / 255) as u8;
                let (r, g, b) = (scale(self.color.0), scale(self.color.1), scale(self.color.2));
                let offset = ((y0 + dy) * fb.stride + x0 + dx) * fb.bytes_per_pixel;
                if offset + fb.bytes_per_pixel > fb.byte_len {
                    continue;
                }
                let px: [u8; 4] = match fb.format {
                    PixelFormat::Rgb => [r, g, b, 0],
                    PixelFormat::Bgr => [b, g, r, 0],
                    PixelFormat::Gray => {
                        [((u16::from(r) + u16::from(g) + u16::from(b)) / 3) as u8, 0, 0, 0]
                    }
                };
                let n = fb.bytes_per_pixel.min(4);
                // SAFETY: `offset + bytes_per_pixel <= byte_len` (checked above).
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        px.as_ptr(),
                        (fb.base as *mut u8).add(offset),
                        n,
                    );
                }
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
    if let Some(con) = FBCON.lock().as_mut() {
        con.banner(word, if pass { GREEN } else { RED });
    }
}

impl FbCon {
    fn put_pixel(&self, x: usize, y: usize, (r, g, b): (u8, u8, u8)) {
        let fb = self.fb;
        if x >= fb.width || y >= fb.height {
            return;
        }
        let offset = (y * fb.stride + x) * fb.bytes_per_pixel;
        if offset + fb.bytes_per_pixel > fb.byte_len {
            return;
        }
        let px: [u8; 4] = match fb.format {
            PixelFormat::Rgb => [r, g, b, 0],
            PixelFormat::Bgr => [b, g, r, 0],
            PixelFormat::Gray => {
                [((u16::from(r) + u16::from(g) + u16::from(b)) / 3) as u8, 0, 0, 0]
            }
        };
        // SAFETY: `offset + bytes_per_pixel <= byte_len` (checked above).
        unsafe {
            core::ptr::copy_nonoverlapping(
                px.as_ptr(),
                (fb.base as *mut u8).add(offset),
                fb.bytes_per_pixel.min(4),
            );
        }
    }

    fn banner(&mut self, word: &str, color: (u8, u8, u8)) {
        let fb = self.fb;
        let char_width = get_raster_width(WEIGHT, HEIGHT);
        let chars = word.chars().count().max(1);
        // Letters: half the screen wide at most, a third of it tall at most.
        let scale = (fb.width / 2 / (chars * char_width)).min(fb.height / 3 / LINE_HEIGHT).max(1);
        let (text_w, text_h) = (chars * char_width * scale, LINE_HEIGHT * scale);
        let pad = 2 * MARGIN.max(scale * 2);
        let (box_w, box_h) = ((text_w + 2 * pad).min(fb.width), (text_h + 2 * pad).min(fb.height));
        let (bx, by) = ((fb.width - box_w) / 2, MARGIN);
        // SAFETY: the framebuffer is `byte_len` bytes of mapped video memory
        // that only this console writes (we hold its lock).
        unsafe { core::ptr::write_bytes(fb.base as *mut u8, 0, fb.byte_len) };
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
        // The console continues on the first text row below the box.
        self.row = ((by + box_h).saturating_sub(MARGIN)).div_ceil(LINE_HEIGHT).min(self.rows - 1);
        self.col = 0;
    }
}
