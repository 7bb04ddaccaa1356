//! End to end: every `cargo dvc` command, run as the real binary, against
//! registries made by the real `dvc`; `cargo dvc update` against `dvc update`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Output;

use crate::support::{self, Registry, cargo_dvc, copy_tree, dvc, run, run_fail, run_stdout, tree};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const MANIFEST: &str = "\
# The consumer. Comments and formatting must survive every edit.
[package]
name    = \"app\"   # aligned on purpose
version = \"0.1.0\"
edition = \"2021\"

[dependencies]
# none

[workspace]
";

/// A consumer crate at `dir` (a git and DVC project) with [`MANIFEST`].
fn app_crate(dir: &Path) {
    support::consumer(dir);
    support::write(dir, "Cargo.toml", MANIFEST);
}

/// A registry with a model at v1, a directory, and one more commit on top of v1.
fn registry(root: &Path) -> Registry {
    let reg = Registry::new(root);
    reg.write("models/model.bin", "model v1\n");
    reg.write("data/a.txt", "alpha\n");
    reg.add(&["models/model.bin", "data"]);
    reg.commit("v1");
    reg.push();
    reg.tag("v1");
    reg
}

/// Publishes model v2 (and a changed directory) on main, tagged v2.
fn publish_v2(reg: &Registry) {
    reg.write("models/model.bin", "model v2, retrained\n");
    reg.write("data/b.txt", "beta\n");
    reg.add(&["models/model.bin", "data"]);
    reg.commit("v2");
    reg.push();
    reg.tag("v2");
}

/// `.gitignore` entries where the project's ignore rules already cover an
/// output (a glob, a folder-only pattern, `.git/info/exclude`) or exclude
/// it again (`!`): byte for byte what `dvc import` leaves, as it asks git's
/// rules first.
#[test]
fn gitignore_entries_follow_the_projects_ignore_rules_as_dvc_does() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    reg.write("models/keep.bin", "kept\n");
    reg.add(&["models/keep.bin"]);
    reg.commit("keep");
    reg.push();
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let imports: [&[&str]; 4] = [
        &["models/model.bin", "-o", "assets/model.bin"],
        &["models/keep.bin", "-o", "assets/keep.bin"],
        &["data"],
        &["data", "-o", "excluded"],
    ];
    let mut trees = Vec::new();
    for (name, ours) in [("ours", true), ("dvc", false)] {
        let dir = root.join(name);
        app_crate(&dir);
        support::write(&dir, ".gitignore", "*.bin\n!keep.bin\ndata/\n");
        support::write(&dir, ".git/info/exclude", "/excluded/\n");
        fs::create_dir_all(dir.join("assets")).unwrap();
        for (i, args) in imports.iter().enumerate() {
            if ours {
                let name = format!("dep{i}");
                let mut cmd = cargo_dvc(&dir, &cache);
                cmd.args(["import", "-q", &url])
                    .args(*args)
                    .args(["--name", &name]);
                run(&mut cmd);
            } else {
                run(dvc(&dir).args(["import", "-q", &url]).args(*args));
            }
        }
        let read = |rel: &str| fs::read_to_string(dir.join(rel)).ok();
        trees.push((read(".gitignore"), read("assets/.gitignore")));
    }
    assert_eq!(trees[0], trees[1], "ours, then dvc's");
    // Only keep.bin, excluded again by `!keep.bin`, got an entry.
    assert_eq!(
        trees[1],
        (
            Some("*.bin\n!keep.bin\ndata/\n".to_string()),
            Some("/keep.bin\n".to_string())
        )
    );
}

