//! Entry names: where a cache key lives in the bucket.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use sha1::{Digest, Sha1};

/// Length of the hex digest that names an entry.
const DIGEST_HEX_LEN: usize = 40;

/// How a cache key becomes the string that is hashed into its object name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyScheme {
    /// `"{key_prefix}:{version}:{key}"`: Django's default key function, applied by the store.
    #[default]
    Prefixed,
    /// The key as given: the caller has already made it (a Django backend applying its own
    /// KEY_FUNCTION), so the key prefix and version are not used.
    Made,
}

/// How a store names its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// Prefix under which entries live, without outer slashes.
    pub location: String,
    /// Django KEY_PREFIX.
    pub key_prefix: String,
    /// Django VERSION.
    pub version: i64,
    /// Whether keys arrive made or are made here.
    pub scheme: KeyScheme,
}

impl Naming {
    /// The object name of `key`.
    pub fn object_name(&self, key: &str) -> String {
        match self.scheme {
            KeyScheme::Prefixed => object_name(&self.location, &self.key_prefix, self.version, key),
            KeyScheme::Made => made_object_name(&self.location, key),
        }
    }
}

/// The object name of `key`: `{location}/{sha1_hex("{key_prefix}:{version}:{key}")}`, or the bare
/// digest when the location is empty (django-s3-cache's layout).
pub fn object_name(location: &str, key_prefix: &str, version: i64, key: &str) -> String {
    made_object_name(location, &format!("{key_prefix}:{version}:{key}"))
}

/// The object name of a key its caller has already made: `{location}/{sha1_hex(made_key)}`.
pub(crate) fn made_object_name(location: &str, made_key: &str) -> String {
    let digest = Sha1::digest(made_key.as_bytes());
    format!("{}{}", list_prefix(location), hex::encode(digest))
}

/// The listing prefix that covers every entry under `location`.
pub(crate) fn list_prefix(location: &str) -> String {
    if location.is_empty() {
        String::new()
    } else {
        format!("{location}/")
    }
}

/// Whether `name` is an entry name under `location`: the prefix followed by exactly one lowercase
/// sha1 hex digest. `clear` and culling touch only such names.
pub(crate) fn is_entry_name(location: &str, name: &str) -> bool {
    name.strip_prefix(&list_prefix(location))
        .is_some_and(|digest| {
            digest.len() == DIGEST_HEX_LEN
                && digest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// The longest key an object remembers (in UTF-8 bytes), so that listings can give keys back:
/// its base64 form (1,368 bytes) and the other metadata stay within S3's 2 KB of user metadata.
pub(crate) const MAX_REMEMBERED_KEY_BYTES: usize = 1024;

/// The metadata value that keeps `key` with its object (base64url: metadata must be ASCII), or
/// `None` when the key is longer than [`MAX_REMEMBERED_KEY_BYTES`].
pub(crate) fn remembered_key(key: &str) -> Option<String> {
    (key.len() <= MAX_REMEMBERED_KEY_BYTES).then(|| BASE64URL.encode(key))
}

/// The key a metadata value keeps, when it is one [`remembered_key`] made.
pub(crate) fn recalled_key(metadata: &str) -> Option<String> {
    let bytes = BASE64URL.decode(metadata.trim()).ok()?;
    String::from_utf8(bytes)
        .ok()
        .filter(|key| key.len() <= MAX_REMEMBERED_KEY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_remembered_up_to_the_limit_and_recalled_exactly() {
        for key in [
            "",
            "a",
            "clé/ünïcode:1 2",
            &"k".repeat(MAX_REMEMBERED_KEY_BYTES),
        ] {
            let metadata = remembered_key(key).expect("short enough");
            assert!(metadata.is_ascii() && metadata.len() <= 1368, "{metadata}");
            assert_eq!(recalled_key(&metadata).as_deref(), Some(key));
        }
        assert_eq!(
            remembered_key(&"k".repeat(MAX_REMEMBERED_KEY_BYTES + 1)),
            None
        );
        assert_eq!(recalled_key("not base64!"), None);
        assert_eq!(recalled_key(&BASE64URL.encode([0xff, 0xfe])), None);
    }

    #[test]
    fn pinned_vector_without_location() {
        assert_eq!(
            object_name("", "", 1, "foo"),
            "41abad59de56c461effa1ae72941fbf2598ff6a2"
        );
    }

    #[test]
    fn location_prefix_and_version_change_the_name() {
        let plain = object_name("", "", 1, "foo");
        assert_eq!(object_name("cache", "", 1, "foo"), format!("cache/{plain}"));
        assert_ne!(object_name("", "app", 1, "foo"), plain);
        assert_ne!(object_name("", "", 2, "foo"), plain);
        // `printf 'app:2:foo' | sha1sum`
        assert_eq!(
            object_name("a/b", "app", 2, "foo"),
            "a/b/0e901c4a409f382f8523c5ac7920f8fa973f7054"
        );
    }

    #[test]
    fn made_keys_are_hashed_as_given() {
        // Django's default key function makes "app:2:foo"; hashing it as is gives the same name.
        assert_eq!(
            made_object_name("a/b", "app:2:foo"),
            object_name("a/b", "app", 2, "foo")
        );
        let naming = Naming {
            location: "loc".to_owned(),
            key_prefix: "ignored".to_owned(),
            version: 9,
            scheme: KeyScheme::Made,
        };
        // `printf 'custom-made-key' | sha1sum`
        assert_eq!(
            naming.object_name("custom-made-key"),
            "loc/63c3704553be0980a7d5552c08573489a3a6cc86"
        );
        let prefixed = Naming {
            scheme: KeyScheme::Prefixed,
            ..naming
        };
        assert_eq!(
            prefixed.object_name("foo"),
            object_name("loc", "ignored", 9, "foo")
        );
    }

    #[test]
    fn unicode_and_long_keys_hash_to_fixed_length_names() {
        let long = "k".repeat(5000);
        for key in ["ключ", "🦀 crab", long.as_str(), ""] {
            let name = object_name("loc", "", 1, key);
            assert!(is_entry_name("loc", &name), "{name}");
        }
    }

    #[test]
    fn entry_names_are_recognised_exactly() {
        let name = object_name("loc", "", 1, "foo");
        assert!(is_entry_name("loc", &name));
        assert!(!is_entry_name("", &name), "nested under a location");
        assert!(!is_entry_name("loc", "loc/readme.txt"));
        assert!(!is_entry_name("loc", &name.to_uppercase()));
        assert!(!is_entry_name("loc", &format!("{name}0")));
        assert!(!is_entry_name("lo", &name));
        assert!(is_entry_name(
            "",
            "41abad59de56c461effa1ae72941fbf2598ff6a2"
        ));
    }

    #[test]
    fn the_root_location_lists_everything() {
        assert_eq!(list_prefix(""), "");
        assert_eq!(list_prefix("a"), "a/");
    }
}
