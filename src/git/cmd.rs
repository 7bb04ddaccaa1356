//! Running the `git` command line: one fixed environment, captured output,
//! and failures turned into redacted [`Error`]s.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::error::{Error, ErrorKind, Result};
use crate::redact;

/// Variables that would point git at another repository (set, for example,
/// when cargo runs from inside a git hook).
const REPO_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_CEILING_DIRECTORIES",
];

/// The transports git may use, whatever the user's config says
/// (`GIT_ALLOW_PROTOCOL` overrides every `protocol.*.allow`): what a
/// registry needs (local paths count as `file`). Not `ext::` (runs a
/// command), nor any other remote helper, even when an `insteadOf` rewrite
/// leads there.
pub(crate) const ALLOWED_PROTOCOLS: &str = "file:git:http:https:ssh";

/// A `git` command with our environment: no prompts, no pager, protocol v2,
/// only [`ALLOWED_PROTOCOLS`], unquoted paths, C locale, operating on
/// `git_dir` when given.
///
/// The user's global config is read on purpose: credential helpers, proxies
/// and `url.<base>.insteadOf` live there.
pub(crate) fn git(git_dir: Option<&Path>) -> Command {
    let mut cmd = Command::new("git");
    for var in REPO_ENV {
        cmd.env_remove(var);
    }
    cmd.env("GIT_ALLOW_PROTOCOL", ALLOWED_PROTOCOLS)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .env("GIT_LITERAL_PATHSPECS", "1")
        .env("LC_ALL", "C")
        .env("LANGUAGE", "C")
        .args([
            "--no-pager",
            "-c",
            "protocol.version=2",
            "-c",
            "core.quotePath=false",
        ])
        .stdin(Stdio::null());
    if let Some(dir) = git_dir {
        cmd.arg("--git-dir").arg(dir).current_dir(dir);
    }
    cmd
}

/// A `git` command run in `dir`, a folder of the user's own work tree (to
/// ask what git ignores or tracks there): [`git`], with nothing the
/// repository's own config could make git run (`core.fsmonitor`, a hook
/// path) and no optional lock taken on its index.
#[cfg(feature = "cli")]
pub(crate) fn git_in_work_tree(dir: &Path) -> Command {
    let mut cmd = git(None);
    cmd.env("GIT_OPTIONAL_LOCKS", "0")
        .args([
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.hooksPath=/dev/null",
        ])
        .current_dir(dir);
    cmd
}

/// What a finished git command said.
pub(crate) struct Finished {
    pub(crate) ok: bool,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

/// Reports `cmd` to the verbose trace (`cargo dvc -v`): `git` and its
/// arguments after our fixed options, URLs redacted.
pub(crate) fn trace(cmd: &Command) {
    if !crate::trace::enabled() {
        return;
    }
    crate::trace::event("Running", || {
        let mut args: Vec<String> = Vec::new();
        let mut skip_value = false;
        for arg in cmd.get_args() {
            let arg = arg.to_string_lossy();
            if skip_value {
                skip_value = false;
                continue;
            }
            match &*arg {
                "--no-pager" => {}
                "-c" | "--git-dir" => skip_value = true,
                _ if arg.contains("://") || arg.contains('@') => args.push(redact::url(&arg)),
                _ => args.push(arg.into_owned()),
            }
        }
        format!("`git {}`", args.join(" "))
    });
}

/// Runs `cmd` to completion. Only a failure to start it is an error here.
pub(crate) fn output(cmd: &mut Command) -> Result<Finished> {
    trace(cmd);
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().map_err(spawn_error)?;
    Ok(Finished {
        ok: status.success(),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Runs `cmd`, failing with `what` and git's (redacted) stderr unless it succeeds.
pub(crate) fn run(cmd: &mut Command, what: impl FnOnce() -> String) -> Result<Vec<u8>> {
    let out = output(cmd)?;
    if out.ok {
        Ok(out.stdout)
    } else {
        Err(failure(ErrorKind::Git, &what(), &out.stderr))
    }
}

/// Streams the stdout of `cmd` into `out`, returning the number of bytes.
pub(crate) fn stream(
    cmd: &mut Command,
    out: &mut dyn Write,
    what: impl FnOnce() -> String,
) -> Result<u64> {
    trace(cmd);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let mut stderr_pipe = child.stderr.take();
    // stderr is drained on a thread so a chatty git never blocks on it.
    let stderr_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(pipe) = stderr_pipe.as_mut() {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    });
    let copied = match child.stdout.take() {
        Some(mut stdout) => io::copy(&mut stdout, out),
        None => Ok(0),
    };
    let status = child.wait();
    let stderr = stderr_thread.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr);
    let status = match status {
        Ok(status) => status,
        Err(e) => return Err(Error::new(ErrorKind::Git, what()).with_source(e)),
    };
    if !status.success() {
        return Err(failure(ErrorKind::Git, &what(), &stderr));
    }
    copied.map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("{}: cannot write the output", what()),
        )
        .with_source(e)
    })
}

