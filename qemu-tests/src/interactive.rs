//! Interactive QEMU sessions: talk to the kernel's shell instead of only
//! reading a test run.
//!
//! The serial port is QEMU's stdin/stdout (`-serial stdio`, both piped), so
//! [`Session::send`] types on the serial console and [`Session::expect`] waits
//! for text with a timeout. With [`Session::start`]'s `monitor` flag, a QMP
//! monitor listens on a unix socket: [`Session::sendkey`] presses keys on the
//! emulated PS/2 keyboard and [`Session::screendump`] captures the display
//! (parsed by [`image::Image`]).
//!
//! QEMU is killed when the session is dropped (also when a test panics), and
//! everything the guest printed is in `<log_dir>/<name>.log`. Each step
//! ([`Session::expect`], [`Session::command`], [`Session::type_keys`],
//! [`Session::screendump`], ...) and each [`Session::check`] is recorded as a
//! case, and the drop writes them as the session's results,
//! `<log_dir>/<name>.json` and `.xml` ([`crate::report::write_session`]);
//! a test that panics leaves a failed result.

pub mod image;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use image::Image;

use crate::qemu::{Config, Ending, Run};
use crate::report::{self, Checks};

/// The shell's prompt (`protocol::shell`).
pub use protocol::shell::PROMPT;
/// How much of the guest's output an error message quotes.
const TAIL: usize = 2000;
/// How long one QMP command may take.
const QMP_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed step of a session, with the context to understand it.
pub struct Error(String);

impl Error {
    fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Same as `Display`, so `.unwrap()` and `.expect()` print a readable message.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// One running QEMU with its serial console (and optionally a monitor).
pub struct Session {
    name: String,
    command_line: String,
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Vec<u8>>,
    reader: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
    /// Everything received so far, `\r` removed.
    out: String,
    /// Start of the part of `out` no `expect` has consumed yet.
    pos: usize,
    /// Undecoded tail of a UTF-8 sequence split across reads.
    partial: Vec<u8>,
    qmp: Option<Qmp>,
    qmp_path: Option<PathBuf>,
    log_path: Option<PathBuf>,
    start: Instant,
    /// Exit status once QEMU has exited (`None` inside: killed by a signal).
    exit: Option<Option<i32>>,
    /// What the session was started with, for its results.
    cfg: Config,
    /// The session's checks so far, written as its results on drop.
    checks: Checks,
}

impl Session {
    /// Starts QEMU as `cfg` describes (its `timeout` is not used: every wait
    /// has its own), with stdin piped to the serial port. With `monitor`, a
    /// QMP monitor is started on a unix socket and connected to.
    /// When QEMU cannot be started, the results say so as well (a failed
    /// `QEMU started` case).
    pub fn start(cfg: &Config, monitor: bool) -> Result<Self> {
        let mut started = false;
        Self::launch(cfg, monitor, &mut started).inspect_err(|e| {
            if !started {
                // No session to drop: write its (failed) results here.
                let mut checks = Checks::default();
                checks.record("QEMU started", Err(e.to_string()));
                let run = Run {
                    arch: cfg.arch,
                    lines: Vec::new(),
                    ending: Ending::Exited(None),
                    stderr: String::new(),
                    timeout: cfg.timeout,
                    elapsed: Duration::ZERO,
                    log_path: cfg.log_path(),
                };
                if let Err(w) = report::write_session(cfg, &run, &checks, false) {
                    eprintln!("[{}] cannot write the session's results: {w}", cfg.name);
                }
            }
        })
    }

