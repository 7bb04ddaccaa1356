//! Hostile input: a registry, a remote or a declaration trying to make us
//! write outside the artifact's place, read outside the registry, or fall
//! over. Every case ends in a clear error, and a snapshot of the whole temp
//! root (but the cache) taken before and after shows that nothing was
//! written: no lock, no file in OUT_DIR, nothing outside.

use std::fs;
use std::path::PathBuf;

use dvc_build::__private::format::config::Config;
use dvc_build::__private::format::dir_manifest::DirManifest;
use dvc_build::__private::format::dvc_lock::DvcLock;
use dvc_build::__private::format::stage::{ImportStage, Stage};
use dvc_build::__private::hash::Md5;
use dvc_build::__private::manifest::Manifest;
use dvc_build::{ErrorKind, Fetch};

use crate::support::invariants::{assert_cache_sound, diff, snapshot};
use crate::support::{self, git, run};

/// A hand-made DVC registry (git + `.dvc/config`, no `dvc` needed) and its
/// local remote.
struct Hostile {
    tmp: tempfile::TempDir,
    repo: PathBuf,
    remote: PathBuf,
}

impl Hostile {
    fn new() -> Hostile {
        let tmp = support::tempdir();
        let repo = tmp.path().join("registry");
        let remote = tmp.path().join("remote");
        fs::create_dir_all(&remote).unwrap();
        run(git(tmp.path()).args(["init", "-q", "registry"]));
        support::write(
            &repo,
            ".dvc/config",
            format!(
                "[core]\n    remote = store\n['remote \"store\"']\n    url = {}\n",
                remote.display()
            ),
        );
        support::write(&repo, ".dvcignore", "");
        Hostile { tmp, repo, remote }
    }

    /// Puts `bytes` on the remote as an object; returns its MD5.
    fn object(&self, bytes: &[u8], is_dir: bool) -> Md5 {
        let md5 = Md5::of(bytes);
        let hex = md5.to_hex();
        let suffix = if is_dir { ".dir" } else { "" };
        support::write(
            &self.remote,
            &format!("files/md5/{}/{}{suffix}", &hex[..2], &hex[2..]),
            bytes,
        );
        md5
    }

    /// A `.dvc` file tracking `path` (relative to the `.dvc` file) with `md5`.
    fn dvc_file(&self, file: &str, out_path: &str, md5: &str, size: Option<u64>) {
        let size = size.map(|s| format!("  size: {s}\n")).unwrap_or_default();
        support::write(
            &self.repo,
            file,
            format!("outs:\n- md5: {md5}\n{size}  hash: md5\n  path: {out_path}\n"),
        );
    }

    /// A `.dir` object with these `(relpath, md5)` entries (written as given,
    /// not validated); the `.dvc` file `<name>.dvc` tracks it as `name`.
    fn dir(&self, name: &str, entries: &[(&str, &str)]) {
        let items: Vec<String> = entries
            .iter()
            .map(|(rel, md5)| {
                format!(
                    "{{\"md5\": \"{md5}\", \"relpath\": {}}}",
                    serde_json::Value::from(*rel)
                )
            })
            .collect();
        let json = format!("[{}]", items.join(", "));
        let md5 = self.object(json.as_bytes(), true);
        self.dvc_file(&format!("{name}.dvc"), name, &format!("{md5}.dir"), None);
    }

    fn commit(&self) {
        run(git(&self.repo).args(["add", "-A"]));
        run(git(&self.repo).args(["commit", "-q", "-m", "hostile"]));
    }

