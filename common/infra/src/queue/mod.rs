//! The job-queue port: publish jobs and results, consume them, and ack,
//! requeue or dead-letter each delivery. Two implementations:
//!
//! - [`RabbitMq`]: RabbitMQ through lapin (durable quorum queues, persistent
//!   messages, publisher confirms awaited, manual acks).
//! - [`InProcessQueue`]: channels inside one process, for the embedded mode.
//!
//! The topology (names under a configurable prefix, `nas` by default):
//!
//! ```text
//! exchange nas.jobs-exchange (topic) --jobs.*--> queue nas.jobs (quorum, delivery limit,
//!                                                dead letters to nas.dead)
//! exchange nas.dead (topic) --jobs.<exp>------> queue nas.dead.<exp> (quorum)
//! default exchange          --nas.results.<exp> queue nas.results.<exp> (quorum)
//! default exchange          --nas.progress.<exp> queue nas.progress.<exp> (quorum)
//! exchange nas.control (direct) --<worker id>--> one exclusive, auto-deleted
//!                                                queue per worker process
//! ```
//!
//! Progress messages (one per epoch a child completes) go to the
//! experiment's progress queue; a stop goes to the control exchange under
//! the id of the worker that reported the child, and reaches that worker's
//! own queue while it is connected (a stop for a worker that is gone is
//! dropped by the broker: that worker's child just finishes elsewhere).
//!
//! Jobs travel with routing key `jobs.<experiment>`, which survives
//! dead-lettering, so every experiment's controller sees exactly its own
//! dead jobs. A delivery is acked only after its outcome is safe elsewhere
//! (a job after its result is confirmed; a result after it is in the reward
//! log).
//!
//! The jobs exchange has a name of its own (before, it shared `nas.jobs`
//! with the queue), so a broker user's rights on the jobs queue (which a
//! worker needs to bind it) do not let it publish jobs.
//!
//! A subscription ends when its connection is lost; every client takes it
//! again through [`Resubscribing`], the one resubscription loop (with
//! [`backoff`]).

mod in_process;
mod rabbitmq;
mod resubscribe;

use serde::{Deserialize, Serialize};

pub use in_process::InProcessQueue;
pub use rabbitmq::RabbitMq;
pub use resubscribe::{Resubscribing, backoff};

use crate::Result;
use nas_domain::{EpochProgress, ExperimentName, StopJob, TrainJob, TrainResult};

/// How to reach the broker and name the queues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// AMQP URI (`amqp://user:password@host:5672/vhost`, `amqps://` for TLS).
    /// Never logged: only its host is.
    pub uri: String,
    /// Prefix of every exchange and queue name.
    pub prefix: String,
    /// Deliveries of one job (crashes of its worker) before it is
    /// dead-lettered.
    pub delivery_limit: u32,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            uri: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            prefix: "nas".into(),
            delivery_limit: 3,
        }
    }
}

/// The names of the topology (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// Names under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Names {
            prefix: prefix.to_owned(),
        }
    }

    /// The jobs exchange (a name of its own, not the queue's).
    pub fn jobs_exchange(&self) -> String {
        format!("{}.jobs-exchange", self.prefix)
    }

    /// The shared jobs queue all workers consume.
    pub fn jobs_queue(&self) -> String {
        format!("{}.jobs", self.prefix)
    }

    /// The dead-letter exchange.
    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// An experiment's dead-letter queue.
    pub fn dead_queue(&self, experiment: &ExperimentName) -> String {
        format!("{}.dead.{experiment}", self.prefix)
    }

    /// The control exchange (stops to workers, routed by worker id).
    pub fn control_exchange(&self) -> String {
        format!("{}.control", self.prefix)
    }

    /// A fresh name for one of a worker's control queues (one per
    /// connection: exclusive, so no other connection can read it). Named
    /// under the prefix, not by the server, so that the worker's broker
    /// user needs rights only on `<prefix>.control.*`.
    pub fn control_queue(&self, worker_id: &str) -> String {
        format!(
            "{}.control.{worker_id}.{}",
            self.prefix,
            uuid::Uuid::new_v4().simple()
        )
    }

    /// An experiment's progress queue.
    pub fn progress_queue(&self, experiment: &ExperimentName) -> String {
        format!("{}.progress.{experiment}", self.prefix)
    }

    /// An experiment's results queue.
    pub fn results_queue(&self, experiment: &ExperimentName) -> String {
        format!("{}.results.{experiment}", self.prefix)
    }

    /// The routing key of an experiment's jobs.
    pub fn job_routing_key(experiment: &ExperimentName) -> String {
        format!("jobs.{experiment}")
    }
}

/// A job queue (see the module docs).
#[derive(Clone, Debug)]
pub enum JobQueue {
    /// RabbitMQ.
    RabbitMq(RabbitMq),
    /// Channels in this process.
    InProcess(InProcessQueue),
}

impl JobQueue {
    /// Declares the shared topology and, with an experiment, its results and
    /// dead-letter queues. Idempotent.
    pub async fn declare(&self, experiment: Option<&ExperimentName>) -> Result<()> {
        match self {
            JobQueue::RabbitMq(queue) => queue.declare(experiment).await,
            JobQueue::InProcess(_) => Ok(()),
        }
    }

    /// Closes the broker connection (at shutdown).
    pub async fn close(&self) {
        if let JobQueue::RabbitMq(queue) = self {
            queue.close().await;
        }
    }

    /// Publishes a job; returns once the broker has confirmed it.
    pub async fn publish_job(&self, job: &TrainJob) -> Result<()> {
        match self {
            JobQueue::RabbitMq(queue) => queue.publish_job(job).await,
            JobQueue::InProcess(queue) => queue.publish_job(job),
        }
    }

