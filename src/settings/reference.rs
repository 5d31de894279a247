//! `docs/reference/configuration.md`, generated from the table of settings: the test fails when
//! the committed page differs, and `S3CACHE_WRITE_DOCS=1 cargo test -p s3cache --lib reference`
//! writes it.

use std::fmt::Write as _;
use std::path::Path;

use super::SETTINGS;

/// The page, from the table.
fn page() -> String {
    let mut page = String::from(
        "# Configuration\n\
         \n\
         <!-- Generated from src/settings/table.rs by `S3CACHE_WRITE_DOCS=1 cargo test -p s3cache \
         --lib reference`; edit the table, not this page. -->\n\
         \n\
         Every setting of a store, written once in the table of settings (`src/settings/table.rs`),\n\
         from which every surface takes its names, and in which every value is text with the\n\
         same meaning everywhere (`300`, `unlimited`, `2.5`, `never`, `true`):\n\
         \n\
         - the CLI: the flag, else the first environment variable set (credentials only from\n\
         \x20 `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, never flags);\n\
         - the component's `config` record: `bucket`, the `credentials` resource, and `settings`, a\n\
         \x20 list of `(name, value)` pairs by the names below ([WIT](wit.md));\n\
         - wasi:config (the keyvalue component; Spin variables): `s3cache_` and the name with `_`\n\
         \x20 (a keyvalue store never culls unless `s3cache_max_entries` is set, and its values never\n\
         \x20 expire, so `default-timeout` does not apply there);\n\
         - Python's `s3cache.Cache(bucket, ...)`: the name with `_` as a keyword (Python values\n\
         \x20 become the text: `True`, `2.5`; `None` is the null word where the table has one,\n\
         \x20 else as if not given: the environment variables, then the default);\n\
         - Django's `OPTIONS`: the Django column, else the Django settings named after it, else\n\
         \x20 the environment variables, as Python's;\n\
         - Rust: `Builder::with(name, value)` or `Settings::set(name, value)`.\n\
         \n\
         | setting | value | default | CLI flag | environment | wasi:config | Django OPTIONS (settings) |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for row in SETTINGS {
        let code = |text: &str| format!("`{text}`");
        let list = |items: &[&str]| {
            items
                .iter()
                .map(|item| code(item))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let default = match row.default {
            Some("") => "empty".to_owned(),
            Some(default) => code(default),
            None => "unset".to_owned(),
        };
        let flag = if row.flag.is_empty() {
            "(none: a secret)".to_owned()
        } else {
            code(&format!("--{}", row.flag))
        };
        let django = match (row.django, row.django_fallbacks) {
            ("", _) => "(set by Django)".to_owned(),
            (name, []) => code(name),
            (name, fallbacks) => format!("{} ({})", code(name), list(fallbacks)),
        };
        let _ = writeln!(
            page,
            "| `{}` | {} | {default} | {flag} | {} | {} | {django} |",
            row.name,
            row.syntax.replace('|', "\\|"),
            list(row.env),
            code(&row.wasi_config_name()),
        );
    }
    page.push_str("\n## What each setting does\n\n");
    for row in SETTINGS {
        let null = row
            .null
            .map(|null| format!(" Python's `None`: `{null}`."))
            .unwrap_or_default();
        let _ = writeln!(page, "- `{}`: {}{null}", row.name, row.doc);
    }
    page.push_str(
        "\n`IS_GZIPPED`, django-s3-cache's switch, is still taken by Django's `OPTIONS`: `True` is \
         the default compression, `False` turns it off; `COMPRESS_ABOVE` wins over it.\n",
    );
    page
}

#[test]
fn the_configuration_page_is_generated_from_the_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference/configuration.md");
    let generated = page();
    if std::env::var_os("S3CACHE_WRITE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("the page is writable");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from the table of settings: run `S3CACHE_WRITE_DOCS=1 cargo test -p s3cache \
         --lib reference` and commit it",
        path.display()
    );
}
