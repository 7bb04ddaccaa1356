//! Issue 12: we never lose or silently change a user's data. Each case is
//! run against the real `dvc` in the same state where it has an answer.
//!
//! * Finding 1: a file from `get` or `pull` is the user's own: editing it
//!   (or a hard link placed with `--link`, which shares the cache object and
//!   every crate's `OUT_DIR` copy) never changes what a crate embeds; the
//!   build notices, warns and replaces the bytes; `status` reports and
//!   changes nothing.
//! * Refusals: `pull`, `import` and `get` refuse to overwrite or delete what
//!   holds the user's data, as `dvc` does, and `--force` replaces it as
//!   `dvc --force` does.
//! * Modes: new files get the umask (022 and 002), `Cargo.toml` keeps its
//!   mode.
//! * `update` of several dependencies writes all or nothing.
//! * Leftovers: a killed `pull` leaves the crate whole, and the next one
//!   finishes and cleans up; a mistyped URL leaves no git database.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::http::FileServer;
use crate::support::invariants::assert_cache_sound;
use crate::support::{
    self, Registry, cargo, cargo_dvc, consumer_bin, dvc, run, run_fail, run_stdout, write_crate,
};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A registry with `models/m.bin`, a second file and a directory, pushed,
/// tagged v1; then `models/m.bin` changed and tagged v2.
fn registry(root: &Path) -> Registry {
    let reg = Registry::new(root);
    reg.write("models/m.bin", "pinned weights v1\n");
    reg.write("models/tok.json", "tokenizer\n");
    reg.write("data/a.txt", "alpha\n");
    reg.write("data/b.txt", "beta\n");
    reg.add(&["models/m.bin", "models/tok.json", "data"]);
    reg.commit("v1");
    reg.push();
    reg.tag("v1");
    reg.write("models/m.bin", "pinned weights v2\n");
    reg.add(&["models/m.bin"]);
    reg.commit("v2");
    reg.push();
    reg.tag("v2");
    reg
}

fn make_writable(path: &Path) {
    let mode = fs::metadata(path).unwrap().permissions().mode();
    fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o200)).unwrap();
}

fn append(path: &Path, text: &str) {
    let mut bytes = fs::read(path).unwrap();
    bytes.extend_from_slice(text.as_bytes());
    make_writable(path);
    fs::write(path, bytes).unwrap();
}

/// What a consumer binary prints: the bytes it embedded.
fn embedded(name: &str) -> String {
    String::from_utf8_lossy(&run(&mut Command::new(consumer_bin(name))).stdout).into_owned()
}

/// The cache object holding `bytes`.
fn object(cache: &Path, bytes: &str) -> PathBuf {
    let hex = dvc_build::__private::hash::Md5::of(bytes.as_bytes()).to_hex();
    cache.join("files/md5").join(&hex[..2]).join(&hex[2..])
}