    /// Publishes raw bytes as a job of `experiment`, without validation
    /// (for tests and tools that exercise the dead-letter path).
    pub async fn publish_raw_job(&self, experiment: &ExperimentName, body: &[u8]) -> Result<()> {
        match self {
            JobQueue::RabbitMq(queue) => queue.publish_raw_job(experiment, body).await,
            JobQueue::InProcess(queue) => queue.publish_raw_job(body),
        }
    }

    /// Publishes a result; returns once the broker has confirmed it.
    pub async fn publish_result(&self, result: &TrainResult) -> Result<()> {
        match self {
            JobQueue::RabbitMq(queue) => queue.publish_result(result).await,
            JobQueue::InProcess(queue) => queue.publish_result(result),
        }
    }

    /// Publishes a child's progress; returns once the broker confirmed it.
    pub async fn publish_progress(&self, progress: &EpochProgress) -> Result<()> {
        match self {
            JobQueue::RabbitMq(queue) => queue.publish_progress(progress).await,
            JobQueue::InProcess(queue) => queue.publish_progress(progress),
        }
    }

    /// Sends a stop to the worker `worker_id`; confirmed by the broker,
    /// delivered only if that worker is connected.
    pub async fn publish_stop(&self, worker_id: &str, stop: &StopJob) -> Result<()> {
        match self {
            JobQueue::RabbitMq(queue) => queue.publish_stop(worker_id, stop).await,
            JobQueue::InProcess(queue) => {
                queue.publish_stop(worker_id, stop);
                Ok(())
            }
        }
    }

    /// Subscribes to the stops sent to `worker_id`.
    pub async fn control(&self, worker_id: &str) -> Result<Subscription> {
        match self {
            JobQueue::RabbitMq(queue) => queue.subscribe_control(worker_id).await,
            JobQueue::InProcess(queue) => Ok(queue.control(worker_id)),
        }
    }

    /// Subscribes to an experiment's progress messages.
    pub async fn progress(&self, experiment: &ExperimentName, prefetch: u16) -> Result<Subscription> {
        match self {
            JobQueue::RabbitMq(queue) => {
                queue
                    .subscribe(&queue.names().progress_queue(experiment), prefetch)
                    .await
            }
            JobQueue::InProcess(queue) => queue.progress(experiment),
        }
    }

    /// Subscribes to the jobs queue, at most `prefetch` unacked at a time.
    pub async fn jobs(&self, prefetch: u16) -> Result<Subscription> {
        match self {
            JobQueue::RabbitMq(queue) => queue.subscribe(&queue.names().jobs_queue(), prefetch).await,
            JobQueue::InProcess(queue) => Ok(queue.jobs()),
        }
    }

    /// Subscribes to an experiment's results.
    pub async fn results(&self, experiment: &ExperimentName, prefetch: u16) -> Result<Subscription> {
        match self {
            JobQueue::RabbitMq(queue) => {
                queue
                    .subscribe(&queue.names().results_queue(experiment), prefetch)
                    .await
            }
            JobQueue::InProcess(queue) => queue.results(experiment),
        }
    }

    /// Subscribes to an experiment's dead-lettered jobs.
    pub async fn dead_jobs(&self, experiment: &ExperimentName, prefetch: u16) -> Result<Subscription> {
        match self {
            JobQueue::RabbitMq(queue) => {
                queue
                    .subscribe(&queue.names().dead_queue(experiment), prefetch)
                    .await
            }
            JobQueue::InProcess(queue) => queue.dead_jobs(experiment),
        }
    }
}

/// One delivered message.
pub struct Message {
    /// The body.
    pub body: Vec<u8>,
    /// Whether the broker delivered it before (to a consumer that did not
    /// ack it).
    pub redelivered: bool,
    /// How many times it was returned to the queue before, when known.
    pub delivery_count: u64,
    acker: Acker,
}

enum Acker {
    RabbitMq(lapin::acker::Acker),
    InProcess(in_process::Return),
}

impl Message {
    /// Acknowledges the message: the broker forgets it.
    pub async fn ack(self) -> Result<()> {
        match self.acker {
            Acker::RabbitMq(acker) => rabbitmq::ack(&acker).await,
            Acker::InProcess(_) => Ok(()),
        }
    }

    /// Returns the message to its queue, for another consumer (counted
    /// against the delivery limit).
    pub async fn requeue(self) -> Result<()> {
        self.reject(true).await
    }

    /// Sends the message to the dead letters (its queue's dead-letter
    /// exchange): it will not be delivered again.
    pub async fn dead_letter(self) -> Result<()> {
        self.reject(false).await
    }

    async fn reject(self, requeue: bool) -> Result<()> {
        match self.acker {
            Acker::RabbitMq(acker) => rabbitmq::reject(&acker, requeue).await,
            Acker::InProcess(back) => {
                back.give_back(self.body, self.delivery_count + 1, requeue);
                Ok(())
            }
        }
    }
}

/// A stream of deliveries from one queue.
pub enum Subscription {
    /// A lapin consumer.
    RabbitMq(lapin::Consumer),
    /// An in-process receiver.
    InProcess(in_process::Receiver),
}

impl Subscription {
    /// The next delivery; `None` when the subscription ended (the connection
    /// was lost: subscribe again).
    pub async fn next(&mut self) -> Option<Result<Message>> {
        match self {
            Subscription::RabbitMq(consumer) => rabbitmq::next(consumer).await,
            Subscription::InProcess(receiver) => receiver.next().await.map(Ok),
        }
    }
}
