//! End to end: real `cargo build`s of consumer crates against registries made
//! by the real `dvc`, checked against what the real `dvc` writes and reads.
//!
//! Every consumer builds into one shared target directory
//! (`support::consumer_target_dir`), so dvc-build compiles once; cargo's
//! lock on that directory serialises the builds.

use std::fs;
use std::path::Path;

use crate::support::http::FileServer;
use crate::support::{
    self, Registry, cargo, cargo_dvc, consumer_bin, copy_tree, dvc, run, run_fail, run_stdout,
    tree, write_crate,
};

/// The program of a consumer with a file dependency `model` and a directory
/// dependency `data-set`: prints the model through `include_bytes!(env!(..))`
/// and through the generated module, and every file of the directory.
const MODEL_AND_DATA_MAIN: &str = r#"
mod dvc_deps {
    include!(concat!(env!("OUT_DIR"), "/dvc_deps.rs"));
}
static MODEL: &[u8] = include_bytes!(env!("DVC_MODEL"));

fn list(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            list(base, &path, out);
        } else {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push(format!("{}={}", path.strip_prefix(base).unwrap().display(), text.trim_end()));
        }
    }
}

fn main() {
    println!("env model: [{}]", String::from_utf8_lossy(MODEL).trim_end());
    println!("module model: [{}]", String::from_utf8_lossy(dvc_deps::bytes::MODEL).trim_end());
    println!("same model path: {}", dvc_deps::MODEL == env!("DVC_MODEL"));
    let dir = std::path::Path::new(env!("DVC_DATA_SET"));
    println!("data-set is a dir: {}", dir.is_dir());
    println!("same data path: {}", dvc_deps::DATA_SET == env!("DVC_DATA_SET"));
    let mut files = Vec::new();
    if dir.is_dir() {
        list(dir, dir, &mut files);
    }
    files.sort();
    for f in files {
        println!("data-set file {f}");
    }
}
"#;

/// A registry with `models/model.bin` and a directory `data/`, pushed, tagged v1.
fn model_and_data_registry(root: &Path) -> Registry {
    let reg = Registry::new(root);
    reg.write("models/model.bin", "model v1 weights\n");
    reg.write("data/a.txt", "alpha\n");
    reg.write("data/sub/b.txt", "beta\n");
    reg.add(&["models/model.bin", "data"]);
    reg.commit("v1");
    reg.push();
    reg.tag("v1");
    reg
}