/// Finding 1, end to end: two crates embed the same pinned artifact; a
/// `get` copy, a `pull` copy and a `pull --link` hard link are edited; the
/// embedded bytes stay the pinned ones, after a plain rebuild and after
/// `touch build.rs`; the build says what it repaired; `status` reports the
/// damage and changes nothing.
#[test]
fn edits_through_any_placed_file_never_reach_what_a_crate_embeds() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let pinned = "pinned weights v2\n";
    let main_rs = "static M: &[u8] = include_bytes!(env!(\"DVC_MODEL\"));\n\
                   fn main() { print!(\"{}\", String::from_utf8_lossy(M)); }\n";
    let metadata = format!(
        "[package.metadata.dvc.deps.model]\nurl = {url:?}\npath = \"models/m.bin\"\nrev = \"v2\"\n"
    );
    let crates = ["finding1-a", "finding1-b"];
    // What earlier runs of this test left in the shared target directory.
    let build_dirs = || -> Vec<PathBuf> {
        fs::read_dir(support::consumer_target_dir().join("debug/build"))
            .map(|d| {
                d.map(|e| e.unwrap().path())
                    .filter(|p| {
                        p.file_name()
                            .unwrap()
                            .to_string_lossy()
                            .starts_with("finding1-")
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // The model each crate's build placed in its `OUT_DIR`.
    let placed_models = || -> Vec<PathBuf> {
        build_dirs()
            .into_iter()
            .map(|d| d.join("out/dvc/m.bin"))
            .filter(|p| p.exists())
            .collect()
    };
    for dir in build_dirs() {
        fs::remove_dir_all(dir).unwrap();
    }
    for name in crates {
        let dir = root.join(name);
        support::consumer(&dir);
        write_crate(&dir, name, &metadata, main_rs, false);
        let out = run(cargo(&dir, &cache).arg("build"));
        // Finding 22: the build says it wrote the lock, naming it.
        let err = stderr(&out);
        assert!(
            err.contains("dvc-build: wrote")
                && err.contains("m.bin.dvc")
                && err.contains("locked to v2"),
            "{err}"
        );
        assert_eq!(embedded(name), pinned);
    }
    // What each crate embeds is a hard link to the one cache object: the
    // case where an edit anywhere would reach both.
    let placed = placed_models();
    assert_eq!(placed.len(), 2, "{placed:?}");
    for p in &placed {
        assert!(
            fs::metadata(p).unwrap().nlink() >= 3,
            "{} is linked",
            p.display()
        );
    }
    let rebuild_all = |what: &str| {
        for name in crates {
            let dir = root.join(name);
            let out = run(cargo(&dir, &cache).arg("build"));
            assert_eq!(
                embedded(name),
                pinned,
                "{name} after {what}: {}",
                stderr(&out)
            );
        }
    };

    // `get` gives an independent file: editing it changes nothing else.
    run(cargo_dvc(root, &cache).args([
        "get",
        &url,
        "models/m.bin",
        "--rev",
        "v2",
        "-o",
        "play.bin",
    ]));
    let play = root.join("play.bin");
    assert_eq!(
        fs::metadata(&play).unwrap().nlink(),
        1,
        "a copy, not a link"
    );
    assert_ne!(
        fs::metadata(&play).unwrap().mode() & 0o200,
        0,
        "the user's, writable"
    );
    append(&play, "my experiment\n");
    for name in crates {
        let dir = root.join(name);
        filetime_touch(&dir.join("src/main.rs"));
    }
    rebuild_all("editing the get copy");

    // A default `pull` places a copy too.
    let a = root.join(crates[0]);
    run(cargo_dvc(&a, &cache).arg("pull"));
    assert_eq!(fs::metadata(a.join("m.bin")).unwrap().nlink(), 1);
    append(&a.join("m.bin"), "edited copy\n");
    rebuild_all("editing the pulled copy");

    // `pull --link` asks for a hard link: read-only, sharing the cache
    // object (and the OUT_DIR links of both crates). Edited anyway.
    run(cargo_dvc(&a, &cache).args(["pull", "--link", "--force"]));
    let linked = a.join("m.bin");
    assert!(fs::metadata(&linked).unwrap().nlink() > 1, "a hard link");
    assert_eq!(
        fs::metadata(&linked).unwrap().mode() & 0o222,
        0,
        "read-only"
    );
    append(&linked, "tampered through the link\n");
    let obj = object(&cache, pinned);
    assert!(
        fs::read_to_string(&obj)
            .unwrap()
            .ends_with("tampered through the link\n")
    );

    // `status` reports the damage, and repairs nothing.
    let b = root.join(crates[1]);
    let json = run_stdout(cargo_dvc(&b, &cache).args(["status", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let row = &report["dependencies"][0];
    assert_eq!(row["cached"], false, "{json}");
    assert_eq!(row["corrupt"][0], obj.display().to_string(), "{json}");
    let json = run_stdout(cargo_dvc(&a, &cache).args(["status", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["dependencies"][0]["workspace"], "modified", "{json}");
    assert!(
        fs::read_to_string(&obj)
            .unwrap()
            .ends_with("tampered through the link\n"),
        "status left the object as it was"
    );
    let text = run_stdout(cargo_dvc(&b, &cache).arg("status"));
    assert!(text.contains("corrupt"), "{text}");

    // The next build of either crate re-runs its build script (it watches
    // what it placed), finds the object changed, fetches the pinned bytes
    // again and says so; nothing tampered is embedded.
    let out = run(cargo(&b, &cache).arg("build"));
    let err = stderr(&out);
    assert!(err.contains("no longer matched its hash"), "{err}");
    assert_eq!(embedded(crates[1]), pinned);
    let out = run(cargo(&a, &cache).arg("build"));
    assert!(
        stderr(&out).contains("no longer held the pinned bytes")
            || stderr(&out).contains("no longer matched its hash"),
        "{}",
        stderr(&out)
    );
    assert_eq!(embedded(crates[0]), pinned);
    assert_eq!(
        fs::read_to_string(&obj).unwrap(),
        pinned,
        "the object was fetched again"
    );
    // And `touch build.rs`: the script runs again, the bytes stay pinned.
    for name in crates {
        filetime_touch(&root.join(name).join("build.rs"));
    }
    rebuild_all("touch build.rs");
    // The user's edited link is theirs: `pull` keeps it unless --force.
    let err = run_fail(cargo_dvc(&a, &cache).arg("pull"));
    assert!(err.contains("m.bin") && err.contains("--force"), "{err}");
    assert!(
        fs::read_to_string(&linked)
            .unwrap()
            .ends_with("tampered through the link\n")
    );

    // An edit through what a build placed in `OUT_DIR` (a hard link to the
    // cache object): the next build of each crate embeds the pinned bytes,
    // and every `OUT_DIR` holds them again.
    let placed = placed_models();
    assert_eq!(placed.len(), 2, "{placed:?}");
    append(&placed[0], "tampered in OUT_DIR\n");
    rebuild_all("editing a file in OUT_DIR");
    for p in &placed {
        assert_eq!(fs::read_to_string(p).unwrap(), pinned, "{}", p.display());
    }
    assert_eq!(fs::read_to_string(&obj).unwrap(), pinned);
}

/// Moves a file's mtime to now (as `touch`), past cargo's granularity.
fn filetime_touch(path: &Path) {
    std::thread::sleep(Duration::from_millis(20));
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
}

/// A crate (git + DVC project) and a plain DVC project beside it, to do the
/// same thing with `cargo dvc` and with `dvc`.
struct Pair {
    ours: PathBuf,
    theirs: PathBuf,
    cache: PathBuf,
    url: String,
}

impl Pair {
    fn new(root: &Path, name: &str, reg: &Registry) -> Pair {
        let ours = root.join(format!("{name}-ours"));
        let theirs = root.join(format!("{name}-dvc"));
        for dir in [&ours, &theirs] {
            support::consumer(dir);
        }
        support::write(
            &ours,
            "Cargo.toml",
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[workspace]\n",
        );
        for dir in [&ours, &theirs] {
            run(support::git(dir).args(["add", "-A"]));
            run(support::git(dir).args(["commit", "-qm", "init"]));
        }
        Pair {
            ours,
            theirs,
            cache: root.join("cache"),
            url: reg.repo.to_str().unwrap().to_string(),
        }
    }

    /// `cargo dvc ARGS` in our crate; the output and whether it succeeded.
    fn ours(&self, args: &[&str]) -> (bool, String) {
        let out = cargo_dvc(&self.ours, &self.cache)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out)),
        )
    }

    /// `dvc ARGS` in the DVC project.
    fn theirs(&self, args: &[&str]) -> (bool, String) {
        let out = dvc(&self.theirs).args(args).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out)),
        )
    }

    /// Both refuse (`ours`, `theirs` arguments), naming `path`; ours says
    /// `--force`.
    #[track_caller]
    fn both_refuse(&self, ours: &[&str], theirs: &[&str], path: &str) {
        let (ok, text) = self.ours(ours);
        assert!(!ok, "cargo dvc {ours:?} succeeded: {text}");
        assert!(
            text.contains(path),
            "cargo dvc {ours:?} names {path}: {text}"
        );
        assert!(
            text.contains("--force"),
            "cargo dvc {ours:?} says --force: {text}"
        );
        let (ok, text) = self.theirs(theirs);
        assert!(!ok, "dvc {theirs:?} succeeded: {text}");
    }

    /// Both succeed.
    #[track_caller]
    fn both_succeed(&self, ours: &[&str], theirs: &[&str]) {
        let (ok, text) = self.ours(ours);
        assert!(ok, "cargo dvc {ours:?} failed: {text}");
        let (ok, text) = self.theirs(theirs);
        assert!(ok, "dvc {theirs:?} failed: {text}");
    }

    fn read(&self, rel: &str) -> (String, String) {
        let read =
            |dir: &Path| fs::read_to_string(dir.join(rel)).unwrap_or_else(|_| "<none>".into());
        (read(&self.ours), read(&self.theirs))
    }

    fn exists(&self, rel: &str) -> (bool, bool) {
        (self.ours.join(rel).exists(), self.theirs.join(rel).exists())
    }
}

/// `pull` over a modified output, over files added inside a pulled folder,
/// and over an output git tracks: refused as `dvc pull` refuses ("unsaved
/// files"), replaced with `--force` as `dvc pull --force` replaces.
#[test]
fn pull_refuses_what_dvc_pull_refuses_and_force_replaces_it() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let p = Pair::new(root, "pull", &reg);
    let url = p.url.clone();
    p.both_succeed(
        &["import", &url, "models/m.bin", "--rev", "v2"],
        &["import", &url, "models/m.bin", "--rev", "v2"],
    );
    p.both_succeed(&["import", &url, "data"], &["import", &url, "data"]);
    p.both_succeed(&["pull"], &["pull"]);
    assert_eq!(
        p.read("m.bin"),
        ("pinned weights v2\n".into(), "pinned weights v2\n".into())
    );
    // An unmodified earlier placement is replaced without a word by both.
    p.both_succeed(&["pull"], &["pull"]);

    // A modified output.
    for dir in [&p.ours, &p.theirs] {
        fs::remove_file(dir.join("m.bin")).unwrap();
        fs::write(dir.join("m.bin"), "my experimental model\n").unwrap();
    }
    p.both_refuse(&["pull", "m"], &["pull", "m.bin.dvc"], "m.bin");
    assert_eq!(
        p.read("m.bin"),
        (
            "my experimental model\n".into(),
            "my experimental model\n".into()
        )
    );
    // A file added inside a pulled folder.
    for dir in [&p.ours, &p.theirs] {
        fs::write(dir.join("data/extra.txt"), "mine\n").unwrap();
    }
    p.both_refuse(&["pull", "data"], &["pull", "data.dvc"], "data/extra.txt");
    assert_eq!(p.exists("data/extra.txt"), (true, true));
    // --force: both replace.
    p.both_succeed(&["pull", "--force"], &["pull", "--force"]);
    assert_eq!(
        p.read("m.bin"),
        ("pinned weights v2\n".into(), "pinned weights v2\n".into())
    );
    assert_eq!(p.exists("data/extra.txt"), (false, false));

    // An output git tracks (declared by hand, as in finding 2).
    for dir in [&p.ours, &p.theirs] {
        fs::write(dir.join("NOTES.md"), "# My crate docs\n").unwrap();
        run(support::git(dir).args(["add", "NOTES.md"]));
        run(support::git(dir).args(["commit", "-qm", "notes"]));
    }
    let toml = fs::read_to_string(p.ours.join("Cargo.toml")).unwrap();
    fs::write(
        p.ours.join("Cargo.toml"),
        format!("{toml}\n[package.metadata.dvc.deps.tok]\nurl = {url:?}\npath = \"models/tok.json\"\nout = \"NOTES.md\"\n"),
    )
    .unwrap();
    let (ok, text) = p.ours(&["pull", "tok"]);
    assert!(
        !ok && text.contains("git tracks") && text.contains("--force"),
        "{text}"
    );
    // The same stage for dvc: our lock, which is what `dvc import` writes.
    fs::copy(p.ours.join("NOTES.md.dvc"), p.theirs.join("NOTES.md.dvc")).unwrap();
    let (ok, _) = p.theirs(&["pull", "NOTES.md.dvc"]);
    assert!(!ok, "dvc pull refuses the tracked file too");
    assert_eq!(
        p.read("NOTES.md"),
        ("# My crate docs\n".into(), "# My crate docs\n".into())
    );
    p.both_succeed(
        &["pull", "tok", "--force"],
        &["pull", "NOTES.md.dvc", "--force"],
    );
    assert_eq!(
        p.read("NOTES.md"),
        ("tokenizer\n".into(), "tokenizer\n".into())
    );
    // Neither git-ignores a file git tracks.
    let ignored = |dir: &Path| fs::read_to_string(dir.join(".gitignore")).unwrap_or_default();
    assert!(
        !ignored(&p.ours).contains("NOTES.md"),
        "{}",
        ignored(&p.ours)
    );
    assert!(!ignored(&p.theirs).contains("NOTES.md"));
}

/// `import -o`: an existing folder means inside it; an existing file is
/// refused without `--force` and replaced with it; a file git tracks is
/// refused even with `--force` (dvc fails then too, after overwriting it;
/// we change nothing). No `.gitignore` entry ever covers the user's files.
#[test]
fn import_places_inside_folders_and_refuses_existing_files_as_dvc_does() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let p = Pair::new(root, "import", &reg);
    let url = p.url.clone();

    // -o DIR/ and -o DIR, an existing folder holding the user's notes.
    for dir in [&p.ours, &p.theirs] {
        fs::create_dir_all(dir.join("models")).unwrap();
        fs::write(dir.join("models/README.txt"), "notes\n").unwrap();
        fs::create_dir_all(dir.join("assets")).unwrap();
    }
    p.both_succeed(
        &["import", &url, "models/m.bin", "-o", "models/"],
        &["import", &url, "models/m.bin", "-o", "models/"],
    );
    p.both_succeed(
        &["import", &url, "models/tok.json", "-o", "assets"],
        &["import", &url, "models/tok.json", "-o", "assets"],
    );
    for rel in [
        "models/m.bin.dvc",
        "assets/tok.json.dvc",
        "models/.gitignore",
        "assets/.gitignore",
    ] {
        let (ours, theirs) = p.read(rel);
        assert_eq!(ours, theirs, "{rel}");
    }
    let toml = fs::read_to_string(p.ours.join("Cargo.toml")).unwrap();
    assert!(
        toml.contains("out = \"models/m.bin\"") && toml.contains("out = \"assets/tok.json\""),
        "{toml}"
    );
    // The user's notes are not git-ignored.
    let check = support::git(&p.ours)
        .args(["check-ignore", "-q", "models/README.txt"])
        .status()
        .unwrap();
    assert_eq!(check.code(), Some(1), "models/README.txt is not ignored");

    // An existing, untracked file: refused; replaced with --force.
    for dir in [&p.ours, &p.theirs] {
        fs::write(dir.join("draft.json"), "my draft\n").unwrap();
    }
    p.both_refuse(
        &[
            "import",
            &url,
            "models/tok.json",
            "-o",
            "draft.json",
            "--name",
            "draft",
        ],
        &["import", &url, "models/tok.json", "-o", "draft.json"],
        "draft.json",
    );
    assert_eq!(
        p.read("draft.json"),
        ("my draft\n".into(), "my draft\n".into())
    );
    assert!(!p.ours.join("draft.json.dvc").exists());
    assert!(
        !fs::read_to_string(p.ours.join("Cargo.toml"))
            .unwrap()
            .contains("draft")
    );
    p.both_succeed(
        &[
            "import",
            &url,
            "models/tok.json",
            "-o",
            "draft.json",
            "--name",
            "draft",
            "--force",
        ],
        &[
            "import",
            &url,
            "models/tok.json",
            "-o",
            "draft.json",
            "--force",
        ],
    );
    assert_eq!(
        p.read("draft.json"),
        ("tokenizer\n".into(), "tokenizer\n".into())
    );
    assert_eq!(p.read("draft.json.dvc").0, p.read("draft.json.dvc").1);

    // A file git tracks.
    for dir in [&p.ours, &p.theirs] {
        fs::write(dir.join("NOTES.md"), "# docs\n").unwrap();
        run(support::git(dir).args(["add", "NOTES.md"]));
        run(support::git(dir).args(["commit", "-qm", "notes"]));
    }
    let manifest_before = fs::read_to_string(p.ours.join("Cargo.toml")).unwrap();
    p.both_refuse(
        &[
            "import",
            &url,
            "models/tok.json",
            "-o",
            "NOTES.md",
            "--name",
            "notes",
        ],
        &["import", &url, "models/tok.json", "-o", "NOTES.md"],
        "NOTES.md",
    );
    let (ok, text) = p.ours(&[
        "import",
        &url,
        "models/tok.json",
        "-o",
        "NOTES.md",
        "--name",
        "notes",
        "--force",
    ]);
    assert!(!ok && text.contains("git rm"), "{text}");
    let (ok, text) = p.theirs(&[
        "import",
        &url,
        "models/tok.json",
        "-o",
        "NOTES.md",
        "--force",
    ]);
    assert!(!ok && text.contains("already tracked by SCM"), "{text}");
    assert_eq!(p.read("NOTES.md").0, "# docs\n", "ours changed nothing");
    assert_eq!(
        fs::read_to_string(p.ours.join("Cargo.toml")).unwrap(),
        manifest_before
    );
    assert!(!p.ours.join("NOTES.md.dvc").exists());
}

/// `import` where the lock would go (`<out>.dvc`) already holds a file (a
/// stage of the user's, an orphaned lock): refused without `--force`, the
/// file untouched, as `import-url` does and as PRODUCT says of every file
/// that is not an earlier placement (`dvc import` overwrites it: its
/// import stage is created with `validate=False`). An orphaned import lock
/// is replaced with `--force`, byte for byte with what `dvc import` writes.
#[test]
fn import_refuses_an_existing_lock_file_without_force() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let p = Pair::new(root, "import-lock", &reg);
    let url = p.url.clone();
    let import = ["import", &url, "models/tok.json", "-o", "tok.json"];
    let refused = |what: &str| {
        let before = fs::read_to_string(p.ours.join("tok.json.dvc")).unwrap();
        let (ok, text) = p.ours(&import);
        assert!(!ok, "{what}: cargo dvc import succeeded: {text}");
        assert!(
            text.contains("tok.json.dvc") && text.contains("--force"),
            "{what}: {text}"
        );
        let after = fs::read_to_string(p.ours.join("tok.json.dvc")).unwrap();
        assert_eq!(after, before, "{what}: untouched");
        assert!(!p.ours.join("tok.json").exists(), "{what}");
        let toml = fs::read_to_string(p.ours.join("Cargo.toml")).unwrap();
        assert!(!toml.contains("tok"), "{what}: {toml}");
    };
    fs::write(
        p.ours.join("tok.json.dvc"),
        "# my own stage\nouts:\n- path: tok.json\n",
    )
    .unwrap();
    refused("a stage of the user's");

    let (ok, text) = p.theirs(&import);
    assert!(ok, "dvc import failed: {text}");
    fs::copy(p.theirs.join("tok.json.dvc"), p.ours.join("tok.json.dvc")).unwrap();
    refused("an orphaned import lock");
    let (ok, text) = p.ours(&[&import[..], &["--force"]].concat());
    assert!(ok, "cargo dvc import --force failed: {text}");
    let (ours, theirs) = p.read("tok.json.dvc");
    assert_eq!(ours, theirs);
}

