//! S3's XML bodies: replies read as a stream of events (quick-xml's reader, no serde, which
//! would cost the component about a hundred kilobytes), requests written as plain text.

use quick_xml::Reader;
use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;

use crate::core::cull::Listed;

/// An `<Error>` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorReply {
    /// S3's error code, e.g. `NoSuchKey`.
    pub code: String,
    /// Its human-readable message.
    pub message: String,
    /// The region S3 names in a wrong-region error (`AuthorizationHeaderMalformed`), if any.
    pub region: Option<String>,
}

/// The deepest nesting a reply may have: S3's deepest is four
/// (`ListBucketResult/Contents/Owner/ID`), so a deeper one is not S3's and is not walked.
const MAX_DEPTH: usize = 8;

/// What the walker meets, at a path of element names.
enum Node<'a> {
    /// An element opens.
    Open,
    /// An element closes, with the text directly inside it.
    Close(&'a str),
}

/// Walks a document whose root element must be `root` (an HTML error page with status 200 must
/// not pass for an empty listing), calling `visit` with the local names of the open elements,
/// root first.
fn walk(
    body: &[u8],
    root: &str,
    mut visit: impl FnMut(&[String], Node<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|_| "the reply is not UTF-8".to_owned())?;
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut content = String::new();
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("the reply is not XML: {e}"))?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                let name = start.local_name().as_ref().to_owned();
                if path.is_empty() {
                    if seen_root {
                        return Err("the reply has two root elements".to_owned());
                    }
                    if name != root {
                        return Err(format!("expected <{root}>, the reply is <{name}>"));
                    }
                    seen_root = true;
                }
                path.push(name);
                if path.len() > MAX_DEPTH {
                    return Err(format!(
                        "the reply nests elements deeper than S3's replies do ({MAX_DEPTH})"
                    ));
                }
                content.clear();
                visit(&path, Node::Open)?;
                if empty {
                    visit(&path, Node::Close(""))?;
                    path.pop();
                }
            }
            Event::End(_) => {
                visit(&path, Node::Close(&content))?;
                content.clear();
                path.pop();
            }
            Event::Text(text) => content.push_str(&text.xml10_content()),
            Event::CData(data) => content.push_str(&data.into_inner()),
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(char)) => char.to_string(),
                    Ok(None) => resolve_predefined_entity(&reference)
                        .ok_or_else(|| {
                            format!("the reply uses an unknown entity &{};", &*reference)
                        })?
                        .to_owned(),
                    Err(e) => return Err(format!("the reply has a bad character reference: {e}")),
                };
                content.push_str(&resolved);
            }
            Event::Eof if !seen_root => return Err("the reply is empty".to_owned()),
            Event::Eof if !path.is_empty() => return Err("the reply ends early".to_owned()),
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// The names of `path` below the root, e.g. `["Contents", "Key"]`.
fn below_root(path: &[String]) -> Vec<&str> {
    path.iter().skip(1).map(String::as_str).collect()
}

/// The `<Error>` in a body, if it has one.
pub(crate) fn parse_error(body: &[u8]) -> Option<ErrorReply> {
    let mut reply = ErrorReply {
        code: String::new(),
        message: String::new(),
        region: None,
    };
    walk(body, "Error", |path, node| {
        if let Node::Close(text) = node {
            match below_root(path).as_slice() {
                ["Code"] => reply.code = text.to_owned(),
                ["Message"] => reply.message = text.to_owned(),
                ["Region"] => reply.region = Some(text.to_owned()),
                _ => {}
            }
        }
        Ok(())
    })
    .ok()?;
    Some(reply)
}

/// One page of a ListObjectsV2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListPage {
    /// The objects on this page.
    pub objects: Vec<Listed>,
    /// The common prefixes on it (the "directories" a delimiter folds away).
    pub prefixes: Vec<String>,
    /// Where the next page starts, when there is one.
    pub continuation: Option<String>,
}

/// Parses a ListObjectsV2 reply; an error names what is wrong with it.
pub(crate) fn parse_list(body: &[u8]) -> Result<ListPage, String> {
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    let mut truncated = false;
    let mut token = None;
    let (mut key, mut modified, mut size) = (None::<String>, None::<String>, 0u64);
    walk(body, "ListBucketResult", |path, node| {
        match (below_root(path).as_slice(), node) {
            (["Contents"], Node::Open) => (key, modified, size) = (None, None, 0),
            (["Contents", "Key"], Node::Close(text)) => key = Some(text.to_owned()),
            (["Contents", "LastModified"], Node::Close(text)) => modified = Some(text.to_owned()),
            (["Contents", "Size"], Node::Close(text)) => size = text.trim().parse().unwrap_or(0),
            (["Contents"], Node::Close(_)) => {
                let name = key
                    .take()
                    .ok_or("the listing has an object without a Key")?;
                let time = modified.take().unwrap_or_default();
                let last_modified_ms = parse_time(time.trim())
                    .ok_or_else(|| format!("the listing has a bad LastModified {time:?}"))?;
                objects.push(Listed {
                    name,
                    last_modified_ms,
                    size,
                });
            }
            (["CommonPrefixes", "Prefix"], Node::Close(text)) => prefixes.push(text.to_owned()),
            (["IsTruncated"], Node::Close(text)) => truncated = text.trim() == "true",
            (["NextContinuationToken"], Node::Close(text)) => token = Some(text.to_owned()),
            _ => {}
        }
        Ok(())
    })?;
    let continuation = match (truncated, token) {
        (true, Some(token)) => Some(token),
        (true, None) => return Err("a truncated listing has no continuation token".to_owned()),
        (false, _) => None,
    };
    Ok(ListPage {
        objects,
        prefixes,
        continuation,
    })
}

