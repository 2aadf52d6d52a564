//! QEMU launcher: the one place the project's QEMU command line is built
//! ([`Config::args`]), for the test boots, the interactive test sessions and
//! `make run` / `make debug` (`qemu-runner --interactive`, which execs QEMU
//! with the console on the terminal, [`Serial::Terminal`]). [`run`] boots
//! once: it captures the serial port live, keeps a log file, and kills QEMU
//! on timeout.
//!
//! Serial output goes to QEMU's stdout (`-serial stdio`); a reader thread feeds
//! lines to the main loop so the timeout is enforced even if the guest goes
//! silent. QEMU's own stderr (bad arguments, missing files) is kept separately.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, LineWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use protocol::exit::{ExitStatus, isa_debug_exit};
use protocol::{cmdline, fatal};

/// OVMF from Debian's `ovmf` package, mapped as two pflash devices (x86_64
/// UEFI boots). The only place the firmware's path is written in the build
/// (scripts/setup.sh checks that the package put it there).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// Opened with `snapshot=on`, so the shared file is never written (checked on QEMU 7.2).
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// How long QEMU may keep running after the kernel printed a fatal report:
/// the kernel must exit by itself, this only avoids waiting for the full timeout.
pub const FATAL_GRACE: Duration = Duration::from_secs(10);

/// The guest's architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// A PC (QEMU's default machine): the disk image as an IDE disk (or a USB
    /// stick), the command line through fw_cfg, the exit status through
    /// isa-debug-exit.
    X86_64,
    /// QEMU `virt` (`-cpu max` unless [`Config::cpu`] says otherwise): the
    /// arm64 Image with `-kernel`, the command line with `-append`, the exit
    /// status through semihosting.
    Aarch64,
}

impl Arch {
    /// `x86_64` or `aarch64` (as [`fmt::Display`] writes them).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "x86_64" => Some(Self::X86_64),
            "aarch64" => Some(Self::Aarch64),
            _ => None,
        }
    }

    /// QEMU's exit status when the kernel reports success:
    /// `protocol::exit` (33 on x86_64 through isa-debug-exit, 0 on aarch64
    /// through semihosting).
    pub fn success_status(self) -> i32 {
        match self {
            Self::X86_64 => ExitStatus::Success.x86_64_status(),
            Self::Aarch64 => ExitStatus::Success.aarch64_status(),
        }
    }

    /// What the kernel reported with QEMU exit status `status`, if it was the
    /// kernel's exit (`protocol::exit`).
    pub fn exit_status(self, status: i32) -> Option<ExitStatus> {
        match self {
            Self::X86_64 => ExitStatus::from_x86_64_status(status),
            Self::Aarch64 => ExitStatus::from_aarch64_status(status),
        }
    }

    /// The QEMU system emulator for this architecture.
    pub fn qemu(self) -> &'static str {
        match self {
            Self::X86_64 => "qemu-system-x86_64",
            Self::Aarch64 => "qemu-system-aarch64",
        }
    }

    /// Whether this is the host's own architecture: only then can KVM run it.
    pub fn is_host(self) -> bool {
        Self::parse(std::env::consts::ARCH) == Some(self)
    }
}

/// Which aarch64 machine QEMU emulates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum A64Machine {
    /// QEMU `virt` (its own DTB, PSCI, a PL011 on the first serial port).
    #[default]
    Virt,
    /// QEMU `raspi4b`: a Raspberry Pi 4 Model B (4 Cortex-A72, exactly 2 GiB,
    /// GIC-400, spin-table CPUs, VideoCore mailbox framebuffer) booted with
    /// this device tree (`-dtb`; `make rpi4-dtb` builds the board's own).
    /// The console is the UART the DTB's `stdout-path` names: with
    /// [`PiUart::Mini`] (the Pi 4's DTB) QEMU's second serial port, so the
    /// first (the PL011) is `null`.
    Raspi4b { dtb: PathBuf, console: PiUart },
}

/// The Raspberry Pi UART the kernel's console is on (what the DTB's
/// `/chosen/stdout-path` names): QEMU connects `-serial` ports in order,
/// PL011 (UART0) first, mini UART second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiUart {
    /// UART0, the PL011 (QEMU's first serial port).
    Pl011,
    /// UART1, the mini UART (QEMU's second serial port).
    Mini,
}

/// The x86_64 firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    /// SeaBIOS, QEMU's default: `bios.img`.
    Bios,
    /// OVMF ([`OVMF_CODE`], [`OVMF_VARS`]): `uefi.img`.
    Uefi,
}