fn model_and_data_metadata(url: &Path) -> String {
    format!(
        "# Data dependencies, resolved by dvc-build.\n\
         [package.metadata.dvc.deps.model]\n\
         url = {url:?}\npath = \"models/model.bin\"\nrev = \"v1\"\nout = \"assets/model.bin\"\nembed = true\n\n\
         [package.metadata.dvc.deps.data-set]\n\
         url = {url:?}\npath = \"data\"\n",
        url = url.to_str().unwrap()
    )
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Issue 4, items 1, 3, 4, 5 and 9 on one consumer crate.
///
/// * a lock written by the real `dvc import` drives the build, unchanged;
/// * the build writes, for a missing lock, the same bytes `dvc import` wrote;
/// * the binary embeds the pinned bytes (env var and generated module) and
///   sees the directory dependency as a directory;
/// * `cargo dvc pull` places the files where `dvc status` is happy with them,
///   and the real `dvc pull` works on our locks;
/// * with the registry and its remote moved away, an offline rebuild works
///   from the cache, and with an empty cache fails naming the dependency and
///   `cargo dvc fetch`;
/// * on docs.rs (`DOCS_RS`), the unreachable registry gives placeholders and
///   a warning, never a failed build.
#[test]
fn build_agrees_with_dvc_import_and_survives_offline() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = model_and_data_registry(root);
    let cache = root.join("cache");
    let krate = root.join("consumer");
    support::consumer(&krate);
    write_crate(
        &krate,
        "e2e-import",
        &model_and_data_metadata(&reg.repo),
        MODEL_AND_DATA_MAIN,
        false,
    );

    // The real dvc writes the locks first.
    fs::create_dir_all(krate.join("assets")).unwrap();
    run(dvc(&krate).args(["import", "-q"]).arg(&reg.repo).args([
        "models/model.bin",
        "-o",
        "assets/model.bin",
        "--rev",
        "v1",
    ]));
    run(dvc(&krate)
        .args(["import", "-q"])
        .arg(&reg.repo)
        .arg("data"));
    let dvc_model_lock = fs::read(krate.join("assets/model.bin.dvc")).unwrap();
    let dvc_data_lock = fs::read(krate.join("data.dvc")).unwrap();
    let dvc_gitignores = (
        fs::read_to_string(krate.join(".gitignore")).unwrap(),
        fs::read_to_string(krate.join("assets/.gitignore")).unwrap(),
    );

    // Item 4: dvc's locks drive our build, untouched.
    run(cargo(&krate, &cache).args(["build", "-q"]));
    assert_eq!(
        fs::read(krate.join("assets/model.bin.dvc")).unwrap(),
        dvc_model_lock
    );
    assert_eq!(fs::read(krate.join("data.dvc")).unwrap(), dvc_data_lock);
    let expected_output = "env model: [model v1 weights]\n\
                           module model: [model v1 weights]\n\
                           same model path: true\n\
                           data-set is a dir: true\n\
                           same data path: true\n\
                           data-set file a.txt=alpha\n\
                           data-set file sub/b.txt=beta";
    assert_eq!(
        run_stdout(&mut std::process::Command::new(consumer_bin("e2e-import"))),
        expected_output
    );

    // Item 1: without locks, the build writes dvc's bytes.
    fs::remove_file(krate.join("assets/model.bin.dvc")).unwrap();
    fs::remove_file(krate.join("data.dvc")).unwrap();
    run(cargo(&krate, &cache).args(["build", "-q"]));
    assert_eq!(
        String::from_utf8(fs::read(krate.join("assets/model.bin.dvc")).unwrap()).unwrap(),
        String::from_utf8(dvc_model_lock.clone()).unwrap()
    );
    assert_eq!(
        String::from_utf8(fs::read(krate.join("data.dvc")).unwrap()).unwrap(),
        String::from_utf8(dvc_data_lock.clone()).unwrap()
    );
    assert_eq!(
        run_stdout(&mut std::process::Command::new(consumer_bin("e2e-import"))),
        expected_output
    );

    // Item 3: `cargo dvc pull` places what dvc placed, and dvc agrees.
    fs::remove_dir_all(krate.join("data")).unwrap();
    fs::remove_file(krate.join("assets/model.bin")).unwrap();
    fs::remove_file(krate.join(".gitignore")).unwrap();
    fs::remove_file(krate.join("assets/.gitignore")).unwrap();
    fs::remove_dir_all(krate.join(".dvc/cache")).unwrap();
    run(cargo_dvc(&krate, &cache).args(["dvc", "pull", "-q"]));
    assert_eq!(
        fs::read_to_string(krate.join("assets/model.bin")).unwrap(),
        "model v1 weights\n"
    );
    assert_eq!(tree(&krate.join("data")), ["a.txt=alpha", "sub/b.txt=beta"]);
    assert_eq!(
        (
            fs::read_to_string(krate.join(".gitignore")).unwrap(),
            fs::read_to_string(krate.join("assets/.gitignore")).unwrap(),
        ),
        dvc_gitignores,
        "cargo dvc pull writes the .gitignore entries dvc writes"
    );
    let status = run_stdout(dvc(&krate).arg("status"));
    assert!(
        status.contains("Data and pipelines are up to date"),
        "dvc status after cargo dvc pull:\n{status}"
    );
    // The real dvc pull, on our locks, in a copy without the data.
    let copy = root.join("copy");
    copy_tree(&krate, &copy);
    fs::remove_dir_all(copy.join("data")).unwrap();
    fs::remove_file(copy.join("assets/model.bin")).unwrap();
    fs::remove_dir_all(copy.join(".dvc/cache")).unwrap();
    run(dvc(&copy).args(["pull", "-q"]));
    assert_eq!(
        fs::read_to_string(copy.join("assets/model.bin")).unwrap(),
        "model v1 weights\n"
    );
    assert_eq!(tree(&copy.join("data")), ["a.txt=alpha", "sub/b.txt=beta"]);

    // Item 5: the registry moves away; offline rebuilds work from the cache.
    fs::rename(&reg.repo, root.join("registry-away")).unwrap();
    fs::rename(&reg.remote, root.join("remote-away")).unwrap();
    let manifest = fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    fs::write(krate.join("Cargo.toml"), format!("{manifest}\n# touched\n")).unwrap();
    run(cargo(&krate, &cache)
        .args(["build", "-q"])
        .env("CARGO_NET_OFFLINE", "true"));
    assert_eq!(
        run_stdout(&mut std::process::Command::new(consumer_bin("e2e-import"))),
        expected_output
    );
    let empty = root.join("empty-cache");
    let err = stderr_of(
        &cargo(&krate, &empty)
            .args(["build", "-q"])
            .env("CARGO_NET_OFFLINE", "true")
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("dependency `data-set`") || err.contains("dependency `model`"),
        "the error names the dependency:\n{err}"
    );
    assert!(
        err.contains("cargo dvc fetch"),
        "the error says what to do:\n{err}"
    );
    assert!(err.contains("offline"), "the error says why:\n{err}");

    // Item 9: docs.rs, registry unreachable, nothing cached: placeholders.
    let out = cargo(&krate, &empty)
        .args(["build"])
        .env("DOCS_RS", "1")
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(out.status.success(), "docs.rs build failed:\n{err}");
    assert!(
        err.contains("docs.rs build: `model` is an empty placeholder"),
        "docs.rs warns:\n{err}"
    );
    assert_eq!(
        run_stdout(&mut std::process::Command::new(consumer_bin("e2e-import"))),
        "env model: []\nmodule model: []\nsame model path: true\n\
         data-set is a dir: true\nsame data path: true"
    );
}

