//! The documentation's links: every relative link in `README.md` and in `docs/` points at a file
//! or folder that exists, every `#fragment` into a Markdown file names one of its headings, and
//! `docs/SUMMARY.md` lists every page of the book (and only pages that exist).
//!
//! Standard library only. The repository root is found by walking up from the crate that holds
//! this test to the first folder with both `README.md` and `docs/SUMMARY.md`, so the crate may
//! sit at any depth.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// The repository root: the nearest folder at or above this crate's that holds `README.md` and
/// `docs/SUMMARY.md`.
fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("README.md").is_file() && dir.join("docs/SUMMARY.md").is_file())
        .unwrap_or_else(|| {
            panic!(
                "no folder at or above {} holds both README.md and docs/SUMMARY.md",
                manifest_dir.display()
            )
        })
        .to_path_buf()
}

/// `README.md` and every `.md` file under `docs/`, sorted.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    files.extend(markdown_under(&root.join("docs")));
    files
}

/// Every `.md` file under `dir`, recursively, sorted.
fn markdown_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if is_markdown(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn is_markdown(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("md"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// `path` relative to `root`, for messages.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// One line of a Markdown file outside fenced code blocks.
struct Line {
    /// 1-based.
    number: usize,
    /// As written (HTML comments removed).
    raw: String,
    /// With inline code spans blanked out: where links are looked for.
    prose: String,
}

/// The lines of `text` outside fenced code blocks and HTML comments.
fn lines_outside_code(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    // The fence character and length of the open code block, if any.
    let mut fence: Option<(char, usize)> = None;
    let mut in_comment = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some((fence_char, fence_len)) = fence {
            let run = trimmed.chars().take_while(|&c| c == fence_char).count();
            if run >= fence_len && trimmed[run * fence_char.len_utf8()..].trim().is_empty() {
                fence = None;
            }
            continue;
        }
        if !in_comment {
            for fence_char in ['`', '~'] {
                let run = trimmed.chars().take_while(|&c| c == fence_char).count();
                if run >= 3 {
                    fence = Some((fence_char, run));
                }
            }
            if fence.is_some() {
                continue;
            }
        }
        let raw = without_html_comments(line, &mut in_comment);
        let prose = without_code_spans(&raw);
        lines.push(Line {
            number: index + 1,
            raw,
            prose,
        });
    }
    lines
}

/// `line` without the parts inside `<!-- ... -->`; `in_comment` carries an open comment from one
/// line to the next.
fn without_html_comments(line: &str, in_comment: &mut bool) -> String {
    let mut kept = String::new();
    let mut rest = line;
    loop {
        if *in_comment {
            match rest.find("-->") {
                Some(end) => {
                    rest = &rest[end + 3..];
                    *in_comment = false;
                }
                None => return kept,
            }
        } else {
            match rest.find("<!--") {
                Some(start) => {
                    kept.push_str(&rest[..start]);
                    rest = &rest[start + 4..];
                    *in_comment = true;
                }
                None => {
                    kept.push_str(rest);
                    return kept;
                }
            }
        }
    }
}

/// `line` with every inline code span (a run of N backticks up to the next run of exactly N)
/// replaced by spaces. A run without its closing run is literal text.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            out.push(chars[i]);
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&c| c == '`').count();
        let mut closing = None;
        let mut j = i + run;
        while j < chars.len() {
            if chars[j] == '`' {
                let other = chars[j..].iter().take_while(|&&c| c == '`').count();
                if other == run {
                    closing = Some(j);
                    break;
                }
                j += other;
            } else {
                j += 1;
            }
        }
        match closing {
            Some(j) => {
                out.extend(std::iter::repeat_n(' ', j + run - i));
                i = j + run;
            }
            None => {
                out.extend(std::iter::repeat_n('`', run));
                i += run;
            }
        }
    }
    out
}

/// A link target and the line it is on.
struct Link {
    line: usize,
    target: String,
}

/// The targets of inline links and images (`[text](target)`, `![alt](target)`) and of
/// reference definitions (`[label]: target`) in `lines`.
fn links(lines: &[Line]) -> Vec<Link> {
    let mut found = Vec::new();
    for line in lines {
        if let Some(target) = reference_definition(&line.prose) {
            found.push(Link {
                line: line.number,
                target,
            });
            continue;
        }
        let chars: Vec<char> = line.prose.chars().collect();
        let mut i = 0;
        while i + 1 < chars.len() {
            if chars[i] == ']' && chars[i + 1] == '(' && (i == 0 || chars[i - 1] != '\\') {
                let (target, end) = destination(&chars, i + 2);
                found.push(Link {
                    line: line.number,
                    target,
                });
                i = end;
            } else {
                i += 1;
            }
        }
    }
    found
}

