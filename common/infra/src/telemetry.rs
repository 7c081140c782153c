//! Health and Prometheus metrics over HTTP, for both services:
//!
//! - `GET /healthz`: 200 while the process runs (liveness);
//! - `GET /readyz`: 200 once the service is connected and serving, 503
//!   before (readiness);
//! - `GET /metrics`: the Prometheus text format;
//! - `GET /` and `GET /<file>`: pages a service publishes
//!   ([`Telemetry::set_pages`], the controller's live report): `/` is
//!   `index.html`; a file not published is 404.
//!
//! The server binds where it is told; the services default to localhost.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// A metrics registry and a readiness flag, shared with the HTTP server.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    registry: std::sync::Mutex<Registry>,
    ready: AtomicBool,
    pages: std::sync::RwLock<Arc<HashMap<String, bytes::Bytes>>>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            inner: Arc::new(Inner {
                registry: std::sync::Mutex::new(Registry::with_prefix("nas")),
                ready: AtomicBool::new(false),
                pages: std::sync::RwLock::default(),
            }),
        }
    }
}

impl Telemetry {
    /// Registers metrics (called once by each service's metrics struct).
    pub fn register(&self, add: impl FnOnce(&mut Registry)) {
        add(&mut self.inner.registry.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Marks the service ready or not.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether the service is ready.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed)
    }

    /// Replaces the published pages (file name → content), all at once so
    /// a reader never sees half of an update.
    pub fn set_pages(&self, pages: HashMap<String, bytes::Bytes>) {
        *self.inner.pages.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(pages);
    }

    /// A published page.
    fn page(&self, name: &str) -> Option<bytes::Bytes> {
        let pages = self.inner.pages.read().unwrap_or_else(|p| p.into_inner()).clone();
        pages.get(name).cloned()
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let registry = self.inner.registry.lock().unwrap_or_else(|p| p.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }

    /// Serves `/healthz`, `/readyz` and `/metrics` on `address` until
    /// `shutdown`; returns the bound address (port 0 picks a free one).
    pub async fn serve(&self, address: SocketAddr, shutdown: CancellationToken) -> Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| Error::Config(format!("cannot serve metrics on {address}: {e}")))?;
        let bound = listener.local_addr().map_err(|e| Error::Config(e.to_string()))?;
        let app = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .route("/", get(index))
            .route("/{file}", get(page))
            .with_state(self.clone());
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "the metrics server stopped");
            }
        });
        tracing::info!(address = %bound, "serving /healthz, /readyz and /metrics");
        Ok(bound)
    }
}

async fn readyz(State(telemetry): State<Telemetry>) -> impl IntoResponse {
    if telemetry.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn index(State(telemetry): State<Telemetry>) -> axum::response::Response {
    page(State(telemetry), Path("index.html".to_owned())).await
}

async fn page(State(telemetry): State<Telemetry>, Path(file): Path<String>) -> axum::response::Response {
    let Some(content) = telemetry.page(&file) else {
        return (StatusCode::NOT_FOUND, "no such page (yet)\n").into_response();
    };
    let kind = match file.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    };
    (
        [(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-store")],
        content,
    )
        .into_response()
}

async fn metrics(State(telemetry): State<Telemetry>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        telemetry.render(),
    )
}