    /// Runs `Fetch` for a crate with one dependency (`extra` is more TOML for
    /// its table); asserts it fails with `want` in the message and that
    /// nothing outside the cache changed. Returns the message.
    #[track_caller]
    fn refused(&self, case: &str, path: &str, extra: &str, want: &str) -> String {
        let krate = self.tmp.path().join(format!("crate-{case}"));
        support::write(
            &krate,
            "Cargo.toml",
            format!(
                "[package]\nname = \"c\"\nversion = \"0.1.0\"\n\n\
                 [package.metadata.dvc.deps.dep]\nurl = \"{}\"\npath = {}\n{extra}",
                self.repo.display(),
                toml_str(path)
            ),
        );
        let out = self.tmp.path().join(format!("out-{case}"));
        fs::create_dir_all(&out).unwrap();
        let cache = self.tmp.path().join("cache");
        let before = snapshot(self.tmp.path(), &["cache"]);
        let result = Fetch::new()
            .manifest_dir(&krate)
            .out_dir(&out)
            .cache_dir(&cache)
            .locked(false)
            .offline(false)
            .emit_directives(false)
            .run();
        let err = match result {
            Ok(f) => panic!("{case}: expected an error, fetched {f:?}"),
            Err(e) => e,
        };
        let text = err.to_string();
        assert!(text.contains(want), "{case}: {text}");
        assert!(
            text.contains("dep"),
            "{case}: the error names the dependency: {text}"
        );
        let after = snapshot(self.tmp.path(), &["cache"]);
        let changed = diff(&before, &after);
        assert!(changed.is_empty(), "{case}: wrote {changed:?}");
        assert_cache_sound(&cache, false);
        text
    }
}

fn toml_str(s: &str) -> String {
    // A TOML basic string: JSON's escapes are valid TOML ones.
    serde_json::Value::from(s).to_string()
}

