//! Screendumps: QEMU writes binary PPM (P6); this parses it, classifies
//! pixels of the kernel's text console, and re-encodes as PNG (uncompressed
//! deflate, so no dependency) for people to look at.

use std::fmt;

/// An 8-bit RGB image, rows top to bottom.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Image({}x{})", self.width, self.height)
    }
}

/// What a pixel of the text console shows. The console draws glyphs as the
/// line colour scaled by glyph intensity on black, so the thresholds pick the
/// bright part of each glyph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Black,
    /// Bright green: KTAP `ok` lines and `PASS` ((0x40, 0xe0, 0x40) in the kernel).
    Green,
    /// Bright red: `not ok`, `FAIL`, panic and exception reports ((0xff, 0x50, 0x50)).
    Red,
    /// Anything else that is not black (white and grey text, glyph edges).
    Other,
}

/// Classifies one pixel.
pub fn classify((r, g, b): (u8, u8, u8)) -> Class {
    if g > 150 && r < 120 && b < 120 {
        Class::Green
    } else if r > 150 && g < 120 && b < 120 {
        Class::Red
    } else if r.max(g).max(b) > 0x20 {
        Class::Other
    } else {
        Class::Black
    }
}

/// Pixel counts of one text row (a band of `line_height` pixel rows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowStats {
    /// Non-black pixels (green and red included).
    pub lit: usize,
    pub green: usize,
    pub red: usize,
    /// Bright pixels with all three channels above 150 (white text).
    pub white: usize,
    /// Rightmost lit pixel + 1 (0 if none).
    pub right: usize,
}

impl Image {
    /// All black.
    pub fn blank(width: usize, height: usize) -> Self {
        Self { width, height, rgb: vec![0; width * height * 3] }
    }

    pub fn pixel(&self, x: usize, y: usize) -> (u8, u8, u8) {
        let i = (y * self.width + x) * 3;
        (self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
    }

    /// How many pixels are exactly `colour`.
    pub fn count_colour(&self, colour: (u8, u8, u8)) -> usize {
        let (r, g, b) = colour;
        self.rgb.as_chunks::<3>().0.iter().filter(|&&p| p == [r, g, b]).count()
    }

    pub fn set_pixel(&mut self, x: usize, y: usize, (r, g, b): (u8, u8, u8)) {
        let i = (y * self.width + x) * 3;
        self.rgb[i..i + 3].copy_from_slice(&[r, g, b]);
    }

    /// Parses binary PPM (`P6`), maxval 1..=255, with `#` comments in the header.
    pub fn parse_ppm(data: &[u8]) -> Result<Self, String> {
        let mut pos = 0;
        let mut fields = [0usize; 3];
        if data.get(..2) != Some(b"P6") {
            return Err("not a binary PPM (no `P6` magic)".into());
        }
        pos += 2;
        for (i, field) in fields.iter_mut().enumerate() {
            // Whitespace and comments before each number.
            loop {
                match data.get(pos) {
                    Some(c) if c.is_ascii_whitespace() => pos += 1,
                    Some(b'#') => {
                        while data.get(pos).is_some_and(|&c| c != b'\n') {
                            pos += 1;
                        }
                    }
                    _ => break,
                }
            }
            let start = pos;
            while data.get(pos).is_some_and(u8::is_ascii_digit) {
                pos += 1;
            }
            let text = std::str::from_utf8(&data[start..pos]).unwrap_or("");
            *field =
                text.parse().map_err(|_| format!("PPM header field {} is not a number", i + 1))?;
        }
        // Exactly one whitespace byte separates the header from the pixels.
        if !data.get(pos).is_some_and(u8::is_ascii_whitespace) {
            return Err("PPM header not followed by whitespace".into());
        }
        pos += 1;
        let [width, height, maxval] = fields;
        if maxval == 0 || maxval > 255 {
            return Err(format!("PPM maxval {maxval} unsupported (want 1..=255)"));
        }
        let len = width
            .checked_mul(height)
            .and_then(|n| n.checked_mul(3))
            .ok_or("PPM dimensions overflow")?;
        let pixels = &data[pos..];
        if pixels.len() < len {
            return Err(format!(
                "PPM truncated: {width}x{height} needs {len} bytes of pixels, file has {}",
                pixels.len()
            ));
        }
        let scale = |v: u8| (usize::from(v) * 255 / maxval) as u8;
        let rgb = if maxval == 255 {
            pixels[..len].to_vec()
        } else {
            pixels[..len].iter().map(|&v| scale(v)).collect()
        };
        Ok(Self { width, height, rgb })
    }

    pub fn to_ppm(&self) -> Vec<u8> {
        let mut out = format!("P6\n{} {}\n255\n", self.width, self.height).into_bytes();
        out.extend_from_slice(&self.rgb);
        out
    }

    /// PNG, 8-bit RGB, filter 0, deflate "stored" blocks (no compression:
    /// large but readable by every viewer, and no dependency).
    pub fn to_png(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(self.height * (self.width * 3 + 1));
        for row in self.rgb.chunks_exact(self.width * 3).take(self.height) {
            raw.push(0);
            raw.extend_from_slice(row);
        }
        let mut zlib = vec![0x78, 0x01];
        let mut blocks = raw.chunks(0xffff).peekable();
        if blocks.peek().is_none() {
            zlib.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
        }
        while let Some(block) = blocks.next() {
            zlib.push(u8::from(blocks.peek().is_none()));
            let len = block.len() as u16;
            zlib.extend_from_slice(&len.to_le_bytes());
            zlib.extend_from_slice(&(!len).to_le_bytes());
            zlib.extend_from_slice(block);
        }
        zlib.extend_from_slice(&adler32(&raw).to_be_bytes());

        let mut ihdr = Vec::with_capacity(13);
        ihdr.extend_from_slice(&(self.width as u32).to_be_bytes());
        ihdr.extend_from_slice(&(self.height as u32).to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        png_chunk(&mut out, b"IHDR", &ihdr);
        png_chunk(&mut out, b"IDAT", &zlib);
        png_chunk(&mut out, b"IEND", &[]);
        out
    }

    /// Per-row pixel counts of a text console whose rows start `margin`
    /// pixels from the top and are `line_height` pixels tall.
    pub fn text_rows(&self, margin: usize, line_height: usize) -> Vec<RowStats> {
        let rows = self.height.saturating_sub(margin) / line_height;
        (0..rows)
            .map(|row| {
                let mut s = RowStats::default();
                let y0 = margin + row * line_height;
                for y in y0..y0 + line_height {
                    for x in 0..self.width {
                        let p = self.pixel(x, y);
                        let class = classify(p);
                        if class == Class::Black {
                            continue;
                        }
                        s.lit += 1;
                        s.right = s.right.max(x + 1);
                        match class {
                            Class::Green => s.green += 1,
                            Class::Red => s.red += 1,
                            _ if p.0 > 150 && p.1 > 150 && p.2 > 150 => s.white += 1,
                            _ => {}
                        }
                    }
                }
                s
            })
            .collect()
    }
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (IEEE, reflected), as PNG chunks use.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Adler-32, the zlib stream checksum.
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}
