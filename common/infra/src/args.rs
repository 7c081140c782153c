//! Command-line arguments shared by both services: how to reach the
//! broker and the object store. Each flag also reads a `NAS_…` environment
//! variable; secrets (the broker URI's password, S3 keys) come from the
//! environment or files and are never printed. Also the parsers both
//! command lines share ([`parse_count`]), and the one way both print a
//! result ([`OutputArgs`]: `--output table|json`) and warn of a
//! deprecated spelling ([`deprecated`]).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use nas_domain::Task;

use crate::queue::{BrokerConfig, InProcessQueue, JobQueue, RabbitMq};
use crate::store::{LocalStore, ObjectStore, S3Config, S3Store};
use crate::{Error, Result};

/// Where the broker is.
#[derive(Args, Clone, Debug)]
pub struct BrokerArgs {
    /// AMQP URI of RabbitMQ (`amqps://` for TLS). Holds the password: prefer
    /// the environment variable, `--broker-uri-file`, or a Kubernetes
    /// Secret. Without one, the local development broker (guest on
    /// 127.0.0.1); the guest account is refused for any other host.
    #[arg(long = "broker-uri", env = "NAS_BROKER_URI", hide_env_values = true)]
    pub uri: Option<String>,
    /// A file holding the AMQP URI (a mounted Secret); instead of
    /// --broker-uri.
    #[arg(
        long = "broker-uri-file",
        env = "NAS_BROKER_URI_FILE",
        value_name = "FILE",
        conflicts_with = "uri"
    )]
    pub uri_file: Option<PathBuf>,
    /// Prefix of the exchanges and queues.
    #[arg(long, env = "NAS_QUEUE_PREFIX", default_value = "nas")]
    pub queue_prefix: String,
    /// Deliveries of a job (crashes of its worker) before it is dead-lettered.
    #[arg(long, env = "NAS_DELIVERY_LIMIT", default_value_t = 3)]
    pub delivery_limit: u32,
}

/// The broker of local development: RabbitMQ's guest account, which the
/// broker itself accepts only over loopback.
pub const LOCAL_BROKER_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

impl BrokerArgs {
    /// The broker configuration: the URI from the flag, the variable or the
    /// file (else the local development broker), checked for the guest
    /// account.
    pub fn config(&self) -> Result<BrokerConfig> {
        let uri = match (&self.uri, &self.uri_file) {
            (Some(uri), _) => uri.trim().to_owned(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|error| {
                    Error::Config(format!(
                        "cannot read the broker URI file {}: {error}",
                        path.display()
                    ))
                })?
                .trim()
                .to_owned(),
            (None, None) => LOCAL_BROKER_URI.to_owned(),
        };
        check_guest(&uri)?;
        Ok(BrokerConfig {
            uri,
            prefix: self.queue_prefix.clone(),
            delivery_limit: self.delivery_limit,
        })
    }

    /// A RabbitMQ job queue.
    pub fn queue(&self) -> Result<JobQueue> {
        Ok(JobQueue::RabbitMq(RabbitMq::new(self.config()?)))
    }

    /// An in-process job queue with the same delivery limit.
    pub fn in_process(&self) -> JobQueue {
        JobQueue::InProcess(InProcessQueue::new(self.delivery_limit))
    }
}

/// Refuses RabbitMQ's guest account (named, or implied by a URI without
/// credentials) for any broker but a loopback one. Never echoes the URI,
/// which holds the password.
pub fn check_guest(uri: &str) -> Result<()> {
    let uri: lapin::uri::AMQPUri = uri
        .parse()
        .map_err(|error| Error::Config(format!("the broker URI is not a valid AMQP URI: {error}")))?;
    let host = uri.authority.host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    if uri.authority.userinfo.username == "guest" && !loopback {
        return Err(Error::Config(format!(
            "the broker URI for {host} uses RabbitMQ's guest account, which is for local development \
             only: give the controller and the workers their own users (docs: Security)"
        )));
    }
    Ok(())
}

