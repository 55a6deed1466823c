//! The S3 canary probe: a signed GET of a small canary object, as a client would do it.
//!
//! An anonymous `GET /` answers 200 on every RGW while RADOS is stalled (measured on 16.2.15
//! with the OSD frozen: 200 within milliseconds for the whole stall, while signed requests hung);
//! a signed read of an object goes through authentication and RADOS, so it fails when either
//! does. Requests are presigned with AWS SigV4 (rusty-s3, no hand-rolled crypto). The canary
//! bucket and object are created on first use when allowed.
//!
//! A 403 (`InvalidAccessKeyId`, `SignatureDoesNotMatch`, `AccessDenied`) is the operator's
//! configuration, not the daemon's health: it is reported as [`ProbeError::Config`], which
//! never drains or restarts anything. The secret key is never logged or shown.

use std::fmt;
use std::time::Duration;

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::{ProbeError, Verdict};

/// The canary's access key and secret, read from a file only the service user can read.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key: String,
    pub secret_key: String,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"(hidden)")
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct S3Canary {
    pub bucket: String,
    pub object: String,
    pub region: String,
    /// Create the bucket and object when they are missing.
    pub create: bool,
    pub credentials: S3Credentials,
    pub timeout: Duration,
    client: reqwest::Client,
}

/// S3 error codes that mean "your credentials or permissions", not "the daemon is sick".
const AUTH_CODES: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "RequestTimeTooSkewed",
];
const BUSY_CODES: &[&str] = &[
    "SlowDown",
    "ServiceUnavailable",
    "Throttling",
    "RequestLimitExceeded",
];

/// How long a presigned URL stays valid.
const VALIDITY: Duration = Duration::from_secs(60);

impl S3Canary {
    pub fn new(
        bucket: String,
        object: String,
        region: String,
        create: bool,
        credentials: S3Credentials,
        timeout: Duration,
    ) -> Result<Self, ProbeError> {
        let client = super::client()?;
        Ok(Self {
            bucket,
            object,
            region,
            create,
            credentials,
            timeout,
            client,
        })
    }

    /// Probes the S3 endpoint of the daemon whose HTTP probe URL is `daemon_url`: its origin.
    pub async fn probe_daemon(&self, daemon_url: &str) -> Result<Verdict, ProbeError> {
        match reqwest::Url::parse(daemon_url) {
            Ok(url) => self.probe(&url.origin().ascii_serialization()).await,
            Err(err) => Err(ProbeError::Config(format!("bad url {daemon_url}: {err}"))),
        }
    }

    /// Reads the canary object from the RGW at `endpoint` (`http://host:port`).
    pub async fn probe(&self, endpoint: &str) -> Result<Verdict, ProbeError> {
        match tokio::time::timeout(self.timeout, self.read_or_create(endpoint)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(ProbeError::Timeout),
        }
    }

    async fn read_or_create(&self, endpoint: &str) -> Result<Verdict, ProbeError> {
        let url = reqwest::Url::parse(endpoint)
            .map_err(|err| ProbeError::Config(format!("bad endpoint {endpoint}: {err}")))?;
        let bucket = Bucket::new(
            url,
            UrlStyle::Path,
            self.bucket.clone(),
            self.region.clone(),
        )
        .map_err(|err| ProbeError::Config(format!("bad canary bucket {}: {err}", self.bucket)))?;
        let credentials =
            Credentials::new(&self.credentials.access_key, &self.credentials.secret_key);
        let get = bucket
            .get_object(Some(&credentials), &self.object)
            .sign(VALIDITY);
        let (status, code) = self.send(self.client.get(get)).await?;
        match (status, code.as_deref()) {
            (200, _) => Ok(Verdict::Ok),
            (404, Some("NoSuchBucket" | "NoSuchKey")) if self.create => {
                self.create_canary(&bucket, &credentials).await?;
                Ok(Verdict::Ok)
            }
            (status, code) => classify(status, code),
        }
    }

    async fn create_canary(
        &self,
        bucket: &Bucket,
        credentials: &Credentials,
    ) -> Result<(), ProbeError> {
        let create = bucket.create_bucket(credentials).sign(VALIDITY);
        let (status, code) = self.send(self.client.put(create)).await?;
        // 409 BucketAlreadyOwnedByYou / BucketAlreadyExists: another sidecar was first.
        if status != 200 && status != 409 {
            classify(status, code.as_deref())?;
        }
        let put = bucket
            .put_object(Some(credentials), &self.object)
            .sign(VALIDITY);
        let body = "ceph-warden canary: read by the sidecars' S3 probe; safe to delete\n";
        let (status, code) = self.send(self.client.put(put).body(body)).await?;
        if status != 200 {
            classify(status, code.as_deref())?;
        }
        tracing::info!(bucket = %self.bucket, object = %self.object, "created the S3 canary object");
        Ok(())
    }

    /// Sends a request; the status and the S3 error code of the body, if any.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Option<String>), ProbeError> {
        let response = request.send().await.map_err(super::http::classify)?;
        let status = response.status().as_u16();
        if status < 300 {
            return Ok((status, None));
        }
        let body = response.text().await.unwrap_or_default();
        Ok((status, error_code(&body)))
    }
}

fn classify(status: u16, code: Option<&str>) -> Result<Verdict, ProbeError> {
    match (status, code) {
        (_, Some(code)) if AUTH_CODES.contains(&code) => Err(ProbeError::Config(format!(
            "s3 {code}: the canary credentials or their permissions are wrong"
        ))),
        (503, Some(code)) if BUSY_CODES.contains(&code) => Ok(Verdict::Busy {
            code: code.to_string(),
        }),
        (403, None) => Err(ProbeError::Config(
            "s3 403: the canary credentials are refused".into(),
        )),
        (status, _) => Err(ProbeError::Http(status)),
    }
}

/// `<Code>NoSuchKey</Code>` from an S3 XML error body.
fn error_code(body: &str) -> Option<String> {
    let (_, rest) = body.split_once("<Code>")?;
    let (code, _) = rest.split_once("</Code>")?;
    Some(code.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_errors_are_configuration_not_health() {
        let err = classify(403, Some("InvalidAccessKeyId")).unwrap_err();
        assert_eq!(
            err,
            ProbeError::Config(
                "s3 InvalidAccessKeyId: the canary credentials or their permissions are wrong"
                    .into()
            )
        );
        assert!(matches!(
            classify(403, Some("SignatureDoesNotMatch")),
            Err(ProbeError::Config(_))
        ));
        assert_eq!(
            classify(503, Some("SlowDown")),
            Ok(Verdict::Busy {
                code: "SlowDown".into()
            })
        );
        assert_eq!(
            classify(500, Some("InternalError")),
            Err(ProbeError::Http(500))
        );
        assert_eq!(
            error_code("<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><BucketName>b</BucketName></Error>"),
            Some("NoSuchKey".into())
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let credentials = S3Credentials {
            access_key: "AKIA-VISIBLE".into(),
            secret_key: "very-secret-value".into(),
        };
        let canary = S3Canary::new(
            "b".into(),
            "o".into(),
            "us-east-1".into(),
            true,
            credentials,
            Duration::from_secs(1),
        )
        .unwrap();
        let shown = format!("{canary:?}");
        assert!(shown.contains("AKIA-VISIBLE"), "{shown}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
    }
}
