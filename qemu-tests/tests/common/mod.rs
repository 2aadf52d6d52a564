//! Helpers shared by the QEMU test binaries (`mod common;` in each): where
//! the workspace and the logs are, and a limit on concurrent QEMUs.
//!
//! Each test binary uses only some of these, hence the `dead_code` allow.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use qemu_tests::Boot;

/// The workspace root (images under `target/image/`, logs under
/// `target/qemu-logs/`), from this crate's manifest directory.
pub fn workspace() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().expect("qemu-tests sits in the workspace").to_path_buf()
}

/// Where every boot's serial log and results (`NAME.log/.json/.xml`) go.
pub fn log_dir() -> PathBuf {
    workspace().join("target/qemu-logs")
}

/// QEMUs one test binary runs at once: the project's machines have 2 cores,
/// and TCG vCPUs beyond them only stretch every boot towards its timeout.
pub const MAX_BOOTS: usize = 2;
static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// Holds one of the [`MAX_BOOTS`] slots until dropped.
pub struct Slot;

impl Slot {
    /// Waits for a free slot and takes it.
    pub fn take() -> Self {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_BOOTS {
            n = FREED.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        FREED.notify_one();
    }
}

static ONE_QEMU: Mutex<()> = Mutex::new(());

/// Held while an interactive QEMU runs (one at a time: they drive a monitor
/// and read the screen); a panicking test must not block the others.
pub fn one_qemu() -> MutexGuard<'static, ()> {
    ONE_QEMU.lock().unwrap_or_else(|e| e.into_inner())
}

/// The x86_64 image `make image` built for `boot` (`IMAGE_DIR` overrides the
/// directory).
///
/// # Panics
/// When the image is missing.
pub fn x86_image(boot: Boot) -> PathBuf {
    let dir = std::env::var_os("IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/image/x86_64"));
    let path = dir.join(format!("{boot}.img"));
    assert!(
        path.is_file(),
        "{} not found: run `make image` first (or set IMAGE_DIR)",
        path.display()
    );
    path
}

/// fbcon's banner box colours, as a screendump shows them.
pub const GREEN: (u8, u8, u8) = (0x40, 0xe0, 0x40);
/// See [`GREEN`].
pub const RED: (u8, u8, u8) = (0xff, 0x50, 0x50);

/// Screendumps the session's screen to `target/qemu-logs/STEM.ppm` (and a
/// PNG beside it) and asserts the unattended mode's PASS screen: a big green
/// box (more than 5% of the pixels: it is about half the screen wide and a
/// third tall, minus its letters) and no red at all.
pub fn assert_pass_screen(s: &mut qemu_tests::interactive::Session, stem: &str) {
    std::thread::sleep(std::time::Duration::from_millis(500));
    let ppm = log_dir().join(format!("{stem}.ppm"));
    let img = s.screendump(&ppm).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(log_dir().join(format!("{stem}.png")), img.to_png()).expect("PNG");
    let (green, red) = (img.count_colour(GREEN), img.count_colour(RED));
    let share = green as f64 / (img.width * img.height) as f64;
    println!("screendump {}: {:.1}% banner green, {red} red pixels", ppm.display(), share * 100.0);
    let why =
        || format!("no big green PASS box on screen ({:.2}%): {}", share * 100.0, ppm.display());
    assert!(s.check("green PASS box on screen", share > 0.05, why), "{}", why());
    let why = || format!("{red} red pixels on a PASS screen: {}", ppm.display());
    assert!(s.check("no red on screen", red == 0, why), "{}", why());
}
