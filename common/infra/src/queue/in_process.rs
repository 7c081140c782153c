//! The job queue as channels inside one process (the embedded mode): one
//! shared jobs channel that every worker draws from, one results, one
//! progress and one dead-letter channel per experiment, and one control
//! channel per worker id (a stop for a worker without one is dropped). Acks are no-ops; a rejected
//! job goes back to the jobs channel, or to the dead letters when it is not
//! requeued or has been returned `delivery_limit` times; a requeued result
//! or dead letter goes back to its own channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::{Acker, Message, Subscription};
use crate::error::{Reason, Retry};
use crate::{Error, Result};
use nas_domain::{EpochProgress, ExperimentName, StopJob, TrainJob, TrainResult};

fn closed(what: &str) -> Error {
    Error::queue(
        "publishing in process",
        Retry::Permanent,
        Reason(format!("the in-process {what} channel is closed")),
    )
}

/// A message body and how many times it was returned before.
type Envelope = (Vec<u8>, u64);
type Sender = mpsc::UnboundedSender<Envelope>;
type SharedReceiver = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Envelope>>>;

/// An in-process queue.
#[derive(Clone, Debug)]
pub struct InProcessQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    delivery_limit: u64,
    jobs: Sender,
    job_receiver: SharedReceiver,
    results: Mutex<HashMap<ExperimentName, Channel>>,
    progress: Mutex<HashMap<ExperimentName, Channel>>,
    dead: Mutex<HashMap<ExperimentName, Channel>>,
    control: Mutex<HashMap<String, Sender>>,
}

#[derive(Debug)]
struct Channel {
    sender: Sender,
    receiver: Option<mpsc::UnboundedReceiver<Envelope>>,
}

impl Channel {
    fn new() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Channel {
            sender,
            receiver: Some(receiver),
        }
    }
}

/// Where a rejected in-process message goes back to: a job to the jobs
/// channel (or to the dead letters past the delivery limit), a result or a
/// dead letter to the channel it came from.
pub(super) struct Return {
    queue: InProcessQueue,
    origin: Option<Sender>,
}

impl Return {
    pub(super) fn give_back(&self, body: Vec<u8>, count: u64, requeue: bool) {
        let inner = &self.queue.inner;
        if let Some(origin) = &self.origin {
            if requeue {
                let _ = origin.send((body, count));
            } else {
                tracing::warn!("dropping a rejected result or dead letter");
            }
            return;
        }
        if requeue && count < inner.delivery_limit {
            let _ = inner.jobs.send((body, count));
            return;
        }
        let experiment = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| value.get("experiment")?.as_str()?.parse::<ExperimentName>().ok());
        match experiment {
            Some(experiment) => {
                let _ = self.queue.channel(&inner.dead, &experiment).send((body, count));
            }
            None => tracing::warn!("dropping a dead-lettered message that names no experiment"),
        }
    }
}

/// The receiving end of an in-process subscription.
pub struct Receiver {
    source: Source,
    queue: InProcessQueue,
    origin: Option<Sender>,
}

enum Source {
    Jobs(SharedReceiver),
    Own(mpsc::UnboundedReceiver<Envelope>),
}

impl Receiver {
    pub(super) async fn next(&mut self) -> Option<Message> {
        let (body, delivery_count) = match &mut self.source {
            Source::Jobs(shared) => shared.lock().await.recv().await?,
            Source::Own(receiver) => receiver.recv().await?,
        };
        Some(Message {
            body,
            redelivered: delivery_count > 0,
            delivery_count,
            acker: Acker::InProcess(Return {
                queue: self.queue.clone(),
                origin: self.origin.clone(),
            }),
        })
    }
}

impl InProcessQueue {
    /// An empty queue; jobs returned `delivery_limit` times are dead-lettered.
    pub fn new(delivery_limit: u32) -> Self {
        let (jobs, receiver) = mpsc::unbounded_channel();
        InProcessQueue {
            inner: Arc::new(Inner {
                delivery_limit: u64::from(delivery_limit.max(1)),
                jobs,
                job_receiver: Arc::new(tokio::sync::Mutex::new(receiver)),
                results: Mutex::new(HashMap::new()),
                progress: Mutex::new(HashMap::new()),
                dead: Mutex::new(HashMap::new()),
                control: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn channel(&self, map: &Mutex<HashMap<ExperimentName, Channel>>, experiment: &ExperimentName) -> Sender {
        let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(experiment.clone())
            .or_insert_with(Channel::new)
            .sender
            .clone()
    }

    fn take(
        &self,
        map: &Mutex<HashMap<ExperimentName, Channel>>,
        experiment: &ExperimentName,
    ) -> Result<Subscription> {
        let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let channel = map.entry(experiment.clone()).or_insert_with(Channel::new);
        let origin = channel.sender.clone();
        let receiver = channel.receiver.take().ok_or_else(|| {
            Error::queue(
                "subscribing in process",
                Retry::Permanent,
                Reason(format!("experiment {experiment} already has a consumer")),
            )
        })?;
        Ok(Subscription::InProcess(Receiver {
            source: Source::Own(receiver),
            queue: self.clone(),
            origin: Some(origin),
        }))
    }

    pub(super) fn publish_job(&self, job: &TrainJob) -> Result<()> {
        self.inner
            .jobs
            .send((job.to_json(), 0))
            .map_err(|_| closed("jobs"))
    }

    pub(super) fn publish_raw_job(&self, body: &[u8]) -> Result<()> {
        self.inner
            .jobs
            .send((body.to_vec(), 0))
            .map_err(|_| closed("jobs"))
    }

    pub(super) fn publish_result(&self, result: &TrainResult) -> Result<()> {
        self.channel(&self.inner.results, &result.experiment)
            .send((result.to_json(), 0))
            .map_err(|_| closed("results"))
    }

    pub(super) fn publish_progress(&self, progress: &EpochProgress) -> Result<()> {
        self.channel(&self.inner.progress, &progress.experiment)
            .send((progress.to_json(), 0))
            .map_err(|_| closed("progress"))
    }

    pub(super) fn publish_stop(&self, worker_id: &str, stop: &StopJob) {
        let control = self.inner.control.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = control.get(worker_id) {
            let _ = sender.send((stop.to_json(), 0));
        }
    }

    pub(super) fn control(&self, worker_id: &str) -> Subscription {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.inner
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(worker_id.to_owned(), sender.clone());
        Subscription::InProcess(Receiver {
            source: Source::Own(receiver),
            queue: self.clone(),
            origin: Some(sender),
        })
    }

    pub(super) fn progress(&self, experiment: &ExperimentName) -> Result<Subscription> {
        self.take(&self.inner.progress, experiment)
    }

    pub(super) fn jobs(&self) -> Subscription {
        Subscription::InProcess(Receiver {
            source: Source::Jobs(self.inner.job_receiver.clone()),
            queue: self.clone(),
            origin: None,
        })
    }

    pub(super) fn results(&self, experiment: &ExperimentName) -> Result<Subscription> {
        self.take(&self.inner.results, experiment)
    }

    pub(super) fn dead_jobs(&self, experiment: &ExperimentName) -> Result<Subscription> {
        self.take(&self.inner.dead, experiment)
    }
}