    /// [`start`](Self::start); `started` once there is a session, whose drop
    /// writes the results.
    fn launch(cfg: &Config, monitor: bool, started: &mut bool) -> Result<Self> {
        if !cfg.image.is_file() {
            return Err(Error::new(format!(
                "image {} not found (run `make image`)",
                cfg.image.display()
            )));
        }
        let program = cfg.arch.qemu();
        let mut args = cfg.args()?;
        let qmp_path = monitor.then(|| socket_path(&cfg.name));
        if let Some(path) = &qmp_path {
            let _ = fs::remove_file(path);
            args.push("-qmp".into());
            args.push(format!("unix:{},server=on,wait=off", path.display()));
        }
        let command_line = format!("{program} {}", args.join(" "));
        // What the results name as the QEMU command: with the monitor too.
        let mut results_cfg = cfg.clone();
        if let Some(path) = &qmp_path {
            let qmp = format!("unix:{},server=on,wait=off", path.display());
            results_cfg.extra_args.extend(["-qmp".to_string(), qmp]);
        }
        let log_path = cfg.log_path();
        let log =
            match &log_path {
                Some(path) => {
                    if let Some(dir) = path.parent() {
                        fs::create_dir_all(dir)?;
                    }
                    Some(File::create(path).map_err(|e| {
                        Error::new(format!("cannot create {}: {e}", path.display()))
                    })?)
                }
                None => None,
            };
        let mut child = Command::new(program)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::new(format!("cannot start {program}: {e}")))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        let mut stderr_pipe = child.stderr.take().expect("piped");
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr_pipe.read_to_string(&mut s);
            s
        });
        let (tx, rx) = mpsc::channel();
        let verbose = cfg.verbose.then(|| cfg.name.clone());
        let reader = thread::spawn(move || read_serial(stdout, log, verbose, tx));
        let mut session = Self {
            name: cfg.name.clone(),
            command_line,
            child,
            stdin,
            rx,
            reader: Some(reader),
            stderr: Some(stderr),
            out: String::new(),
            pos: 0,
            partial: Vec::new(),
            qmp: None,
            qmp_path,
            log_path,
            start: Instant::now(),
            exit: None,
            cfg: results_cfg,
            checks: Checks::default(),
        };
        *started = true;
        if let Some(path) = session.qmp_path.clone() {
            let qmp = session.connect_qmp(&path);
            let qmp = session.record("QMP monitor connected", qmp)?;
            session.qmp = Some(qmp);
        }
        Ok(session)
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Everything the guest printed so far (`\r` removed).
    pub fn transcript(&self) -> &str {
        &self.out
    }

    /// Waits until `needle` appears in output not consumed yet; returns the
    /// output up to and including it and consumes that much.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let r = self.wait_for(&[needle], timeout).map(|(_, text)| text);
        self.record(&format!("expect {needle:?}"), r)
    }

    /// Records a check of the test's own (a case of the session's results)
    /// and returns `result` unchanged, e.g.
    /// `assert!(s.check("banner", ok, || why), ...)`: a failed check is
    /// recorded with `why()` as its reason.
    pub fn check(&mut self, what: &str, ok: bool, why: impl FnOnce() -> String) -> bool {
        self.checks.record(what, if ok { Ok(()) } else { Err(why()) });
        ok
    }

    /// The checks recorded so far.
    pub fn checks(&self) -> &Checks {
        &self.checks
    }

    /// Records a step's result as a case and passes it on.
    fn record<T>(&mut self, what: &str, r: Result<T>) -> Result<T> {
        let outcome = match &r {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        self.checks.record(what, outcome);
        r
    }

    /// Like [`expect`](Self::expect) for whichever needle appears first;
    /// returns its index and the consumed output.
    pub fn expect_any(&mut self, needles: &[&str], timeout: Duration) -> Result<(usize, String)> {
        let r = self.wait_for(needles, timeout);
        self.record(&format!("expect one of {needles:?}"), r)
    }

    /// [`expect_any`](Self::expect_any) without recording a case.
    fn wait_for(&mut self, needles: &[&str], timeout: Duration) -> Result<(usize, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let rest = &self.out[self.pos..];
            let found = needles
                .iter()
                .enumerate()
                .filter_map(|(i, n)| rest.find(n).map(|at| (at + n.len(), i)))
                .min();
            if let Some((end, i)) = found {
                let text = rest[..end].to_string();
                self.pos += end;
                return Ok((i, text));
            }
            match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(bytes) => self.take(&bytes),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.failure(&format!(
                        "timed out after {timeout:.0?} waiting for {needles:?}"
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.reap(Duration::from_secs(5));
                    let status = self.ending();
                    return Err(self
                        .failure(&format!("QEMU ended ({status}) while waiting for {needles:?}")));
                }
            }
        }
    }

    /// Writes raw bytes to the serial port.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| Error::new("serial input closed"))?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|e| Error::new(format!("cannot write to the serial port: {e}")))
    }

    /// Types `line` and Enter (`\r`, as a terminal sends it) on the serial port.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.send(format!("{line}\r").as_bytes())
    }

    /// Waits for the shell prompt.
    pub fn wait_prompt(&mut self, timeout: Duration) -> Result<String> {
        let r = self.wait_for(&[PROMPT], timeout).map(|(_, text)| text);
        self.record("shell prompt", r)
    }

    /// Runs one shell command over serial (the prompt must already be shown)
    /// and returns its output: the lines between the echoed command line and
    /// the next prompt.
    pub fn command(&mut self, line: &str, timeout: Duration) -> Result<String> {
        let r = self.send_line(line).and_then(|()| {
            let (_, text) = self.wait_for(&[&format!("\n{PROMPT}")], timeout)?;
            Ok(command_output(&text))
        });
        let shown: String = line.chars().take(40).collect();
        self.record(&format!("command {shown:?}"), r)
    }

    /// Presses and releases one key on the emulated keyboard (QEMU key names:
    /// `a`, `1`, `spc`, `ret`, `shift-a`, ...). Needs the monitor.
    pub fn sendkey(&mut self, key: &str) -> Result<()> {
        let reply = self.qmp()?.hmp(&format!("sendkey {key}"))?;
        if reply.is_empty() { Ok(()) } else { Err(Error::new(format!("sendkey {key}: {reply}"))) }
    }

    /// Types `text` on the emulated keyboard, one key per character, waiting
    /// after each for the guest to echo it on the serial console (so keys are
    /// never sent faster than the guest reads them). `\n` is Enter.
    pub fn type_keys(&mut self, text: &str, per_key: Duration) -> Result<()> {
        let r = self.type_keys_unrecorded(text, per_key);
        self.record(&format!("type {text:?}"), r)
    }

    fn type_keys_unrecorded(&mut self, text: &str, per_key: Duration) -> Result<()> {
        for c in text.chars() {
            let key =
                key_name(c).ok_or_else(|| Error::new(format!("no key for {c:?} in {text:?}")))?;
            self.sendkey(&key)?;
            let echo = c.to_string();
            self.wait_for(&[&echo], per_key)
                .map_err(|e| Error::new(format!("key `{key}` not echoed: {e}")))?;
        }
        Ok(())
    }

    /// Saves the display as PPM at `path` (QMP `screendump`) and parses it.
    pub fn screendump(&mut self, path: &Path) -> Result<Image> {
        let r = self.screendump_unrecorded(path);
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        self.record(&format!("screendump {file}"), r)
    }

    fn screendump_unrecorded(&mut self, path: &Path) -> Result<Image> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let _ = fs::remove_file(path);
        let abs = std::path::absolute(path)?;
        self.qmp()?.execute("screendump", Some(json!({ "filename": abs.to_string_lossy() })))?;
        let data =
            fs::read(&abs).map_err(|e| Error::new(format!("screendump {}: {e}", abs.display())))?;
        Image::parse_ppm(&data)
            .map_err(|e| Error::new(format!("screendump {}: {e}", abs.display())))
    }

    /// Waits for QEMU to exit by itself and returns its exit status (`None`
    /// if a signal ended it). Times out with an error (QEMU is then killed
    /// when the session is dropped).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>> {
        if !self.reap(timeout) {
            return Err(self.failure(&format!("QEMU still running {timeout:.0?} later")));
        }
        self.drain();
        Ok(self.exit.expect("reaped"))
    }

    fn qmp(&mut self) -> Result<&mut Qmp> {
        self.qmp.as_mut().ok_or_else(|| Error::new("session started without a monitor"))
    }

    fn connect_qmp(&mut self, path: &Path) -> Result<Qmp> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match UnixStream::connect(path) {
                Ok(stream) => return Qmp::handshake(stream),
                Err(e) => {
                    if self.reap(Duration::ZERO) {
                        let status = self.ending();
                        return Err(self.failure(&format!("QEMU ended ({status}) at startup")));
                    }
                    if Instant::now() >= deadline {
                        return Err(Error::new(format!(
                            "cannot connect to QMP at {}: {e}",
                            path.display()
                        )));
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// Appends received bytes to `out`.
    fn take(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.partial) {
            Ok(_) => self.partial.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.partial.len(),
        };
        let text = String::from_utf8_lossy(&self.partial[..valid]).replace('\r', "");
        self.out.push_str(&text);
        self.partial.drain(..valid);
    }

    /// Takes whatever output is already queued.
    fn drain(&mut self) {
        while let Ok(bytes) = self.rx.try_recv() {
            self.take(&bytes);
        }
    }

    /// Waits up to `timeout` for QEMU to exit; true if it has.
    fn reap(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.exit.is_some() {
                return true;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status.code());
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn ending(&self) -> String {
        match self.exit {
            Some(Some(s)) => format!("exit status {s}"),
            Some(None) => "killed by a signal".into(),
            None => "still running".into(),
        }
    }

    /// An error for `what` with the session's context: the last output, the
    /// log file, QEMU's stderr if it has ended.
    fn failure(&mut self, what: &str) -> Error {
        self.drain();
        let mut tail_start = self.out.len().saturating_sub(TAIL);
        while !self.out.is_char_boundary(tail_start) {
            tail_start += 1;
        }
        let mut msg = format!(
            "[{}] {what} ({:.1} s after start)\n---- last output (unconsumed part starts at >>>):\n",
            self.name,
            self.start.elapsed().as_secs_f64()
        );
        if self.pos >= tail_start {
            msg.push_str(&self.out[tail_start..self.pos]);
            msg.push_str(">>>");
            msg.push_str(&self.out[self.pos..]);
        } else {
            msg.push_str(&self.out[tail_start..]);
        }
        msg.push_str("\n----");
        if let Some(log) = &self.log_path {
            msg.push_str(&format!("\nfull log: {}", log.display()));
        }
        msg.push_str(&format!("\ncommand: {}", self.command_line));
        Error::new(msg)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // QMP first: dropping its socket would otherwise look like a hang-up.
        self.qmp = None;
        self.stdin = None;
        if !self.reap(Duration::ZERO) {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.exit = Some(status.code());
            }
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let stderr = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        if let Some(path) = &self.qmp_path {
            let _ = fs::remove_file(path);
        }
        if let Some(log) = &self.log_path
            && let Ok(mut f) = OpenOptions::new().append(true).open(log)
        {
            let _ = write!(
                f,
                "\n---- interactive session: {} after {:.1?}\ncommand: {}\n",
                self.ending(),
                self.start.elapsed(),
                self.command_line
            );
            if !stderr.is_empty() {
                let _ = write!(f, "qemu stderr:\n{stderr}");
            }
        }
        self.drain();
        let run = Run {
            arch: self.cfg.arch,
            lines: self.out.lines().map(str::to_string).collect(),
            ending: Ending::Exited(self.exit.flatten()),
            stderr,
            timeout: self.cfg.timeout,
            elapsed: self.start.elapsed(),
            log_path: self.log_path.clone(),
        };
        if let Err(e) = report::write_session(&self.cfg, &run, &self.checks, thread::panicking()) {
            eprintln!("[{}] cannot write the session's results: {e}", self.name);
        }
    }
}

/// Reader thread: serial output to the channel, the log file and (verbose) stderr.
fn read_serial(
    mut stdout: impl Read,
    mut log: Option<File>,
    verbose: Option<String>,
    tx: mpsc::Sender<Vec<u8>>,
) {
    let mut buf = [0u8; 4096];
    let mut line = Vec::new();
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let bytes = &buf[..n];
        if let Some(log) = log.as_mut() {
            let _ = log.write_all(bytes);
        }
        if let Some(name) = &verbose {
            for &b in bytes {
                if b == b'\n' {
                    eprintln!("[{name}] {}", String::from_utf8_lossy(&line).trim_end());
                    line.clear();
                } else {
                    line.push(b);
                }
            }
        }
        if tx.send(bytes.to_vec()).is_err() {
            break;
        }
    }
}

/// The output of a command from the text [`Session::command`] consumed: the
/// echoed line and the final prompt are dropped.
pub fn command_output(text: &str) -> String {
    let body = text.strip_suffix(PROMPT).unwrap_or(text);
    match body.split_once('\n') {
        Some((_echo, rest)) => rest.to_string(),
        None => String::new(),
    }
}

/// QEMU's `sendkey` name for the key that types `c` on a US keyboard.
pub fn key_name(c: char) -> Option<String> {
    let plain = match c {
        'a'..='z' | '0'..='9' => return Some(c.to_string()),
        'A'..='Z' => return Some(format!("shift-{}", c.to_ascii_lowercase())),
        ' ' => "spc",
        '\n' => "ret",
        '\x08' => "backspace",
        '-' => "minus",
        '=' => "equal",
        '.' => "dot",
        ',' => "comma",
        '/' => "slash",
        ';' => "semicolon",
        '\'' => "apostrophe",
        '[' => "bracket_left",
        ']' => "bracket_right",
        '\\' => "backslash",
        '`' => "grave_accent",
        '_' => "shift-minus",
        '+' => "shift-equal",
        ':' => "shift-semicolon",
        _ => return None,
    };
    Some(plain.to_string())
}

/// A fresh socket path in the temporary directory (short: unix socket paths
/// are limited to 108 bytes).
fn socket_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let short: String = name.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("qt-{}-{n}-{short}.qmp", std::process::id()))
}

