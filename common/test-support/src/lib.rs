//! Helpers the workspace's tests share, in one place: a dev-dependency of
//! the worker's and the cross-crate tests (`nas-tests`).
//!
//! `nas-domain`'s own tests cannot depend on this crate without a cycle
//! (it depends on `nas-domain`), so they include the modules that need
//! nothing of it but `nas-domain`'s public API by path:
//! `#[path = "../../test-support/src/actions.rs"] mod actions;`.

pub mod actions;
pub mod pareto;
pub mod results;

use std::sync::{Mutex, MutexGuard};

pub use actions::random_actions;
pub use results::result_fields;

/// A process-wide turn: tests that must not overlap (they train with
/// libtorch's process-wide random generator, or share a broker's queues)
/// hold it while they run. A test that panicked while holding it does
/// not block the others.
pub fn serial() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The last line of a command's standard output, parsed as JSON (the
/// `--json` summary every command prints last); panics, quoting the text,
/// when there is none or it is not JSON.
pub fn last_json_line(stdout: &str) -> serde_json::Value {
    let Some(line) = stdout.lines().last() else {
        panic!("no output where a JSON summary was expected");
    };
    serde_json::from_str(line).unwrap_or_else(|error| panic!("the last line is not JSON ({error}): {stdout}"))
}

/// [`last_json_line`] of a finished command's standard output.
pub fn last_json(output: &std::process::Output) -> serde_json::Value {
    last_json_line(&String::from_utf8_lossy(&output.stdout))
}

/// Whether the process `pid` (as text, surrounding blanks allowed) is
/// running; a zombie is not.
pub fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// Whether the process `pid` is gone within `patience` (a killed process
/// takes a moment to be reaped).
pub fn gone_within(pid: &str, patience: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + patience;
    while alive(pid) {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}