/// The error for a `git` that could not be started: a missing `git` says
/// how to install it.
pub(crate) fn spawn_error(err: io::Error) -> Error {
    if err.kind() == io::ErrorKind::NotFound {
        Error::new(
            ErrorKind::Git,
            "`git` was not found: dvc-build runs the git command line to fetch registries",
        )
        .with_help("install git (https://git-scm.com/downloads) and make sure it is on PATH")
        .with_source(err)
    } else {
        Error::new(ErrorKind::Git, "cannot run `git`").with_source(err)
    }
}

/// An error of `kind` saying `what` failed, with git's stderr (trimmed and
/// redacted) appended.
pub(crate) fn failure(kind: ErrorKind, what: &str, stderr: &str) -> Error {
    let detail = trim_stderr(stderr);
    let message = if detail.is_empty() {
        what.to_string()
    } else {
        format!("{what}:\n{detail}")
    };
    Error::new(kind, message)
}

/// The last lines of git's stderr, indented, with every URL redacted.
pub(crate) fn trim_stderr(stderr: &str) -> String {
    const MAX_LINES: usize = 12;
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let skip = lines.len().saturating_sub(MAX_LINES);
    lines[skip..]
        .iter()
        .map(|l| format!("    {}", redact_text(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` with the user-info of every `scheme://user:pw@host` in it replaced.
///
/// Git quotes URLs in its messages (`'https://...'`), so a URL is taken to end
/// at whitespace or a quote.
pub(crate) fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        // Back up to the start of the scheme.
        let start = rest[..pos]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[pos..]
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '<' | '>'))
            .map_or(rest.len(), |i| pos + i);
        out.push_str(&rest[..start]);
        out.push_str(&redact::url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Text of a command's stdout, for line-oriented parsing.
pub(crate) fn text(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_urls_inside_messages() {
        let msg = "fatal: unable to access 'https://me:tok@127.0.0.1:1/r.git/': Failed";
        let red = redact_text(msg);
        assert!(!red.contains("tok"), "{red}");
        assert!(red.contains("'https://***@127.0.0.1:1/r.git/'"), "{red}");
        assert_eq!(redact_text("no url here"), "no url here");
        assert_eq!(
            redact_text("a http://u:p@h b git+ssh://x:y@h/c"),
            "a http://***@h b git+ssh://***@h/c"
        );
    }

    #[test]
    fn missing_git_says_to_install_it() {
        let err = spawn_error(io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(err.kind(), ErrorKind::Git);
        assert!(err.to_string().contains("install git"), "{err}");
    }

    #[test]
    fn stderr_is_trimmed_to_the_tail() {
        let long: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let t = trim_stderr(&long);
        assert!(t.contains("line 29") && !t.contains("line 10\n"));
    }
}
