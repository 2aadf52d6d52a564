//! Framebuffer geometry from arbitrary firmware values: never panics, and a
//! pixel's bytes always lie inside the buffer and inside its own line.
//! `PROPTEST_CASES=N` runs more cases.

use hwparse::fb::{Layout, bytes_per_line};
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_geometry_never_panics(
        width in any::<usize>(), height in any::<usize>(), stride in any::<usize>(),
        bpp in any::<usize>(), byte_len in any::<usize>(), x in any::<usize>(), y in any::<usize>(),
    ) {
        let pitch = bytes_per_line(height, stride, bpp, byte_len);
        let fb = Layout { width, height, bytes_per_line: pitch, bytes_per_pixel: bpp, byte_len };
        if let Some(at) = fb.pixel_offset(x, y) {
            prop_assert!(x < width && y < height);
            prop_assert!(at + bpp <= byte_len);
        }
        prop_assert!(fb.visible_bytes() <= byte_len);
    }

    /// Screens the firmware could describe (pitch at least a line of
    /// pixels, buffer exactly `height` lines): every pixel is found, its
    /// bytes start `x * bpp` into line `y` and end before the next line.
    #[test]
    fn real_geometry_places_pixels_in_their_line(
        width in 1..4000usize, height in 1..3000usize, bpp in 1..5usize, pad in 0..64usize,
        fx in 0.0..1.0f64, fy in 0.0..1.0f64,
    ) {
        let pitch = width * bpp + pad;
        let byte_len = height * pitch;
        let fb = Layout {
            width,
            height,
            bytes_per_line: bytes_per_line(height, pitch / bpp, bpp, byte_len),
            bytes_per_pixel: bpp,
            byte_len,
        };
        prop_assert_eq!(fb.bytes_per_line, pitch);
        let (x, y) = ((fx * width as f64) as usize, (fy * height as f64) as usize);
        let at = fb.pixel_offset(x, y);
        prop_assert_eq!(at, Some(y * pitch + x * bpp));
        prop_assert!(x * bpp + bpp <= pitch);
    }
}
