//! Carrying YAML comments from an old version of a block-YAML file to a
//! regenerated one, the way ruamel's round-trip keeps them through
//! `dvc update`: each comment line stays before the same key, an end-of-line
//! comment stays on its line while that line is unchanged.
//!
//! Line based and best effort: it understands the block layout DVC writes
//! (mappings, sequences not indented under their key), not every YAML.

/// `new` with the comments of `old` put back at the same key paths.
pub fn carry_over(old: &str, new: &str) -> String {
    if !old.contains('#') {
        return new.to_string();
    }
    let old_lines = annotate(old);
    let mut out = String::new();
    for line in annotate(new) {
        let Some(path) = &line.path else {
            continue;
        };
        let twin = old_lines.iter().find(|o| o.path.as_ref() == Some(path));
        if let Some(twin) = twin {
            for c in &twin.before {
                out.push_str(c);
                out.push('\n');
            }
        }
        out.push_str(line.text);
        if let Some((content, comment)) = twin.and_then(|t| t.eol.as_ref().map(|c| (t.content, c)))
            && content == line.text
        {
            out.push_str(comment);
        }
        out.push('\n');
    }
    if let Some(tail) = old_lines.last().filter(|l| l.path.is_none()) {
        for c in &tail.before {
            out.push_str(c);
            out.push('\n');
        }
    }
    out
}

/// A content line with its key path and the comment lines before it; a
/// final entry without path holds comments at the end of the file.
struct Line<'a> {
    text: &'a str,
    content: &'a str,
    path: Option<String>,
    before: Vec<&'a str>,
    eol: Option<&'a str>,
}

struct Frame {
    col: usize,
    seg: String,
    item: Option<usize>,
}

fn annotate(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut pending = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut last_path = String::new();
    for raw in text.lines() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            pending.push(raw);
            continue;
        }
        let (content, eol) = split_comment(raw);
        let col = raw.len() - trimmed.len();
        let path = line_path(content.trim_start(), col, &mut stack)
            .unwrap_or_else(|| format!("{last_path}+"));
        last_path.clone_from(&path);
        lines.push(Line {
            text: raw,
            content,
            path: Some(path),
            before: std::mem::take(&mut pending),
            eol,
        });
    }
    lines.push(Line {
        text: "",
        content: "",
        path: None,
        before: pending,
        eol: None,
    });
    lines
}

/// The key path of a line (`deps/[0]/repo/url`), or `None` for the
/// continuation of a folded scalar.
fn line_path(mut rest: &str, mut col: usize, stack: &mut Vec<Frame>) -> Option<String> {
    let mut is_structural = false;
    while rest == "-" || rest.starts_with("- ") {
        let mut index = 0;
        while let Some(top) = stack.last() {
            if top.col > col || (top.col == col && top.item.is_some()) {
                if top.col == col {
                    index = top.item.map_or(0, |i| i + 1);
                }
                stack.pop();
            } else {
                break;
            }
        }
        stack.push(Frame {
            col,
            seg: format!("[{index}]"),
            item: Some(index),
        });
        rest = rest.get(2..).unwrap_or("");
        col += 2;
        is_structural = true;
    }
    if let Some(key) = mapping_key(rest) {
        while stack.last().is_some_and(|top| top.col >= col) {
            stack.pop();
        }
        stack.push(Frame {
            col,
            seg: key.to_string(),
            item: None,
        });
        is_structural = true;
    }
    is_structural.then(|| {
        stack
            .iter()
            .map(|f| f.seg.as_str())
            .collect::<Vec<_>>()
            .join("/")
    })
}

fn mapping_key(rest: &str) -> Option<&str> {
    let end = rest
        .find(": ")
        .or_else(|| rest.strip_suffix(':').map(str::len))?;
    let key = &rest[..end];
    (!key.is_empty() && !key.contains(' ') || key.starts_with('\'')).then_some(key)
}

/// Splits `  key: value  # note` into the content and `  # note`.
fn split_comment(line: &str) -> (&str, Option<&str>) {
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(b'"') if b == b'\\' => {}
            Some(_) => {}
            None if (b == b'\'' || b == b'"')
                && (i == 0 || matches!(bytes[i - 1], b' ' | b'-')) =>
            {
                quote = Some(b);
            }
            None if b == b'#' && i > 0 && bytes[i - 1] == b' ' => {
                let start = line[..i].trim_end().len();
                return (&line[..start], Some(&line[start..]));
            }
            None => {}
        }
    }
    (line, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_follow_their_keys() {
        let old = "# head\nmd5: a\ndeps:\n# before path\n- path: p  # eol\n  repo:\n    url: u\nouts:\n- md5: x # changes\n  path: o\n# tail\n";
        let new = "md5: b\ndeps:\n- path: p\n  repo:\n    url: u\nouts:\n- md5: y\n  path: o\n";
        assert_eq!(
            carry_over(old, new),
            "# head\nmd5: b\ndeps:\n# before path\n- path: p  # eol\n  repo:\n    url: u\nouts:\n- md5: y\n  path: o\n# tail\n"
        );
    }

    #[test]
    fn no_comments_no_change() {
        assert_eq!(carry_over("a: 1\n", "a: 2\n"), "a: 2\n");
    }
}
