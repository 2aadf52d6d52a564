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
