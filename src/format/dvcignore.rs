//! `.dvcignore`: the gitignore-style patterns that hide files from `dvc`.
//!
//! DVC reads them with pathspec's `GitWildMatchPattern`, git's own rules:
//! blank lines and `#` comments are skipped (`\#` and `\!` escape), trailing
//! spaces dropped unless escaped; `!` re-includes; a trailing `/` matches
//! folders only; a pattern with a `/` before its end is anchored to the
//! folder of the `.dvcignore` (a leading `/` only anchors), one without
//! matches a name at any depth; `*` and `?` stop at `/`, `[...]` is a class
//! (`!` or `^` negates it), `**` spans folders. A pattern that matches a
//! folder hides everything below it. The last matching pattern wins.
//! Pure: text in, answers out.

/// The patterns of one `.dvcignore`, relative to the folder holding it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IgnoreFile {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// `/`-separated segments; `**` is a segment of its own.
    segments: Vec<String>,
    negated: bool,
    dir_only: bool,
}

impl IgnoreFile {
    /// Parses the text of a `.dvcignore`.
    pub fn parse(text: &str) -> IgnoreFile {
        IgnoreFile {
            patterns: text.lines().filter_map(parse_line).collect(),
        }
    }

    /// `true` when the file has no pattern at all (only comments).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (`/`-separated, relative to the `.dvcignore`'s folder;
    /// a folder when `is_dir`) is ignored: `Some(true)` ignored,
    /// `Some(false)` re-included by a `!` pattern, `None` when no pattern
    /// speaks of it.
    pub fn matches(&self, path: &str, is_dir: bool) -> Option<bool> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut verdict = None;
        for pattern in &self.patterns {
            if pattern.matches(&parts, is_dir) {
                verdict = Some(!pattern.negated);
            }
        }
        verdict
    }
}

fn parse_line(line: &str) -> Option<Pattern> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut text = trim_trailing_spaces(line);
    let negated = text.starts_with('!');
    if negated {
        text = &text[1..];
    }
    // `\#` and `\!` at the start are literal.
    let text = text
        .strip_prefix('\\')
        .filter(|t| t.starts_with(['#', '!']))
        .unwrap_or(text);
    if text.is_empty() {
        return None;
    }
    let dir_only = text.ends_with('/');
    let body = text.trim_end_matches('/');
    if body.is_empty() {
        return None;
    }
    let anchored = body.contains('/');
    let body = body.strip_prefix('/').unwrap_or(body);
    let mut segments: Vec<String> = body
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if !anchored {
        segments.insert(0, "**".to_string());
    }
    Some(Pattern {
        segments,
        negated,
        dir_only,
    })
}

/// Trailing spaces go, unless escaped with `\`.
fn trim_trailing_spaces(line: &str) -> &str {
    let mut end = line.len();
    while end > 0 && line.as_bytes()[end - 1] == b' ' {
        if end >= 2 && line.as_bytes()[end - 2] == b'\\' {
            break;
        }
        end -= 1;
    }
    &line[..end]
}

impl Pattern {
    /// Whether the pattern matches `parts` or a folder above it (a folder
    /// hides what is below it). Forward over the segments, keeping which
    /// leading parts they can match: linear in segments times parts, never
    /// exponential, whatever the patterns.
    fn matches(&self, parts: &[&str], is_dir: bool) -> bool {
        // reach[j]: the segments so far match exactly parts[..j].
        let mut reach = vec![false; parts.len() + 1];
        reach[0] = true;
        for segment in &self.segments {
            let mut next = vec![false; parts.len() + 1];
            if segment == "**" {
                let mut any = false;
                for (j, slot) in next.iter_mut().enumerate() {
                    any |= reach[j];
                    *slot = any;
                }
            } else {
                for j in 0..parts.len() {
                    if reach[j] && glob(segment.as_bytes(), parts[j].as_bytes()) {
                        next[j + 1] = true;
                    }
                }
            }
            reach = next;
        }
        (1..=parts.len()).any(|len| reach[len] && (!self.dir_only || len < parts.len() || is_dir))
    }
}

/// `fnmatch` of one name: `*`, `?`, `[...]` (with `!`/`^` and ranges),
/// `\` escapes. Greedy with one backtrack point (the last `*`): linear
/// time in practice, never exponential.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where to resume after the last `*`: (pattern after it, name index).
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            p += 1;
            star = Some((p, n));
            continue;
        }
        if let Some(next) = step(pattern, p, name[n]) {
            p = next;
            n += 1;
            continue;
        }
        match star {
            Some((after, from)) => {
                p = after;
                n = from + 1;
                star = Some((after, from + 1));
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&b| b == b'*')
}