/// Where the object store is: a local directory (`--store`), or an S3
/// bucket (`--s3-bucket` and friends). A directory, when given, wins over
/// S3 settings, so `--store DIR` works in a shell that exports `NAS_S3_…`. Credentials come from the standard
/// AWS chain (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, profiles, web
/// identity).
#[derive(Args, Clone, Debug, Default)]
pub struct StoreArgs {
    /// A local directory as the store (the embedded mode's default is
    /// ./runs). Takes precedence over the S3 settings.
    #[arg(long = "store", env = "NAS_STORE_DIR", value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// S3 bucket.
    #[arg(long, env = "NAS_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// S3 endpoint URL for non-AWS servers (MinIO, Garage, Ceph).
    #[arg(long, env = "NAS_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "NAS_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Path-style S3 addressing (most self-hosted servers need it).
    #[arg(long, env = "NAS_S3_PATH_STYLE")]
    pub s3_path_style: bool,
}

impl StoreArgs {
    /// Opens the configured store: the directory if one is given, else the
    /// bucket, else `fallback`.
    pub async fn open(&self, fallback: Option<PathBuf>) -> Result<ObjectStore> {
        if let Some(directory) = &self.directory {
            return Ok(ObjectStore::Local(LocalStore::new(directory.clone())));
        }
        if let Some(bucket) = &self.s3_bucket {
            let config = S3Config {
                endpoint: self.s3_endpoint.clone(),
                region: self.s3_region.clone(),
                bucket: bucket.clone(),
                path_style: self.s3_path_style,
            };
            return Ok(ObjectStore::S3(S3Store::new(&config).await));
        }
        match fallback {
            Some(directory) => Ok(ObjectStore::Local(LocalStore::new(directory))),
            None => Err(Error::Config(
                "no object store: give --s3-bucket (NAS_S3_BUCKET) or --store DIR (NAS_STORE_DIR)".into(),
            )),
        }
    }
}

/// The `--task` of both command lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    /// CIFAR-10 image classification (CNN children).
    Cifar10,
    /// Word-level Penn Treebank (recurrent cells).
    Ptb,
    /// Character-level Penn Treebank (recurrent cells).
    PtbChar,
    /// What the trial command (or a surrogate's table) measures.
    Custom,
}

impl TaskArg {
    /// The task.
    pub fn task(self) -> Task {
        match self {
            TaskArg::Cifar10 => Task::Cifar10,
            TaskArg::Ptb => Task::PtbWord,
            TaskArg::PtbChar => Task::PtbChar,
            TaskArg::Custom => Task::Custom,
        }
    }
}

/// A count such as `20M`, `16.28M`, `500k` or `20000000`.
pub fn parse_count(text: &str) -> std::result::Result<i64, String> {
    let trimmed = text.trim();
    let (number, scale) = match trimmed.char_indices().last() {
        Some((at, 'k' | 'K')) => (&trimmed[..at], 1e3),
        Some((at, 'm' | 'M')) => (&trimmed[..at], 1e6),
        Some((at, 'g' | 'G' | 'b' | 'B')) => (&trimmed[..at], 1e9),
        _ => (trimmed, 1.0),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a count (write e.g. 20M, 500k or 20000000)"))?;
    let count = (value * scale).round();
    if !(1.0..=1e12).contains(&count) {
        return Err(format!("{text:?} must be between 1 and 10^12"));
    }
    Ok(count as i64)
}

/// Warns that `old` still works for this release but will go: use `new`.
pub fn deprecated(old: &str, new: &str) {
    eprintln!("warning: {old} is deprecated and will be removed in the next release; use {new}");
}

/// How a command prints what it found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables and sentences for a person.
    #[default]
    Table,
    /// One JSON object, on the last line.
    Json,
}

/// `--output table|json` (and the deprecated `--json`).
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// How to print the result.
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    /// Print JSON (deprecated: --output json).
    #[arg(long, hide = true)]
    json: bool,
}

impl OutputArgs {
    /// The output chosen.
    pub fn get(&self) -> Output {
        if self.json {
            deprecated("--json", "--output json");
            return Output::Json;
        }
        self.output
    }
}

#[cfg(test)]
mod tests {
    use super::parse_count;

    #[test]
    fn counts_take_a_suffix_and_reject_the_rest() {
        for (text, expected) in [
            ("20M", 20_000_000),
            ("16.28M", 16_280_000),
            ("500k", 500_000),
            ("1500", 1500),
            ("2G", 2_000_000_000),
        ] {
            assert_eq!(parse_count(text), Ok(expected), "{text}");
        }
        for bad in ["", "M", "twenty", "-3M", "0", "1e13"] {
            assert!(parse_count(bad).is_err(), "{bad:?} parsed");
        }
    }
}
