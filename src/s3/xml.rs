//! S3's XML bodies, through quick-xml and serde.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

use crate::cull::Listed;

/// An `<Error>` reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorReply {
    /// S3's error code, e.g. `NoSuchKey`.
    #[serde(default)]
    pub code: String,
    /// Its human-readable message.
    #[serde(default)]
    pub message: String,
}

/// The `<Error>` in a body, if it has one.
pub fn parse_error(body: &[u8]) -> Option<ErrorReply> {
    parse_document(body, "Error").ok()
}

/// Deserialises a document whose root element must be `root` (serde alone ignores the root's
/// name, so an HTML error page would pass for an empty listing).
fn parse_document<T: serde::de::DeserializeOwned>(body: &[u8], root: &str) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the reply is not UTF-8".to_owned())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let found = loop {
        match reader.read_event() {
            Ok(Event::Start(start)) | Ok(Event::Empty(start)) => {
                break start.local_name().as_ref().to_owned();
            }
            Ok(Event::Eof) => return Err("the reply is empty".to_owned()),
            Ok(_) => {}
            Err(e) => return Err(format!("the reply is not XML: {e}")),
        }
    };
    if found != root {
        return Err(format!("expected <{root}>, the reply is <{found}>"));
    }
    quick_xml::de::from_str(text).map_err(|e| format!("the reply is not a valid <{root}>: {e}"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<Contents>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
    last_modified: String,
    #[serde(default)]
    size: u64,
}

/// One page of a ListObjectsV2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// The objects on this page.
    pub objects: Vec<Listed>,
    /// Where the next page starts, when there is one.
    pub continuation: Option<String>,
}

/// Parses a ListObjectsV2 reply; an error names what is wrong with it.
pub fn parse_list(body: &[u8]) -> Result<ListPage, String> {
    let result: ListBucketResult = parse_document(body, "ListBucketResult")?;
    let objects = result
        .contents
        .into_iter()
        .map(|contents| {
            let last_modified_ms = DateTime::from_str(&contents.last_modified, Format::DateTime)
                .ok()
                .and_then(|time| time.to_millis().ok())
                .ok_or_else(|| {
                    format!(
                        "the listing has a bad LastModified {:?}",
                        contents.last_modified
                    )
                })?;
            Ok(Listed {
                name: contents.key,
                last_modified_ms,
                size: contents.size,
            })
        })
        .collect::<Result<_, String>>()?;
    let continuation = match (result.is_truncated, result.next_continuation_token) {
        (true, Some(token)) => Some(token),
        (true, None) => return Err("a truncated listing has no continuation token".to_owned()),
        (false, _) => None,
    };
    Ok(ListPage {
        objects,
        continuation,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteResult {
    #[serde(default, rename = "Error")]
    errors: Vec<DeleteError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteError {
    #[serde(default)]
    key: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The failures a quiet DeleteObjects reply reports, as "key: code message" lines.
pub fn parse_delete_failures(body: &[u8]) -> Result<Vec<String>, String> {
    if body.trim_ascii().is_empty() {
        return Ok(Vec::new());
    }
    let result: DeleteResult = parse_document(body, "DeleteResult")?;
    Ok(result
        .errors
        .into_iter()
        .map(|e| format!("{}: {} {}", e.key, e.code, e.message))
        .collect())
}

#[derive(Serialize)]
#[serde(rename = "Delete")]
struct DeleteRequest<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Quiet")]
    quiet: bool,
    #[serde(rename = "Object")]
    objects: Vec<ObjectIdentifier<'a>>,
}

#[derive(Serialize)]
struct ObjectIdentifier<'a> {
    #[serde(rename = "Key")]
    key: &'a str,
}

const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The body of a quiet DeleteObjects request.
pub fn delete_request(names: &[&str]) -> String {
    let request = DeleteRequest {
        xmlns: S3_NAMESPACE,
        quiet: true,
        objects: names.iter().map(|key| ObjectIdentifier { key }).collect(),
    };
    // Serialising plain strings and a bool into XML cannot fail.
    quick_xml::se::to_string(&request).unwrap_or_default()
}

#[derive(Serialize)]
#[serde(rename = "CreateBucketConfiguration")]
struct CreateBucketConfiguration<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "LocationConstraint")]
    location_constraint: &'a str,
}