/// Issue 4, item 6: locked mode, in the build and on the command line.
#[test]
fn locked_mode_never_writes_a_lock() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = model_and_data_registry(root);
    let cache = root.join("cache");
    let krate = root.join("consumer");
    write_crate(
        &krate,
        "e2e-locked",
        &model_and_data_metadata(&reg.repo),
        MODEL_AND_DATA_MAIN,
        false,
    );

    // A missing lock.
    let err = run_fail(
        cargo(&krate, &cache)
            .args(["build", "-q"])
            .env("DVC_BUILD_LOCKED", "1"),
    );
    assert!(err.contains("dependency `data-set`"), "{err}");
    assert!(err.contains("is missing"), "{err}");
    assert!(
        err.contains("help: run `cargo dvc update data-set`"),
        "{err}"
    );
    assert!(!krate.join("data.dvc").exists());
    assert!(!krate.join("assets/model.bin.dvc").exists());
    for cmd in ["fetch", "pull"] {
        let err = run_fail(cargo_dvc(&krate, &cache).args([cmd, "--locked"]));
        assert!(
            err.contains("dependency `data-set`") && err.contains("help:"),
            "{err}"
        );
        assert!(!krate.join("data.dvc").exists());
    }
    let err = run_fail(cargo_dvc(&krate, &cache).args(["update", "--locked"]));
    assert!(err.contains("--locked"), "{err}");
    assert!(!krate.join("data.dvc").exists());

    // A stale lock: `rev` changed in Cargo.toml after locking.
    run(cargo_dvc(&krate, &cache).args(["fetch", "-q"]));
    let model_lock = fs::read(krate.join("assets/model.bin.dvc")).unwrap();
    let manifest = fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    fs::write(
        krate.join("Cargo.toml"),
        manifest.replace("rev = \"v1\"", "rev = \"main\""),
    )
    .unwrap();
    let err = run_fail(
        cargo(&krate, &cache)
            .args(["build", "-q"])
            .env("DVC_BUILD_LOCKED", "1"),
    );
    assert!(err.contains("dependency `model`"), "{err}");
    assert!(err.contains("stale"), "{err}");
    assert!(err.contains("`rev`"), "the error says what changed:\n{err}");
    let err = run_fail(cargo_dvc(&krate, &cache).args(["fetch", "--locked"]));
    assert!(
        err.contains("dependency `model`") && err.contains("stale"),
        "{err}"
    );
    let err = run_fail(
        cargo_dvc(&krate, &cache)
            .args(["update", "model"])
            .env("DVC_BUILD_LOCKED", "1"),
    );
    assert!(err.contains("DVC_BUILD_LOCKED"), "{err}");
    assert_eq!(
        fs::read(krate.join("assets/model.bin.dvc")).unwrap(),
        model_lock
    );
    assert_eq!(
        fs::read_to_string(krate.join("Cargo.toml")).unwrap(),
        manifest.replace("rev = \"v1\"", "rev = \"main\"")
    );
}

