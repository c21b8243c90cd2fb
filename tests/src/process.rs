//! [`ServerProcess`]: the real `otelite` command line as a child process, for what only a
//! process shows: signals, exit codes, recovery after SIGKILL, startup error messages.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary built from `src/bin/otelite-e2e.rs`, i.e. `otelite::cli::main`.
///
/// Cargo sets `CARGO_BIN_EXE_<name>` only while compiling integration tests, so tests pass it
/// in: `ServerProcess::spawn(env!("CARGO_BIN_EXE_otelite-e2e"), ...)`.
const READY_MARKER: &str = "otelite ready: ";

/// A running `otelite` process and the addresses it announced.
pub struct ServerProcess {
    child: Child,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub ui_addr: SocketAddr,
    output: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Spawns `binary --data <data_dir>` on port 0 for every listener and waits for its ready
    /// line. Panics with everything the process printed if it is not ready in time.
    pub fn spawn(binary: &str, data_dir: &Path) -> ServerProcess {
        ServerProcess::start(Command::new(binary), data_dir, &[])
    }

    /// Like [`ServerProcess::spawn`], with `args` added.
    pub fn spawn_with(binary: &str, data_dir: &Path, args: &[&str]) -> ServerProcess {
        ServerProcess::start(Command::new(binary), data_dir, args)
    }

    /// Like [`ServerProcess::spawn`], with `args` added and the process allowed at most
    /// `max_open_files` open files (`ulimit -n`), as on a small box or in a tight container.
    pub fn spawn_limited(
        binary: &str,
        data_dir: &Path,
        args: &[&str],
        max_open_files: u32,
    ) -> ServerProcess {
        let mut command = Command::new("sh");
        // `exec` keeps the pid, so signals reach otelite itself.
        command
            .args(["-c", "ulimit -n \"$1\" && shift && exec \"$@\"", "sh"])
            .arg(max_open_files.to_string())
            .arg(binary);
        ServerProcess::start(command, data_dir, args)
    }

    fn start(mut command: Command, data_dir: &Path, args: &[&str]) -> ServerProcess {
        let binary = format!("{:?}", command.get_program());
        command
            .arg("--data")
            .arg(data_dir)
            .args(["--grpc-port", "0", "--http-port", "0", "--ui-port", "0"])
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("OTELITE_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        // Both pipes are drained for the whole life of the process, or a chatty server would
        // block on a full pipe.
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        drain_lines(stdout, output.clone(), Some(ready_tx.clone()));
        drain_lines(stderr, output.clone(), Some(ready_tx));
        let line = match ready_rx.recv_timeout(crate::PROMPT) {
            Ok(line) => line,
            Err(_) => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "otelite did not print its ready line within {:?} (exit: {status:?}); it printed:\n{}",
                    crate::PROMPT,
                    output.lock().unwrap()
                );
            }
        };
        let (grpc_addr, http_addr, ui_addr) = parse_ready_line(&line)
            .unwrap_or_else(|| panic!("cannot read the addresses from the ready line {line:?}"));
        ServerProcess {
            child,
            grpc_addr,
            http_addr,
            ui_addr,
            output,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn otlp_http_url(&self, signal: crate::Signal) -> String {
        format!("http://{}/v1/{}", self.http_addr, signal.name())
    }

    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub fn ui_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.ui_addr)
    }

    /// False once the process has exited (crashed, or stopped by itself).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the process printed so far (stdout and stderr, interleaved by line).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// SIGKILL: no chance to flush anything. Waits until the process is gone.
    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the killed process is reaped");
    }

    /// SIGTERM, then waits up to `timeout` for the process to exit; SIGKILLs and panics if it
    /// does not.
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        send_signal(self.pid(), "TERM");
        match wait_timeout(&mut self.child, timeout) {
            Some(status) => status,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "otelite did not exit within {timeout:?} of SIGTERM; it printed:\n{}",
                    self.output()
                );
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a process that ran to its end printed, and how it ended.
#[derive(Debug)]
pub struct ProcessOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `binary args...` to its end (stdin closed, no `OTELITE_*` from the test's environment)
/// and returns what it printed; panics if it runs longer than [`crate::PROMPT`].
pub fn run_to_exit(binary: &str, args: &[&str]) -> ProcessOutput {
    let mut child = Command::new(binary)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("OTELITE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
    let stdout = read_all(child.stdout.take().expect("stdout is piped"));
    let stderr = read_all(child.stderr.take().expect("stderr is piped"));
    let Some(status) = wait_timeout(&mut child, crate::PROMPT) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{binary} {args:?} was still running after {:?}",
            crate::PROMPT
        );
    };
    ProcessOutput {
        status,
        stdout: strip_ansi(&stdout.join().expect("stdout reader")),
        stderr: strip_ansi(&stderr.join().expect("stderr reader")),
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn drain_lines(
    pipe: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    ready: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let line = strip_ansi(&line);
            {
                let mut output = output.lock().unwrap();
                output.push_str(&line);
                output.push('\n');
            }
            if let Some(ready) = &ready
                && line.contains(READY_MARKER)
            {
                let _ = ready.send(line);
            }
        }
    });
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a signal by name with `kill(1)`: the workspace forbids `unsafe`, so no `libc::kill`.
fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill(1) runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Removes ANSI escape sequences (colours), in case the log output is coloured.
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters... final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads `OTLP gRPC A, OTLP HTTP B, UI http://C` (or `https://C`) out of the ready line.
fn parse_ready_line(line: &str) -> Option<(SocketAddr, SocketAddr, SocketAddr)> {
    let after = |marker: &str, ends: &[char]| -> Option<SocketAddr> {
        let rest = &line[line.find(marker)? + marker.len()..];
        let end = rest.find(ends).unwrap_or(rest.len());
        rest[..end].trim().parse().ok()
    };
    Some((
        after("OTLP gRPC ", &[',', ' '])?,
        after("OTLP HTTP ", &[',', ' '])?,
        after("UI http://", &[',', ' ', '/']).or_else(|| after("UI https://", &[',', ' ', '/']))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ready_line_with_or_without_colours() {
        let line = "2026-01-01T00:00:00Z \u{1b}[32m INFO\u{1b}[0m otelite ready: OTLP gRPC 127.0.0.1:4317, OTLP HTTP 127.0.0.1:4318, UI http://127.0.0.1:16686 \u{1b}[3mversion\u{1b}[0m=0.1.0";
        let (grpc, http, ui) = parse_ready_line(&strip_ansi(line)).unwrap();
        assert_eq!(grpc.port(), 4317);
        assert_eq!(http.port(), 4318);
        assert_eq!(ui.port(), 16686);
        let tls = line.replace("UI http://", "UI https://");
        let (_, _, ui) = parse_ready_line(&strip_ansi(&tls)).unwrap();
        assert_eq!(ui.port(), 16686);
    }
}
