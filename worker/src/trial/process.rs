//! The trial's process: started in a process group of its own, its output
//! read by two small tasks, signalled as a group, and killed as a group
//! whenever it is dropped.
//!
//! - The command runs with `stdin` closed and `stdout`/`stderr` piped. Its
//!   process group id is its pid, so SIGTERM and SIGKILL reach the
//!   children it starts too (a data loader's workers, a shell's commands);
//!   a grandchild that leaves the group (`setsid`) is out of reach.
//! - On Linux the command also gets SIGKILL when the worker dies without
//!   cleaning up (`kill -9`, an OOM kill): `PR_SET_PDEATHSIG`.
//! - `stdout` lines go to the supervisor through a channel; `stderr` lines
//!   are logged as they come and the last ones kept ([`Tail`]) for the
//!   failure reason. Lines are cut at [`MAX_LINE`] bytes; the rest of an
//!   overlong line is dropped.
//! - Dropping a [`TrialProcess`] (every exit path: the end of a trial, an
//!   error, a cancelled job) sends SIGKILL to the group, and tokio's
//!   `kill_on_drop` kills and reaps the leader.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nas_domain::{JobId, TrialCommand};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::{Error, Result};

/// The environment variable holding the path of the job file.
pub const JOB_FILE_VARIABLE: &str = "NAS_TRIAL_JOB";
/// The longest output line kept, in bytes.
pub const MAX_LINE: usize = 64 * 1024;
/// Lines of standard error kept for a failure's reason.
pub const TAIL_LINES: usize = 20;
/// Bytes of standard error kept for a failure's reason.
pub const TAIL_BYTES: usize = 2048;

/// A running trial command (see the module docs).
pub(super) struct TrialProcess {
    child: Child,
    group: ProcessGroup,
    stdout: mpsc::Receiver<String>,
    tail: Arc<Mutex<Tail>>,
    readers: JoinSet<()>,
}

impl TrialProcess {
    /// Starts `trial` with the job file's path in [`JOB_FILE_VARIABLE`].
    pub(super) fn spawn(trial: &TrialCommand, job_file: &Path, job_id: JobId) -> Result<Self> {
        let program = trial.command.first().map(String::as_str).unwrap_or_default();
        let mut command = Command::new(program);
        command
            .args(trial.command.iter().skip(1))
            .env(JOB_FILE_VARIABLE, job_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        die_with_worker(&mut command);
        let spawn_error = |source| Error::TrialSpawn {
            program: program.to_owned(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        let pid = child
            .id()
            .ok_or_else(|| spawn_error(io::Error::other("exited at once")))?;
        let group = ProcessGroup {
            id: i32::try_from(pid).unwrap_or(0),
            killed: false,
        };
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(spawn_error(io::Error::other("its output pipes are missing")));
        };
        let (sender, receiver) = mpsc::channel(256);
        let tail = Arc::new(Mutex::new(Tail::default()));
        let mut readers = JoinSet::new();
        readers.spawn(forward_stdout(BufReader::new(stdout), sender));
        readers.spawn(log_stderr(BufReader::new(stderr), tail.clone(), job_id));
        tracing::debug!(%job_id, pid, "trial command started");
        Ok(TrialProcess {
            child,
            group,
            stdout: receiver,
            tail,
            readers,
        })
    }

    /// The next line of standard output; `None` once it is closed.
    pub(super) async fn next_line(&mut self) -> Option<String> {
        self.stdout.recv().await
    }

    /// The next line of standard output (while `read_stdout`) or the
    /// command's exit, whichever comes first (cancel-safe).
    pub(super) async fn next_event(&mut self, read_stdout: bool) -> Event {
        tokio::select! {
            line = self.stdout.recv(), if read_stdout => line.map_or(Event::StdoutClosed, Event::Line),
            status = self.child.wait() => Event::Exited(status),
        }
    }

    /// The command's exit status within `limit`, if it exits.
    pub(super) async fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(limit, self.child.wait()).await.ok()?.ok()
    }

    /// SIGTERM to the group, up to `grace` for the command to exit, then
    /// SIGKILL to the group; returns the command's status when it exited.
    pub(super) async fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.group.signal(libc::SIGTERM);
        let exited = self.wait_for(grace).await;
        self.kill().await;
        exited.or_else(|| self.child.try_wait().ok().flatten())
    }

    /// SIGKILL to the group (whatever is left of it) and reaps the command.
    pub(super) async fn kill(&mut self) {
        self.group.kill();
        let _ = self.child.kill().await;
    }

    /// The kept end of standard error, once the group is gone (waits a
    /// moment for the reader to take in the last lines).
    pub(super) async fn stderr_tail(&mut self) -> String {
        let drained = async { while self.readers.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(1), drained).await;
        self.tail.lock().map(|tail| tail.text()).unwrap_or_default()
    }
}

/// What the running command did next.
pub(super) enum Event {
    /// A line of standard output.
    Line(String),
    /// Standard output closed.
    StdoutClosed,
    /// The command exited (or waiting for it failed).
    Exited(io::Result<ExitStatus>),
}

/// A process group, killed when dropped unless killed before.
struct ProcessGroup {
    id: i32,
    killed: bool,
}