/// Issue 4, item 7 (and the workspace options of item 8): two crates of one
/// workspace pin the same artifacts; built together with one cache, each
/// object is downloaded once.
#[test]
fn workspace_downloads_each_object_once() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = model_and_data_registry(root);
    let server = FileServer::start(&reg.remote);
    run(reg
        .dvc()
        .args(["remote", "add", "-d", "http"])
        .arg(server.url()));
    reg.commit("serve the remote over http");
    reg.tag("http");
    let cache = root.join("cache");
    let ws = root.join("ws");
    support::write(
        &ws,
        "Cargo.toml",
        "[workspace]\nmembers = [\"a\", \"b\"]\nresolver = \"2\"\n",
    );
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"),
        ws.join("Cargo.lock"),
    )
    .unwrap();
    let metadata = model_and_data_metadata(&reg.repo).replace("rev = \"v1\"", "rev = \"http\"");
    for name in ["a", "b"] {
        write_crate(
            &ws.join(name),
            &format!("e2e-ws-{name}"),
            &metadata,
            MODEL_AND_DATA_MAIN,
            true,
        );
    }
    run(cargo(&ws, &cache).args(["build", "-q", "--workspace", "-j2"]));
    for name in ["a", "b"] {
        let out = run_stdout(&mut std::process::Command::new(consumer_bin(&format!(
            "e2e-ws-{name}"
        ))));
        assert!(out.contains("env model: [model v1 weights]"), "{out}");
        assert!(out.contains("data-set file sub/b.txt=beta"), "{out}");
        assert!(ws.join(name).join("data.dvc").is_file());
    }
    let log = server.log();
    assert!(!log.is_empty(), "the artifacts came over HTTP");
    let mut counts = std::collections::BTreeMap::new();
    for request in &log {
        *counts.entry(request.path.clone()).or_insert(0) += 1;
    }
    // model.bin, the .dir manifest and the two files of data/.
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(
        counts.values().all(|&n| n == 1),
        "every object downloaded once: {counts:?}"
    );

    // The workspace options of `cargo dvc`.
    let deps = |json: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(json).unwrap()["dependencies"].clone()
    };
    let json = run_stdout(cargo_dvc(&ws, &cache).args(["status", "--json", "--workspace"]));
    let rows = deps(&json);
    let packages: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["package"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        packages,
        ["e2e-ws-a", "e2e-ws-a", "e2e-ws-b", "e2e-ws-b"],
        "{json}"
    );
    assert!(
        rows.as_array().unwrap().iter().all(|r| r["cached"] == true),
        "{json}"
    );
    // The virtual manifest alone means every member, as cargo does.
    let json = run_stdout(cargo_dvc(&ws, &cache).args(["status", "--json"]));
    assert_eq!(deps(&json).as_array().unwrap().len(), 4);
    let json = run_stdout(cargo_dvc(&ws, &cache).args(["status", "--json", "-p", "e2e-ws-b"]));
    let rows = deps(&json);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["package"] == "e2e-ws-b"),
        "{json}"
    );
    let elsewhere = root.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let json = run_stdout(
        cargo_dvc(&elsewhere, &cache)
            .args(["status", "--json", "--manifest-path"])
            .arg(ws.join("a/Cargo.toml")),
    );
    let rows = deps(&json);
    assert_eq!(rows.as_array().unwrap().len(), 2, "{json}");
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["package"] == "e2e-ws-a")
    );
    let err = run_fail(cargo_dvc(&ws, &cache).args(["status", "-p", "nope"]));
    assert!(
        err.contains("package `nope`") && err.contains("help:"),
        "{err}"
    );
    run(cargo_dvc(&ws, &cache).args(["check", "--workspace"]));
}