/// The destination of an inline link whose `(` ends just before `start`, and where it ends.
fn destination(chars: &[char], start: usize) -> (String, usize) {
    let mut i = start;
    while i < chars.len() && chars[i] == ' ' {
        i += 1;
    }
    let mut target = String::new();
    if chars.get(i) == Some(&'<') {
        i += 1;
        while i < chars.len() && chars[i] != '>' {
            target.push(chars[i]);
            i += 1;
        }
        return (target, i + 1);
    }
    let mut depth = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                target.push(chars[i + 1]);
                i += 2;
                continue;
            }
            '(' => depth += 1,
            ')' if depth == 0 => break,
            ')' => depth -= 1,
            c if c.is_whitespace() => break,
            _ => {}
        }
        target.push(chars[i]);
        i += 1;
    }
    (target, i)
}

/// The target of a reference definition, `[label]: target` (up to three spaces of indent; not a
/// footnote, `[^1]: ...`).
fn reference_definition(line: &str) -> Option<String> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = line[indent..].strip_prefix('[')?;
    if indent > 3 || rest.starts_with('^') {
        return None;
    }
    let close = rest.find("]:")?;
    if close == 0 || rest[..close].contains('[') || rest[..close].contains(']') {
        return None;
    }
    let target = rest[close + 2..].trim_start();
    let target = match target.strip_prefix('<') {
        Some(bracketed) => bracketed.split('>').next().unwrap_or(""),
        None => target.split_whitespace().next().unwrap_or(""),
    };
    Some(target.to_owned())
}