/// The body of a CreateBucket request outside us-east-1.
pub fn create_bucket_configuration(region: &str) -> String {
    let configuration = CreateBucketConfiguration {
        xmlns: S3_NAMESPACE,
        location_constraint: region,
    };
    quick_xml::se::to_string(&configuration).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>cache</Name><Prefix>loc/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>
  <Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
  <Contents><Key>loc/a&amp;b</Key><LastModified>2024-01-02T03:04:05.678Z</LastModified>
    <ETag>"x"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>loc/c</Key><LastModified>2024-01-02T03:04:05Z</LastModified><Size>1</Size></Contents>
  <CommonPrefixes><Prefix>loc/sub/</Prefix></CommonPrefixes>
  <NextContinuationToken>next/token=</NextContinuationToken>
</ListBucketResult>"#;

    #[test]
    fn listings_parse_with_times_and_continuation() {
        let page = parse_list(LISTING.as_bytes()).unwrap();
        assert_eq!(
            page.objects,
            [
                Listed {
                    name: "loc/a&b".into(),
                    last_modified_ms: 1_704_164_645_678,
                    size: 3,
                },
                Listed {
                    name: "loc/c".into(),
                    last_modified_ms: 1_704_164_645_000,
                    size: 1,
                },
            ]
        );
        assert_eq!(page.continuation.as_deref(), Some("next/token="));
    }

    #[test]
    fn empty_and_last_pages_parse() {
        let empty = r#"<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>"#;
        assert_eq!(
            parse_list(empty.as_bytes()).unwrap(),
            ListPage {
                objects: vec![],
                continuation: None
            }
        );
    }

    #[test]
    fn broken_listings_are_errors_not_panics() {
        assert!(parse_list(b"").is_err());
        assert!(parse_list(b"\xff\xfe").is_err());
        assert!(parse_list(b"<html>gateway</html>").is_err());
        let bad_time = r#"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><LastModified>yesterday</LastModified></Contents></ListBucketResult>"#;
        assert!(parse_list(bad_time.as_bytes()).is_err());
        let no_token = r#"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"#;
        assert!(parse_list(no_token.as_bytes()).is_err());
    }

    #[test]
    fn arbitrary_replies_never_panic_the_parsers() {
        let mut state = 0x9e37_79b9_u64;
        let pieces = [
            "<ListBucketResult>",
            "</ListBucketResult>",
            "<Contents>",
            "</Contents>",
            "<Key>",
            "</Key>",
            "<LastModified>",
            "2024-01-01T00:00:00Z",
            "</LastModified>",
            "<IsTruncated>",
            "true",
            "</IsTruncated>",
            "<Error>",
            "<Code>",
            "&amp;",
            "&bogus;",
            "<![CDATA[",
            "]]>",
            "<?xml version=\"1.0\"?>",
            "\u{0}",
            "\u{fffd}",
            "<",
            ">",
            "x",
        ];
        for _ in 0..5_000 {
            let mut text = String::new();
            for _ in 0..(state % 12) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            let _ = parse_list(text.as_bytes());
            let _ = parse_error(text.as_bytes());
            let _ = parse_delete_failures(text.as_bytes());
            state = state.wrapping_add(1);
        }
    }

    #[test]
    fn error_replies_parse() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message><Key>k</Key></Error>";
        assert_eq!(
            parse_error(body),
            Some(ErrorReply {
                code: "NoSuchKey".into(),
                message: "gone".into()
            })
        );
        assert_eq!(parse_error(b""), None);
    }

    #[test]
    fn delete_requests_and_failures() {
        assert_eq!(
            delete_request(&["a", "b<c"]),
            "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>\
             <Object><Key>a</Key></Object><Object><Key>b&lt;c</Key></Object></Delete>"
        );
        let reply = b"<DeleteResult><Error><Key>k</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>";
        assert_eq!(
            parse_delete_failures(reply).unwrap(),
            ["k: AccessDenied no"]
        );
        assert_eq!(
            parse_delete_failures(b"<DeleteResult/>").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(parse_delete_failures(b"").unwrap(), Vec::<String>::new());
        assert!(parse_delete_failures(b"<<<").is_err());
    }
}
