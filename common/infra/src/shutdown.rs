//! Graceful shutdown: a cancellation token cancelled by SIGTERM (Kubernetes
//! scale-down, spot preemption) or Ctrl-C. Services take the token as a
//! parameter, so tests start them in-process and stop them by cancelling.

use tokio_util::sync::CancellationToken;

/// A token cancelled on SIGTERM or SIGINT. Must be called inside a tokio
/// runtime.
pub fn on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let terminate = async {
            #[cfg(unix)]
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
            #[cfg(not(unix))]
            std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; shutting down"),
            () = terminate => tracing::info!("SIGTERM; shutting down"),
        }
        cancel.cancel();
    });
    token
}
