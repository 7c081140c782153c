//! The job queue on RabbitMQ (lapin on the tokio runtime).
//!
//! One connection per process holds a publisher channel in confirm mode;
//! each subscription gets a channel of its own with its prefetch. When the
//! connection is lost, the next operation reconnects with exponential
//! backoff, and a subscription ends so its owner subscribes again. The URI's
//! credentials are never logged.

use std::sync::Arc;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;

use super::{Acker, BrokerConfig, Message, Names, Subscription, backoff};
use crate::error::{Reason, Retry};
use crate::{Error, Result};
use nas_domain::{EpochProgress, ExperimentName, StopJob, TrainJob, TrainResult};

/// How long operations keep reconnecting before they give up.
const RECONNECT_ATTEMPTS: u32 = 12;

/// How long one connection attempt (TCP, handshake, publisher channel) may
/// take: lapin has no handshake timeout, and a broker that accepts TCP and
/// never answers (seen with RabbitMQ 3.10 holding hundreds of quorum queues)
/// held clients forever. A timeout is transient, retried with backoff.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A RabbitMQ broker.
#[derive(Clone)]
pub struct RabbitMq {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RabbitMq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitMq")
            .field("host", &host_of(&self.inner.config.uri))
            .finish()
    }
}

struct Inner {
    config: BrokerConfig,
    names: Names,
    link: Mutex<Option<Link>>,
}

struct Link {
    connection: Arc<Connection>,
    publisher: Channel,
}

fn broker_error(action: &str, error: lapin::Error) -> Error {
    let retry = retry_of(&error);
    Error::queue(action, retry, error)
}

/// Refused credentials or rights, a missing virtual host, queue or
/// exchange, and mismatched declarations are permanent; lost connections
/// and closed channels are not.
pub fn retry_of(error: &lapin::Error) -> Retry {
    match error.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => match amqp.get_id() {
            // ACCESS_REFUSED, NOT_FOUND, PRECONDITION_FAILED, INVALID_PATH, NOT_ALLOWED
            403 | 404 | 406 | 402 | 530 => Retry::Permanent,
            _ => Retry::Transient,
        },
        lapin::ErrorKind::InvalidProtocolVersion(_)
        | lapin::ErrorKind::NoConfiguredExecutor
        | lapin::ErrorKind::NoConfiguredReactor => Retry::Permanent,
        _ => Retry::Transient,
    }
}

/// `host:port/vhost` of an AMQP URI, without credentials.
pub fn host_of(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    rest.rsplit_once('@').map_or(rest, |(_, host)| host).to_owned()
}

impl RabbitMq {
    /// A broker handle; connects on first use.
    pub fn new(config: BrokerConfig) -> Self {
        let names = Names::new(&config.prefix);
        RabbitMq {
            inner: Arc::new(Inner {
                config,
                names,
                link: Mutex::new(None),
            }),
        }
    }

    /// The topology names.
    pub fn names(&self) -> &Names {
        &self.inner.names
    }

    /// One connection attempt, bounded by [`CONNECT_TIMEOUT`].
    async fn connect(&self) -> Result<Link> {
        self.connect_within(CONNECT_TIMEOUT).await
    }

    /// One connection attempt, bounded by `limit`.
    async fn connect_within(&self, limit: std::time::Duration) -> Result<Link> {
        let host = host_of(&self.inner.config.uri);
        tokio::time::timeout(limit, self.connect_once())
            .await
            .unwrap_or_else(|_| {
                Err(Error::queue(
                    format!("connecting to {host}"),
                    Retry::Transient,
                    Reason(format!(
                        "no answer within {:.1} s (the broker accepted no handshake)",
                        limit.as_secs_f64()
                    )),
                ))
            })
    }