/// Whether `target` leaves the repository (a web or mail address).
fn is_external(target: &str) -> bool {
    let lower = target.to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// `%XX` escapes decoded (invalid ones kept as written).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// GitHub's anchor for a heading: lowercase, characters other than alphanumerics, spaces,
/// hyphens and underscores removed, spaces turned into hyphens. Links in the heading count by
/// their text.
fn slug(heading: &str) -> String {
    link_texts_only(heading)
        .to_lowercase()
        .chars()
        .filter(|&c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// `text` with each `[text](target)` replaced by its text.
fn link_texts_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ']' && chars.get(i + 1) == Some(&'(') {
            let (_, end) = destination(&chars, i + 2);
            i = end + 1;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The text of an ATX heading (`## Text ##`), if `line` is one.
fn atx_heading(line: &str) -> Option<String> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let level = rest.chars().take_while(|&c| c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let text = &rest[level..];
    if !(text.is_empty() || text.starts_with(' ') || text.starts_with('\t')) {
        return None;
    }
    let text = text.trim();
    // A closing sequence of #s, after a space, is not part of the text.
    let without_closing = text.trim_end_matches('#');
    let text = if without_closing.is_empty() {
        ""
    } else if without_closing.ends_with(' ') {
        without_closing.trim_end()
    } else {
        text
    };
    Some(text.to_owned())
}

/// The anchors a Markdown file offers: its headings' slugs (a repeated slug gets `-1`, `-2`,
/// ... as on GitHub) and the ids and names of its HTML anchors.
fn anchors(text: &str) -> BTreeSet<String> {
    let lines = lines_outside_code(text);
    let mut headings = Vec::new();
    let mut previous: Option<&Line> = None;
    for line in &lines {
        if let Some(heading) = atx_heading(&line.raw) {
            headings.push(heading);
        } else if let Some(prev) = previous {
            // A setext heading: a paragraph line underlined with = or -.
            let underline = line.raw.trim();
            let prev_text = prev.raw.trim();
            let is_underline = !underline.is_empty()
                && (underline.chars().all(|c| c == '=') || underline.chars().all(|c| c == '-'));
            let prev_is_paragraph = !prev_text.is_empty()
                && prev.number + 1 == line.number
                && atx_heading(&prev.raw).is_none()
                && !prev_text.starts_with(['|', '-', '*', '+', '>'])
                && !prev_text.starts_with(|c: char| c.is_ascii_digit());
            if is_underline && prev_is_paragraph {
                headings.push(prev_text.to_owned());
            }
        }
        previous = Some(line);
    }
    let mut found = BTreeSet::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for heading in headings {
        let base = slug(&heading);
        let count = seen.entry(base.clone()).or_insert(0);
        found.insert(if *count == 0 {
            base
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    for line in &lines {
        for attribute in ["id=\"", "name=\""] {
            let mut rest = line.raw.as_str();
            while let Some(start) = rest.find(attribute) {
                rest = &rest[start + attribute.len()..];
                if let Some(end) = rest.find('"') {
                    found.insert(rest[..end].to_owned());
                }
            }
        }
    }
    found
}

#[test]
fn every_relative_link_resolves() {
    let root = repo_root();
    let mut anchor_cache: HashMap<PathBuf, BTreeSet<String>> = HashMap::new();
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files(&root) {
        let folder = file.parent().expect("a file has a folder");
        for link in links(&lines_outside_code(&read(&file))) {
            let at = format!("{}:{}", shown(&root, &file), link.line);
            let target = link.target.trim();
            if target.is_empty() {
                broken.push(format!("{at}: an empty link target"));
                continue;
            }
            if is_external(target) || target.starts_with('#') {
                continue;
            }
            checked += 1;
            let (path, fragment) = match target.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (target, None),
            };
            let path = percent_decoded(path);
            let resolved = match path.strip_prefix('/') {
                Some(from_root) => root.join(from_root),
                None => folder.join(&path),
            };
            if !resolved.exists() {
                broken.push(format!(
                    "{at}: `{target}`: {} does not exist",
                    shown(&root, &resolved)
                ));
                continue;
            }
            let Some(fragment) = fragment.filter(|fragment| !fragment.is_empty()) else {
                continue;
            };
            if !(resolved.is_file() && is_markdown(&resolved)) {
                continue;
            }
            let key = resolved.canonicalize().unwrap_or_else(|_| resolved.clone());
            let offered = anchor_cache
                .entry(key)
                .or_insert_with(|| anchors(&read(&resolved)));
            let fragment = percent_decoded(fragment);
            if !offered.contains(&fragment) {
                broken.push(format!(
                    "{at}: `{target}`: {} has no heading with the anchor #{fragment}",
                    shown(&root, &resolved)
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "{} broken link(s) of {checked} relative ones:\n{}",
        broken.len(),
        broken.join("\n")
    );
    assert!(
        checked > 0,
        "no relative links found: is the root right? ({})",
        root.display()
    );
}

#[test]
fn summary_lists_every_page() {
    let root = repo_root();
    let docs = root.join("docs");
    let summary_path = docs.join("SUMMARY.md");
    let summary = read(&summary_path);
    let mut problems = Vec::new();
    if summary.lines().next().map(str::trim) != Some("# Summary") {
        problems.push("docs/SUMMARY.md:1: mdBook's summary starts with `# Summary`".to_owned());
    }
    let mut listed = BTreeSet::new();
    for link in links(&lines_outside_code(&summary)) {
        let at = format!("docs/SUMMARY.md:{}", link.line);
        let target = link.target.trim();
        if target.is_empty() {
            problems.push(format!("{at}: an entry without a page (a draft chapter)"));
            continue;
        }
        if is_external(target) {
            problems.push(format!("{at}: `{target}` is not a page of the book"));
            continue;
        }
        let path = percent_decoded(target.split('#').next().unwrap_or(""));
        let page = docs.join(&path);
        if !page.is_file() {
            problems.push(format!(
                "{at}: `{target}`: {} does not exist",
                shown(&root, &page)
            ));
            continue;
        }
        if !is_markdown(&page) {
            problems.push(format!("{at}: `{target}` is not a Markdown file"));
            continue;
        }
        listed.insert(page.canonicalize().unwrap_or(page));
    }
    for page in markdown_under(&docs) {
        if page == summary_path {
            continue;
        }
        let name = shown(&root, &page);
        if !listed.contains(&page.canonicalize().unwrap_or_else(|_| page.clone())) {
            problems.push(format!("{name}: not listed in docs/SUMMARY.md"));
        }
        let first = read(&page).lines().next().unwrap_or("").to_owned();
        if !first.starts_with("# ") {
            problems.push(format!("{name}:1: a page starts with its `# Title`"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) with the book's summary:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[cfg(test)]
mod checker {
    use super::*;

    fn targets(text: &str) -> Vec<String> {
        links(&lines_outside_code(text))
            .into_iter()
            .map(|link| link.target)
            .collect()
    }

    #[test]
    fn links_are_found_outside_code_only() {
        let text = "See [a](a.md) and ![b](img/b.png \"title\") and [c](<with space.md>).\n\
                    `[not](code.md)` and ``[nor](this.md) ` here``\n\
                    ```sh\n[fenced](no.md)\n```\n\
                    ~~~~\n```\n[still fenced](no.md)\n~~~~\n\
                    [ref]: ref.md \"t\"\n\
                    [^1]: a footnote, not a link\n\
                    <!-- [commented](no.md) -->\n\
                    [nested](a_(b).md#x) [web](https://example.com)";
        assert_eq!(
            targets(text),
            [
                "a.md",
                "img/b.png",
                "with space.md",
                "ref.md",
                "a_(b).md#x",
                "https://example.com"
            ]
        );
    }

    #[test]
    fn slugs_follow_github() {
        assert_eq!(
            slug("`spin s3cache`: the CLI as a Spin plugin"),
            "spin-s3cache-the-cli-as-a-spin-plugin"
        );
        assert_eq!(
            slug("wasi:keyvalue through an app, per request"),
            "wasikeyvalue-through-an-app-per-request"
        );
        assert_eq!(
            slug("Rust, natively (native_core) -- v2"),
            "rust-natively-native_core----v2"
        );
        assert_eq!(slug("See [the guide](x.md) now"), "see-the-guide-now");
        let offered = anchors(
            "# Top\n## Same\n## Same ##\n```\n# Not a heading\n```\nSetext\n---\n<a id=\"here\"></a>\n",
        );
        let expected: BTreeSet<String> = ["top", "same", "same-1", "setext", "here"]
            .map(str::to_owned)
            .into();
        assert_eq!(offered, expected);
    }
}
