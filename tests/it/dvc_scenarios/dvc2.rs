//! A DVC 2 registry whose directory holds a CRLF text file: DVC 2 hashed it
//! with CRLF folded to LF, so `dvc` 3 re-computes the directory's hash when
//! it imports it. Our lock must be `dvc`'s, and both tools must pull it.

use super::harness::*;

fn registry() -> (Bench, Repo) {
    let b = Bench::new();
    let reg = Repo::erepo_with(&b, "erepo", true);
    reg.add_remote(&b);
    reg.dvc_gen(
        &[
            ("d/crlf.txt", "line1\r\nline2\r\n"),
            ("d/plain.txt", "plain\n"),
            ("d/sub/lf.txt", "lf\n"),
        ],
        &["d"],
        "v1",
    );
    reg.push();
    reg.clear_cache();
    (b, reg)
}

/// The directory, and a file and a sub-folder inside it.
#[test]
fn dvc2_dir_with_crlf_file() {
    let (b, reg) = registry();
    let (dvc_dir, our_dir, ours) = import_both(&b, &reg.url(), "d", &Args::default());
    let lock = read(&dvc_dir, "d.dvc");
    assert_eq!(dvc_pull_lock(&b, "d", &lock), Ok(ours.placed.clone()));
    assert_eq!(
        our_pull_lock(&b, &our_dir, "d", &lock),
        Ok(ours.placed.clone())
    );
    assert_eq!(build_with_lock(&b, &our_dir, "d", &lock), Ok(ours.placed));
    import_both(&b, &reg.url(), "d/crlf.txt", &Args::default());
    import_both(&b, &reg.url(), "d/sub", &Args::default());
    get_both(&b, &reg.url(), "d", &Args::default());
}

/// `update` of that directory to a commit that adds a file.
#[test]
fn dvc2_dir_update() {
    let (b, reg) = registry();
    let (dvc_dir, our_dir, _) = import_both(&b, &reg.url(), "d", &Args::default());
    run_dvc2_add(&reg);
    super::update::update_both(&b, &dvc_dir, &our_dir, "d", &[]);
}

fn run_dvc2_add(reg: &Repo) {
    crate::support::run(reg.dvc().args(["pull", "-q"]));
    reg.dvc_gen(&[("d/more.txt", "more\r\n")], &["d"], "v2");
    reg.push();
    reg.clear_cache();
}