/// The pattern index after the token at `p` when it matches `c`.
fn step(pattern: &[u8], p: usize, c: u8) -> Option<usize> {
    match *pattern.get(p)? {
        b'?' => Some(p + 1),
        b'[' => match class(&pattern[p + 1..]) {
            Some((negated, members, len)) => {
                (in_class(members, c) != negated).then_some(p + 1 + len)
            }
            // An unclosed `[` is a literal.
            None => (c == b'[').then_some(p + 1),
        },
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c).then_some(p + 2),
        b'*' => None,
        literal => (literal == c).then_some(p + 1),
    }
}

/// A `[...]` class after its `[`: whether it is negated, its members, and
/// its length up to and including `]`; `None` when unclosed. A `]` right
/// after `[` (or `[!`) is a member.
fn class(pattern: &[u8]) -> Option<(bool, &[u8], usize)> {
    let (negated, start) = match pattern.first() {
        Some(b'!' | b'^') => (true, 1),
        _ => (false, 0),
    };
    let close = pattern
        .iter()
        .enumerate()
        .skip(start + 1)
        .find(|(_, b)| **b == b']')
        .map(|(i, _)| i)?;
    Some((negated, &pattern[start..close], close + 1))
}

/// Whether `c` is one of `members` (single bytes and `a-z` ranges).
fn in_class(members: &[u8], c: u8) -> bool {
    let mut i = 0;
    while i < members.len() {
        if i + 2 < members.len() && members[i + 1] == b'-' {
            if members[i] <= c && c <= members[i + 2] {
                return true;
            }
            i += 3;
        } else {
            if members[i] == c {
                return true;
            }
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(text: &str, path: &str, is_dir: bool) -> bool {
        IgnoreFile::parse(text).matches(path, is_dir) == Some(true)
    }

    #[test]
    fn comments_and_blank_lines_are_no_patterns() {
        let f = IgnoreFile::parse("# Add patterns of files dvc should ignore\n\n   \n");
        assert!(
            f.patterns
                .iter()
                .all(|p| p.segments.iter().all(|s| !s.is_empty()))
        );
        assert!(IgnoreFile::parse("# a\n\n").is_empty());
    }

    #[test]
    fn names_match_at_any_depth_and_hide_what_is_below() {
        assert!(ignored("*.tmp\n", "a.tmp", false));
        assert!(ignored("*.tmp\n", "x/y/a.tmp", false));
        assert!(!ignored("*.tmp\n", "a.tmpx", false));
        assert!(ignored("build\n", "x/build/out.bin", false));
        assert!(ignored("build/\n", "x/build/out.bin", false));
        assert!(
            !ignored("build/\n", "x/build", false),
            "a file is no folder"
        );
        assert!(ignored("build/\n", "x/build", true));
    }

    #[test]
    fn slashes_anchor() {
        assert!(ignored("/root.txt\n", "root.txt", false));
        assert!(!ignored("/root.txt\n", "sub/root.txt", false));
        assert!(ignored("a/b\n", "a/b", false));
        assert!(!ignored("a/b\n", "x/a/b", false));
        assert!(ignored("a/**/z\n", "a/z", false));
        assert!(ignored("a/**/z\n", "a/b/c/z", false));
        assert!(ignored("**/deep\n", "x/y/deep", false));
        assert!(ignored("logs/**\n", "logs/a/b", false));
        assert!(!ignored("logs/**\n", "other/logs/a", false));
    }

    #[test]
    fn negation_and_order() {
        let text = "*.tmp\n!keep.tmp\n";
        assert!(ignored(text, "a.tmp", false));
        assert!(!ignored(text, "keep.tmp", false));
        assert_eq!(
            IgnoreFile::parse(text).matches("keep.tmp", false),
            Some(false)
        );
        assert_eq!(IgnoreFile::parse(text).matches("x.bin", false), None);
        assert!(ignored("\\!bang\n", "!bang", false));
        assert!(ignored("\\#hash\n", "#hash", false));
    }

    #[test]
    fn hostile_patterns_take_no_time() {
        let stars = format!("{}b", "*a".repeat(40));
        let name = "a".repeat(200);
        assert!(!glob(stars.as_bytes(), name.as_bytes()));
        let deep = format!("{}x\n", "**/".repeat(500));
        let path = ["d"; 300].join("/");
        assert!(!ignored(&deep, &path, false));
        assert!(ignored(&deep, &format!("{path}/x"), false));
    }

    #[test]
    fn globs() {
        assert!(glob(b"f?o", b"foo"));
        assert!(!glob(b"f?o", b"fo"));
        assert!(glob(b"[abc].txt", b"b.txt"));
        assert!(!glob(b"[!abc].txt", b"b.txt"));
        assert!(glob(b"[a-c]x", b"cx"));
        assert!(glob(b"a\\*", b"a*"));
        assert!(!glob(b"a\\*", b"ab"));
        assert!(glob(b"[x", b"[x"), "unclosed class is literal");
        assert!(ignored("trailing\\ \n", "trailing ", false));
        assert!(ignored("spaces   \n", "spaces", false));
    }
}
