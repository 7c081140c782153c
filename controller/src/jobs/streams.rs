//! The tracker's two subscriptions (results and dead letters), each
//! resubscribed on its own after it ends or fails, with exponential
//! backoff that only a delivery resets: a stream that keeps ending costs a
//! resubscription every few seconds, never a busy loop.

use futures::FutureExt;
use nas_domain::ExperimentName;
use nas_infra::queue::{JobQueue, Message, Subscription, backoff};
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

/// One subscription, or when to try again.
pub struct Slot {
    feed: Feed,
    subscription: Option<Subscription>,
    failures: u32,
    retry_at: Instant,
}

impl Slot {
    /// An empty slot, due at once.
    pub fn new(feed: Feed) -> Self {
        Slot {
            feed,
            subscription: None,
            failures: 0,
            retry_at: Instant::now(),
        }
    }

    /// When the slot wants to subscribe again (`None` while subscribed).
    pub fn retry_at(&self) -> Option<Instant> {
        self.subscription.is_none().then_some(self.retry_at)
    }

    /// Subscribes when the slot is empty and due.
    pub async fn ensure(&mut self, queue: &JobQueue, name: &ExperimentName) {
        if self.subscription.is_some() || Instant::now() < self.retry_at {
            return;
        }
        let subscribed = async {
            queue.declare(Some(name)).await?;
            match self.feed {
                Feed::Results => queue.results(name, RESULTS_PREFETCH).await,
                Feed::DeadLetters => queue.dead_jobs(name, DEAD_PREFETCH).await,
                Feed::Progress => queue.progress(name, RESULTS_PREFETCH).await,
            }
        };
        match subscribed.await {
            Ok(subscription) => {
                match self.feed {
                    Feed::Results => tracing::info!(experiment = %name, "subscribed to results"),
                    Feed::DeadLetters => tracing::info!(experiment = %name, "subscribed to dead letters"),
                    Feed::Progress => tracing::info!(experiment = %name, "subscribed to progress"),
                }
                self.subscription = Some(subscription);
            }
            Err(error) => {
                tracing::warn!(%error, feed = ?self.feed, "cannot subscribe; retrying");
                self.lost();
            }
        }
    }

    /// The next delivery; never ready while the slot is empty.
    pub async fn next(&mut self) -> Option<nas_infra::Result<Message>> {
        match self.subscription.as_mut() {
            Some(subscription) => subscription.next().await,
            None => std::future::pending().await,
        }
    }

    /// A delivery arrived: the stream is healthy.
    pub fn delivered(&mut self) {
        self.failures = 0;
    }

    /// The subscription ended or failed: try again after a backoff.
    pub fn lost(&mut self) {
        self.subscription = None;
        self.retry_at = Instant::now() + backoff(self.failures);
        self.failures = self.failures.saturating_add(1);
    }

    /// `first` and whatever else the subscription has ready now, up to
    /// [`RESULT_BATCH`], without waiting.
    pub fn drain_ready(&mut self, first: Message) -> Vec<Message> {
        let mut batch = vec![first];
        let Some(subscription) = self.subscription.as_mut() else {
            return batch;
        };
        while batch.len() < RESULT_BATCH {
            match subscription.next().now_or_never() {
                Some(Some(Ok(message))) => batch.push(message),
                _ => break,
            }
        }
        batch
    }
}