#[test]
fn a_hostile_registry_or_remote_writes_nothing_outside() {
    let h = Hostile::new();
    let good = h.object(b"good bytes\n", false);
    let good = good.to_hex();
    let g = good.as_str();
    // .dir relpaths that escape or are ambiguous.
    let escapes: &[(&str, &str)] = &[
        ("dotdot", "../../escaped"),
        ("inner-dotdot", "a/../../escaped"),
        ("absolute", "/tmp/escaped"),
        ("drive", "C:\\escaped"),
        ("drive-slash", "C:/escaped"),
        ("unc", "\\\\server\\share\\x"),
        ("nul", "a\u{0}b"),
        ("empty-component", "a//b"),
        ("dot", "./a"),
    ];
    for (name, rel) in escapes {
        h.dir(&format!("esc-{name}"), &[("ok.txt", g), (rel, g)]);
    }
    h.dir("dup", &[("same", g), ("same", g)]);
    h.dir("file-and-dir", &[("a", g), ("a/b", g)]);
    h.dir("bad-md5-in-dir", &[("x", "not-a-hash")]);
    h.dir("short-md5-in-dir", &[("x", "0123456789abcdef")]);
    // A .dir object that is not a list / too deep.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let md5 = h.object(deep.as_bytes(), true);
    h.dvc_file("deep.dvc", "deep", &format!("{md5}.dir"), None);
    // Sizes that lie.
    h.dvc_file("small.dvc", "small", g, Some(3));
    h.dvc_file("large.dvc", "large", g, Some(1_000_000));
    // Git symlinks: to a file outside, and a folder pointing outside.
    std::os::unix::fs::symlink("/etc/passwd", h.repo.join("passwd-link")).unwrap();
    std::os::unix::fs::symlink("/etc", h.repo.join("etc-link")).unwrap();
    support::write(&h.repo, "gitdir/a.txt", "a");
    std::os::unix::fs::symlink("/etc/passwd", h.repo.join("gitdir/z-link")).unwrap();
    // A DVC-tracked path reached through a git symlink to its folder.
    h.dvc_file("real/model.bin.dvc", "model.bin", g, Some(11));
    std::os::unix::fs::symlink("real", h.repo.join("alias")).unwrap();
    h.commit();

    let mut lines = Vec::new();
    let mut case = |name: &str, path: &str, extra: &str, want: &str| {
        let text = h.refused(name, path, extra, want);
        lines.push(format!("{name:<22} {}", text.lines().next().unwrap_or("")));
    };
    for (name, _) in escapes {
        case(name, &format!("esc-{name}"), "", "unsafe relpath");
    }
    case("dup", "dup", "", "duplicate relpath");
    case("file-and-dir", "file-and-dir", "", "is a file, but");
    case("bad-md5-in-dir", "bad-md5-in-dir", "", "md5");
    case("short-md5-in-dir", "short-md5-in-dir", "", "md5");
    case("deep-json", "deep", "", ".dir");
    case("size-smaller", "small", "", "3");
    case("size-larger", "large", "", "1000000");
    case("git-symlink-file", "passwd-link", "", "neither tracked");
    case("git-dir-with-symlink", "gitdir", "", "symbolic link");
    case("git-symlink-dir", "etc-link/passwd", "", "etc-link");
    case("dvc-through-symlink", "alias/model.bin", "", "alias");
    // Declarations that leave the crate, and remotes we cannot use.
    case("out-dotdot", "small", "out = \"../escaped\"\n", "out");
    case("out-absolute", "small", "out = \"/tmp/escaped\"\n", "out");
    case("path-dotdot", "../outside", "", "path");
    case("path-absolute", "/etc/passwd", "", "path");
    case(
        "remote-hdfs",
        "esc-dot",
        "remote = { url = \"hdfs://host/x\" }\n",
        "not supported",
    );
    case(
        "remote-ftp",
        "esc-dot",
        "remote = { url = \"ftp://host/x\" }\n",
        "not supported",
    );
    println!("{}", lines.join("\n"));

    // Deeply nested YAML in a `.dvc` file: one broken file breaks the
    // lookup in its registry (as in DVC), with an error that names it.
    let bad_dvc =
        |md5: &str, path: &str| format!("outs:\n- md5: {md5}\n  hash: md5\n  path: {path}\n");
    for (name, text) in [
        ("md5-shape-short", bad_dvc("'0123'", "md5-shape-short")),
        (
            "md5-shape-path",
            bad_dvc("../../../../etc/passwd", "md5-shape-path"),
        ),
        (
            "md5-shape-nonhex",
            bad_dvc("zz23456789abcdef0123456789abcdef", "md5-shape-nonhex"),
        ),
        (
            "md5-shape-upper",
            bad_dvc("D41D8CD98F00B204E9800998ECF8427E", "md5-shape-upper"),
        ),
        ("out-leaves-registry", bad_dvc(&good, "../../outside")),
        (
            "nested-flow",
            format!("outs: {}{}\n", "[".repeat(50_000), "]".repeat(50_000)),
        ),
        ("nested-block", format!("outs:\n{}", "- ".repeat(50_000))),
        (
            "huge-scalar",
            format!(
                "outs:\n- md5: {}\n  path: huge-scalar\n",
                "a".repeat(8 << 20)
            ),
        ),
    ] {
        let h = Hostile::new();
        support::write(&h.repo, &format!("{name}.dvc"), text);
        h.commit();
        // An upper-case MD5 is read as the same hash (case-insensitive hex).
        let want = if name == "md5-shape-upper" {
            "is not on remote"
        } else {
            name
        };
        let text = h.refused(name, name, "", want);
        println!(
            "{name:<22} {}",
            text.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>()
        );
    }
}

