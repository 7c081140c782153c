//! The one resubscription loop of every client: a subscription that is
//! taken again after it ends or fails, with exponential backoff
//! ([`backoff`]) that only a delivery resets. A stream that keeps ending
//! (a broker that cancels its consumers, a connection that drops at once)
//! costs a resubscription every few seconds, never a busy loop.
//!
//! [`Resubscribing`] holds the subscription or, while it has none, when to
//! try again. It serves two kinds of loop:
//!
//! - one that waits on one queue (the worker's jobs and control queues):
//!   [`Resubscribing::subscribed`] waits out the backoff and subscribes,
//!   again after each failure, then [`Resubscribing::next`] gives the
//!   deliveries; [`Resubscribing::next_message`] does both, for as long as
//!   the caller waits;
//! - one that multiplexes several queues and timers in one `select!` (the
//!   controller's job tracker): [`Resubscribing::ensure`] subscribes only
//!   when a try is due, [`Resubscribing::retry_at`] says when to wake for
//!   the next one, and `next` stays pending while there is no subscription.
//!
//! Either way the caller says what became of each delivery:
//! [`Resubscribing::delivered`] when one arrived (the stream is healthy),
//! [`Resubscribing::lost`] when the subscription ended or failed.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;
use tokio::time::Instant;

use super::{Message, Subscription};
use crate::Result;

/// Exponential backoff between reconnection attempts: 0.2 s doubling to 10 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(10))
}

/// One subscription, or when to take it again (see the module docs).
pub struct Resubscribing {
    /// What the subscription reads, for the logs (`jobs`, `control`…).
    what: &'static str,
    subscription: Option<Subscription>,
    /// Subscriptions lost or refused since the last delivery.
    failures: u32,
    retry_at: Instant,
}

impl Resubscribing {
    /// No subscription yet, the first try due at once; `what` names the
    /// queue in the logs.
    pub fn new(what: &'static str) -> Self {
        Resubscribing {
            what,
            subscription: None,
            failures: 0,
            retry_at: Instant::now(),
        }
    }

    /// Whether a subscription is held.
    pub fn is_subscribed(&self) -> bool {
        self.subscription.is_some()
    }

    /// When the next try is due (`None` while subscribed).
    pub fn retry_at(&self) -> Option<Instant> {
        self.subscription.is_none().then_some(self.retry_at)
    }

    /// Subscribes with `subscribe` when there is no subscription and a try
    /// is due; a refused try is logged and the next one put off. Whether
    /// this call subscribed.
    pub async fn ensure<F, Fut>(&mut self, subscribe: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Subscription>>,
    {
        if self.subscription.is_some() || Instant::now() < self.retry_at {
            return false;
        }
        match subscribe().await {
            Ok(subscription) => {
                self.subscription = Some(subscription);
                true
            }
            Err(error) => {
                tracing::warn!(%error, transient = error.is_transient(), "cannot subscribe to {}; retrying", self.what);
                self.lost();
                false
            }
        }
    }

    /// Returns once subscribed: waits for each try to be due and
    /// subscribes with `subscribe`. Stop waiting by dropping the future (a
    /// `select!` with a shutdown).
    pub async fn subscribed<F, Fut>(&mut self, subscribe: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Subscription>>,
    {
        while self.subscription.is_none() {
            tokio::time::sleep_until(self.retry_at).await;
            self.ensure(&subscribe).await;
        }
    }

    /// The next delivery, as the subscription gives it (`None` when it
    /// ended); never ready while there is no subscription.
    pub async fn next(&mut self) -> Option<Result<Message>> {
        match self.subscription.as_mut() {
            Some(subscription) => subscription.next().await,
            None => std::future::pending().await,
        }
    }

    /// The next message, subscribing with `subscribe` whenever there is
    /// no subscription (a lost one is logged and taken again after the
    /// backoff). It never ends: drop the future to stop.
    pub async fn next_message<F, Fut>(&mut self, subscribe: F) -> Message
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Subscription>>,
    {
        loop {
            self.subscribed(&subscribe).await;
            match self.next().await {
                Some(Ok(message)) => {
                    self.delivered();
                    return message;
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "lost the {} subscription; subscribing again", self.what);
                    self.lost();
                }
                None => {
                    tracing::warn!("the {} subscription ended; subscribing again", self.what);
                    self.lost();
                }
            }
        }
    }

    /// A delivery arrived: the stream is healthy, the backoff starts over.
    pub fn delivered(&mut self) {
        self.failures = 0;
    }

    /// The subscription ended or failed (or a try was refused): drop it
    /// and try again after the backoff.
    pub fn lost(&mut self) {
        self.subscription = None;
        self.retry_at = Instant::now() + backoff(self.failures);
        self.failures = self.failures.saturating_add(1);
    }

    /// `first` and whatever else the subscription has ready now, up to
    /// `limit` messages, without waiting.
    pub fn drain_ready(&mut self, first: Message, limit: usize) -> Vec<Message> {
        let mut batch = vec![first];
        let Some(subscription) = self.subscription.as_mut() else {
            return batch;
        };
        while batch.len() < limit {
            match subscription.next().now_or_never() {
                Some(Some(Ok(message))) => batch.push(message),
                _ => break,
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::Error;
    use crate::queue::{InProcessQueue, JobQueue};

    fn refused() -> Error {
        Error::queue(
            "subscribing",
            crate::Retry::Transient,
            crate::Reason("down".into()),
        )
    }

    #[test]
    fn backoff_doubles_to_ten_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(200));
        assert_eq!(backoff(1), Duration::from_millis(400));
        assert_eq!(backoff(5), Duration::from_millis(6400));
        assert_eq!(backoff(6), Duration::from_secs(10));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_refused_try_puts_the_next_off_and_only_a_delivery_resets_it() {
        let mut slot = Resubscribing::new("test");
        assert!(slot.retry_at().is_some());
        assert!(!slot.ensure(|| async { Err(refused()) }).await);
        let first = slot.retry_at().unwrap();
        assert!(first > Instant::now());
        // Not due: the subscription is not even tried.
        let tried = &AtomicU32::new(0);
        assert!(
            !slot
                .ensure(|| async move {
                    tried.fetch_add(1, Ordering::Relaxed);
                    Err(refused())
                })
                .await
        );
        assert_eq!(tried.load(Ordering::Relaxed), 0);
        // Each loss waits longer; a delivery starts the backoff over.
        slot.lost();
        let second = slot.retry_at().unwrap() - Instant::now();
        assert!(second > Duration::from_millis(300), "{second:?}");
        slot.delivered();
        slot.lost();
        let reset = slot.retry_at().unwrap() - Instant::now();
        assert!(reset <= Duration::from_millis(200), "{reset:?}");
    }

    #[tokio::test]
    async fn next_message_subscribes_again_after_a_refusal() {
        let queue = JobQueue::InProcess(InProcessQueue::new(3));
        queue
            .publish_raw_job(&"exp".parse().unwrap(), b"job")
            .await
            .unwrap();
        let (tries, queue) = (&AtomicU32::new(0), &queue);
        let mut jobs = Resubscribing::new("jobs");
        let message = jobs
            .next_message(move || async move {
                if tries.fetch_add(1, Ordering::Relaxed) == 0 {
                    Err(refused())
                } else {
                    queue.jobs(1).await
                }
            })
            .await;
        assert_eq!(message.body, b"job");
        assert_eq!(tries.load(Ordering::Relaxed), 2);
        assert!(jobs.is_subscribed());
        assert!(jobs.retry_at().is_none());
    }
}
