//! `log` backend: every record goes to the console as `[LEVEL target] msg`.
//!
//! The mm crate reports bad pages through `log::error!`, so this is how its
//! reports reach the serial port (and the test runner's log). While ktest
//! runs, the console turns each record into a KTAP diagnostic
//! (`    # [ERROR mm::buddy::free] BUG: Bad page state: ...`, see the console's
//! "KTAP mode"), so log output never breaks the strict KTAP stream.

use log::{LevelFilter, Log, Metadata, Record};

struct ConsoleLogger;

impl Log for ConsoleLogger {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        println!("[{:<5} {}] {}", record.level(), record.target(), record.args());
    }

    fn flush(&self) {}
}

static LOGGER: ConsoleLogger = ConsoleLogger;

pub fn init() {
    // set_logger fails only if called twice; the first logger stays, which is fine.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}
