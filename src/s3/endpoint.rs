//! Where a bucket's requests go: an endpoint URL and the addressing style.

use std::net::IpAddr;

use http::Uri;

use crate::error::{Error, Result};

/// Where a bucket's requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]` as sent and signed: the bucket's host when virtual-hosted, no default port.
    pub authority: String,
    /// Path before the object key: base path, plus `/bucket` when path-style; no trailing slash.
    pub bucket_path: String,
}

impl Endpoint {
    /// Resolves an endpoint URL (or AWS's, when `None`) and the addressing style.
    pub fn resolve(
        endpoint: Option<&str>,
        region: &str,
        bucket: &str,
        path_style: Option<bool>,
    ) -> Result<Endpoint> {
        let aws = format!("https://s3.{region}.amazonaws.com");
        let url = endpoint.unwrap_or(&aws);
        if url.contains('@') {
            // user:password@ in a URL is a credential; never echo it.
            return Err(Error::invalid_setting(
                "endpoint",
                "it must not carry credentials; use the credentials fields".to_owned(),
            ));
        }
        let uri: Uri = url
            .parse()
            .map_err(|_| Error::invalid_setting("endpoint", format!("{url:?} is not a URL")))?;
        let scheme = match uri.scheme_str() {
            Some(scheme @ ("http" | "https")) => scheme.to_owned(),
            _ => {
                return Err(Error::invalid_setting(
                    "endpoint",
                    format!("{url:?} must start with http:// or https://"),
                ));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| Error::invalid_setting("endpoint", format!("{url:?} has no host")))?;
        if uri.query().is_some() {
            return Err(Error::invalid_setting(
                "endpoint",
                format!("{url:?} must not have a query"),
            ));
        }
        let host = authority.host();
        if host.is_empty() || url.contains('#') {
            return Err(Error::invalid_setting(
                "endpoint",
                format!("{url:?} needs a host, and no fragment"),
            ));
        }
        let port_text = authority.as_str().strip_prefix(host).unwrap_or_default();
        if !port_text.is_empty() && authority.port_u16().is_none() {
            return Err(Error::invalid_setting(
                "endpoint",
                format!("{url:?} has a port that is not a number from 0 to 65535"),
            ));
        }
        let default_port = if scheme == "https" { 443 } else { 80 };
        let port = match authority.port_u16() {
            Some(port) if port != default_port => format!(":{port}"),
            _ => String::new(),
        };
        let base_path = uri.path().trim_end_matches('/');
        let literal_host = host.trim_start_matches('[').trim_end_matches(']');
        let is_local = host == "localhost" || literal_host.parse::<IpAddr>().is_ok();
        if path_style.unwrap_or(is_local) {
            Ok(Endpoint {
                scheme,
                authority: format!("{host}{port}"),
                bucket_path: format!("{base_path}/{bucket}"),
            })
        } else if is_local && literal_host != "localhost" {
            Err(Error::invalid_setting(
                "addressing",
                format!("virtual-hosted addressing needs a DNS name, not the address {host}"),
            ))
        } else {
            Ok(Endpoint {
                scheme,
                authority: format!("{bucket}.{host}{port}"),
                bucket_path: base_path.to_owned(),
            })
        }
    }

    /// The URL of `path` (already percent-encoded, starting with `/` or empty) plus a query.
    pub fn url(&self, encoded_key: &str, query: &str) -> String {
        let path = match (self.bucket_path.as_str(), encoded_key) {
            ("", "") => "/".to_owned(),
            (bucket_path, "") => format!("{bucket_path}/"),
            (bucket_path, key) => format!("{bucket_path}/{key}"),
        };
        let separator = if query.is_empty() { "" } else { "?" };
        format!(
            "{}://{}{path}{separator}{query}",
            self.scheme, self.authority
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Name, endpoint URL, path-style, then the expected scheme, authority and bucket path.
    type EndpointCase<'a> = (
        &'a str,
        Option<&'a str>,
        Option<bool>,
        &'a str,
        &'a str,
        &'a str,
    );

    #[test]
    fn endpoints_resolve_to_authority_and_path() {
        let cases: &[EndpointCase] = &[
            (
                "aws default",
                None,
                None,
                "https",
                "cache.s3.eu-west-1.amazonaws.com",
                "",
            ),
            (
                "aws path-style",
                None,
                Some(true),
                "https",
                "s3.eu-west-1.amazonaws.com",
                "/cache",
            ),
            (
                "ip is path-style",
                Some("http://127.0.0.1:9000"),
                None,
                "http",
                "127.0.0.1:9000",
                "/cache",
            ),
            (
                "localhost is path-style",
                Some("http://localhost:9000/"),
                None,
                "http",
                "localhost:9000",
                "/cache",
            ),
            (
                "ipv6",
                Some("http://[::1]:9000"),
                None,
                "http",
                "[::1]:9000",
                "/cache",
            ),
            (
                "default port dropped",
                Some("https://minio.example:443"),
                None,
                "https",
                "cache.minio.example",
                "",
            ),
            (
                "http default port dropped",
                Some("http://127.0.0.1:80"),
                None,
                "http",
                "127.0.0.1",
                "/cache",
            ),
            (
                "base path kept",
                Some("https://gw.example/s3/"),
                Some(true),
                "https",
                "gw.example",
                "/s3/cache",
            ),
            (
                "localhost virtual-hosted",
                Some("http://localhost:9000"),
                Some(false),
                "http",
                "cache.localhost:9000",
                "",
            ),
        ];
        for (name, url, path_style, scheme, authority, bucket_path) in cases {
            let endpoint = Endpoint::resolve(*url, "eu-west-1", "cache", *path_style)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(endpoint.scheme, *scheme, "{name}");
            assert_eq!(endpoint.authority, *authority, "{name}");
            assert_eq!(endpoint.bucket_path, *bucket_path, "{name}");
        }
    }

    #[test]
    fn bad_endpoints_are_config_errors() {
        for url in [
            "127.0.0.1:9000",
            "ftp://host",
            "http://",
            "not a url",
            "http://u:p@host",
            "http://h/?x=1",
        ] {
            let result = Endpoint::resolve(Some(url), "us-east-1", "cache", None);
            assert!(
                matches!(result, Err(Error::InvalidSetting { .. })),
                "{url}: {result:?}"
            );
        }
        let ip_virtual =
            Endpoint::resolve(Some("http://10.0.0.1"), "us-east-1", "cache", Some(false));
        assert!(matches!(ip_virtual, Err(Error::InvalidSetting { .. })));
    }

    #[test]
    fn urls_join_bucket_key_and_query() {
        let path =
            Endpoint::resolve(Some("http://127.0.0.1:9000"), "us-east-1", "b", None).unwrap();
        assert_eq!(path.url("k/1", ""), "http://127.0.0.1:9000/b/k/1");
        assert_eq!(
            path.url("", "list-type=2"),
            "http://127.0.0.1:9000/b/?list-type=2"
        );
        let host = Endpoint::resolve(None, "us-east-1", "b12", None).unwrap();
        assert_eq!(
            host.url("k", ""),
            "https://b12.s3.us-east-1.amazonaws.com/k"
        );
        assert_eq!(
            host.url("", "delete"),
            "https://b12.s3.us-east-1.amazonaws.com/?delete"
        );
    }
}