/// Issue 13, items 5 and 12: the generated module. Including `dvc_deps.rs`
/// makes rustc read only the artifacts declared `embed = true` (the dep-info
/// rustc writes lists every file it read), using some generated items gives
/// no dead-code warning pointing into `OUT_DIR`, and a dependency gated on a
/// feature is fetched and exported only with that feature. Measured: the
/// compile of a consumer of a 64 MiB artifact, path only vs embedded.
#[test]
fn generated_code_reads_only_embedded_artifacts() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = Registry::new(root);
    let big = support::pseudo_random(64 << 20, 7);
    reg.write("models/big.bin", &big);
    reg.write("models/small.bin", "small weights\n");
    reg.write("models/optional.bin", "only with the feature\n");
    reg.add(&["models/big.bin", "models/small.bin", "models/optional.bin"]);
    reg.commit("v1");
    reg.push();
    let url = reg.repo.to_str().unwrap();
    let cache = root.join("cache");
    let krate = root.join("gen");
    let metadata = |embed_big: bool| {
        format!(
            "[features]\nbig-model = []\n\n\
             [package.metadata.dvc.deps.big]\nurl = {url:?}\npath = \"models/big.bin\"\nembed = {embed_big}\n\n\
             [package.metadata.dvc.deps.\"small.v2\"]\nurl = {url:?}\npath = \"models/small.bin\"\nembed = true\n\n\
             [package.metadata.dvc.deps.optional]\nurl = {url:?}\npath = \"models/optional.bin\"\nfeature = \"big-model\"\n"
        )
    };
    let main_rs = |embed_big: bool| {
        format!(
            "mod dvc_deps {{\n    include!(concat!(env!(\"OUT_DIR\"), \"/dvc_deps.rs\"));\n}}\n\
             fn main() {{\n\
             \x20   println!(\"big at {{}}\", dvc_deps::BIG);\n\
             \x20   println!(\"small: {{}}\", String::from_utf8_lossy(dvc_deps::bytes::SMALL_V2).trim_end());\n\
             \x20   assert_eq!(env!(\"DVC_SMALL_V2\"), dvc_deps::SMALL_V2);\n\
             \x20   {}\n\
             \x20   #[cfg(feature = \"big-model\")]\n\
             \x20   println!(\"optional at {{}}\", dvc_deps::OPTIONAL);\n\
             \x20   println!(\"optional env: {{:?}}\", option_env!(\"DVC_OPTIONAL\").is_some());\n}}\n",
            if embed_big {
                "println!(\"big embedded: {} bytes\", dvc_deps::bytes::BIG.len());"
            } else {
                ""
            }
        )
    };
    support::write_crate(&krate, "e2e-gen", &metadata(false), &main_rs(false), false);
    // `cargo build` through GNU time: wall seconds and peak RSS (KiB) of
    // cargo and the rustc it waits for.
    let timed_build = |features: &[&str]| -> (String, f64, u64) {
        let timing = root.join("time.txt");
        let cmd = cargo(&krate, &cache);
        let program = cmd.get_program().to_owned();
        let mut timed = std::process::Command::new("/usr/bin/time");
        timed
            .arg("-f")
            .arg("%e %M")
            .arg("-o")
            .arg(&timing)
            .arg(program)
            .args(["build", "--quiet"])
            .args(features)
            .current_dir(&krate);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => timed.env(k, v),
                None => timed.env_remove(k),
            };
        }
        let out = run(&mut timed);
        let text = fs::read_to_string(&timing).unwrap();
        let mut parts = text.split_whitespace();
        let secs: f64 = parts.next().unwrap().parse().unwrap();
        let kib: u64 = parts.next().unwrap().parse().unwrap();
        (stderr_of(&out), secs, kib)
    };
    // rustc's own dep-info (`deps/e2e_gen-HASH.d`: the files rustc read),
    // not cargo's `debug/e2e-gen.d`, which adds the build script's
    // `rerun-if-changed` files.
    let dep_info = || {
        let deps = support::consumer_target_dir().join("debug/deps");
        let newest = fs::read_dir(&deps)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with("e2e_gen-") && name.ends_with(".d")
            })
            .max_by_key(|p| fs::metadata(p).unwrap().modified().unwrap())
            .expect("rustc's dep-info of e2e-gen");
        fs::read_to_string(newest).unwrap()
    };
    let (warnings, _, _) = timed_build(&[]);
    assert!(
        !warnings.contains("warning"),
        "no warning at all:\n{warnings}"
    );
    let out = run_stdout(&mut std::process::Command::new(consumer_bin("e2e-gen")));
    assert!(out.contains("small: small weights"), "{out}");
    assert!(out.contains("optional env: false"), "gated off: {out}");
    assert!(!out.contains("optional at"), "{out}");
    let info = dep_info();
    assert!(
        info.contains("/out/dvc/small.bin"),
        "embedded: read by rustc:\n{info}"
    );
    assert!(
        !info.contains("/out/dvc/big.bin"),
        "not embedded: never read by rustc:\n{info}"
    );
    assert!(
        !krate.join("optional.bin.dvc").exists(),
        "gated off: not even locked"
    );

    // The compile after a source edit, path only: three runs, the median.
    let median = |features: &[&str]| {
        let mut runs: Vec<(f64, u64)> = (0..3)
            .map(|_| {
                support::write(
                    &krate,
                    "src/main.rs",
                    fs::read(krate.join("src/main.rs")).unwrap(),
                );
                let (_, secs, kib) = timed_build(features);
                (secs, kib)
            })
            .collect();
        runs.sort_by_key(|a| a.1);
        runs[1]
    };
    let path_only = median(&[]);
    // Embedded: rustc reads all 64 MiB on every compile of the crate.
    fs::write(
        krate.join("Cargo.toml"),
        fs::read_to_string(krate.join("Cargo.toml"))
            .unwrap()
            .replace("embed = false", "embed = true"),
    )
    .unwrap();
    support::write(&krate, "src/main.rs", main_rs(true));
    timed_build(&[]);
    assert!(dep_info().contains("/out/dvc/big.bin"), "embedded now");
    let embedded = median(&[]);
    println!(
        "compile after an edit, consumer of a 64 MiB artifact: path only {:.2} s, {} MiB peak RSS; \
         embedded {:.2} s, {} MiB",
        path_only.0,
        path_only.1 / 1024,
        embedded.0,
        embedded.1 / 1024
    );
    assert!(
        path_only.1 + 48 * 1024 < embedded.1,
        "rustc holds the 64 MiB only when embedded: {path_only:?} vs {embedded:?}"
    );

    // The feature on: fetched, locked, exported.
    let (warnings, _, _) = timed_build(&["--features", "big-model"]);
    assert!(!warnings.contains("warning"), "{warnings}");
    let out = run_stdout(&mut std::process::Command::new(consumer_bin("e2e-gen")));
    assert!(out.contains("optional at "), "{out}");
    assert!(out.contains("optional env: true"), "{out}");
    assert!(krate.join("optional.bin.dvc").is_file());
}

