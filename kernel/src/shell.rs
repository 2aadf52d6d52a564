//! The interactive shell on the console (serial today; keyboard and screen
//! later). Default mode at boot, and what real hardware gets.

use alloc::string::{String, ToString};

use protocol::cmdline::{Mode, Parts, key};
use protocol::shell::PROMPT;

use crate::{arch, bootinfo, heap, ktest};

/// Longest accepted line; longer input is refused with a message.
pub const MAX_LINE: usize = 256;

struct Command {
    name: &'static str,
    help: &'static str,
    run: fn(args: &str),
}

static COMMANDS: &[Command] = &[
    Command { name: "help", help: "list commands", run: cmd_help },
    Command { name: "mem", help: "memory map from the firmware", run: cmd_mem },
    Command { name: "heap", help: "kernel heap usage", run: cmd_heap },
    Command {
        name: "meminfo",
        help: "memory accounting (total, free, reserved, memmap)",
        run: cmd_meminfo,
    },
    Command {
        name: "buddyinfo",
        help: "free blocks per order, like /proc/buddyinfo",
        run: cmd_buddyinfo,
    },
    Command { name: "cpus", help: "CPUs: hardware id, online, page counters", run: cmd_cpus },
    Command { name: "test", help: "run the in-kernel tests: test [suite,...]", run: cmd_test },
    Command { name: "bench", help: "run the benchmarks (tables on the console)", run: cmd_bench },
    Command {
        name: "stress",
        help: "run the SMP stress suites in a loop: stress [seconds]",
        run: cmd_stress,
    },
    Command {
        name: "delay",
        help: "busy-wait on the calibrated cycle counter: delay [ms] (default 1000)",
        run: cmd_delay,
    },
    Command { name: "reboot", help: "reset the machine", run: cmd_reboot },
    Command {
        name: "poweroff",
        help: "power off (ACPI S5 on PCs, PSCI on arm64)",
        run: cmd_poweroff,
    },
];

pub fn run() -> ! {
    println!("Type `help` for a list of commands.");
    let mut line = String::new();
    loop {
        print!("{PROMPT}");
        read_line(&mut line);
        execute(line.trim());
    }
}

/// Reads one line with echo and backspace. Over-long input is discarded and
/// reported instead of being cut and executed.
fn read_line(line: &mut String) {
    line.clear();
    let mut overflow = false;
    loop {
        let Some(byte) = crate::console::try_read_byte() else {
            core::hint::spin_loop();
            continue;
        };
        match byte {
            b'\r' | b'\n' => {
                println!();
                if overflow {
                    println!("error: line longer than {MAX_LINE} characters ignored");
                    line.clear();
                }
                return;
            }
            0x08 | 0x7f => {
                if line.pop().is_some() {
                    print!("\x08 \x08");
                }
            }
            0x20..=0x7e if line.len() < MAX_LINE => {
                line.push(byte as char);
                print!("{}", byte as char);
            }
            0x20..=0x7e => overflow = true,
            _ => {}
        }
    }
}

/// Runs one command line.
pub fn execute(line: &str) {
    if line.is_empty() {
        return;
    }
    let (name, args) = line.split_once(' ').unwrap_or((line, ""));
    match COMMANDS.iter().find(|c| c.name == name) {
        Some(cmd) => (cmd.run)(args.trim()),
        None => println!("error: unknown command `{name}`; type `help` for the list"),
    }
}

fn cmd_help(_: &str) {
    for c in COMMANDS {
        println!("  {:<10} {}", c.name, c.help);
    }
}

fn cmd_mem(_: &str) {
    bootinfo::print_memory_map(bootinfo::get());
}

fn cmd_heap(_: &str) {
    let s = heap::stats();
    println!("heap: {} KiB used of {} KiB in {} arenas", s.used >> 10, s.size >> 10, s.arenas);
}

fn cmd_meminfo(_: &str) {
    crate::mm::print_meminfo();
}

fn cmd_buddyinfo(_: &str) {
    println!("{}", crate::mm::zone().buddyinfo());
}

fn cmd_cpus(_: &str) {
    crate::smp::print_cpus();
}

fn cmd_test(args: &str) {
    let filter = [(key::KTEST_FILTER, args)];
    let options: &[(&str, &str)] = if args.is_empty() { &[] } else { &filter };
    let cmdline = Parts { mode: Mode::Ktest, options, words: &[] }.to_string();
    let passed = ktest::run(&crate::cmdline::CmdLine::parse(&cmdline));
    println!("{}", if passed { "PASS" } else { "FAIL" });
}

fn cmd_bench(_: &str) {
    let passed = crate::bench::run(&crate::cmdline::CmdLine::parse("bench"));
    println!("{}", if passed { "bench: all invariants held" } else { "bench: FAILED" });
}

fn cmd_stress(args: &str) {
    crate::tests::stress::run_for(args);
}

/// Waits `ms` milliseconds by the cycle counter, between two lines a host
/// can time: a wrong calibration shows up as a delay of the wrong length.
fn cmd_delay(args: &str) {
    let Ok(ms) = (if args.is_empty() { Ok(1000) } else { args.parse::<u64>() }) else {
        println!("delay: `{args}` is not a number of milliseconds");
        return;
    };
    println!("delay: start {ms} ms");
    let end = arch::read_cycles() + ms * 1000 * arch::cycles_per_us();
    while arch::read_cycles() < end {
        core::hint::spin_loop();
    }
    println!("delay: done");
}

fn cmd_reboot(_: &str) {
    println!("rebooting...");
    arch::reboot();
}

fn cmd_poweroff(_: &str) {
    println!("powering off...");
    arch::poweroff();
}
