//! The tracker's subscriptions (results, dead letters and, with early
//! stopping, progress): a [`Slot`] per [`Feed`], each resubscribed on its
//! own after it ends or fails by the one resubscription loop,
//! [`nas_infra::queue::Resubscribing`] (exponential backoff that only a
//! delivery resets: a stream that keeps ending costs a resubscription
//! every few seconds, never a busy loop). The slot knows which queue its
//! feed reads and how many deliveries it takes at a time.

use nas_domain::ExperimentName;
use nas_infra::queue::{JobQueue, Message, Resubscribing};
use tokio::time::Instant;

/// Result messages taken in one batch when the broker has that many ready.
pub const RESULT_BATCH: usize = 256;
/// Unacked results the broker may push to the controller.
pub const RESULTS_PREFETCH: u16 = 512;
/// Unacked dead letters at a time.
const DEAD_PREFETCH: u16 = 16;

/// Which queue a slot reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// The experiment's results.
    Results,
    /// The experiment's dead-lettered jobs.
    DeadLetters,
    /// The experiment's progress messages (early stopping).
    Progress,
}

/// One feed's subscription, taken again through [`Resubscribing`].
pub struct Slot {
    feed: Feed,
    stream: Resubscribing,
}

impl Slot {
    /// An empty slot, due at once.
    pub fn new(feed: Feed) -> Self {
        let what = match feed {
            Feed::Results => "results",
            Feed::DeadLetters => "dead letters",
            Feed::Progress => "progress",
        };
        Slot {
            feed,
            stream: Resubscribing::new(what),
        }
    }

    /// When the slot wants to subscribe again (`None` while subscribed).
    pub fn retry_at(&self) -> Option<Instant> {
        self.stream.retry_at()
    }

    /// Subscribes when the slot is empty and due.
    pub async fn ensure(&mut self, queue: &JobQueue, name: &ExperimentName) {
        let feed = self.feed;
        let subscribe = || async move {
            queue.declare(Some(name)).await?;
            match feed {
                Feed::Results => queue.results(name, RESULTS_PREFETCH).await,
                Feed::DeadLetters => queue.dead_jobs(name, DEAD_PREFETCH).await,
                Feed::Progress => queue.progress(name, RESULTS_PREFETCH).await,
            }
        };
        if self.stream.ensure(subscribe).await {
            match feed {
                Feed::Results => tracing::info!(experiment = %name, "subscribed to results"),
                Feed::DeadLetters => tracing::info!(experiment = %name, "subscribed to dead letters"),
                Feed::Progress => tracing::info!(experiment = %name, "subscribed to progress"),
            }
        }
    }

    /// The next delivery; never ready while the slot is empty.
    pub async fn next(&mut self) -> Option<nas_infra::Result<Message>> {
        self.stream.next().await
    }

    /// A delivery arrived: the stream is healthy.
    pub fn delivered(&mut self) {
        self.stream.delivered();
    }

    /// The subscription ended or failed: try again after a backoff.
    pub fn lost(&mut self) {
        self.stream.lost();
    }

    /// `first` and whatever else the subscription has ready now, up to
    /// [`RESULT_BATCH`], without waiting.
    pub fn drain_ready(&mut self, first: Message) -> Vec<Message> {
        self.stream.drain_ready(first, RESULT_BATCH)
    }
}