/// A `PATH` of symlinks to every program on the current `PATH` except git
/// (`git`, `git-*`, `gitk`, ...), in a new folder `dir`: cargo, rustc and the
/// linker still run, `git` cannot.
fn path_without_git(dir: &Path) -> std::ffi::OsString {
    fs::create_dir_all(dir).unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    for folder in std::env::split_paths(&path) {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let link = dir.join(&name);
            if name.to_string_lossy().starts_with("git") || link.symlink_metadata().is_ok() {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), link).unwrap();
        }
    }
    let path = std::env::join_paths([dir]).unwrap();
    let git = std::process::Command::new("git")
        .arg("--version")
        .env("PATH", &path)
        .output();
    assert!(
        git.is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound),
        "git is still reachable on {}",
        dir.display()
    );
    path
}

/// The program of the no-git consumer: every dependency's files.
const NO_GIT_MAIN: &str = r#"
fn list(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            list(base, &path, out);
        } else {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push(format!("{}={}", path.strip_prefix(base).unwrap().display(), text.trim_end()));
        }
    }
}

fn main() {
    println!("model: [{}]", String::from_utf8_lossy(include_bytes!(env!("DVC_MODEL"))).trim_end());
    for dir in [env!("DVC_DATA_SET"), env!("DVC_OLD_DATA")] {
        let dir = std::path::Path::new(dir);
        let mut files = Vec::new();
        list(dir, dir, &mut files);
        files.sort();
        println!("{}: {}", dir.file_name().unwrap().to_string_lossy(), files.join(" "));
    }
}
"#;

