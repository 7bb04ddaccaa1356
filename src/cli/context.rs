//! What every command runs with, after cargo's `GlobalContext`: the global
//! flags turned into modes (locked, offline), the shell, and the engine
//! (opened on first use, so commands that need no cache open none).

use std::cell::OnceCell;
use std::sync::Arc;

use crate::cache::Cache;
use crate::cli::args::{GlobalArgs, ManifestPath, OnePackage, PackageSelection};
use crate::cli::progress::Meter;
use crate::cli::shell::Shell;
use crate::cli::workspace::{self, Package};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::git::NetMode;
use crate::project::LockMode;

/// The global options, the shell and the engine.
pub struct Context {
    global: GlobalArgs,
    shell: Arc<Shell>,
    engine: OnceCell<Engine>,
    meter: Arc<Meter>,
}

impl Context {
    /// A context for `global`, printing through `shell`. At `-v`, the
    /// library's trace (git commands run, remotes opened) goes to the shell.
    pub fn new(global: GlobalArgs, shell: Shell) -> Context {
        let shell = Arc::new(shell);
        if shell.verbosity() >= crate::cli::shell::Verbosity::Verbose {
            let traced = Arc::clone(&shell);
            crate::trace::set_sink(Box::new(move |verb, message| traced.detail(verb, message)));
        }
        let meter = Arc::new(Meter::new(shell.bars()));
        Context {
            global,
            shell,
            engine: OnceCell::new(),
            meter,
        }
    }

    /// Bytes downloaded (or copied from a local remote) so far.
    pub fn received(&self) -> u64 {
        self.meter.received()
    }

    /// Where output goes.
    pub fn shell(&self) -> &Shell {
        &self.shell
    }

    /// `--locked`, `--frozen` or `DVC_BUILD_LOCKED`: may locks be written?
    pub fn mode(&self) -> LockMode {
        let env_locked = std::env::var(crate::build_script::LOCKED_ENV)
            .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"));
        if self.global.locked || self.global.frozen || env_locked {
            LockMode::Locked
        } else {
            LockMode::Write
        }
    }

    /// `--offline`, `--frozen` or `CARGO_NET_OFFLINE`: may the network be used?
    pub fn net(&self) -> NetMode {
        if self.global.offline || self.global.frozen || NetMode::from_env().is_offline() {
            NetMode::Offline
        } else {
            NetMode::Online
        }
    }

    /// The engine over the user-wide cache, opened on first use.
    pub fn engine(&self) -> Result<&Engine> {
        if let Some(engine) = self.engine.get() {
            return Ok(engine);
        }
        let engine = Engine::new(Cache::open_default()?, self.net())
            .with_progress(Arc::clone(&self.meter) as Arc<dyn crate::progress::Progress>);
        Ok(self.engine.get_or_init(|| engine))
    }

    /// The packages a command works on.
    pub fn packages(
        &self,
        selection: &PackageSelection,
        manifest: &ManifestPath,
    ) -> Result<Vec<Package>> {
        workspace::select(selection, manifest)
    }

    /// The one package a command that edits `Cargo.toml` works on.
    pub fn single_package(&self, one: &OnePackage, manifest: &ManifestPath) -> Result<Package> {
        let selection = PackageSelection {
            package: one.package.iter().cloned().collect(),
            ..PackageSelection::default()
        };
        let mut packages = workspace::select(&selection, manifest)?;
        match packages.len() {
            1 => Ok(packages.remove(0)),
            0 => Err(Error::new(ErrorKind::Manifest, "no package selected")),
            _ => {
                let names: Vec<_> = packages
                    .iter()
                    .map(|p| format!("`{}`", p.manifest.package))
                    .collect();
                Err(Error::new(
                    ErrorKind::Manifest,
                    "this command works on one package, but the workspace has several",
                )
                .with_help(format!(
                    "pick one with `-p NAME` or `--manifest-path`; members: {}",
                    names.join(", ")
                )))
            }
        }
    }
}