/// A QMP request line: `{"execute": command}`, with `"arguments"` when
/// there are some.
fn qmp_request(command: &str, arguments: Option<Value>) -> String {
    let mut request = json!({ "execute": command });
    if let Some(arguments) = arguments {
        request["arguments"] = arguments;
    }
    request.to_string()
}

/// What one line from QMP says in answer to a command: `Some(Ok(value))`
/// for `{"return": value}`, `Some(Err(line))` for `{"error": ...}` or a
/// line that is not a JSON object, `None` for anything else (asynchronous
/// events, `{"event": ...}`).
fn qmp_reply(line: &str) -> Option<std::result::Result<Value, String>> {
    let Ok(Value::Object(mut reply)) = serde_json::from_str::<Value>(line) else {
        return Some(Err(format!("not a JSON object: {line}")));
    };
    if let Some(value) = reply.remove("return") {
        return Some(Ok(value));
    }
    reply.contains_key("error").then(|| Err(line.to_string()))
}

/// A QMP connection: one JSON object per line each way (serde_json);
/// asynchronous events are skipped.
struct Qmp {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Qmp {
    fn handshake(stream: UnixStream) -> Result<Self> {
        stream.set_read_timeout(Some(QMP_TIMEOUT))?;
        let mut qmp = Self { writer: stream.try_clone()?, reader: BufReader::new(stream) };
        let greeting = qmp.read_line()?;
        let is_greeting = serde_json::from_str::<Value>(&greeting)
            .is_ok_and(|g| g.get("QMP").is_some_and(Value::is_object));
        if !is_greeting {
            return Err(Error::new(format!("unexpected QMP greeting: {greeting}")));
        }
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err(Error::new("QMP connection closed")),
            Ok(_) => Ok(line.trim_end().to_string()),
            Err(e) => Err(Error::new(format!("reading QMP: {e}"))),
        }
    }

    /// Runs `command` with `arguments` (a JSON object) and returns the
    /// reply's `"return"` value.
    fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        writeln!(self.writer, "{}", qmp_request(command, arguments))
            .map_err(|e| Error::new(format!("QMP {command}: cannot send: {e}")))?;
        loop {
            let line = self.read_line().map_err(|e| Error::new(format!("QMP {command}: {e}")))?;
            match qmp_reply(&line) {
                Some(Ok(value)) => return Ok(value),
                Some(Err(e)) => return Err(Error::new(format!("QMP {command} failed: {e}"))),
                None => {}
            }
        }
    }

    /// Runs a human monitor command; returns its output (empty on success
    /// for most commands).
    fn hmp(&mut self, command_line: &str) -> Result<String> {
        let value =
            self.execute("human-monitor-command", Some(json!({ "command-line": command_line })))?;
        Ok(match value {
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