/// Issue 13, item 11: a locked build whose declarations give their remote
/// as a table (`remote = { url = ... }`) needs no `git` binary: a file and
/// a directory of a DVC 3 registry and a directory of a DVC 2 registry
/// (DVC 2's remote layout) build from an empty cache with `git` off `PATH`,
/// and so does `cargo dvc fetch --locked`; no git database is even made.
/// Where git is needed (here: a missing lock to resolve), a missing `git` is
/// one error naming the dependency and saying how to install git, and
/// nothing is written.
#[test]
fn locked_build_with_a_declared_remote_needs_no_git() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = model_and_data_registry(root);
    let old = Registry::with_version(&root.join("dvc2"), true);
    old.write("data/c.txt", "gamma\n");
    old.write("data/deep/d.txt", "delta\n");
    old.add(&["data"]);
    old.commit("data");
    old.push();
    let krate = root.join("consumer");
    let metadata = format!(
        "[package.metadata.dvc.deps.model]\n\
         url = {url:?}\npath = \"models/model.bin\"\nrev = \"v1\"\nout = \"assets/model.bin\"\n\
         remote = {{ url = {remote:?} }}\n\n\
         [package.metadata.dvc.deps.data-set]\n\
         url = {url:?}\npath = \"data\"\nremote = {{ url = {remote:?} }}\n\n\
         [package.metadata.dvc.deps.old-data]\n\
         url = {old_url:?}\npath = \"data\"\nout = \"old-data\"\nremote = {{ url = {old_remote:?} }}\n",
        url = reg.repo.to_str().unwrap(),
        remote = reg.remote.to_str().unwrap(),
        old_url = old.repo.to_str().unwrap(),
        old_remote = old.remote.to_str().unwrap(),
    );
    write_crate(&krate, "e2e-no-git", &metadata, NO_GIT_MAIN, false);
    let expected = "model: [model v1 weights]\n\
                    data: a.txt=alpha sub/b.txt=beta\n\
                    old-data: c.txt=gamma deep/d.txt=delta";

    // With git: the first build resolves and writes the locks, which record
    // the declared remote.
    run(cargo(&krate, &root.join("cache")).args(["build", "-q"]));
    let model_lock = fs::read_to_string(krate.join("assets/model.bin.dvc")).unwrap();
    assert!(
        model_lock.contains("remote:") && model_lock.contains(reg.remote.to_str().unwrap()),
        "the lock records the remote:\n{model_lock}"
    );

    // Without git, locked, from an empty cache.
    let no_git = path_without_git(&root.join("bin-no-git"));
    let cache = root.join("cache-no-git");
    let out = cargo(&krate, &cache)
        .args(["build", "-q"])
        .env("PATH", &no_git)
        .env("DVC_BUILD_LOCKED", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the locked build without git failed:\n{}",
        stderr_of(&out)
    );
    assert_eq!(
        run_stdout(&mut std::process::Command::new(consumer_bin("e2e-no-git"))),
        expected
    );
    assert!(
        !cache.join("git").exists(),
        "no git database was made in {}",
        cache.display()
    );
    let cache = root.join("cache-no-git-cli");
    run(cargo_dvc(&krate, &cache)
        .args(["fetch", "--locked", "-q"])
        .env("PATH", &no_git));
    assert!(!cache.join("git").exists());

    // Without git, a lock to resolve: one clear error, nothing written.
    fs::remove_file(krate.join("assets/model.bin.dvc")).unwrap();
    let err = run_fail(
        cargo(&krate, &root.join("cache-no-git-2"))
            .args(["build", "-q"])
            .env("PATH", &no_git),
    );
    assert!(err.contains("dependency `model`"), "{err}");
    assert_eq!(err.matches("`git` was not found").count(), 1, "{err}");
    assert!(
        err.contains("help: install git (https://git-scm.com/downloads)"),
        "{err}"
    );
    assert!(!krate.join("assets/model.bin.dvc").exists());
}