impl ProcessGroup {
    /// SIGKILL to the group, once: after the leader is reaped its id may
    /// name another group some day.
    fn kill(&mut self) {
        if !self.killed {
            self.signal(libc::SIGKILL);
            self.killed = true;
        }
    }

    /// Sends `signal` to every process of the group; a group that is gone
    /// already is not an error.
    fn signal(&self, signal: i32) {
        if let Err(error) = signal_group(self.id, signal)
            && error.raw_os_error() != Some(libc::ESRCH)
        {
            tracing::warn!(group = self.id, signal, %error, "cannot signal the trial's process group");
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `kill(-group, signal)`.
#[allow(unsafe_code)]
fn signal_group(group: i32, signal: i32) -> io::Result<()> {
    if group <= 1 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill(2) takes two integers and touches no memory of this
    // process; a negative pid addresses the process group `group`, which
    // the command leads (it was started with process_group(0)).
    let status = unsafe { libc::kill(-group, signal) };
    if status == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks the kernel to SIGKILL the command when the worker dies (Linux).
#[allow(unsafe_code)]
fn die_with_worker(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        let worker = std::process::id();
        // SAFETY: the closure runs in the forked child before exec and calls
        // only async-signal-safe functions (prctl, getppid); it allocates
        // nothing. The second check covers a worker that died before the
        // first call took effect.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if u32::try_from(libc::getppid()).ok() != Some(worker) {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// Sends each stdout line to the supervisor until the pipe or the
/// supervisor closes.
async fn forward_stdout(mut reader: impl AsyncBufRead + Unpin, lines: mpsc::Sender<String>) {
    loop {
        match read_line(&mut reader).await {
            Ok(Some(line)) => {
                if lines.send(line).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot read the trial's standard output");
                return;
            }
        }
    }
}

/// Logs each stderr line and keeps the last ones.
async fn log_stderr(mut reader: impl AsyncBufRead + Unpin, tail: Arc<Mutex<Tail>>, job_id: JobId) {
    loop {
        match read_line(&mut reader).await {
            Ok(Some(line)) => {
                tracing::info!(%job_id, stream = "stderr", "trial: {line}");
                if let Ok(mut tail) = tail.lock() {
                    tail.push(line);
                }
            }
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot read the trial's standard error");
                return;
            }
        }
    }
}

/// One line (without its end), at most [`MAX_LINE`] bytes of it, invalid
/// UTF-8 replaced; `None` at the end of the stream.
async fn read_line(reader: &mut (impl AsyncBufRead + Unpin)) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut read_any = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            break;
        }
        read_any = true;
        let end = available.iter().position(|&byte| byte == b'\n');
        let chunk = &available[..end.unwrap_or(available.len())];
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = end.map_or(available.len(), |end| end + 1);
        reader.consume(used);
        if end.is_some() {
            break;
        }
    }
    if !read_any {
        return Ok(None);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// The last [`TAIL_LINES`] lines of standard error, at most [`TAIL_BYTES`].
#[derive(Debug, Default)]
pub(super) struct Tail {
    lines: VecDeque<String>,
    bytes: usize,
}

impl Tail {
    /// Keeps `line`, dropping the oldest lines beyond the limits.
    pub(super) fn push(&mut self, line: String) {
        let line = last_bytes(&line, TAIL_BYTES).to_owned();
        self.bytes += line.len() + 1;
        self.lines.push_back(line);
        while self.lines.len() > TAIL_LINES || (self.bytes > TAIL_BYTES + 1 && self.lines.len() > 1) {
            if let Some(oldest) = self.lines.pop_front() {
                self.bytes -= oldest.len() + 1;
            }
        }
    }

    /// The kept lines, joined.
    pub(super) fn text(&self) -> String {
        let lines: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        lines.join("\n")
    }
}

/// The last `limit` bytes of `text`, starting on a character boundary.
fn last_bytes(text: &str, limit: usize) -> &str {
    let mut start = text.len().saturating_sub(limit);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines_within_the_byte_limit() {
        let mut tail = Tail::default();
        for index in 0..50 {
            tail.push(format!("line {index}"));
        }
        let text = tail.text();
        assert_eq!(text.lines().count(), TAIL_LINES);
        assert!(text.starts_with("line 30") && text.ends_with("line 49"), "{text}");
        tail.push("é".repeat(3000));
        let text = tail.text();
        assert!(text.len() <= TAIL_BYTES, "{}", text.len());
        assert!(text.chars().all(|c| c == 'é'));
    }

    #[tokio::test]
    async fn lines_are_cut_at_the_limit_and_crlf_and_bad_utf8_are_handled() {
        let mut input = b"first\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 100));
        input.extend(b"\nbad \xff byte\nlast without newline");
        let mut reader = BufReader::with_capacity(1000, &input[..]);
        assert_eq!(read_line(&mut reader).await.unwrap().as_deref(), Some("first"));
        assert_eq!(
            read_line(&mut reader).await.unwrap().map(|l| l.len()),
            Some(MAX_LINE)
        );
        assert_eq!(
            read_line(&mut reader).await.unwrap().as_deref(),
            Some("bad \u{fffd} byte")
        );
        assert_eq!(
            read_line(&mut reader).await.unwrap().as_deref(),
            Some("last without newline")
        );
        assert_eq!(read_line(&mut reader).await.unwrap(), None);
    }
}
