//! Logging for both binaries: human-readable lines on a terminal, or one
//! JSON object per line with `NAS_LOG_FORMAT=json` (for log collectors);
//! the level filter comes from `NAS_LOG` (default `info`). Logs go to
//! stderr, so stdout carries only results.

/// Installs the global subscriber.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NAS_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = std::env::var("NAS_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    if json {
        builder.json().init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}
