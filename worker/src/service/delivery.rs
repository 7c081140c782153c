//! A job delivery the worker holds while its child trains, and the
//! broker's consumer timeout.
//!
//! RabbitMQ closes a consumer's channel (and redelivers its job to another
//! worker) when a delivery stays unacknowledged longer than the broker's
//! `consumer_timeout` (30 minutes by default). A child that trains longer
//! would then be trained twice, forever. So a [`HeldDelivery`] acknowledges
//! its job early, at the worker's ack deadline (a margin before that
//! timeout), while the child keeps training; from then on the controller's
//! job timeout, not the broker, covers a worker that dies: the job is
//! published again when its result is overdue, and it resumes from its
//! child checkpoint.

use std::future::Future;
use std::time::{Duration, Instant};

use nas_domain::JobId;
use nas_infra::queue::Message;

use crate::Result;

/// The share of the broker's consumer timeout after which a job is acked
/// early.
const ACK_AT_SHARE: f64 = 0.8;

/// The ack deadline for a broker whose consumer timeout is `timeout`
/// (`None`: the broker has none).
pub fn ack_deadline(timeout: Option<Duration>) -> Option<Duration> {
    timeout.map(|timeout| timeout.mul_f64(ACK_AT_SHARE))
}

/// One delivery, acked or rejected at most once.
pub struct HeldDelivery {
    message: Option<Message>,
    received: Instant,
    ack_deadline: Option<Duration>,
}

impl HeldDelivery {
    /// Holds `message`, received now.
    pub fn new(message: Message, ack_deadline: Option<Duration>) -> Self {
        HeldDelivery {
            message: Some(message),
            received: Instant::now(),
            ack_deadline,
        }
    }

    /// When the message was received (a result's wall time and startup
    /// time count from here).
    pub fn received(&self) -> Instant {
        self.received
    }

    /// The message body.
    pub fn body(&self) -> &[u8] {
        self.message.as_ref().map_or(&[], |message| &message.body)
    }

    /// Awaits `work`; should it outlast the ack deadline, acknowledges the
    /// job at the deadline and goes on waiting.
    pub async fn during<F: Future>(&mut self, job_id: JobId, work: F) -> F::Output {
        let Some(deadline) = self.ack_deadline else {
            return work.await;
        };
        tokio::pin!(work);
        let remaining = deadline.saturating_sub(self.received.elapsed());
        tokio::select! {
            output = &mut work => return output,
            () = tokio::time::sleep(remaining) => {}
        }
        if let Some(message) = self.message.take() {
            match message.ack().await {
                Ok(()) => tracing::warn!(
                    %job_id,
                    held_seconds = self.received.elapsed().as_secs_f64(),
                    "acknowledged the job early: the child outlives the broker's consumer timeout; \
                     the controller's job timeout covers it from now on"
                ),
                Err(error) => tracing::warn!(%job_id, %error, "could not acknowledge the job early"),
            }
        }
        work.await
    }

    /// Acknowledges the job (nothing to do when it was acked early).
    pub async fn ack(mut self) -> Result<()> {
        match self.message.take() {
            Some(message) => Ok(message.ack().await?),
            None => Ok(()),
        }
    }

    /// Returns the job to the queue for another worker. After an early
    /// ack the broker no longer holds it, so there is nothing to return.
    pub async fn requeue(mut self) -> Result<()> {
        match self.message.take() {
            Some(message) => Ok(message.requeue().await?),
            None => Ok(()),
        }
    }

    /// Sends the job to the dead letters (it is not a valid job).
    pub async fn dead_letter(mut self) -> Result<()> {
        match self.message.take() {
            Some(message) => Ok(message.dead_letter().await?),
            None => Ok(()),
        }
    }
}