/// `get`: never overwrites an existing file without `--force` (as `dvc
/// get`), places inside an existing folder, and gives an independent copy.
#[test]
fn get_refuses_existing_files_and_places_inside_folders_as_dvc_get() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let (ours, theirs) = (root.join("get-ours"), root.join("get-dvc"));
    for dir in [&ours, &theirs] {
        fs::create_dir_all(dir.join("dl")).unwrap();
        fs::write(dir.join("m.bin"), "mine\n").unwrap();
    }
    let get_ours = |args: &[&str]| {
        cargo_dvc(&ours, &cache)
            .args(["get", &url, "models/m.bin"])
            .args(args)
            .output()
            .unwrap()
    };
    let get_dvc = |args: &[&str]| {
        dvc(&theirs)
            .args(["get", &url, "models/m.bin"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = get_ours(&[]);
    assert!(!out.status.success(), "ours: refused");
    assert!(
        stderr(&out).contains("m.bin") && stderr(&out).contains("--force"),
        "{}",
        stderr(&out)
    );
    assert!(!get_dvc(&[]).status.success(), "dvc: refused");
    for dir in [&ours, &theirs] {
        assert_eq!(fs::read_to_string(dir.join("m.bin")).unwrap(), "mine\n");
    }
    for (out, who) in [
        (get_ours(&["--force"]), "ours"),
        (get_dvc(&["--force"]), "dvc"),
    ] {
        assert!(out.status.success(), "{who}: {}", stderr(&out));
    }
    for dir in [&ours, &theirs] {
        assert_eq!(
            fs::read_to_string(dir.join("m.bin")).unwrap(),
            "pinned weights v2\n"
        );
        assert_eq!(fs::metadata(dir.join("m.bin")).unwrap().nlink(), 1);
    }
    // An unmodified earlier `get` of the same path is replaced (dvc refuses
    // any existing file; nothing of the user's is at stake here).
    let out = get_ours(&["--rev", "v1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(ours.join("m.bin")).unwrap(),
        "pinned weights v1\n"
    );
    // -o DIR and -o DIR/: inside.
    for arg in ["dl", "dl/"] {
        let _ = fs::remove_file(ours.join("dl/m.bin"));
        let _ = fs::remove_file(theirs.join("dl/m.bin"));
        for (out, who) in [
            (get_ours(&["-o", arg]), "ours"),
            (get_dvc(&["-o", arg]), "dvc"),
        ] {
            assert!(out.status.success(), "{who} -o {arg}: {}", stderr(&out));
        }
        for dir in [&ours, &theirs] {
            assert_eq!(
                fs::read_to_string(dir.join("dl/m.bin")).unwrap(),
                "pinned weights v2\n"
            );
        }
    }
}

/// `umask` in a shell, then the command.
fn with_umask(umask: u32, cmd: Command) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("umask {umask:03o}; exec \"$0\" \"$@\""))
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        sh.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Finding 7: under umask 022 and 002, a new lock and a placed copy get
/// `0666 & !umask`, as `dvc` writes them; `Cargo.toml` keeps its own mode.
#[test]
fn new_files_follow_the_umask_and_cargo_toml_keeps_its_mode() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    for umask in [0o022, 0o002] {
        let p = Pair::new(root, &format!("umask{umask:o}"), &reg);
        let url = p.url.clone();
        fs::set_permissions(p.ours.join("Cargo.toml"), fs::Permissions::from_mode(0o640)).unwrap();
        let mut ours = cargo_dvc(&p.ours, &p.cache);
        ours.args(["import", &url, "models/m.bin"]);
        run(&mut with_umask(umask, ours));
        let mut ours = cargo_dvc(&p.ours, &p.cache);
        ours.args(["pull"]);
        run(&mut with_umask(umask, ours));
        let mut ours = cargo_dvc(&p.ours, &p.cache);
        ours.args(["get", &url, "models/tok.json"]);
        run(&mut with_umask(umask, ours));
        let mut theirs = dvc(&p.theirs);
        theirs.args(["import", &url, "models/m.bin"]);
        run(&mut with_umask(umask, theirs));
        let want = 0o666 & !umask;
        assert_eq!(
            mode(&p.ours.join("Cargo.toml")),
            0o640,
            "Cargo.toml keeps its mode"
        );
        for rel in ["m.bin.dvc", "m.bin"] {
            assert_eq!(
                mode(&p.ours.join(rel)),
                want,
                "ours {rel} under umask {umask:03o}"
            );
            assert_eq!(
                mode(&p.theirs.join(rel)),
                want,
                "dvc {rel} under umask {umask:03o}"
            );
        }
        assert_eq!(
            mode(&p.ours.join("tok.json")),
            want,
            "get under umask {umask:03o}"
        );
        // A rewritten lock keeps the mode it had.
        fs::set_permissions(p.ours.join("m.bin.dvc"), fs::Permissions::from_mode(0o600)).unwrap();
        run(cargo_dvc(&p.ours, &p.cache).args(["update", "--rev", "v1"]));
        assert_eq!(mode(&p.ours.join("m.bin.dvc")), 0o600);
        assert_eq!(mode(&p.ours.join("Cargo.toml")), 0o640);
    }
}

/// Finding 6: `update --rev` over several dependencies where one cannot
/// move writes nothing; where all can, writes them all.
#[test]
fn update_of_several_dependencies_writes_all_or_nothing() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let broken = Registry::new(&root.join("broken"));
    broken.write("models/ok.bin", "pushed\n");
    broken.add(&["models/ok.bin"]);
    broken.commit("v1");
    broken.push();
    broken.tag("v1");
    let p = Pair::new(root, "update", &reg);
    let crate_dir = &p.ours;
    // `-o assets/tok.json` needs `assets/`, as `dvc import` does.
    fs::create_dir_all(crate_dir.join("assets")).unwrap();
    for args in [
        vec!["import", &url, "models/m.bin", "--rev", "v1"],
        vec!["import", &url, "models/tok.json", "-o", "assets/tok.json"],
        vec!["import", &url, "data"],
        vec!["import", broken.repo.to_str().unwrap(), "models/ok.bin"],
    ] {
        run(cargo_dvc(crate_dir, &p.cache).args(&args));
    }
    run(support::git(crate_dir).args(["add", "-A"]));
    run(support::git(crate_dir).args(["commit", "-qm", "deps"]));
    let status = || run_stdout(support::git(crate_dir).args(["status", "--porcelain"]));
    // `ok` has no v2: resolving it fails after `m` and `data` resolved.
    let err =
        run_fail(cargo_dvc(crate_dir, &p.cache).args(["update", "m", "data", "ok", "--rev", "v2"]));
    assert!(err.contains("v2"), "{err}");
    assert_eq!(status(), "", "nothing written");
    // A lock that cannot be written (a folder where it goes), found after
    // every resolution: nothing written either.
    fs::remove_file(crate_dir.join("data.dvc")).unwrap();
    fs::create_dir_all(crate_dir.join("data.dvc/in-the-way")).unwrap();
    let err = run_fail(cargo_dvc(crate_dir, &p.cache).args(["update", "m", "data", "--rev", "v2"]));
    assert!(err.contains("data.dvc"), "{err}");
    fs::remove_dir_all(crate_dir.join("data.dvc")).unwrap();
    run(support::git(crate_dir).args(["checkout", "-q", "data.dvc"]));
    assert_eq!(status(), "", "nothing written");
    // All of them can move: all are written, Cargo.toml with them.
    run(cargo_dvc(crate_dir, &p.cache).args(["update", "m", "data", "--rev", "v2"]));
    let changed = status();
    assert!(
        changed.contains("Cargo.toml") && changed.contains("m.bin.dvc"),
        "{changed}"
    );
}