/// Where the guest's serial console goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Serial {
    /// `-serial stdio -monitor none`: QEMU's stdin and stdout, for the runner
    /// to read (and, in interactive sessions, to type into).
    #[default]
    Captured,
    /// `-serial mon:stdio`: the user's terminal, with QEMU's monitor
    /// multiplexed on it (Ctrl-A C; Ctrl-A X quits): `make run`.
    Terminal,
    /// `-serial none`: no COM1 at all, like most laptops. The guest's output
    /// is on the screen only; a run is judged by its exit status and
    /// screendumps.
    None,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        })
    }
}

impl fmt::Display for Boot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bios => "bios",
            Self::Uefi => "uefi",
        })
    }
}

impl Boot {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bios" => Some(Self::Bios),
            "uefi" => Some(Self::Uefi),
            _ => None,
        }
    }
}

/// One boot. Build with [`Config::new`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct Config {
    pub arch: Arch,
    pub boot: Boot,
    /// Disk image (x86_64) or kernel image (aarch64 `-kernel`).
    pub image: PathBuf,
    /// Kernel command line; empty means none (the kernel starts its shell).
    pub cmdline: String,
    pub smp: u32,
    pub memory: String,
    pub timeout: Duration,
    /// Appended after the generated arguments.
    pub extra_args: Vec<String>,
    /// x86_64: attach the image as USB mass storage on its own xHCI
    /// controller (`qemu-xhci` + `usb-storage`) instead of as an IDE disk,
    /// like a PC booting from a USB stick.
    pub usb_disk: bool,
    /// `-accel kvm` (with `-cpu host` unless [`cpu`](Self::cpu) is set)
    /// instead of multi-threaded TCG; only for a guest of the host's own
    /// architecture ([`Arch::is_host`]), any other runs under TCG.
    pub kvm: bool,
    /// QEMU's `-cpu` model; `None`: QEMU's default on x86_64 (`host` under
    /// KVM), `max` on aarch64 `virt`, the board's own CPU on `raspi4b`.
    pub cpu: Option<String>,
    /// The aarch64 machine (`virt` unless set; ignored on x86_64).
    pub a64_machine: A64Machine,
    /// Where the serial console goes (default [`Serial::Captured`]).
    pub serial: Serial,
    /// Start halted with a gdb stub on TCP port 1234 (`-s -S`): `make debug`.
    pub gdb: bool,
    /// Echo serial lines to stderr as they arrive.
    pub verbose: bool,
    /// Log file name (without `.log`) and the prefix of echoed lines.
    pub name: String,
    /// Where `<name>.log` is written, with the results `<name>.json` and
    /// `<name>.xml` (JUnit) next to it; `None` for no files.
    pub log_dir: Option<PathBuf>,
    /// The boot is meant to fail (an injected failure). Judging is the same;
    /// the JSON and JUnit results record it, so `make test`'s summary lists
    /// its failures as expected rather than as regressions.
    pub expect_fail: bool,
}

impl Config {
    /// Defaults: x86_64, BIOS, 4 CPUs, 1G, 120 s; `KVM=1` and `VERBOSE=1` in
    /// the environment turn on KVM and echoing.
    pub fn new(image: impl Into<PathBuf>) -> Self {
        let image = image.into();
        let name = image.file_stem().map_or("qemu".into(), |s| s.to_string_lossy().into_owned());
        let env_on = |k: &str| std::env::var(k).is_ok_and(|v| v == "1");
        Self {
            arch: Arch::X86_64,
            boot: Boot::Bios,
            image,
            cmdline: String::new(),
            smp: 4,
            memory: "1G".into(),
            timeout: Duration::from_secs(120),
            extra_args: Vec::new(),
            usb_disk: false,
            kvm: env_on("KVM"),
            cpu: None,
            a64_machine: A64Machine::Virt,
            serial: Serial::Captured,
            gdb: false,
            verbose: env_on("VERBOSE"),
            name,
            log_dir: None,
            expect_fail: false,
        }
    }

    /// A Raspberry Pi 4 boot of the arm64 Image `image` with `dtb`, its
    /// console on `console`: aarch64, `raspi4b`, 4 CPUs and 2 GiB (the only
    /// shape QEMU's model has).
    pub fn raspi4b(image: impl Into<PathBuf>, dtb: impl Into<PathBuf>, console: PiUart) -> Self {
        let mut c = Self::new(image);
        c.arch = Arch::Aarch64;
        c.a64_machine = A64Machine::Raspi4b { dtb: dtb.into(), console };
        c.smp = 4;
        c.memory = "2G".into();
        c
    }

