//! The object store on any S3-compatible endpoint, through aws-sdk-s3.
//!
//! Credentials come from the standard AWS chain (environment variables
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profiles, web identity on
//! Kubernetes, instance metadata); they are never logged. Non-AWS servers
//! need `endpoint` and usually `path_style`. Failures are sorted by
//! [`classify`]: what the server refuses (403, a missing bucket, other 4xx)
//! is permanent, everything else (5xx, throttling, timeouts, lost
//! connections) transient.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{BoxError, StoreProblem};
use crate::{Error, Result};

/// Where the bucket is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL (`http://127.0.0.1:3900` for a local Garage or MinIO);
    /// AWS's own endpoint when absent.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region (`us-east-1`; Garage's default is `garage`).
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// Path-style addressing (`endpoint/bucket/key`), which most
    /// self-hosted servers need.
    #[serde(default)]
    pub path_style: bool,
}

/// A bucket used as an object store.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    endpoint: Option<String>,
}

/// Sorts an SDK failure into a [`StoreProblem`], keeping the error.
pub fn classify<E>(failure: SdkError<E>) -> (StoreProblem, BoxError)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = failure.raw_response().map(|response| response.status().as_u16());
    let code = failure.code().map(str::to_owned);
    let problem = match (&failure, status) {
        (SdkError::ConstructionFailure(_), _) => StoreProblem::Rejected,
        (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_), _) => StoreProblem::Unavailable,
        (_, Some(401 | 403)) => StoreProblem::AccessDenied,
        (_, Some(404)) if code.as_deref() == Some("NoSuchBucket") => StoreProblem::NoSuchBucket,
        (_, Some(408 | 429)) | (_, Some(500..)) | (_, None) => StoreProblem::Unavailable,
        (_, Some(_)) => StoreProblem::Rejected,
    };
    let source: BoxError = match failure {
        SdkError::ServiceError(service) => Box::new(service.into_err()),
        other => Box::new(other),
    };
    (problem, source)
}

impl S3Store {
    /// Connects (lazily) to the bucket of `config`.
    pub async fn new(config: &S3Config) -> Self {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .load()
            .await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared).force_path_style(config.path_style);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        S3Store {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
            endpoint: config.endpoint.clone(),
        }
    }

    pub(super) fn describe(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("s3://{} at {endpoint}", self.bucket),
            None => format!("s3://{}", self.bucket),
        }
    }

    fn error(&self, action: &'static str, key: &str, problem: StoreProblem, source: BoxError) -> Error {
        Error::Store {
            store: self.describe(),
            action,
            key: key.to_owned(),
            problem,
            source: Some(source),
        }
    }

    fn failed<E>(&self, action: &'static str, key: &str, failure: SdkError<E>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (problem, source) = classify(failure);
        self.error(action, key, problem, source)
    }

    /// The object's body stream, or `None` when there is no such key.
    async fn open(&self, key: &str) -> Result<Option<ByteStream>> {
        let response = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match response {
            Ok(output) => Ok(Some(output.body)),
            Err(SdkError::ServiceError(service)) if service.err().is_no_such_key() => Ok(None),
            Err(failure) => Err(self.failed("getting", key, failure)),
        }
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let Some(body) = self.open(key).await? else {
            return Ok(None);
        };
        let body = body
            .collect()
            .await
            .map_err(|e| self.error("reading", key, StoreProblem::Unavailable, Box::new(e)))?;
        Ok(Some(body.into_bytes()))
    }

    pub(super) async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.put_body("putting", key, ByteStream::from(bytes)).await
    }

    async fn put_body(&self, action: &'static str, key: &str, body: ByteStream) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map(drop)
            .map_err(|failure| self.failed(action, key, failure))
    }

    pub(super) async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|failure| self.failed("listing", prefix, failure))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_owned)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    pub(super) async fn download(&self, key: &str, path: &Path) -> Result<bool> {
        let Some(body) = self.open(key).await? else {
            return Ok(false);
        };
        let local = |e: std::io::Error| super::local_store::io_error(path, e);
        let mut reader = body.into_async_read();
        let mut file = tokio::fs::File::create(path).await.map_err(local)?;
        tokio::io::copy(&mut reader, &mut file)
            .await
            .map_err(|e| self.error("downloading", key, StoreProblem::Unavailable, Box::new(e)))?;
        tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(local)?;
        Ok(true)
    }

    pub(super) async fn upload(&self, key: &str, path: &Path) -> Result<()> {
        let body = ByteStream::from_path(path).await.map_err(|e| {
            self.error(
                "reading",
                &path.display().to_string(),
                StoreProblem::Rejected,
                Box::new(e),
            )
        })?;
        self.put_body("uploading", key, body).await
    }
}