    async fn connect_once(&self) -> Result<Link> {
        let properties = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio::current())
            .with_connection_name(LongString::from(format!("nas-{}", std::process::id())));
        let connection = Connection::connect(&self.inner.config.uri, properties)
            .await
            .map_err(|e| broker_error(&format!("connecting to {}", host_of(&self.inner.config.uri)), e))?;
        let publisher = connection
            .create_channel()
            .await
            .map_err(|e| broker_error("opening a channel", e))?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| broker_error("enabling publisher confirms", e))?;
        tracing::info!(broker = %host_of(&self.inner.config.uri), "connected to RabbitMQ");
        Ok(Link {
            connection: Arc::new(connection),
            publisher,
        })
    }

    /// The live connection and its publisher channel, reconnecting with
    /// backoff when needed.
    async fn link(&self) -> Result<(Arc<Connection>, Channel)> {
        let mut guard = self.inner.link.lock().await;
        if let Some(link) = guard.as_ref()
            && link.connection.status().connected()
            && link.publisher.status().connected()
        {
            return Ok((link.connection.clone(), link.publisher.clone()));
        }
        *guard = None;
        let mut attempt = 0;
        loop {
            match self.connect().await {
                Ok(link) => {
                    let handles = (link.connection.clone(), link.publisher.clone());
                    *guard = Some(link);
                    return Ok(handles);
                }
                Err(error) if error.is_transient() && attempt + 1 < RECONNECT_ATTEMPTS => {
                    tracing::warn!(%error, attempt, "RabbitMQ unavailable; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    pub(super) async fn close(&self) {
        if let Some(link) = self.inner.link.lock().await.take() {
            let _ = link.connection.close(200, "shutting down").await;
        }
    }

    async fn forget_link(&self) {
        *self.inner.link.lock().await = None;
    }

    pub(super) async fn declare(&self, experiment: Option<&ExperimentName>) -> Result<()> {
        let (_, channel) = self.link().await?;
        let names = &self.inner.names;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        for exchange in [names.jobs_exchange(), names.dead_exchange()] {
            channel
                .exchange_declare(&exchange, ExchangeKind::Topic, durable, FieldTable::default())
                .await
                .map_err(|e| broker_error(&format!("declaring exchange {exchange}"), e))?;
        }
        let mut jobs_arguments = quorum();
        jobs_arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(i64::from(self.inner.config.delivery_limit)),
        );
        jobs_arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(names.dead_exchange().into()),
        );
        declare_queue(&channel, &names.jobs_queue(), jobs_arguments).await?;
        bind(&channel, &names.jobs_queue(), &names.jobs_exchange(), "jobs.*").await?;
        channel
            .exchange_declare(
                &names.control_exchange(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await
            .map_err(|e| broker_error("declaring the control exchange", e))?;
        if let Some(experiment) = experiment {
            declare_queue(&channel, &names.results_queue(experiment), quorum()).await?;
            declare_queue(&channel, &names.progress_queue(experiment), quorum()).await?;
            declare_queue(&channel, &names.dead_queue(experiment), quorum()).await?;
            bind(
                &channel,
                &names.dead_queue(experiment),
                &names.dead_exchange(),
                &Names::job_routing_key(experiment),
            )
            .await?;
        }
        Ok(())
    }

    /// Publishes with confirms, reconnecting and retrying on failure.
    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        message_id: String,
    ) -> Result<()> {
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"))
            .with_message_id(ShortString::from(message_id));
        let mut attempt = 0;
        loop {
            let outcome = async {
                let (_, channel) = self.link().await?;
                let confirm = channel
                    .basic_publish(
                        exchange,
                        routing_key,
                        BasicPublishOptions::default(),
                        body,
                        properties.clone(),
                    )
                    .await
                    .map_err(|e| broker_error("publishing", e))?
                    .await
                    .map_err(|e| broker_error("awaiting the publisher confirm", e))?;
                if confirm.is_ack() {
                    Ok(())
                } else {
                    Err(Error::queue(
                        "publishing",
                        Retry::Transient,
                        Reason("the broker refused the message (a negative confirm)".into()),
                    ))
                }
            }
            .await;
            match outcome {
                Ok(()) => return Ok(()),
                Err(error) if error.is_transient() && attempt + 1 < RECONNECT_ATTEMPTS => {
                    tracing::warn!(%error, attempt, "publish failed; reconnecting");
                    self.forget_link().await;
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    pub(super) async fn publish_job(&self, job: &TrainJob) -> Result<()> {
        let names = &self.inner.names;
        self.publish(
            &names.jobs_exchange(),
            &Names::job_routing_key(&job.experiment),
            &job.to_json(),
            job.job_id.to_string(),
        )
        .await
    }

    pub(super) async fn publish_raw_job(&self, experiment: &ExperimentName, body: &[u8]) -> Result<()> {
        let names = &self.inner.names;
        self.publish(
            &names.jobs_exchange(),
            &Names::job_routing_key(experiment),
            body,
            "raw".into(),
        )
        .await
    }

    pub(super) async fn publish_result(&self, result: &TrainResult) -> Result<()> {
        let queue = self.inner.names.results_queue(&result.experiment);
        self.publish("", &queue, &result.to_json(), result.job_id.to_string())
            .await
    }

    pub(super) async fn publish_progress(&self, progress: &EpochProgress) -> Result<()> {
        let queue = self.inner.names.progress_queue(&progress.experiment);
        let id = format!("{}-{}-{}", progress.job_id, progress.attempt, progress.epoch());
        self.publish("", &queue, &progress.to_json(), id).await
    }

    pub(super) async fn publish_stop(&self, worker_id: &str, stop: &StopJob) -> Result<()> {
        let exchange = self.inner.names.control_exchange();
        self.publish(&exchange, worker_id, &stop.to_json(), stop.job_id.to_string())
            .await
    }

    /// A worker's own control queue: exclusive, deleted with its
    /// connection, bound to the control exchange under the worker's id.
    pub(super) async fn subscribe_control(&self, worker_id: &str) -> Result<Subscription> {
        let (connection, _) = self.link().await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| broker_error("opening a channel", e))?;
        let exchange = self.inner.names.control_exchange();
        channel
            .exchange_declare(
                &exchange,
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| broker_error("declaring the control exchange", e))?;
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        let name = self.inner.names.control_queue(worker_id);
        channel
            .queue_declare(&name, options, FieldTable::default())
            .await
            .map_err(|e| broker_error(&format!("declaring the control queue {name}"), e))?;
        bind(&channel, &name, &exchange, worker_id).await?;
        channel
            .basic_qos(16, BasicQosOptions::default())
            .await
            .map_err(|e| broker_error("setting the prefetch", e))?;
        let tag = format!("nas-control-{}", uuid::Uuid::new_v4().simple());
        let consumer = channel
            .basic_consume(&name, &tag, BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(|e| broker_error("consuming the control queue", e))?;
        Ok(Subscription::RabbitMq(consumer))
    }

    pub(super) async fn subscribe(&self, queue: &str, prefetch: u16) -> Result<Subscription> {
        let (connection, _) = self.link().await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| broker_error("opening a channel", e))?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| broker_error("setting the prefetch", e))?;
        let tag = format!("nas-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let consumer = channel
            .basic_consume(queue, &tag, BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(|e| broker_error(&format!("consuming {queue}"), e))?;
        Ok(Subscription::RabbitMq(consumer))
    }
}

fn quorum() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    arguments
}

async fn declare_queue(channel: &Channel, queue: &str, arguments: FieldTable) -> Result<()> {
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue, options, arguments)
        .await
        .map(drop)
        .map_err(|e| broker_error(&format!("declaring queue {queue}"), e))
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> Result<()> {
    channel
        .queue_bind(
            queue,
            exchange,
            key,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| broker_error(&format!("binding {queue} to {exchange}"), e))
}

pub(super) async fn next(consumer: &mut lapin::Consumer) -> Option<Result<Message>> {
    let delivery = match consumer.next().await? {
        Ok(delivery) => delivery,
        Err(error) => return Some(Err(broker_error("receiving", error))),
    };
    let delivery_count = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get("x-delivery-count").cloned())
        .and_then(|value| match value {
            AMQPValue::LongLongInt(n) => u64::try_from(n).ok(),
            AMQPValue::LongInt(n) => u64::try_from(n).ok(),
            AMQPValue::LongUInt(n) => Some(u64::from(n)),
            _ => None,
        })
        .unwrap_or(0);
    Some(Ok(Message {
        body: delivery.data,
        redelivered: delivery.redelivered,
        delivery_count,
        acker: Acker::RabbitMq(delivery.acker),
    }))
}

pub(super) async fn ack(acker: &lapin::acker::Acker) -> Result<()> {
    acker
        .ack(BasicAckOptions::default())
        .await
        .map(drop)
        .map_err(|e| broker_error("acking", e))
}

pub(super) async fn reject(acker: &lapin::acker::Acker, requeue: bool) -> Result<()> {
    // `requeue` is lapin's own flag; callers say `requeue()` or `dead_letter()`.
    acker
        .reject(BasicRejectOptions { requeue })
        .await
        .map(drop)
        .map_err(|e| broker_error("rejecting", e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A "broker" that accepts TCP connections and never answers.
    async fn silent_broker() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        port
    }

    #[tokio::test]
    async fn a_broker_that_never_answers_the_handshake_is_a_transient_failure_not_a_hang() {
        let port = silent_broker().await;
        let broker = RabbitMq::new(BrokerConfig {
            uri: format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
            ..BrokerConfig::default()
        });
        let limit = std::time::Duration::from_millis(300);
        let started = tokio::time::Instant::now();
        // The outer bound only turns a hang into a failure.
        let attempt = tokio::time::timeout(std::time::Duration::from_secs(10), broker.connect_within(limit));
        let error = attempt.await.expect("the attempt hung").err().unwrap();
        assert!(error.is_transient(), "{error}");
        assert!(error.to_string().contains("no answer within 0.3 s"), "{error}");
        assert!(started.elapsed() >= limit, "{:?}", started.elapsed());
    }
}
