//! A service binary's `main`: logging, one tokio runtime for the whole
//! process, the command run on it, and the exit code (the error's whole
//! chain printed on failure).

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

/// Sets up logging, runs `command` on a new multi-threaded runtime, and
/// returns the process's exit code.
pub fn run<E: Display>(command: impl Future<Output = Result<(), E>>) -> ExitCode {
    crate::logging::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
