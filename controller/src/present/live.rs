//! The live report: a running search's [`report`](super::report), served
//! at `/` on the controller's metrics port and rendered again as results
//! arrive (at most once per interval, off the async runtime).
//!
//! The search hands every reward record it logs (and, on resume, those it
//! read back) to the sender [`start`] returns; a task keeps them and, when some are new
//! and the interval has passed, renders the report into a temporary
//! folder and publishes its files with [`Telemetry::set_pages`]. The page
//! reloads itself every interval.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use nas_infra::telemetry::Telemetry;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::report::{self, ExperimentData, ReportOptions};
use crate::experiment::config::ExperimentConfig;
use crate::experiment::reward_log::{RecordSender, RewardRecord};
use crate::{Error, Result};

/// Starts rendering the live report of the experiment of `config` into
/// `telemetry`'s pages, at most once per `interval`, until `shutdown`;
/// the search sends its records to the sender returned.
pub fn start(
    config: ExperimentConfig,
    telemetry: Telemetry,
    interval: Duration,
    shutdown: CancellationToken,
) -> RecordSender {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        if let Err(error) = render_until_stopped(config, &telemetry, receiver, interval, shutdown).await {
            tracing::warn!(%error, "the live report stopped");
        }
    });
    sender
}

async fn render_until_stopped(
    config: ExperimentConfig,
    telemetry: &Telemetry,
    mut receiver: mpsc::UnboundedReceiver<Vec<RewardRecord>>,
    interval: Duration,
    shutdown: CancellationToken,
) -> Result<()> {
    let folder = tempfile::Builder::new()
        .prefix("nas-live-report-")
        .tempdir()
        .map_err(|e| Error::io(Path::new("a temporary folder"), e))?;
    let mut data = ExperimentData {
        config,
        records: Vec::new(),
        reevaluations: Vec::new(),
    };
    let mut new_records = false;
    let mut next_render = Instant::now();
    loop {
        tokio::select! {
            batch = receiver.recv() => match batch {
                Some(batch) => {
                    data.records.extend(batch);
                    new_records = true;
                }
                None => return Ok(()),
            },
            () = tokio::time::sleep_until(next_render), if new_records => {
                new_records = false;
                let out = folder.path().to_owned();
                let refresh = interval.as_secs().max(1);
                let (back, pages) = tokio::task::spawn_blocking(move || {
                    let pages = render(&data, &out, refresh);
                    (data, pages)
                })
                .await
                .map_err(|e| Error::Plot(format!("the live report's renderer panicked: {e}")))?;
                data = back;
                match pages {
                    Ok(pages) => telemetry.set_pages(pages),
                    Err(error) => tracing::warn!(%error, "the live report could not be rendered"),
                }
                next_render = Instant::now() + interval;
            }
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}

/// Renders the report of `data` into `out` and reads its files back as
/// pages, the page told to reload every `refresh` seconds.
fn render(data: &ExperimentData, out: &Path, refresh: u64) -> Result<HashMap<String, bytes::Bytes>> {
    let files = report::write(data, &[], &ReportOptions::default(), out)?;
    let mut pages = HashMap::new();
    for path in &files.files {
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let mut content = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if name == "index.html" {
            let text = String::from_utf8_lossy(&content).replacen(
                "<head>",
                &format!("<head><meta http-equiv=\"refresh\" content=\"{refresh}\">"),
                1,
            );
            content = text.into_bytes();
        }
        pages.insert(name.to_owned(), bytes::Bytes::from(content));
    }
    Ok(pages)
}