    /// QEMU's arguments (without the program name, [`Arch::qemu`]).
    ///
    /// # Errors
    /// `InvalidInput` for a configuration QEMU cannot boot: aarch64 with
    /// UEFI, or a command line `protocol::cmdline::check` refuses (longer
    /// than the kernel keeps, not printable ASCII).
    pub fn args(&self) -> io::Result<Vec<String>> {
        let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
        if !self.cmdline.is_empty() {
            cmdline::check(&self.cmdline).map_err(|e| invalid(format!("the command line {e}")))?;
        }
        let image = self.image.display().to_string();
        let kvm = self.kvm && self.arch.is_host();
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        push(&["-accel", if kvm { "kvm" } else { "tcg,thread=multi" }]);
        let cpu = match (self.arch, &self.cpu) {
            (_, Some(cpu)) => Some(cpu.as_str()),
            (_, None) if kvm => Some("host"),
            (Arch::X86_64, None) => None,
            (Arch::Aarch64, None) => Some("max"),
        };
        match self.arch {
            Arch::X86_64 if self.usb_disk => {
                push(&[
                    "-device",
                    "qemu-xhci,id=usbstick-xhci",
                    "-drive",
                    &format!(
                        "if=none,id=usbstick,format=raw,file={},snapshot=on",
                        image.replace(',', ",,")
                    ),
                    "-device",
                    "usb-storage,bus=usbstick-xhci.0,drive=usbstick",
                ]);
            }
            Arch::X86_64 => {
                if let Some(cpu) = cpu {
                    push(&["-cpu", cpu]);
                }
                // A `,` inside a QEMU option value is written `,,`.
                push(&[
                    "-drive",
                    &format!("format=raw,file={},snapshot=on", image.replace(',', ",,")),
                ]);
            }
            Arch::Aarch64 => {
                if self.boot == Boot::Uefi {
                    return Err(invalid("aarch64 UEFI boot is not supported yet".into()));
                }
                match &self.a64_machine {
                    A64Machine::Virt => {
                        let cpu = cpu.unwrap_or("max");
                        push(&["-M", "virt", "-cpu", cpu, "-kernel", &image, "-semihosting"]);
                    }
                    A64Machine::Raspi4b { dtb, .. } => {
                        push(&["-M", "raspi4b"]);
                        if let Some(cpu) = &self.cpu {
                            push(&["-cpu", cpu]);
                        }
                        let dtb = dtb.display().to_string();
                        push(&["-kernel", &image, "-dtb", &dtb, "-semihosting"]);
                    }
                }
            }
        }
        let serial = match self.serial {
            Serial::Captured => "stdio",
            Serial::Terminal => "mon:stdio",
            Serial::None => "none",
        };
        if self.arch == Arch::Aarch64
            && matches!(self.a64_machine, A64Machine::Raspi4b { console: PiUart::Mini, .. })
        {
            // The PL011 comes first; the console is the second port.
            push(&["-serial", "null"]);
        }
        push(&["-serial", serial, "-display", "none", "-no-reboot"]);
        if self.arch == Arch::X86_64 {
            push(&["-device", isa_debug_exit::DEVICE]);
        }
        push(&["-smp", &self.smp.to_string(), "-m", &self.memory]);
        if self.serial != Serial::Terminal {
            push(&["-monitor", "none"]);
        }
        if !self.cmdline.is_empty() {
            match self.arch {
                Arch::X86_64 => push(&[
                    "-fw_cfg",
                    &format!(
                        "name={},string={}",
                        cmdline::FW_CFG_FILE,
                        self.cmdline.replace(',', ",,")
                    ),
                ]),
                Arch::Aarch64 => push(&["-append", &self.cmdline]),
            }
        }
        if self.boot == Boot::Uefi {
            push(&["-drive", &format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}")]);
            push(&["-drive", &format!("if=pflash,format=raw,snapshot=on,file={OVMF_VARS}")]);
        }
        if self.gdb {
            push(&["-s", "-S"]);
        }
        a.extend(self.extra_args.iter().cloned());
        Ok(a)
    }

    /// The full command, shell-quoted so it can be pasted to reproduce a run.
    pub fn command_line(&self) -> io::Result<String> {
        let quote = |a: &String| {
            let plain = a.chars().all(|c| c.is_ascii_alphanumeric() || "-_=,./:+@%".contains(c));
            if plain { a.clone() } else { format!("'{}'", a.replace('\'', r"'\''")) }
        };
        let args: Vec<String> = self.args()?.iter().map(quote).collect();
        Ok(format!("{} {}", self.arch.qemu(), args.join(" ")))
    }

    pub fn log_path(&self) -> Option<PathBuf> {
        self.result_path("log")
    }

    /// `<log_dir>/<name>.<ext>`, e.g. `json` or `xml` for the results.
    pub fn result_path(&self, ext: &str) -> Option<PathBuf> {
        self.log_dir.as_ref().map(|d| d.join(format!("{}.{ext}", self.name)))
    }
}

/// How QEMU ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exit status; `None` if QEMU died from a signal.
    Exited(Option<i32>),
    /// Killed at the configured timeout.
    TimedOut,
    /// Killed: still running [`FATAL_GRACE`] after a panic/exception report.
    NoExitAfterFatal,
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(Some(s)) => write!(f, "exit status {s}"),
            Self::Exited(None) => write!(f, "killed by a signal"),
            Self::TimedOut => write!(f, "timed out"),
            Self::NoExitAfterFatal => write!(f, "killed after a fatal report"),
        }
    }
}

