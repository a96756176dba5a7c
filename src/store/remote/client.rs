//! The connection to one remote: an S3 client (object_store's) over its own
//! small tokio runtime, the checks made before a run, and errors turned
//! into messages that name the remote and what to check.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig};

use super::credentials::Access;
use super::layout::Layout;
use super::url::RemoteUrl;

/// Why a remote cannot be used; each message names the remote and what to check.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The endpoint does not answer.
    #[error("cannot reach the remote {remote} at {endpoint}: {detail}. Check AWS_ENDPOINT_URL and that the server is running")]
    Unreachable {
        /// The remote's URL.
        remote: String,
        /// The endpoint tried.
        endpoint: String,
        /// What failed.
        detail: String,
    },
    /// The server refused the credentials.
    #[error(
        "the remote {remote} at {endpoint} refused the credentials from {source_of_keys}: {detail}. Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
    )]
    Refused {
        /// The remote's URL.
        remote: String,
        /// The endpoint tried.
        endpoint: String,
        /// Where the keys came from (never the keys).
        source_of_keys: String,
        /// The server's answer.
        detail: String,
    },
    /// The bucket does not exist.
    #[error("the bucket {bucket:?} of the remote {remote} does not exist at {endpoint}: create it, or check the remote's address")]
    NoBucket {
        /// The remote's URL.
        remote: String,
        /// The bucket.
        bucket: String,
        /// The endpoint tried.
        endpoint: String,
    },
    /// No credentials were found.
    #[error("no credentials for the remote {remote}: found {source_of_keys}")]
    NoKeys {
        /// The remote's URL.
        remote: String,
        /// Where they were looked for.
        source_of_keys: String,
    },
    /// Anything else the server or client said.
    #[error("the remote {remote}: {detail}")]
    Other {
        /// The remote's URL.
        remote: String,
        /// What failed.
        detail: String,
    },
}

/// An open remote.
pub struct Remote {
    url: RemoteUrl,
    layout: Layout,
    endpoint: String,
    source_of_keys: String,
    store: Arc<AmazonS3>,
    runtime: tokio::runtime::Runtime,
}

impl Remote {
    /// Opens `url` with the endpoint, region and credentials of `access`.
    /// Nothing is sent yet: [`Remote::check`] does that.
    pub fn open(url: RemoteUrl, access: &Access) -> Result<Remote, RemoteError> {
        let Some(keys) = &access.keys else {
            return Err(RemoteError::NoKeys { remote: url.to_string(), source_of_keys: access.source.clone() });
        };
        let endpoint = access.endpoint.clone().unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", access.region));
        let options = ClientOptions::new()
            .with_allow_http(endpoint.starts_with("http://"))
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(300));
        let retry = RetryConfig {
            backoff: BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(2), base: 2.0 },
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&url.bucket)
            .with_region(&access.region)
            .with_endpoint(&endpoint)
            .with_access_key_id(&keys.id)
            .with_secret_access_key(&keys.secret)
            .with_client_options(options)
            .with_retry(retry)
            .with_conditional_put(S3ConditionalPut::ETagMatch);
        if let Some(token) = &keys.token {
            builder = builder.with_token(token);
        }
        let other = |detail: String| RemoteError::Other { remote: url.to_string(), detail };
        let store = builder.build().map_err(|e| other(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lungflow-remote")
            .enable_all()
            .build()
            .map_err(|e| other(format!("cannot start the transfer threads: {e}")))?;
        Ok(Remote { layout: Layout::of(&url), url, endpoint, source_of_keys: access.source.clone(), store: Arc::new(store), runtime })
    }

    /// The remote's address.
    pub fn url(&self) -> &RemoteUrl {
        &self.url
    }

    /// Where things are on it.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Runs a transfer to its end on the remote's threads.
    pub fn block_on<T>(&self, work: impl Future<Output = T>) -> T {
        self.runtime.block_on(work)
    }

    /// Lists one page under the prefix: fails, with the reason, when the
    /// endpoint does not answer, refuses the credentials or has no such bucket.
    pub fn check(&self) -> Result<(), RemoteError> {
        let records = self.layout.records();
        match self.block_on(self.store.list_with_delimiter(Some(&records))) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain(&e, true)),
        }
    }

    /// Turns a client error into a message; `bucket_level` says the request
    /// was about the bucket, so that a 404 means the bucket is missing.
    pub fn explain(&self, e: &object_store::Error, bucket_level: bool) -> RemoteError {
        let detail = chain(e);
        let remote = self.url.to_string();
        let endpoint = self.endpoint.clone();
        let lower = detail.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| lower.contains(&w.to_ascii_lowercase()));
        if has(&["NoSuchBucket", "bucket does not exist", "specified bucket"])
            || (bucket_level && matches!(e, object_store::Error::NotFound { .. }))
        {
            RemoteError::NoBucket { remote, bucket: self.url.bucket.clone(), endpoint }
        } else if has(&["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403 Forbidden", "Unauthenticated", "Forbidden"])
            || matches!(e, object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. })
        {
            RemoteError::Refused { remote, endpoint, source_of_keys: self.source_of_keys.clone(), detail: short(&detail) }
        } else if has(&[
            "connection refused",
            "error sending request",
            "tcp connect",
            "dns error",
            "timed out",
            "connection reset",
            "broken pipe",
        ]) {
            RemoteError::Unreachable { remote, endpoint, detail: short(&detail) }
        } else {
            RemoteError::Other { remote, detail: short(&detail) }
        }
    }

    /// The object's bytes, or `None` when it does not exist.
    pub async fn get(&self, path: &Path) -> Result<Option<Bytes>, object_store::Error> {
        match self.store.get(path).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the object exists.
    pub async fn exists(&self, path: &Path) -> Result<bool, object_store::Error> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes an object, replacing any.
    pub async fn put(&self, path: &Path, bytes: Bytes) -> Result<(), object_store::Error> {
        self.store.put(path, PutPayload::from_bytes(bytes)).await.map(|_| ())
    }

    /// Writes an object only if none is there (`If-None-Match: *`); `false`
    /// when one was. A store without conditional writes gets a plain write:
    /// the caller reads back to see whose it is.
    pub async fn put_new(&self, path: &Path, bytes: Bytes) -> Result<bool, object_store::Error> {
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(path, PutPayload::from_bytes(bytes.clone()), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. }) => {
                self.put(path, bytes).await.map(|_| true)
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes an object (absent is fine).
    pub async fn delete(&self, path: &Path) -> Result<(), object_store::Error> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object under `prefix`, with its size and age.
    pub async fn list(&self, prefix: &Path) -> Result<Vec<ObjectMeta>, object_store::Error> {
        self.store.list(Some(prefix)).try_collect().await
    }
}

/// An error with its sources, one after another.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The first 300 characters of a message.
fn short(text: &str) -> String {
    if text.chars().count() <= 300 { text.to_owned() } else { format!("{}…", text.chars().take(300).collect::<String>()) }
}