/// A `cargo dvc pull` SIGKILLed at random moments (downloading, placing):
/// the crate holds the old artifact or the new one, never part of one; the
/// next `pull` needs no `--force`, finishes, and removes what the killed one
/// left (hidden temporaries in the crate, its download in the cache).
#[test]
fn a_killed_pull_leaves_the_crate_whole_and_the_next_one_finishes() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = Registry::new(&root.join("reg"));
    let big = support::pseudo_random(3 << 20, 7);
    reg.write("big.bin", &big);
    for i in 0..40 {
        reg.write(
            &format!("dir/f{i:02}.bin"),
            support::pseudo_random(20_000 + i, i as u64),
        );
    }
    reg.add(&["big.bin", "dir"]);
    reg.commit("data");
    reg.push();
    let server = FileServer::start(&reg.remote);
    let krate = root.join("app");
    support::consumer(&krate);
    let remote = format!(
        "remote = {{ url = \"{}\", read_timeout = \"5\" }}\n",
        server.url()
    );
    support::write(
        &krate,
        "Cargo.toml",
        format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[workspace]\n\n\
             [package.metadata.dvc.deps.big]\nurl = {:?}\npath = \"big.bin\"\n{remote}\n\
             [package.metadata.dvc.deps.dir]\nurl = {:?}\npath = \"dir\"\n{remote}",
            reg.repo.to_str().unwrap(),
            reg.repo.to_str().unwrap()
        ),
    );
    let check = |complete: bool, run_no: u32| {
        match fs::read(krate.join("big.bin")) {
            Ok(bytes) => assert!(bytes == big, "run {run_no}: big.bin is wrong"),
            Err(_) => assert!(!complete, "run {run_no}: big.bin is missing"),
        }
        if let Ok(entries) = fs::read_dir(krate.join("dir")) {
            assert_eq!(entries.count(), 40, "run {run_no}: dir is partial");
        } else {
            assert!(!complete, "run {run_no}: dir is missing");
        }
        let hidden: Vec<String> = fs::read_dir(&krate)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".dvc-build-"))
            .collect();
        if complete {
            assert!(
                hidden.is_empty(),
                "run {run_no}: temporaries left: {hidden:?}"
            );
        }
    };
    let mut seed = 0x5AFE_u64;
    let mut kills = 0;
    let started = Instant::now();
    for i in 0..14u32 {
        // A fresh cache every time: the kill lands in a download or a
        // placement.
        let cache = root.join(format!("cache-{i}"));
        let _ = fs::remove_dir_all(krate.join("big.bin"));
        let _ = fs::remove_file(krate.join("big.bin"));
        let _ = fs::remove_dir_all(krate.join("dir"));
        server.throttle(Some((64 * 1024, Duration::from_millis(2))));
        let mut child = cargo_dvc(&krate, &cache)
            .args(["pull", "-q"])
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(30 + seed % 400));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.signal() == Some(9) {
            kills += 1;
        }
        check(false, i);
        assert_cache_sound(&cache, true);
        server.throttle(None);
        let out = cargo_dvc(&krate, &cache)
            .args(["pull", "-q"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "run {i}: the pull after a kill failed: {}",
            stderr(&out)
        );
        check(true, i);
        assert_cache_sound(&cache, true);
        for left in crate::support::invariants::walk(&cache.join("tmp")) {
            assert_eq!(
                fs::metadata(&left).unwrap().len(),
                0,
                "run {i}: {} left",
                left.display()
            );
        }
    }
    eprintln!("{kills} kills in 14 runs, {:?}", started.elapsed());
    assert!(kills >= 10, "only {kills} kills landed");
}