/// What one boot produced.
#[derive(Debug, Clone)]
pub struct Run {
    pub arch: Arch,
    /// Serial output, one entry per line, as received (may contain `\r`).
    pub lines: Vec<String>,
    pub ending: Ending,
    /// QEMU's own stderr.
    pub stderr: String,
    pub timeout: Duration,
    pub elapsed: Duration,
    pub log_path: Option<PathBuf>,
}

/// Boots once and waits for QEMU to end (or kills it).
pub fn run(cfg: &Config) -> io::Result<Run> {
    let args = cfg.args()?;
    if !cfg.image.is_file() {
        let msg = format!("image {} not found (run `make image`)", cfg.image.display());
        return Err(io::Error::new(io::ErrorKind::NotFound, msg));
    }
    let mut log = open_log(cfg)?;
    let start = Instant::now();
    let mut child = Command::new(cfg.arch.qemu())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", cfg.arch.qemu())))?;
    let stdout = child.stdout.take().expect("piped");
    let mut stderr_pipe = child.stderr.take().expect("piped");
    let stderr_thread = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        while matches!(r.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf);
            if tx.send(line.trim_end_matches('\n').to_string()).is_err() {
                break;
            }
            buf.clear();
        }
    });

    let mut lines = Vec::new();
    let mut deadline = start + cfg.timeout;
    let mut fatal_seen = false;
    let mut cut_short = false;
    let mut take = |line: String, lines: &mut Vec<String>| {
        if cfg.verbose {
            eprintln!("[{}] {line}", cfg.name);
        }
        if let Some(log) = log.as_mut() {
            let _ = writeln!(log, "{line}");
        }
        lines.push(line);
    };
    let ending = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if !fatal_seen && fatal::marker_in(&line).is_some() {
                    fatal_seen = true;
                    if Instant::now() + FATAL_GRACE < deadline {
                        deadline = Instant::now() + FATAL_GRACE;
                        cut_short = true;
                    }
                }
                take(line, &mut lines);
            }
            Err(RecvTimeoutError::Timeout) => break None,
            // Stdout closed: QEMU is exiting.
            Err(RecvTimeoutError::Disconnected) => break wait_until(&mut child, deadline)?,
        }
    };
    let ending = match ending {
        Some(status) => Ending::Exited(status),
        None => {
            // Kill and reap; the reader then sees EOF.
            let _ = child.kill();
            child.wait()?;
            if cut_short { Ending::NoExitAfterFatal } else { Ending::TimedOut }
        }
    };
    let _ = reader.join();
    for line in rx.try_iter() {
        take(line, &mut lines);
    }
    let stderr = stderr_thread.join().unwrap_or_default();
    let elapsed = start.elapsed();
    if let Some(log) = log.as_mut() {
        let cmd = cfg.command_line()?;
        let _ = write!(log, "---- qemu-runner: {ending} after {elapsed:.1?}\ncommand: {cmd}\n");
        if !stderr.is_empty() {
            let _ = write!(log, "qemu stderr:\n{stderr}");
        }
    }
    Ok(Run {
        arch: cfg.arch,
        lines,
        ending,
        stderr,
        timeout: cfg.timeout,
        elapsed,
        log_path: cfg.log_path(),
    })
}

/// Waits for the exit status until `deadline`; `None` if it passed.
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<Option<i32>>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status.code()));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn open_log(cfg: &Config) -> io::Result<Option<LineWriter<File>>> {
    let Some(path) = cfg.log_path() else {
        return Ok(None);
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = File::create(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))?;
    Ok(Some(LineWriter::new(file)))
}

#[cfg(test)]
mod tests;