#[test]
fn parsers_survive_deep_and_huge_input() {
    let deep_yaml = format!("a: {}{}", "[".repeat(200_000), "]".repeat(200_000));
    assert!(Stage::parse(&deep_yaml).is_err());
    assert!(DvcLock::parse(&deep_yaml).is_err());
    let deep_map = "a:\n".to_string()
        + &(1..3000)
            .map(|i| format!("{}b:\n", " ".repeat(i)))
            .collect::<String>();
    let _ = Stage::parse(&deep_map);
    let _ = DvcLock::parse(&deep_map);
    let huge = format!("md5: {}\n", "a".repeat(20 << 20));
    assert!(Stage::parse(&huge).is_ok_and(|s| ImportStage::from_stage(&s).is_err()));
    let deep_toml = format!(
        "[package]\nname = \"x\"\n[package.metadata.dvc.deps.d]\nurl = {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let err = Manifest::parse(&deep_toml).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Manifest, "{err}");
    let deep_inline = format!(
        "[package]\nname = \"x\"\n[package.metadata.dvc.deps.d]\nremote = {}1{}\n",
        "{a=".repeat(50_000),
        "}".repeat(50_000)
    );
    assert!(Manifest::parse(&deep_inline).is_err());
    let huge_ini = "[core]\n".to_string()
        + &"    x = y\n".repeat(500_000)
        + &format!("[{}]\n", "'".repeat(100_000));
    let _ = Config::parse(&huge_ini, ".dvc");
    let nested_ini = format!("['remote \"{}\"']\nurl = x\n", "[".repeat(100_000));
    let _ = Config::parse(&nested_ini, ".dvc");
    let deep_json = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
    assert!(DirManifest::parse(deep_json.as_bytes()).is_err());
    // A huge, valid manifest: 200,000 entries.
    let items: Vec<String> = (0..200_000)
        .map(|i| {
            format!("{{\"md5\": \"d41d8cd98f00b204e9800998ecf8427e\", \"relpath\": \"d/{i:06}\"}}")
        })
        .collect();
    let huge = DirManifest::parse(format!("[{}]", items.join(", ")).as_bytes()).unwrap();
    assert_eq!(huge.entries().len(), 200_000);
}

#[test]
fn hostile_dir_paths_are_refused_by_the_parser() {
    for rel in [
        "../x",
        "a/../../x",
        "/x",
        "C:\\x",
        "C:/x",
        "\\\\server\\x",
        "a\u{0}b",
        "",
        "a//b",
        ".",
    ] {
        let json = format!(
            "[{{\"md5\": \"d41d8cd98f00b204e9800998ecf8427e\", \"relpath\": {}}}]",
            serde_json::Value::from(rel)
        );
        assert!(DirManifest::parse(json.as_bytes()).is_err(), "{rel:?}");
    }
}

/// A local user plants symlinks where artifacts go: placing replaces the
/// links and never writes through them.
#[test]
fn placing_never_writes_through_a_planted_symlink() {
    use dvc_build::__private::cache::Cache;
    use dvc_build::__private::materialize::{place_dir, place_file};
    let tmp = support::tempdir();
    let cache = Cache::open(tmp.path().join("cache")).unwrap();
    let victim = tmp.path().join("victim");
    support::write(&victim, "file", "precious");
    let outside = snapshot(&victim, &[]);
    let obj = cache.insert_bytes(b"artifact", false).unwrap();
    let out = tmp.path().join("out");
    fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(victim.join("file"), out.join("model.bin")).unwrap();
    place_file(&cache, &obj, &out.join("model.bin")).unwrap();
    assert!(
        !fs::symlink_metadata(out.join("model.bin"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(out.join("model.bin")).unwrap(), b"artifact");
    std::os::unix::fs::symlink(&victim, out.join("data")).unwrap();
    place_dir(
        &cache,
        &[("file".to_string(), obj.clone())],
        &out.join("data"),
    )
    .unwrap();
    assert_eq!(fs::read(out.join("data/file")).unwrap(), b"artifact");
    assert!(
        diff(&outside, &snapshot(&victim, &[])).is_empty(),
        "the victim was changed"
    );
    // A symlinked folder inside an existing destination directory.
    let dir = out.join("data2");
    fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("sub")).unwrap();
    place_dir(&cache, &[("sub/file".to_string(), obj)], &dir).unwrap();
    assert_eq!(fs::read(dir.join("sub/file")).unwrap(), b"artifact");
    assert!(
        diff(&outside, &snapshot(&victim, &[])).is_empty(),
        "the victim was changed"
    );
}