/// Finding 23: a mistyped registry URL leaves no git database behind.
#[test]
fn a_mistyped_url_leaves_no_git_database() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let cache = root.join("cache");
    let p = Pair::new(root, "typo", &reg);
    let typo = format!("{}-typo", reg.repo.display());
    let err = run_fail(cargo_dvc(&p.ours, &cache).args(["import", &typo, "models/m.bin"]));
    assert!(err.contains("typo"), "{err}");
    let err = run_fail(cargo_dvc(&p.ours, &cache).args(["get", &typo, "models/m.bin"]));
    assert!(err.contains("typo"), "{err}");
    let dbs: Vec<_> = fs::read_dir(cache.join("git/db"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(dbs.is_empty(), "left in git/db: {dbs:?}");
    // A good URL keeps its database.
    run(cargo_dvc(&p.ours, &cache).args(["get", reg.repo.to_str().unwrap(), "models/m.bin"]));
    assert_eq!(
        fs::read_dir(cache.join("git/db")).unwrap().count(),
        2,
        "the database and its lock file"
    );
}

/// A DVC project whose `cache.type` asks for hard links gets them from
/// `pull`, read-only, as `dvc pull` places them there; the default stays a
/// copy, and `get` always gives an independent file.
#[test]
fn the_projects_cache_type_chooses_links() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let p = Pair::new(root, "cachetype", &reg);
    let url = p.url.clone();
    p.both_succeed(
        &["import", &url, "models/m.bin", "--rev", "v2"],
        &["import", &url, "models/m.bin", "--rev", "v2"],
    );
    run(cargo_dvc(&p.ours, &p.cache).arg("pull"));
    assert_eq!(
        fs::metadata(p.ours.join("m.bin")).unwrap().nlink(),
        1,
        "a copy by default"
    );
    for dir in [&p.ours, &p.theirs] {
        run(dvc(dir).args(["config", "cache.type", "hardlink"]));
        fs::remove_file(dir.join("m.bin")).unwrap();
    }
    p.both_succeed(&["pull"], &["pull"]);
    for dir in [&p.ours, &p.theirs] {
        let meta = fs::metadata(dir.join("m.bin")).unwrap();
        assert!(meta.nlink() > 1, "{}: a hard link", dir.display());
        assert_eq!(meta.mode() & 0o222, 0, "{}: read-only", dir.display());
    }
    // `get` still gives the user an independent, writable file there.
    run(cargo_dvc(&p.ours, &p.cache).args(["get", &url, "models/tok.json", "-o", "tok-copy.json"]));
    let meta = fs::metadata(p.ours.join("tok-copy.json")).unwrap();
    assert_eq!(meta.nlink(), 1, "get: a copy");
    assert_ne!(meta.mode() & 0o200, 0, "get: writable");
}
