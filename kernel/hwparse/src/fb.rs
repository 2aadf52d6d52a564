//! Linear framebuffer geometry: where a pixel's bytes are, from what the
//! firmware (through the bootloader) says about the screen.
//!
//! Pixels are addressed by bytes per scan line ("pitch"), never by a stride
//! in pixels times the pixel size: a VESA mode may pad its lines with a
//! number of bytes that is not a whole number of pixels (a 24-bit mode
//! 1366 pixels wide with 4-byte aligned lines has a pitch of 4100 bytes,
//! 1366.67 pixels).
//!
//! bootloader 0.11.17 only hands the kernel a stride in pixels: its BIOS
//! stage 2 computes `bytes_per_scanline / bytes_per_pixel` (rounding down),
//! so such a pitch is lost there. It does keep `byte_len = height *
//! bytes_per_scanline` for VESA, so [`bytes_per_line`] takes the pitch back
//! from the length when the length is exactly that. UEFI GOP has no such
//! padding (its stride is in whole pixels, PixelsPerScanLine), and its
//! buffer length is the whole aperture, which [`bytes_per_line`] then
//! leaves alone.

/// Bytes per scan line of a framebuffer described by the bootloader's
/// `height`, `stride` (pixels per line, possibly rounded down),
/// `bytes_per_pixel` and `byte_len`.
///
/// The pitch is `byte_len / height` when that divides exactly and lies in
/// `stride * bytes_per_pixel .. (stride + 1) * bytes_per_pixel`: the line
/// length the stride was rounded down from (see the module doc). Otherwise
/// it is `stride * bytes_per_pixel`. Saturates instead of overflowing.
pub fn bytes_per_line(
    height: usize,
    stride: usize,
    bytes_per_pixel: usize,
    byte_len: usize,
) -> usize {
    let from_stride = stride.saturating_mul(bytes_per_pixel);
    if height == 0 || !byte_len.is_multiple_of(height) {
        return from_stride;
    }
    let pitch = byte_len / height;
    if pitch >= from_stride && pitch < from_stride.saturating_add(bytes_per_pixel) {
        pitch
    } else {
        from_stride
    }
}

/// Where the pixels of a linear framebuffer are, in bytes from its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Visible pixels per line.
    pub width: usize,
    /// Visible lines.
    pub height: usize,
    /// Bytes from the start of one line to the start of the next (>=
    /// `width * bytes_per_pixel`, any number, not only whole pixels).
    pub bytes_per_line: usize,
    /// Bytes of one pixel (3 for 24-bit modes).
    pub bytes_per_pixel: usize,
    /// Bytes of memory the framebuffer covers; no pixel lies past it.
    pub byte_len: usize,
}

impl Layout {
    /// Byte offset of pixel (`x`, `y`), or `None` when the pixel is off the
    /// visible screen or its bytes would reach past `byte_len`.
    pub fn pixel_offset(&self, x: usize, y: usize) -> Option<usize> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let offset = y
            .checked_mul(self.bytes_per_line)?
            .checked_add(x.checked_mul(self.bytes_per_pixel)?)?;
        (offset.checked_add(self.bytes_per_pixel)? <= self.byte_len).then_some(offset)
    }

    /// Bytes from the start to the end of the last visible line, never more
    /// than `byte_len` (what clearing the screen writes).
    pub fn visible_bytes(&self) -> usize {
        self.height.saturating_mul(self.bytes_per_line).min(self.byte_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 24-bit VESA mode 1366x768 with lines padded to 4 bytes: pitch 4100,
    /// which bootloader 0.11.17 reports as stride 1366 (4100 / 3, rounded
    /// down) and byte_len 768 * 4100.
    const W: usize = 1366;
    const H: usize = 768;
    const PITCH: usize = 4100;

    fn padded24() -> Layout {
        let byte_len = H * PITCH;
        Layout {
            width: W,
            height: H,
            bytes_per_line: bytes_per_line(H, PITCH / 3, 3, byte_len),
            bytes_per_pixel: 3,
            byte_len,
        }
    }

    #[test]
    fn padded_24bit_pitch_recovered_from_length() {
        assert_eq!(padded24().bytes_per_line, PITCH);
    }

    #[test]
    fn padded_24bit_pixel_offsets() {
        let fb = padded24();
        assert_eq!(fb.pixel_offset(0, 0), Some(0));
        assert_eq!(fb.pixel_offset(1, 0), Some(3));
        assert_eq!(fb.pixel_offset(W - 1, 0), Some((W - 1) * 3));
        // Each line starts a whole pitch after the one before, padding
        // included (stride times pixel size is 2 bytes short per line, so
        // line 1 would start inside line 0's padding, and drift further).
        assert_eq!(fb.pixel_offset(0, 1), Some(PITCH));
        assert_eq!(fb.pixel_offset(5, 7), Some(7 * PITCH + 15));
        // The last pixel ends inside the buffer, before the last padding.
        let last = fb.pixel_offset(W - 1, H - 1).unwrap();
        assert_eq!(last, (H - 1) * PITCH + (W - 1) * 3);
        assert!(last + 3 <= fb.byte_len);
        assert_eq!(fb.visible_bytes(), H * PITCH);
    }

    #[test]
    fn put_pixel_on_a_padded_24bit_buffer_touches_only_its_pixels() {
        // Draw every visible pixel into a buffer the size of the screen:
        // each byte written is a pixel byte, each padding byte stays.
        let fb = padded24();
        let mut mem = vec![0u8; fb.byte_len];
        for y in 0..H {
            for x in 0..W {
                let at = fb.pixel_offset(x, y).unwrap();
                assert!(
                    mem[at..at + 3].iter().all(|&b| b == 0),
                    "pixel ({x}, {y}) overlaps another"
                );
                mem[at..at + 3].copy_from_slice(&[1, 2, 3]);
            }
        }
        for (y, line) in mem.chunks(PITCH).enumerate() {
            assert!(line[..W * 3].chunks(3).all(|p| p == [1, 2, 3]), "line {y}");
            assert!(line[W * 3..].iter().all(|&b| b == 0), "padding of line {y}");
        }
    }

    #[test]
    fn whole_pixel_strides_are_kept() {
        // UEFI GOP: stride in whole pixels, byte_len the whole aperture
        // (here larger than the screen), so the length says nothing.
        assert_eq!(bytes_per_line(1080, 1920, 4, 16 << 20), 1920 * 4);
        // Exactly height * stride * size: the same either way.
        assert_eq!(bytes_per_line(768, 1024, 4, 768 * 1024 * 4), 4096);
        // A length that is not a whole number of lines, or one whose lines
        // are a pixel or more longer than the stride, is not a pitch.
        assert_eq!(bytes_per_line(768, 1024, 3, 768 * 3072 + 1), 3072);
        assert_eq!(bytes_per_line(768, 1024, 3, 768 * 3075), 3072);
        assert_eq!(bytes_per_line(0, 1024, 3, 5), 3072);
    }

    #[test]
    fn off_screen_and_past_the_end_are_refused() {
        let fb = padded24();
        assert_eq!(fb.pixel_offset(W, 0), None);
        assert_eq!(fb.pixel_offset(0, H), None);
        let short = Layout { byte_len: fb.byte_len - PITCH, ..fb };
        assert_eq!(short.pixel_offset(0, H - 1), None);
        let huge = Layout { bytes_per_line: usize::MAX, ..fb };
        assert_eq!(huge.pixel_offset(0, 2), None);
    }
}