/// Issue 4, item 8: every command on one crate, and both invocation forms.
#[test]
fn every_command() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let app = root.join("app");
    app_crate(&app);
    let toml = || fs::read_to_string(app.join("Cargo.toml")).unwrap();

    // import, as cargo runs it (`cargo-dvc dvc import`), with -o, --rev, --name
    // (`-o assets/...` needs `assets/`, as in `dvc import`).
    fs::create_dir_all(app.join("assets")).unwrap();
    let out = run(cargo_dvc(&app, &cache).args([
        "dvc",
        "import",
        &url,
        "models/model.bin",
        "-o",
        "assets/model.bin",
        "--rev",
        "v1",
        "--name",
        "classifier",
    ]));
    let err = stderr(&out);
    assert!(err.contains("Importing") && err.contains("Locked"), "{err}");
    let block = format!(
        "[package.metadata.dvc.deps.classifier]\nurl = {url:?}\npath = \"models/model.bin\"\nrev = \"v1\"\nout = \"assets/model.bin\"\n"
    );
    assert!(toml().contains(&block), "{}", toml());
    assert_eq!(
        toml(),
        format!("{MANIFEST}\n{block}"),
        "the table is added at the end, the rest (comments, alignment) kept"
    );
    // The lock equals what `dvc import` writes, in a copy of the crate.
    let reference = root.join("reference");
    support::consumer(&reference);
    fs::create_dir_all(reference.join("assets")).unwrap();
    run(dvc(&reference).args([
        "import",
        "-q",
        &url,
        "models/model.bin",
        "-o",
        "assets/model.bin",
        "--rev",
        "v1",
    ]));
    run(dvc(&reference).args(["import", "-q", &url, "data"]));
    assert_eq!(
        fs::read_to_string(app.join("assets/model.bin.dvc")).unwrap(),
        fs::read_to_string(reference.join("assets/model.bin.dvc")).unwrap()
    );
    // ... and so does its .gitignore entry.
    assert_eq!(
        fs::read_to_string(app.join("assets/.gitignore")).unwrap(),
        fs::read_to_string(reference.join("assets/.gitignore")).unwrap()
    );

    // The other form (`cargo-dvc import`), -q: nothing printed.
    let out = run(cargo_dvc(&app, &cache).args(["import", "-q", &url, "data"]));
    assert_eq!(stderr(&out), "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(
        fs::read_to_string(app.join("data.dvc")).unwrap(),
        fs::read_to_string(reference.join("data.dvc")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(app.join(".gitignore")).unwrap(),
        fs::read_to_string(reference.join(".gitignore")).unwrap()
    );
    // A second import of the same name is refused, naming it.
    let err = run_fail(cargo_dvc(&app, &cache).args(["import", &url, "data"]));
    assert!(err.contains("`data`") && err.contains("help:"), "{err}");

    // check: fresh.
    run(cargo_dvc(&app, &cache).args(["check"]));

    // status: text and JSON, fresh and cached, up to date.
    let text = run_stdout(cargo_dvc(&app, &cache).arg("status"));
    let v1 = run_stdout(support::git(&reg.repo).args(["rev-parse", "v1"]));
    let line = |text: &str, name: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
            .split("  ")
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect()
    };
    assert!(text.starts_with("NAME "), "a header row:\n{text}");
    assert_eq!(
        line(&text, "classifier"),
        [
            "classifier",
            "v1",
            &v1[..7],
            "fresh",
            "cached",
            "-",
            "up to date"
        ],
        "{text}"
    );
    assert_eq!(line(&text, "data")[1], "-", "default branch:\n{text}");
    let rows = status_json(&app, &cache);
    let classifier = &rows[0];
    assert_eq!(classifier["name"], "classifier");
    assert_eq!(classifier["rev"], "v1");
    assert_eq!(classifier["rev_lock"], v1.as_str());
    assert_eq!(classifier["lock"], "fresh");
    assert_eq!(classifier["cached"], true);
    assert_eq!(classifier["corrupt"], serde_json::json!([]));
    assert_eq!(classifier["workspace"], "absent", "not pulled yet");
    assert_eq!(classifier["workspace_changes"], serde_json::json!([]));
    assert_eq!(classifier["update"], "up_to_date");
    assert_eq!(classifier["update_available"], false);
    assert_eq!(classifier["path"], "models/model.bin");
    assert_eq!(classifier["out"], "assets/model.bin");
    assert_eq!(classifier["lock_path"], "assets/model.bin.dvc");
    assert_eq!(classifier["kind"], "file");
    assert_eq!(classifier["size"], 9);
    assert_eq!(rows[1]["kind"], "directory");

    // The registry moves: `data` follows the default branch, an update is available.
    publish_v2(&reg);
    let rows = status_json(&app, &cache);
    assert_eq!(rows[1]["name"], "data");
    assert_eq!(rows[1]["update"], "available", "{rows:#?}");
    assert_eq!(rows[1]["update_available"], true, "{rows:#?}");
    assert_eq!(rows[1]["latest"], reg.head().as_str());
    assert_eq!(rows[0]["update_available"], false, "v1 did not move");
    // --exit-code: 1 when an update is available; names select rows.
    let out = cargo_dvc(&app, &cache)
        .args(["status", "--exit-code"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = cargo_dvc(&app, &cache)
        .args([
            "status",
            "--exit-code",
            "classifier",
            "--json",
            "--format-version",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let only: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(only["dependencies"].as_array().unwrap().len(), 1);
    let err = run_fail(cargo_dvc(&app, &cache).args(["status", "--json", "--format-version", "2"]));
    assert!(err.contains("--format-version"), "{err}");

    // update --dry-run: says so, writes nothing.
    let before = (toml(), tree_of_locks(&app));
    let out = run(cargo_dvc(&app, &cache).args(["update", "--dry-run"]));
    assert!(stderr(&out).contains("Would update"), "{}", stderr(&out));
    assert!(stderr(&out).contains("data"), "{}", stderr(&out));
    let out =
        run(cargo_dvc(&app, &cache).args(["update", "classifier", "--rev", "v2", "--dry-run"]));
    assert!(stderr(&out).contains("Would update"), "{}", stderr(&out));
    assert_eq!((toml(), tree_of_locks(&app)), before);

    // update --rev: Cargo.toml changes in exactly the rev line.
    run(cargo_dvc(&app, &cache).args(["update", "classifier", "--rev", "v2"]));
    assert_eq!(toml(), before.0.replace("rev = \"v1\"", "rev = \"v2\""));
    assert!(
        fs::read_to_string(app.join("assets/model.bin.dvc"))
            .unwrap()
            .contains(&format!("rev_lock: {}", reg.head())),
    );

    // fetch with a fresh cache: not cached, then cached.
    let cold = root.join("cold-cache");
    let rows = status_json(&app, &cold);
    assert_eq!(rows[0]["cached"], false);
    run(cargo_dvc(&app, &cold).args(["fetch", "classifier", "-q"]));
    let rows = status_json(&app, &cold);
    assert_eq!(rows[0]["cached"], true, "{rows:?}");
    assert_eq!(rows[1]["cached"], false, "only what was named is fetched");
    assert!(
        !app.join("assets/model.bin").exists(),
        "fetch places nothing"
    );

    // pull: places an independent copy at `out` (the user's file, as
    // `dvc pull` copies by default); `--link`: a read-only hard link.
    let out = run(cargo_dvc(&app, &cache).args(["pull", "classifier"]));
    assert!(stderr(&out).contains("Pulled"), "{}", stderr(&out));
    let model = app.join("assets/model.bin");
    assert_eq!(fs::read_to_string(&model).unwrap(), "model v2, retrained\n");
    assert_eq!(
        fs::metadata(&model).unwrap().nlink(),
        1,
        "a copy, not a link"
    );
    assert_ne!(
        fs::metadata(&model).unwrap().permissions().mode() & 0o200,
        0,
        "writable"
    );
    fs::remove_file(&model).unwrap();
    run(cargo_dvc(&app, &cache).args(["pull", "classifier", "--link"]));
    assert!(fs::metadata(&model).unwrap().nlink() > 1, "a hard link");
    assert_eq!(
        fs::metadata(&model).unwrap().permissions().mode() & 0o222,
        0,
        "read-only"
    );

    // get: downloads, declares and locks nothing.
    let scratch = root.join("scratch");
    fs::create_dir_all(&scratch).unwrap();
    let before = toml();
    run(cargo_dvc(&scratch, &cache).args([
        "get",
        &url,
        "models/model.bin",
        "--rev",
        "v1",
        "-o",
        "m.bin",
    ]));
    assert_eq!(
        fs::read_to_string(scratch.join("m.bin")).unwrap(),
        "model v1\n"
    );
    assert_eq!(
        fs::read_dir(&scratch).unwrap().count(),
        1,
        "no lock beside it"
    );
    run(cargo_dvc(&scratch, &cache).args(["get", &url, "data"]));
    assert_eq!(tree(&scratch.join("data")), ["a.txt=alpha", "b.txt=beta"]);
    assert_eq!(toml(), before);

    // check: a stale lock and a missing one fail, and nothing is written.
    fs::write(
        app.join("Cargo.toml"),
        before.replace("rev = \"v2\"", "rev = \"v1\""),
    )
    .unwrap();
    let locks = tree_of_locks(&app);
    let err = run_fail(cargo_dvc(&app, &cache).arg("check"));
    assert!(
        err.contains("dependency `classifier`") && err.contains("stale"),
        "{err}"
    );
    assert!(err.contains("help:"), "{err}");
    let out = run(cargo_dvc(&app, &cache).arg("status"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(line(&text, "classifier")[3], "stale", "{text}");
    assert!(
        stderr(&out).contains(
            "note: `classifier`: the lock is stale: `rev` is `v1` in Cargo.toml but `v2` in the lock"
        ),
        "status says why the lock is stale:\n{}",
        stderr(&out)
    );
    let rows = status_json(&app, &cache);
    assert_eq!(rows[0]["lock"], "stale");
    assert_eq!(
        rows[0]["lock_reason"],
        "`rev` is `v1` in Cargo.toml but `v2` in the lock"
    );
    assert_eq!(tree_of_locks(&app), locks);
    fs::write(app.join("Cargo.toml"), &before).unwrap();
    fs::remove_file(app.join("data.dvc")).unwrap();
    let err = run_fail(cargo_dvc(&app, &cache).arg("check"));
    assert!(
        err.contains("dependency `data`") && err.contains("missing"),
        "{err}"
    );
    assert!(!app.join("data.dvc").exists());

    // An error names the dependency and says what to do, exit code non-zero.
    let err = run_fail(cargo_dvc(&app, &cache).args(["update", "nosuch"]));
    assert!(err.contains("dependency `nosuch`"), "{err}");
    assert!(
        err.contains("help: declared: `classifier`, `data`"),
        "{err}"
    );
    // --manifest-path from elsewhere.
    let json = run_stdout(
        cargo_dvc(root, &cache)
            .args(["status", "--json", "--manifest-path"])
            .arg(app.join("Cargo.toml")),
    );
    assert!(json.contains("\"classifier\""), "{json}");
}

/// `cargo dvc status --json` in `app`, checked against the README's
/// schema; its `dependencies`.
fn status_json(app: &Path, cache: &Path) -> Vec<serde_json::Value> {
    let json = run_stdout(cargo_dvc(app, cache).args(["status", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["version"], 1, "{json}");
    assert_eq!(report.as_object().unwrap().len(), 2, "{json}");
    let deps = report["dependencies"].as_array().unwrap().clone();
    for dep in &deps {
        support::check_json_schema(dep, "`cargo dvc status --json`:");
    }
    deps
}

fn tree_of_locks(dir: &Path) -> Vec<String> {
    let mut locks = Vec::new();
    for rel in ["assets/model.bin.dvc", "data.dvc"] {
        if let Ok(text) = fs::read_to_string(dir.join(rel)) {
            locks.push(format!("{rel}\n{text}"));
        }
    }
    locks
}

/// A registry URL with a password never shows the password.
#[test]
fn credentials_never_printed() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let cache = root.join("cache");
    let app = root.join("app");
    support::write(&app, "Cargo.toml", MANIFEST);
    let url = "https://user:SECRET@127.0.0.1:1/x";
    let err = run_fail(cargo_dvc(&app, &cache).args(["import", url, "model.bin", "-v"]));
    assert!(!err.contains("SECRET"), "{err}");
    assert!(err.contains("help:"), "{err}");
    assert_eq!(
        fs::read_to_string(app.join("Cargo.toml")).unwrap(),
        MANIFEST,
        "nothing written"
    );
    support::write(
        &app,
        "Cargo.toml",
        format!(
            "{MANIFEST}\n[package.metadata.dvc.deps.model]\nurl = {url:?}\npath = \"model.bin\"\n"
        ),
    );
    for args in [
        &["fetch", "-v"][..],
        &["status"],
        &["status", "--json"],
        &["update"],
        &["check"],
    ] {
        let out = cargo_dvc(&app, &cache).args(args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!text.contains("SECRET"), "{args:?}: {text}");
    }
}

/// Issue 4, item 2: `cargo dvc update` writes what `dvc update` writes, with
/// and without `--rev`, and changes only the `rev` line of `Cargo.toml`.
#[test]
fn update_agrees_with_dvc_update() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let ours = root.join("ours");
    app_crate(&ours);
    fs::create_dir_all(ours.join("assets")).unwrap();
    run(cargo_dvc(&ours, &cache).args([
        "import",
        "-q",
        &url,
        "models/model.bin",
        "-o",
        "assets/model.bin",
        "--rev",
        "v1",
        "--name",
        "classifier",
    ]));
    run(cargo_dvc(&ours, &cache).args(["import", "-q", &url, "data"]));
    // Annotate the lock the way users do: `dvc update` keeps `desc` and `meta`.
    let lock = fs::read_to_string(ours.join("data.dvc")).unwrap();
    fs::write(
        ours.join("data.dvc"),
        format!("{lock}desc: training data\nmeta:\n  owner: ml-team\n"),
    )
    .unwrap();
    run(support::git(&ours).args(["add", "-A"]));
    run(support::git(&ours).args(["commit", "-q", "-m", "import"]));
    publish_v2(&reg);
    let theirs = root.join("theirs");
    copy_tree(&ours, &theirs);
    let manifest_before = fs::read_to_string(ours.join("Cargo.toml")).unwrap();

    run(cargo_dvc(&ours, &cache).args(["update", "-q", "classifier", "--rev", "v2"]));
    run(cargo_dvc(&ours, &cache).args(["update", "-q", "data"]));
    run(dvc(&theirs).args(["update", "-q", "--rev", "v2", "assets/model.bin.dvc"]));
    run(dvc(&theirs).args(["update", "-q", "data.dvc"]));
    for lock in ["assets/model.bin.dvc", "data.dvc"] {
        assert_eq!(
            fs::read_to_string(ours.join(lock)).unwrap(),
            fs::read_to_string(theirs.join(lock)).unwrap(),
            "{lock}"
        );
    }
    assert!(
        fs::read_to_string(ours.join("data.dvc"))
            .unwrap()
            .contains("owner: ml-team")
    );
    assert_eq!(
        fs::read_to_string(ours.join("Cargo.toml")).unwrap(),
        manifest_before.replace("rev = \"v1\"", "rev = \"v2\"")
    );
    let diff = run_stdout(support::git(&ours).args(["diff", "--stat"]));
    assert!(
        diff.contains("3 files changed"),
        "Cargo.toml and two locks:\n{diff}"
    );
}

/// Issue 13, item 6: cargo's conventions. Global flags before or after the
/// command; `--color` over `CARGO_TERM_COLOR`; `--frozen` = locked +
/// offline; flags a command does not take are rejected; cargo's headings;
/// `--manifest-path` must name a `Cargo.toml`.
#[test]
fn cargo_conventions() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let cache = root.join("cache");
    let app = root.join("app");
    support::write(&app, "Cargo.toml", MANIFEST);

    // -q before the command (as `cargo -q build`), after it, and through
    // cargo's own form (`cargo-dvc dvc -q status`).
    for args in [
        &["-q", "status"][..],
        &["status", "-q"],
        &["dvc", "-q", "status"],
        &["dvc", "status", "--quiet"],
    ] {
        let out = run(cargo_dvc(&app, &cache).args(args));
        assert_eq!(stderr(&out), "", "{args:?}: quiet");
    }
    let out = run(cargo_dvc(&app, &cache).args(["-v", "status"]));
    assert!(
        stderr(&out).contains("no data dependencies"),
        "{}",
        stderr(&out)
    );
    // -q and -v together: refused, as cargo refuses them.
    let err = run_fail(cargo_dvc(&app, &cache).args(["-q", "status", "-v"]));
    assert!(
        err.contains("cannot set both --verbose and --quiet"),
        "{err}"
    );
    let err = run_fail(cargo_dvc(&app, &cache).args(["-qv", "status"]));
    assert!(
        err.contains("cannot set both --verbose and --quiet"),
        "{err}"
    );

    // Colour: --color wins over CARGO_TERM_COLOR; `auto` off a terminal is none.
    let colored = |args: &[&str], env: Option<&str>| -> bool {
        let mut cmd = cargo_dvc(&app, &cache);
        cmd.args(args)
            .args(["status", "--manifest-path", "nope/Cargo.toml"]);
        match env {
            Some(v) => cmd.env("CARGO_TERM_COLOR", v),
            None => cmd.env_remove("CARGO_TERM_COLOR"),
        };
        cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        run_fail(&mut cmd).contains('\u{1b}')
    };
    assert!(colored(&["--color", "always"], None));
    assert!(colored(&[], Some("always")));
    assert!(!colored(&["--color", "never"], Some("always")));
    assert!(!colored(&[], Some("never")));
    assert!(!colored(&[], None), "auto: not a terminal");
    assert!(!colored(&["--color=auto"], Some("always")));

    // A flag the command does not take is an error, not silently ignored.
    for args in [
        &["get", "../registry", "m.bin", "--workspace"][..],
        &["get", "../registry", "m.bin", "-p", "app"],
        &[
            "get",
            "../registry",
            "m.bin",
            "--manifest-path",
            "Cargo.toml",
        ],
        &["status", "--rev", "v1"],
        &["check", "--dry-run"],
        &["import", "../registry", "m.bin", "--workspace"],
        &["status", "--exclude", "x"],
    ] {
        let err = run_fail(cargo_dvc(&app, &cache).args(args));
        assert!(
            err.contains("unexpected argument") || err.contains("required"),
            "{args:?}: {err}"
        );
    }

    // --frozen: no lock may be written.
    let err = run_fail(cargo_dvc(&app, &cache).args(["--frozen", "import", "../r", "m.bin"]));
    assert!(err.contains("--locked"), "{err}");
    assert_eq!(
        fs::read_to_string(app.join("Cargo.toml")).unwrap(),
        MANIFEST
    );

    // Cargo's help headings.
    let help = run_stdout(cargo_dvc(&app, &cache).args(["status", "--help"]));
    let package = help.find("Package Selection:").expect("Package Selection");
    let manifest = help.find("Manifest Options:").expect("Manifest Options");
    assert!(package < manifest, "{help}");
    for flag in ["--manifest-path", "--locked", "--offline", "--frozen"] {
        assert!(
            help[manifest..].contains(flag),
            "{flag} under Manifest Options:\n{help}"
        );
    }
    let top = run_stdout(cargo_dvc(&app, &cache).arg("--help"));
    assert!(top.contains("DVC_BUILD_LOCKED=1 cargo build"), "{top}");
    assert!(top.contains("CARGO_NET_OFFLINE=true cargo build"), "{top}");

    // --manifest-path must name a Cargo.toml, as cargo says.
    let err = run_fail(
        cargo_dvc(root, &cache)
            .args(["status", "--manifest-path"])
            .arg(&app),
    );
    assert!(
        err.contains("must be a path to a Cargo.toml file") && err.contains("help: use"),
        "{err}"
    );
    // An error exits with cargo's 101; a usage error with 2.
    let out = cargo_dvc(root, &cache)
        .args(["status", "--manifest-path", "nope/Cargo.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(101), "{}", stderr(&out));
    let out = cargo_dvc(root, &cache)
        .args(["status", "--nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Results on stdout survive a reader that goes away (`| head -1`): no
/// panic, no "failed printing to stdout".
#[test]
fn closed_stdout_is_not_an_error() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let cache = root.join("cache");
    let app = root.join("app");
    let mut manifest = MANIFEST.to_string();
    for i in 0..200 {
        manifest.push_str(&format!(
            "\n[package.metadata.dvc.deps.d{i}]\nurl = \"../nowhere\"\npath = \"m{i}.bin\"\n"
        ));
    }
    support::write(&app, "Cargo.toml", &manifest);
    let mut child = cargo_dvc(&app, &cache)
        .args(["status", "--offline"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end of stdout at once.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("failed printing"), "{err}");
}

/// Issue 13, item 4: `status` says "update available" only when the data
/// changed; a declaration that cannot be resolved is an error (exit 101),
/// reported with the rest; an unreadable lock is `invalid`; offline the
/// update state is unknown.
#[test]
fn status_states() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let app = root.join("app");
    app_crate(&app);
    run(cargo_dvc(&app, &cache).args([
        "import",
        "-q",
        &url,
        "models/model.bin",
        "--name",
        "model",
    ]));
    run(cargo_dvc(&app, &cache).args(["import", "-q", &url, "data"]));
    // A commit that changes only data/: `model` has a new commit, same data.
    reg.write("data/c.txt", "gamma\n");
    reg.add(&["data"]);
    reg.commit("more data");
    reg.push();
    let rows = status_json(&app, &cache);
    assert_eq!(rows[1]["name"], "model");
    assert_eq!(rows[1]["update"], "new_commit_same_data", "{rows:#?}");
    assert_eq!(rows[1]["update_available"], false);
    assert_eq!(rows[0]["update"], "available");
    let text = run_stdout(cargo_dvc(&app, &cache).arg("status"));
    let head = reg.head();
    assert!(
        text.contains(&format!("new commit, same data ({})", &head[..7])),
        "{text}"
    );
    // Offline: nothing looked up.
    let rows = {
        let json = run_stdout(cargo_dvc(&app, &cache).args(["status", "--json", "--offline"]));
        serde_json::from_str::<serde_json::Value>(&json).unwrap()["dependencies"].clone()
    };
    assert_eq!(rows[0]["update"], "unknown");
    assert_eq!(rows[0]["update_reason"], "offline");
    assert_eq!(rows[0]["latest"], serde_json::Value::Null);

    // A broken declaration (a typo in `path`, an unknown `rev`): an error
    // that names it, exit 101, the other rows still reported.
    let manifest = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    fs::write(
        app.join("Cargo.toml"),
        format!(
            "{manifest}\n[package.metadata.dvc.deps.typo]\nurl = {url:?}\npath = \"models/modle.bin\"\n\
             \n[package.metadata.dvc.deps.norev]\nurl = {url:?}\npath = \"models/model.bin\"\nrev = \"v9\"\nout = \"norev.bin\"\n"
        ),
    )
    .unwrap();
    // An unreadable lock.
    fs::write(app.join("data.dvc"), "outs: [what\n").unwrap();
    let out = cargo_dvc(&app, &cache)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(101), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["dependencies"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "every row reported: {report}");
    for row in rows {
        support::check_json_schema(row, "`cargo dvc status --json`:");
    }
    let by_name = |n: &str| rows.iter().find(|r| r["name"] == n).unwrap();
    assert_eq!(by_name("data")["lock"], "invalid");
    assert!(by_name("data")["lock_reason"].is_string());
    assert_eq!(by_name("typo")["lock"], "missing");
    assert!(by_name("typo")["error"].is_string(), "{report}");
    assert!(by_name("norev")["error"].is_string(), "{report}");
    assert_eq!(by_name("model")["error"], serde_json::Value::Null);
    let err = stderr(&out);
    assert!(err.contains("dependency `typo`"), "{err}");
    assert!(err.contains("dependency `norev`"), "{err}");
    assert!(err.contains("v9"), "{err}");
    assert!(!app.join("typo.bin.dvc").exists() && !app.join("modle.bin.dvc").exists());
    let out = cargo_dvc(&app, &cache).arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(101));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("typo ") && l.ends_with("error")),
        "{text}"
    );
}

/// Issue 13, item 8: errors read like cargo's: `error: ...`, the cause once
/// under "Caused by:", then the help line; no Rust debug text anywhere.
#[test]
fn errors_read_like_cargos() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let cache = root.join("cache");
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let err =
        run_fail(cargo_dvc(root, &cache).args(["status", "--manifest-path", "nope/Cargo.toml"]));
    assert!(err.starts_with("error: failed to read `"), "{err}");
    assert!(
        err.contains("\n\nCaused by:\n  No such file or directory"),
        "{err}"
    );
    assert_eq!(err.matches("No such file").count(), 1, "{err}");

    // Every manifest error at once, each at its file:line:column; a name
    // collision names both.
    let bad = root.join("bad");
    support::write(
        &bad,
        "Cargo.toml",
        format!(
            "{MANIFEST}\n[package.metadata.dvc.deps.a-b]\nurl = {url:?}\npath = \"models/model.bin\"\nout = \"a.bin\"\n\
             \n[package.metadata.dvc.deps.a_b]\nurl = {url:?}\npath = \"models/model.bin\"\nout = \"b.bin\"\n\
             \n[package.metadata.dvc.deps.1st]\nurl = {url:?}\npath = \"models/model.bin\"\nout = \"c.bin\"\n"
        ),
    );
    let err = run_fail(cargo_dvc(&bad, &cache).arg("check"));
    let manifest = bad.join("Cargo.toml");
    assert!(
        err.contains(&format!(
            "2 errors in [package.metadata.dvc] of `{}`",
            manifest.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("`a-b` and `a_b` both become `DVC_A_B`"),
        "{err}"
    );
    assert!(
        err.contains(&format!("--> {}:17:28", manifest.display())),
        "{err}"
    );
    assert!(
        err.contains("the name `1st` cannot name a Rust constant"),
        "{err}"
    );
    assert!(
        err.contains(&format!("--> {}:22:28", manifest.display())),
        "{err}"
    );

    // Through a pull that stales, relocks and places: no `Some(`, no
    // `(Hardlink)`, no `UpToDate`.
    let app = root.join("app");
    app_crate(&app);
    run(cargo_dvc(&app, &cache).args(["import", "-q", &url, "models/model.bin", "--rev", "v1"]));
    let toml = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    fs::write(app.join("Cargo.toml"), toml.replace("rev = \"v1\"\n", "")).unwrap();
    let mut all = String::new();
    for args in [
        &["check"][..],
        &["status"],
        &["status", "--json"],
        &["pull"],
        &["pull"],
        &["check"],
    ] {
        let out = cargo_dvc(&app, &cache).args(args).output().unwrap();
        all.push_str(&String::from_utf8_lossy(&out.stdout));
        all.push_str(&stderr(&out));
    }
    assert!(
        all.contains("`rev` is not set in Cargo.toml but `v1` in the lock"),
        "{all}"
    );
    assert!(all.contains("(up to date)"), "{all}");
    for debug in ["Some(", "None", "Hardlink", "UpToDate", "Reflink"] {
        assert!(!all.contains(debug), "{debug} in:\n{all}");
    }
}

/// Issue 13, items 3 and 4: `update --rev` without names is refused unless
/// exactly one dependency is selected; an update that moves only the
/// commit says "same data"; nothing to do is said; `--json` follows the
/// README; offline, `update` refuses instead of saying nothing.
#[test]
fn update_rev_needs_a_name_and_says_what_moved() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let app = root.join("app");
    app_crate(&app);
    run(cargo_dvc(&app, &cache).args([
        "import",
        "-q",
        &url,
        "models/model.bin",
        "--rev",
        "v1",
        "--name",
        "model",
    ]));
    run(cargo_dvc(&app, &cache).args(["import", "-q", &url, "data"]));
    publish_v2(&reg);
    let before = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    let locks = tree_of_locks(&app);
    let err = run_fail(cargo_dvc(&app, &cache).args(["update", "--rev", "v2"]));
    assert!(
        err.contains("`--rev v2` pins one dependency, but 2 are selected: `data`, `model`"),
        "{err}"
    );
    assert!(err.contains("help: name the one(s) to pin"), "{err}");
    assert_eq!(fs::read_to_string(app.join("Cargo.toml")).unwrap(), before);
    assert_eq!(tree_of_locks(&app), locks, "nothing written");

    // Named: pinned, and the JSON says what moved.
    let out = run(cargo_dvc(&app, &cache).args(["update", "model", "--rev", "v2", "--json"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["dry_run"], false);
    let updates = report["updates"].as_array().unwrap();
    assert_eq!(updates.len(), 1);
    support::check_json_schema(&updates[0], "`cargo dvc update --json`:");
    assert_eq!(updates[0]["rev_before"], "v1");
    assert_eq!(updates[0]["rev_after"], "v2");
    assert_eq!(updates[0]["data_changed"], true);
    assert_eq!(updates[0]["written"], true);

    // A commit that leaves data/ as it is: `update data` moves the commit only.
    run(cargo_dvc(&app, &cache).args(["update", "-q", "data"]));
    reg.write("models/other.bin", "unrelated\n");
    reg.add(&["models/other.bin"]);
    reg.commit("unrelated");
    reg.push();
    let out = run(cargo_dvc(&app, &cache).args(["update", "--json"]));
    assert!(stderr(&out).contains("same data"), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let data = &report["updates"][0];
    assert_eq!(data["name"], "data");
    assert_eq!(data["changed"], true);
    assert_eq!(data["data_changed"], false, "{report}");
    // Nothing left to do: one line says so.
    let out = run(cargo_dvc(&app, &cache).arg("update"));
    assert!(
        stderr(&out).contains("Fresh all 2 locks are up to date"),
        "{}",
        stderr(&out)
    );
    // Offline, update cannot look: an error, not silence.
    let err = run_fail(cargo_dvc(&app, &cache).args(["update", "--offline", "--dry-run"]));
    assert!(err.contains("offline"), "{err}");

    // One dependency selected: `--rev` without a name pins it.
    let one = root.join("one");
    app_crate(&one);
    run(cargo_dvc(&one, &cache).args(["import", "-q", &url, "models/model.bin", "--rev", "v1"]));
    run(cargo_dvc(&one, &cache).args(["update", "-q", "--rev", "v2"]));
    assert!(
        fs::read_to_string(one.join("Cargo.toml"))
            .unwrap()
            .contains("rev = \"v2\"")
    );
}

/// Issue 13, item 6: `fetch` says what it downloads and what was fresh;
/// `-v` shows the git commands run and the remotes opened; `--json`.
#[test]
fn fetch_says_what_it_does() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let app = root.join("app");
    app_crate(&app);
    let out = run(cargo_dvc(&app, &cache).args([
        "-v",
        "import",
        &url,
        "models/model.bin",
        "--name",
        "model",
    ]));
    let err = stderr(&out);
    assert!(err.contains("Running `git ls-remote"), "{err}");
    assert!(err.contains("Opening remote"), "{err}");
    run(cargo_dvc(&app, &cache).args(["import", "-q", &url, "data"]));

    let cold = root.join("cold");
    let out = run(cargo_dvc(&app, &cold).args(["fetch", "--json"]));
    let err = stderr(&out);
    assert!(err.contains("Downloading model (9 B)"), "{err}");
    assert!(err.contains("Fetched model (9 B) in "), "{err}");
    assert!(err.contains("Fetched data (1 file, 6 B) in "), "{err}");
    assert!(!err.contains("Running"), "git only with -v: {err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"], 1);
    for entry in report["fetched"].as_array().unwrap() {
        support::check_json_schema(entry, "`cargo dvc fetch --json`:");
        assert_eq!(entry["downloaded"], true);
        assert_eq!(entry["lock"], "used");
    }
    // Warm: one line says there was nothing to do; -v names each.
    let out = run(cargo_dvc(&app, &cold).args(["fetch"]));
    assert_eq!(
        stderr(&out).trim(),
        "Fresh all 2 artifacts are in the cache",
        "{}",
        stderr(&out)
    );
    let out = run(cargo_dvc(&app, &cold).args(["fetch", "-v", "--json"]));
    assert!(
        stderr(&out).contains("Fresh model (9 B)"),
        "{}",
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["fetched"][0]["downloaded"], false);
}

/// Issue 13, items 8 and 9: `check` verifies each lock's own checksum and
/// says which command fixes what; it warns about what breaks a published
/// crate and about orphaned locks; with nothing declared it says so.
#[test]
fn check_finds_broken_locks_and_publishing_problems() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let app = root.join("app");
    app_crate(&app);
    support::write(&app, "src/main.rs", "fn main() {}\n");
    let out = run(cargo_dvc(&app, &cache).arg("check"));
    assert!(
        stderr(&out).contains("no data dependencies declared"),
        "{}",
        stderr(&out)
    );
    run(cargo_dvc(&app, &cache).args([
        "import",
        "-q",
        &url,
        "models/model.bin",
        "--name",
        "model",
    ]));
    run(cargo_dvc(&app, &cache).args(["import", "-q", &url, "data"]));

    // A lock edited by hand (a merge): its own md5 no longer matches.
    let lock = fs::read_to_string(app.join("model.bin.dvc")).unwrap();
    let (md5, _) = support::out_md5_and_size(&lock);
    let edited = lock.replace(&md5, &format!("{}0", &md5[..31]));
    fs::write(app.join("model.bin.dvc"), &edited).unwrap();
    // An orphaned lock: a copy of an import stage nobody declares.
    fs::write(app.join("old-model.bin.dvc"), &lock).unwrap();
    // A package that leaves the locks out, with a local-path registry.
    let toml = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    fs::write(
        app.join("Cargo.toml"),
        toml.replace(
            "edition = \"2021\"\n",
            "edition = \"2021\"\ninclude = [\"src/**\", \"Cargo.toml\"]\n",
        ),
    )
    .unwrap();
    let out = cargo_dvc(&app, &cache)
        .args(["check", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the lock `model.bin.dvc` was changed after it was written"),
        "{err}"
    );
    assert!(
        err.contains("help: restore it from git (`git checkout -- model.bin.dvc`)"),
        "{err}"
    );
    assert!(
        err.contains("`old-model.bin.dvc` is an import stage no declaration"),
        "{err}"
    );
    assert!(err.contains("is a local path"), "{err}");
    assert!(
        err.contains("the lock `data.dvc` is not in the package"),
        "{err}"
    );
    assert!(
        err.contains("`include` in [package] of `Cargo.toml` does not cover it"),
        "{err}"
    );
    assert!(
        err.contains("help: add `\"data.dvc\"` (or `\"*.dvc\"`) to `include`"),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["ok"], false);
    for dep in report["dependencies"].as_array().unwrap() {
        support::check_json_schema(dep, "`cargo dvc check --json`:");
    }
    for warning in report["warnings"].as_array().unwrap() {
        support::check_json_schema(warning, "and each warning");
    }
    assert_eq!(report["dependencies"][1]["lock"], "invalid");
    assert_eq!(report["warnings"].as_array().unwrap().len(), 5, "{report}");

    // A missing lock whose declaration has a typo: the help says how a lock
    // is written and that a broken declaration will say so.
    fs::write(app.join("model.bin.dvc"), &lock).unwrap();
    fs::remove_file(app.join("data.dvc")).unwrap();
    let err = run_fail(cargo_dvc(&app, &cache).arg("check"));
    assert!(err.contains("the lock `data.dvc` is missing"), "{err}");
    assert!(
        err.contains("run `cargo dvc fetch data` (or `cargo build`)"),
        "{err}"
    );
    // publish = false: no packaging warnings.
    let toml = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    fs::write(
        app.join("Cargo.toml"),
        toml.replace("include =", "publish = false\ninclude ="),
    )
    .unwrap();
    let err = run_fail(cargo_dvc(&app, &cache).arg("check"));
    assert!(
        !err.contains("local path") && !err.contains("not in the package"),
        "{err}"
    );
}

/// Issue 13, item 9: `check` names the real reason a lock is left out of
/// the package (cargo's `include`, git's ignore rules, cargo's `exclude`,
/// as `cargo package --list` applies them) and each local path a published
/// crate cannot reach (a registry, a URL dependency's file, a remote).
#[test]
fn check_names_why_the_package_leaves_a_lock_out() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let app = root.join("app");
    app_crate(&app);
    support::write(&app, "src/main.rs", "fn main() {}\n");
    run(cargo_dvc(&app, &cache).args([
        "import",
        "-q",
        &url,
        "models/model.bin",
        "--name",
        "model",
    ]));
    let declared = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    let check = |toml: &str| -> String {
        fs::write(app.join("Cargo.toml"), toml).unwrap();
        stderr(&run(cargo_dvc(&app, &cache).arg("check")))
    };
    let left_out = "the lock `model.bin.dvc` is not in the package";

    // `exclude`: cargo's own rule.
    let err = check(&declared.replace(
        "edition = \"2021\"\n",
        "edition = \"2021\"\nexclude = [\"*.dvc\"]\n",
    ));
    assert!(
        err.contains(&format!(
            "{left_out}: `exclude` in [package] of `Cargo.toml` covers it"
        )),
        "{err}"
    );
    assert!(err.contains("help: take it out of `exclude`"), "{err}");
    // git ignores it (and does not track it): cargo leaves it out too.
    // (cargo reads git's rules once git knows the crate's files.)
    fs::write(app.join(".gitignore"), "*.dvc\n").unwrap();
    fs::write(app.join("Cargo.toml"), &declared).unwrap();
    run(support::git(&app).args(["add", "-A"]));
    let err = check(&declared);
    assert!(
        err.contains(&format!(
            "{left_out}: git ignores it (cargo leaves out what git ignores)"
        )),
        "{err}"
    );
    assert!(
        err.contains("help: commit it with `git add -f model.bin.dvc`, or change the rule `git check-ignore -v model.bin.dvc` shows"),
        "{err}"
    );
    // Once git tracks it, cargo packages it: no warning.
    run(support::git(&app).args(["add", "-f", "model.bin.dvc"]));
    let err = check(&declared);
    assert!(!err.contains(left_out), "{err}");
    assert!(
        err.contains(&format!("`url = \"{url}\"` is a local path: a build of the published crate, on another machine, cannot reach that registry")),
        "{err}"
    );

    // A URL dependency on a local file, a remote given as a local folder.
    fs::write(
        app.join("Cargo.toml"),
        format!(
            "{}\n[package.metadata.dvc.deps.raw]\nurl = \"/srv/raw.bin\"\n",
            declared.replace(
                &format!("url = {url:?}\n"),
                &format!("url = {url:?}\nremote = {{ url = \"/mnt/dvc-remote\" }}\n"),
            )
        ),
    )
    .unwrap();
    let err = run_fail(cargo_dvc(&app, &cache).arg("check"));
    assert!(
        err.contains("`url = \"/srv/raw.bin\"` is a local path: a build of the published crate, on another machine, cannot reach that file"),
        "{err}"
    );
    assert!(
        err.contains("`remote = { url = \"/mnt/dvc-remote\" }` is a local path"),
        "{err}"
    );
}

/// Issue 13, item 7: `import` keeps a relative registry path as typed (as
/// `dvc import ../registry` records `../registry`), relative to the crate
/// root when typed elsewhere; `--remote`/`--config` are written as `dvc
/// import --remote/--config` writes them (the locks byte for byte); a crate
/// without a build script or build-dependency gets a note saying what to add.
#[test]
fn import_keeps_relative_urls_remote_and_config_as_dvc_does() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    // A second remote in the registry, holding the same objects.
    let mirror = root.join("mirror");
    copy_tree(&reg.remote, &mirror);
    run(reg.dvc().args(["remote", "add", "mirror"]).arg(&mirror));
    reg.commit("mirror");
    let cache = root.join("cache");
    let app = root.join("app");
    app_crate(&app);
    support::write(&app, "reg.conf", "[core]\n    no_scm = false\n");
    let reference = root.join("reference");
    support::consumer(&reference);
    support::write(&reference, "reg.conf", "[core]\n    no_scm = false\n");

    let out = run(cargo_dvc(&app, &cache).args([
        "import",
        "../registry",
        "models/model.bin",
        "--remote",
        "mirror",
        "--config",
        "reg.conf",
    ]));
    run(dvc(&reference).args([
        "import",
        "-q",
        "../registry",
        "models/model.bin",
        "--remote",
        "mirror",
        "--config",
        "reg.conf",
    ]));
    let toml = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(
        toml.contains(
            "url = \"../registry\"\npath = \"models/model.bin\"\nremote = \"mirror\"\nconfig = \"reg.conf\"\n"
        ),
        "{toml}"
    );
    assert_eq!(
        fs::read_to_string(app.join("model.bin.dvc")).unwrap(),
        fs::read_to_string(reference.join("model.bin.dvc")).unwrap()
    );
    // The crate has no build script and no dvc-build build-dependency.
    let err = stderr(&out);
    assert!(
        err.contains("note: the crate has no `dvc-build` build-dependency"),
        "{err}"
    );
    assert!(err.contains("dvc_build::fetch().unwrap();"), "{err}");
    assert!(
        err.contains("`cargo dvc pull model` also places a copy at `model.bin`"),
        "{err}"
    );

    // Typed in a sub-folder: the same registry, relative to the crate root.
    fs::create_dir_all(app.join("src")).unwrap();
    run(cargo_dvc(&app.join("src"), &cache).args(["import", "-q", "../../registry", "data"]));
    let toml = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(
        toml.contains("[package.metadata.dvc.deps.data]\nurl = \"../registry\"\n"),
        "{toml}"
    );
    run(dvc(&reference).args(["import", "-q", "../registry", "data"]));
    assert_eq!(
        fs::read_to_string(app.join("data.dvc")).unwrap(),
        fs::read_to_string(reference.join("data.dvc")).unwrap()
    );
    // With the build set up, no note about it.
    support::write(
        &app,
        "build.rs",
        "fn main() { dvc_build::fetch().unwrap(); }\n",
    );
    let toml = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    fs::write(
        app.join("Cargo.toml"),
        toml.replace(
            "[dependencies]\n",
            "[build-dependencies]\ndvc-build = \"0.1\"\n\n[dependencies]\n",
        ),
    )
    .unwrap();
    let out = run(cargo_dvc(&app, &cache).args([
        "import",
        &reg.repo.to_string_lossy(),
        "models/model.bin",
        "--name",
        "again",
        "-o",
        "again.bin",
    ]));
    assert!(
        !stderr(&out).contains("build-dependency"),
        "{}",
        stderr(&out)
    );
}

/// Issue 13, item 7: `cargo dvc remove NAME...` takes out the declaration,
/// the lock and the `.gitignore` entry, leaving what `dvc remove` leaves;
/// reports orphaned locks; an unknown name changes nothing.
#[test]
fn remove_agrees_with_dvc_remove() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let app = root.join("app");
    app_crate(&app);
    let reference = root.join("reference");
    support::consumer(&reference);
    fs::create_dir_all(reference.join("assets")).unwrap();
    fs::create_dir_all(app.join("assets")).unwrap();
    for (ours, args) in [
        (
            true,
            &[
                "models/model.bin",
                "-o",
                "assets/model.bin",
                "--name",
                "model",
            ][..],
        ),
        (true, &["data"]),
        (false, &["models/model.bin", "-o", "assets/model.bin"]),
        (false, &["data"]),
    ] {
        if ours {
            run(cargo_dvc(&app, &cache)
                .args(["import", "-q", &url])
                .args(args));
        } else {
            run(dvc(&reference).args(["import", "-q", &url]).args(args));
        }
    }
    let with_data = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    // Unknown name: an error listing what is declared; nothing changes.
    let err = run_fail(cargo_dvc(&app, &cache).args(["remove", "model", "nope"]));
    assert!(err.contains("no data dependency called `nope`"), "{err}");
    assert_eq!(
        fs::read_to_string(app.join("Cargo.toml")).unwrap(),
        with_data
    );
    assert!(app.join("assets/model.bin.dvc").exists());
    // --dry-run: says, changes nothing.
    let out = run(cargo_dvc(&app, &cache).args(["remove", "model", "--dry-run"]));
    assert!(
        stderr(&out).contains("Would remove model from Cargo.toml"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read_to_string(app.join("Cargo.toml")).unwrap(),
        with_data
    );

    // An orphaned lock is reported after the removal.
    fs::write(
        app.join("stray.bin.dvc"),
        fs::read_to_string(app.join("data.dvc")).unwrap(),
    )
    .unwrap();
    let out = run(cargo_dvc(&app, &cache).args(["remove", "model"]));
    let err = stderr(&out);
    assert!(
        err.contains(
            "Removing model from Cargo.toml (lock `assets/model.bin.dvc`, `.gitignore` entry)"
        ),
        "{err}"
    );
    assert!(
        err.contains("`stray.bin.dvc` is an import stage no declaration"),
        "{err}"
    );
    run(dvc(&reference).args(["remove", "-q", "assets/model.bin.dvc"]));
    let toml = fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(!toml.contains("deps.model"), "{toml}");
    assert!(
        toml.starts_with(MANIFEST) && toml.contains("[package.metadata.dvc.deps.data]"),
        "{toml}"
    );
    for rel in ["assets/model.bin.dvc", "assets/.gitignore", ".gitignore"] {
        assert_eq!(
            fs::read_to_string(app.join(rel)).ok(),
            fs::read_to_string(reference.join(rel)).ok(),
            "{rel}: ours, then dvc's"
        );
    }
    // The last one: the crate is as it was before any import, but for the
    // (emptied) deps table and the stray lock.
    fs::remove_file(app.join("stray.bin.dvc")).unwrap();
    run(cargo_dvc(&app, &cache).args(["remove", "-q", "data"]));
    run(dvc(&reference).args(["remove", "-q", "data.dvc"]));
    assert_eq!(
        fs::read_to_string(app.join(".gitignore")).ok(),
        fs::read_to_string(reference.join(".gitignore")).ok()
    );
    assert!(!app.join("data.dvc").exists());
    assert!(declares_no_deps(
        &fs::read_to_string(app.join("Cargo.toml")).unwrap()
    ));
}

/// Issue 13, item 7: `remove` deletes what `pull` placed only when it is
/// exactly what the lock names (nothing is lost: the cache has it); an
/// edited placement stays, with a note naming what differs, unless
/// `--force` (`pull`'s rule before replacing; `dvc remove --outs` deletes
/// edited outputs too, and plain `dvc remove` keeps every output).
#[test]
fn remove_deletes_only_unmodified_placements() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let app = root.join("app");
    app_crate(&app);
    // `-o assets/model.bin` needs `assets/`, as `dvc import` does.
    fs::create_dir_all(app.join("assets")).unwrap();
    for args in [
        &[
            "models/model.bin",
            "-o",
            "assets/model.bin",
            "--name",
            "model",
        ][..],
        &["data"],
        &["models/model.bin", "-o", "other.bin", "--name", "other"],
    ] {
        run(cargo_dvc(&app, &cache)
            .args(["import", "-q", &url])
            .args(args));
    }
    run(cargo_dvc(&app, &cache).args(["pull", "-q"]));
    assert_eq!(
        fs::read_to_string(app.join("assets/model.bin")).unwrap(),
        "model v1\n"
    );
    fs::write(app.join("data/a.txt"), "my edit\n").unwrap();
    fs::write(app.join("other.bin"), "mine\n").unwrap();

    let out = run(cargo_dvc(&app, &cache).args(["remove", "model", "data", "--dry-run"]));
    let err = stderr(&out);
    assert!(
        err.contains("Would remove model from Cargo.toml (lock `assets/model.bin.dvc`, `.gitignore` entry, `assets/model.bin`)"),
        "{err}"
    );
    assert!(
        err.contains(
            "`data` would be left in place: it differs from what its lock names (`data/a.txt`)"
        ),
        "{err}"
    );
    assert!(app.join("assets/model.bin").exists() && app.join("assets/model.bin.dvc").exists());

    let out = run(cargo_dvc(&app, &cache).args(["remove", "model", "data"]));
    let err = stderr(&out);
    assert!(
        !app.join("assets/model.bin").exists(),
        "as locked: deleted\n{err}"
    );
    assert!(!app.join("assets/model.bin.dvc").exists());
    assert_eq!(
        fs::read_to_string(app.join("data/a.txt")).unwrap(),
        "my edit\n",
        "edited: kept"
    );
    assert!(
        err.contains("note: `data` is left in place: it differs from what its lock names (`data/a.txt`); delete it yourself if you no longer need it, or run again with `--force`"),
        "{err}"
    );
    assert!(!app.join("data.dvc").exists());

    // --force: an edited placement goes too.
    let out = run(cargo_dvc(&app, &cache).args(["remove", "other", "--force"]));
    assert!(stderr(&out).contains("`other.bin`)"), "{}", stderr(&out));
    assert!(!app.join("other.bin").exists());
    assert!(declares_no_deps(
        &fs::read_to_string(app.join("Cargo.toml")).unwrap()
    ));
}

/// Issue 13, item 7: `cargo dvc ls` lists what `dvc list` lists (names,
/// which are outputs, folders, executables, sizes and hashes) on a registry
/// made by dvc with `.dvc` files, a pipeline output in `dvc.lock`, a
/// directory output with a sub-folder and git files, for a folder, a file,
/// inside a directory output, `-R`, `--dvc-only` and `--rev`; its JSON
/// follows the README's schema.
#[test]
fn ls_lists_what_dvc_list_lists() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = Registry::new(root);
    reg.write("models/model.bin", "model v1\n");
    reg.write("data/a.txt", "alpha\n");
    reg.write("data/sub/b.txt", "beta\n");
    reg.write("docs/README.md", "read me\n");
    reg.write("run.sh", "#!/bin/sh\n");
    fs::set_permissions(reg.repo.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    reg.add(&["models/model.bin", "data"]);
    fs::create_dir_all(reg.repo.join("gen")).unwrap();
    run(reg.dvc().args([
        "stage",
        "add",
        "-q",
        "-n",
        "gen",
        "-o",
        "gen/out.txt",
        "echo made > gen/out.txt",
    ]));
    run(reg.dvc().args(["repro", "-q"]));
    reg.commit("v1");
    reg.push();
    reg.tag("v1");
    reg.write("later.txt", "after v1\n");
    reg.commit("v2");
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let work = root.join("work");
    fs::create_dir_all(&work).unwrap();
    let file_url = format!("file://{url}");
    let key = |e: &serde_json::Value| {
        let size = if e["isdir"] == true && e["isout"] == false {
            serde_json::Value::Null // dvc: the git tree object's size
        } else {
            e["size"].clone()
        };
        format!(
            "{} out={} dir={} exec={} size={} md5={}",
            e["path"].as_str().unwrap(),
            e["isout"],
            e["isdir"],
            e["isexec"],
            size,
            e["md5"]
        )
    };
    for args in [
        &[][..],
        &["-R"],
        &["--dvc-only"],
        &["-R", "--dvc-only"],
        &["data"],
        &["data", "-R"],
        &["data/sub"],
        &["models/model.bin"],
        &["data/sub/b.txt"],
        &["gen"],
        &["--rev", "v1"],
    ] {
        // `file://`: dvc clones and lists the commit, as we do (a bare
        // path would make it list the registry's work tree).
        let theirs = run_stdout(dvc(&work).args(["list", "--json", &file_url]).args(args));
        let theirs: Vec<String> = serde_json::from_str::<serde_json::Value>(&theirs)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(key)
            .collect();
        let ours = run_stdout(
            cargo_dvc(&work, &cache)
                .args(["ls", "--json", &url])
                .args(args),
        );
        let ours: serde_json::Value = serde_json::from_str(&ours).unwrap();
        let entries = ours["entries"].as_array().unwrap();
        for entry in entries {
            support::check_json_schema(entry, "`cargo dvc ls --json`:");
        }
        assert_eq!(ours["version"], 1);
        assert_eq!(ours["rev_lock"].as_str().unwrap().len(), 40);
        let ours: Vec<String> = entries.iter().map(key).collect();
        assert_eq!(ours, theirs, "cargo dvc ls {args:?}");
        // The plain listing: the paths, one a line.
        let plain = run_stdout(dvc(&work).args(["list", &file_url]).args(args));
        let ours_plain = run_stdout(cargo_dvc(&work, &cache).args(["ls", &url]).args(args));
        assert_eq!(
            ours_plain.split_whitespace().collect::<Vec<_>>(),
            plain.split_whitespace().collect::<Vec<_>>(),
            "{args:?}"
        );
    }
    // `later.txt` is at main only.
    let at_v1 = run_stdout(cargo_dvc(&work, &cache).args(["ls", &url, "--rev", "v1"]));
    assert!(!at_v1.contains("later.txt"), "{at_v1}");
    // A path that is not there: an error naming it, with a way on.
    let err = run_fail(cargo_dvc(&work, &cache).args(["ls", &url, "data/nope"]));
    assert!(err.contains("`data/nope` is not in the registry"), "{err}");
    assert!(
        err.contains(&format!(
            "help: list the folder above it: `cargo dvc ls {url} data`"
        )),
        "{err}"
    );
}

fn declares_no_deps(text: &str) -> bool {
    !text.contains("[package.metadata.dvc.deps.")
}

/// Issue 13, item 7: shell completions. The bash script, sourced in a real
/// bash, completes commands and each command's own flags and values.
#[test]
fn completions_complete_commands_and_flags() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let cache = root.join("cache");
    let script = root.join("cargo-dvc.bash");
    let out = run(cargo_dvc(root, &cache).args(["dvc", "completions", "bash"]));
    fs::write(&script, &out.stdout).unwrap();
    let complete = |words: &[&str]| -> String {
        let cur = words.last().unwrap();
        let prev = words[words.len() - 2];
        let program = format!(
            "source {script:?}; COMP_WORDS=({}); COMP_CWORD={}; _cargo_dvc cargo-dvc {cur:?} {prev:?}; \
             echo \"${{COMPREPLY[@]}}\"",
            words.join(" "),
            words.len() - 1,
        );
        run_stdout(std::process::Command::new("bash").arg("-c").arg(program))
    };
    assert_eq!(complete(&["cargo-dvc", "st"]), "status");
    assert_eq!(complete(&["cargo-dvc", "re"]), "remove");
    assert_eq!(
        complete(&["cargo-dvc", "status", "--fo"]),
        "--format-version"
    );
    assert_eq!(complete(&["cargo-dvc", "--color", "a"]), "auto always");
    assert!(complete(&["cargo-dvc", "get", "--"]).contains("--rev"));
    assert!(!complete(&["cargo-dvc", "get", "--"]).contains("--workspace"));
    let registered = run_stdout(
        std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("source {script:?}; complete -p cargo-dvc")),
    );
    assert!(
        registered.ends_with("-F _cargo_dvc cargo-dvc"),
        "{registered}"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let text = run_stdout(cargo_dvc(root, &cache).args(["completions", shell]));
        assert!(
            text.contains("cargo-dvc") && text.contains("status"),
            "{shell}: {text}"
        );
    }
}
