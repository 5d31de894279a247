//! SigV4 signing of S3 requests with aws-sigv4; the time is passed in.

use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::Request;
use crate::error::{Error, Result};
use crate::s3::Credentials;

/// Signs requests for one set of credentials and region.
pub struct Signer {
    identity: Identity,
    region: String,
}

/// Whether the payload's SHA-256 goes into the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Hash the body (needed over plain HTTP, where nothing else protects it).
    Signed,
    /// `UNSIGNED-PAYLOAD`: over HTTPS, where TLS protects the body and hashing it in wasm is slow.
    Unsigned,
}

impl Signer {
    /// A signer for `credentials` in `region`.
    pub fn new(credentials: &Credentials, region: &str) -> Signer {
        let credentials = AwsCredentials::new(
            &credentials.access_key_id,
            &credentials.secret_access_key,
            credentials.session_token.clone(),
            None,
            "s3cache",
        );
        Signer {
            identity: credentials.into(),
            region: region.to_owned(),
        }
    }

    /// Adds `authorization`, `x-amz-date`, `x-amz-content-sha256` and, with a session token,
    /// `x-amz-security-token` to `request`.
    pub fn sign(&self, request: &mut Request, time: SystemTime, payload: Payload) -> Result<()> {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| Error::InvalidConfig(format!("cannot sign requests: {e}")))?
            .into();
        let body = match payload {
            Payload::Signed => SignableBody::Bytes(&request.body),
            Payload::Unsigned => SignableBody::UnsignedPayload,
        };
        let signable = SignableRequest::new(
            request.method,
            request.url.as_str(),
            request
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
            body,
        )
        .map_err(|e| Error::InvalidInput(format!("cannot sign {}: {e}", request.url)))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| Error::InvalidInput(format!("cannot sign {}: {e}", request.url)))?
            .into_parts();
        let (headers, _query) = instructions.into_parts();
        for header in headers {
            request.header(header.name(), header.value());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::Endpoint;
    use crate::s3::{Condition, PutOptions, RequestBuilder};
    use std::time::Duration;

    /// AWS's documented example key pair and date (the SigV4 examples in the S3 API reference).
    fn example_signer(session_token: Option<&str>) -> Signer {
        Signer::new(
            &Credentials {
                access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
                session_token: session_token.map(str::to_owned),
            },
            "us-east-1",
        )
    }

    /// 2013-05-24T00:00:00Z, the date of AWS's S3 SigV4 examples.
    fn example_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    fn header<'a>(request: &'a Request, name: &str) -> &'a str {
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    /// AWS's "GET Object" example: `GET /test.txt` on `examplebucket.s3.amazonaws.com` with
    /// `Range: bytes=0-9`, whose documented signature is
    /// f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41.
    #[test]
    fn aws_documented_get_object_example() {
        let mut request = Request {
            method: "GET",
            url: "https://examplebucket.s3.amazonaws.com/test.txt".to_owned(),
            headers: vec![("range".to_owned(), "bytes=0-9".to_owned())],
            body: bytes::Bytes::new(),
            max_response_body: 0,
            xml_reply: false,
        };
        example_signer(None)
            .sign(&mut request, example_time(), Payload::Signed)
            .unwrap();
        assert_eq!(
            header(&request, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert_eq!(header(&request, "x-amz-date"), "20130524T000000Z");
        assert_eq!(
            header(&request, "x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// A PUT through our own request builder, pinned so any change to what is signed shows.
    #[test]
    fn put_object_signature_is_stable() {
        let endpoint =
            Endpoint::resolve(Some("http://127.0.0.1:9000"), "us-east-1", "cache", None).unwrap();
        let bucket = RequestBuilder {
            endpoint: &endpoint,
        };
        let options = PutOptions {
            acl: Some("private"),
            storage_class: None,
            sse: None,
            sse_kms_key_id: None,
            expires: "never",
            writes: "0123456789abcdef",
            key: None,
        };
        let mut request = bucket.put_object(
            "loc/41ab",
            bytes::Bytes::from_static(b"v"),
            &Condition::Absent,
            options,
        );
        example_signer(Some("session-token"))
            .sign(&mut request, example_time(), Payload::Signed)
            .unwrap();
        assert_eq!(header(&request, "x-amz-security-token"), "session-token");
        let authorization = header(&request, "authorization");
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
                 SignedHeaders=content-length;content-type;host;if-none-match;x-amz-acl;\
                 x-amz-content-sha256;x-amz-date;x-amz-meta-s3cache-expires;\
                 x-amz-meta-s3cache-writes;x-amz-security-token, \
                 Signature="
            ),
            "{authorization}"
        );
        assert!(!authorization.contains("EXAMPLEKEY"));
    }

    #[test]
    fn unsigned_payload_is_declared() {
        let mut request = Request {
            method: "PUT",
            url: "https://examplebucket.s3.amazonaws.com/k".to_owned(),
            headers: vec![],
            body: bytes::Bytes::from_static(b"body"),
            max_response_body: 0,
            xml_reply: false,
        };
        example_signer(None)
            .sign(&mut request, example_time(), Payload::Unsigned)
            .unwrap();
        assert_eq!(header(&request, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
    }
}
