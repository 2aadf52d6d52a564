//! The kernel binary.
//!
//! Boot flow: the architecture entry (`arch::<arch>::boot`) brings the CPU to a
//! sane state (console, descriptor tables, exception handlers), describes the
//! machine in an arch-neutral [`bootinfo::BootInfo`] and calls [`kernel_main`].
//! From there everything is shared: heap, memory manager, then the mode chosen
//! on the command line: the interactive shell (default), `ktest`, `bench` or
//! `unattended`.

#![no_std]
#![no_main]
#![cfg_attr(target_arch = "x86_64", feature(abi_x86_interrupt))]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

#[macro_use]
mod console;

mod arch;
mod bench;
mod bootinfo;
mod cmdline;
mod drivers;
mod fbcon;
mod heap;
mod ktest;
mod logger;
mod mm;
mod panic;
mod shell;
mod smp;
mod tests;
mod unattended;

use bootinfo::BootInfo;
use cmdline::Mode;

/// Version string printed in the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The refcount scheme this image was built with (a cargo feature of `mm`,
/// `make SCHEME=`): its `RefcountScheme::NAME` (docs/refcount.md, "Which
/// layout").
pub const REFCOUNT_SCHEME: &str = <::mm::DefaultScheme as ::mm::RefcountScheme>::NAME;

/// Arch-neutral kernel entry; called once by the boot CPU.
pub fn kernel_main(info: &'static BootInfo) -> ! {
    let entry = arch::read_cycles();
    logger::init();
    heap::init();
    if let Some(fb) = info.framebuffer {
        fbcon::init(fb);
    }
    banner(info);
    mm::init(info);
    smp::set_online(smp::this_cpu().index);
    let online = arch::start_secondary_cpus();
    println!("smp: {online} of {} CPUs online", smp::nr_possible());
    if let Some(note) = smp::beyond_limit_note() {
        println!("{note}");
    }
    mm::init_deferred();
    drivers::init();
    println!(
        "boot: {} ms from kernel entry to the mode",
        (arch::read_cycles() - entry) / arch::cycles_per_us().max(1) / 1000
    );

    let cmdline = cmdline::CmdLine::parse(info.cmdline);
    match cmdline.mode {
        Mode::Shell => shell::run(),
        Mode::Ktest => {
            let passed = ktest::run(&cmdline);
            arch::exit(if passed { arch::ExitStatus::Success } else { arch::ExitStatus::Failure })
        }
        Mode::Bench => {
            let passed = bench::run(&cmdline);
            arch::exit(if passed { arch::ExitStatus::Success } else { arch::ExitStatus::Failure })
        }
        Mode::Unattended => unattended::run(&cmdline),
        Mode::Unknown(mode) => {
            println!("unknown boot mode `{mode}`; starting the shell");
            shell::run()
        }
    }
}

fn banner(info: &BootInfo) {
    println!();
    println!("frozen-kernel {VERSION} ({}, refcount: {REFCOUNT_SCHEME})", arch::NAME);
    println!("cpu: {}, cycle counter {} MHz", arch::cpu_model(), arch::cycles_per_us());
    println!(
        "boot: {} firmware, {} MiB usable RAM in {} memory map regions",
        info.protocol,
        info.usable_bytes() >> 20,
        info.regions().len()
    );
    if let Some((w, h, cols, rows)) = fbcon::geometry() {
        println!("screen: {w}x{h} framebuffer, {cols}x{rows} text console");
    }
    if let Some(caching) = fbcon::caching() {
        println!("fbcon: framebuffer {caching}");
    }
    if !info.cmdline.is_empty() {
        match info.cmdline_source {
            "" => println!("cmdline: {}", info.cmdline),
            from => println!("cmdline: {} (from {from})", info.cmdline),
        }
    }
}
