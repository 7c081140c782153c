//! The object store on any S3-compatible endpoint, through aws-sdk-s3.
//!
//! Credentials come from the standard AWS chain (environment variables
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profiles, web identity on
//! Kubernetes, instance metadata); they are never logged. Non-AWS servers
//! need `endpoint` and usually `path_style`.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

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

fn error(action: &str, key: &str, error: impl std::fmt::Display) -> Error {
    Error::Store(format!("{action} {key}: {error}"))
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

    pub(super) async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let response = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match response {
            Ok(output) => {
                let body = output
                    .body
                    .collect()
                    .await
                    .map_err(|e| error("reading", key, e))?;
                Ok(Some(body.into_bytes()))
            }
            Err(failure) => match failure.into_service_error() {
                missing if missing.is_no_such_key() => Ok(None),
                other => Err(error("getting", key, other)),
            },
        }
    }

    pub(super) async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(drop)
            .map_err(|failure| error("putting", key, failure.into_service_error()))
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
            let page = page.map_err(|failure| error("listing", prefix, failure.into_service_error()))?;
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
        let response = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let output = match response {
            Ok(output) => output,
            Err(failure) => {
                return match failure.into_service_error() {
                    missing if missing.is_no_such_key() => Ok(false),
                    other => Err(error("getting", key, other)),
                };
            }
        };
        let mut reader = output.body.into_async_read();
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(|e| error("creating", &path.display().to_string(), e))?;
        tokio::io::copy(&mut reader, &mut file)
            .await
            .map_err(|e| error("downloading", key, e))?;
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(|e| error("downloading", key, e))?;
        Ok(true)
    }

    pub(super) async fn upload(&self, key: &str, path: &Path) -> Result<()> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| error("reading", &path.display().to_string(), e))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map(drop)
            .map_err(|failure| error("uploading", key, failure.into_service_error()))
    }
}