/// The failures a quiet DeleteObjects reply reports, as "key: code message" lines.
pub(crate) fn parse_delete_failures(body: &[u8]) -> Result<Vec<String>, String> {
    if body.trim_ascii().is_empty() {
        return Ok(Vec::new());
    }
    let mut failures = Vec::new();
    let (mut key, mut code, mut message) = (String::new(), String::new(), String::new());
    walk(body, "DeleteResult", |path, node| {
        match (below_root(path).as_slice(), node) {
            (["Error"], Node::Open) => (key, code, message) = Default::default(),
            (["Error", "Key"], Node::Close(text)) => key = text.to_owned(),
            (["Error", "Code"], Node::Close(text)) => code = text.to_owned(),
            (["Error", "Message"], Node::Close(text)) => message = text.to_owned(),
            (["Error"], Node::Close(_)) => failures.push(format!("{key}: {code} {message}")),
            _ => {}
        }
        Ok(())
    })?;
    Ok(failures)
}

/// Milliseconds since the Unix epoch of an RFC 3339 time in UTC, as S3 writes LastModified
/// (`2024-01-02T03:04:05.678Z`; digits past milliseconds are dropped).
fn parse_time(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once('T')?;
    let rest = rest
        .strip_suffix('Z')
        .or_else(|| rest.strip_suffix("+00:00"))?;
    let (time, fraction) = rest.split_once('.').unwrap_or((rest, ""));
    let number = |part: &str, digits: usize| {
        (part.len() == digits && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<i64>().ok())
            .flatten()
    };
    let mut date = date.split('-');
    let (year, month, day) = (
        number(date.next()?, 4)?,
        number(date.next()?, 2)?,
        number(date.next()?, 2)?,
    );
    let mut time = time.split(':');
    let (hour, minute, second) = (
        number(time.next()?, 2)?,
        number(time.next()?, 2)?,
        number(time.next()?, 2)?,
    );
    if date.next().is_some()
        || time.next().is_some()
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let days_in_month = match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm, in years starting in March).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let millis: i64 = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |sum, digit| sum * 10 + i64::from(digit - b'0'));
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The body of a quiet DeleteObjects request.
pub(crate) fn delete_request(names: &[&str]) -> String {
    let mut body = format!("<Delete xmlns=\"{S3_NAMESPACE}\"><Quiet>true</Quiet>");
    for name in names {
        body.push_str(&format!("<Object><Key>{}</Key></Object>", escape(*name)));
    }
    body.push_str("</Delete>");
    body
}

/// The body of a CreateBucket request outside us-east-1.
pub(crate) fn create_bucket_configuration(region: &str) -> String {
    format!(
        "<CreateBucketConfiguration xmlns=\"{S3_NAMESPACE}\">\
         <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
        escape(region)
    )
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
        assert_eq!(page.prefixes, ["loc/sub/"]);
        assert_eq!(page.continuation.as_deref(), Some("next/token="));
    }

    #[test]
    fn empty_and_last_pages_parse() {
        let empty = r#"<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>"#;
        assert_eq!(
            parse_list(empty.as_bytes()).unwrap(),
            ListPage {
                objects: vec![],
                prefixes: vec![],
                continuation: None
            }
        );
    }

    #[test]
    fn nesting_deeper_than_s3s_is_refused_at_once() {
        let deep = format!(
            "<ListBucketResult>{}{}</ListBucketResult>",
            "<a>".repeat(1_000_000),
            "</a>".repeat(1_000_000)
        );
        let error = parse_list(deep.as_bytes()).unwrap_err();
        assert!(error.contains("deeper"), "{error}");
        let owner = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>\
                     <LastModified>2024-01-02T03:04:05Z</LastModified><Owner><ID>me</ID></Owner>\
                     </Contents></ListBucketResult>";
        assert_eq!(parse_list(owner.as_bytes()).unwrap().objects.len(), 1);
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
    fn error_replies_parse() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message><Key>k</Key></Error>";
        assert_eq!(
            parse_error(body),
            Some(ErrorReply {
                code: "NoSuchKey".into(),
                message: "gone".into(),
                region: None,
            })
        );
        assert_eq!(parse_error(b""), None);
        let moved = b"<Error><Code>AuthorizationHeaderMalformed</Code><Message>m</Message>\
                      <Region>eu-west-1</Region></Error>";
        assert_eq!(
            parse_error(moved).unwrap().region.as_deref(),
            Some("eu-west-1")
        );
    }

    #[test]
    fn entities_cdata_and_char_refs_are_text() {
        let body =
            b"<Error><Code>A&amp;B</Code><Message><![CDATA[x<y]]> &#x41;&#66;</Message></Error>";
        assert_eq!(
            parse_error(body),
            Some(ErrorReply {
                code: "A&B".into(),
                message: "x<y AB".into(),
                region: None,
            })
        );
        assert_eq!(parse_error(b"<Error><Code>&bogus;</Code></Error>"), None);
        assert_eq!(parse_error(b"<Error><Code>x</Code>"), None, "unclosed");
    }

    #[test]
    fn times_parse_as_rfc_3339_utc() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2024-01-02T03:04:05.678Z"),
            Some(1_704_164_645_678)
        );
        assert_eq!(parse_time("2024-01-02T03:04:05Z"), Some(1_704_164_645_000));
        assert_eq!(
            parse_time("2024-01-02T03:04:05.6Z"),
            Some(1_704_164_645_600)
        );
        assert_eq!(
            parse_time("2024-02-29T00:00:00+00:00"),
            Some(1_709_164_800_000)
        );
        assert_eq!(
            parse_time("2100-12-31T23:59:59.999999Z"),
            Some(4_133_980_799_999)
        );
        for bad in [
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-01-32T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00+02:00",
            "2024-01-01",
            "",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
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
