//! Where the author commands (`policy run | test | check | replay`) keep
//! compiled modules, so that an unchanged module is not compiled again:
//! a Python or JavaScript component takes seconds to tens of seconds.

use crate::policy::{Compilation, CompileStats, Limits, LoadError, PolicyRuntime};
use clap::Args;
use std::path::{Path, PathBuf};

/// The compiled-module cache of an author command.
#[derive(Debug, Default, Clone, Args)]
pub struct CacheArgs {
    /// Where compiled modules are kept, by sha256 and engine version
    /// [default: $XDG_CACHE_HOME/accord/policies, else
    /// ~/.cache/accord/policies].
    #[arg(long, env = "ACCORD_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile the module every time; read and write no cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The cache directory to use, if any: `--no-cache` wins over a
    /// directory, which wins over the XDG default.
    pub fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir.clone().or_else(|| {
            default_dir(
                std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from),
                std::env::var_os("HOME").map(PathBuf::from),
            )
        })
    }

    /// A runtime with `limits` and this cache. A default directory that
    /// cannot be created means no cache (with a note on stderr), not a
    /// failed command; a directory given explicitly must work.
    pub fn runtime(&self, limits: Limits) -> Result<PolicyRuntime, LoadError> {
        let mut dir = self.dir();
        match &dir {
            None if !self.no_cache => eprintln!(
                "note: no cache directory (neither XDG_CACHE_HOME nor HOME is set), so the \
                 module is compiled every time; --cache-dir or ACCORD_CACHE_DIR names one"
            ),
            Some(default) if self.cache_dir.is_none() => {
                if let Err(e) = std::fs::create_dir_all(default) {
                    eprintln!(
                        "note: cannot use the cache {} ({e}); compiling without it",
                        default.display()
                    );
                    dir = None;
                }
            }
            _ => {}
        }
        PolicyRuntime::new(limits, dir)
    }
}

/// `$XDG_CACHE_HOME/accord/policies` (an absolute XDG_CACHE_HOME only, as
/// the XDG spec says), else `$HOME/.cache/accord/policies`.
fn default_dir(xdg_cache_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let base = xdg_cache_home.filter(|p| p.is_absolute()).or_else(|| {
        home.filter(|p| !p.as_os_str().is_empty())
            .map(|h| h.join(".cache"))
    })?;
    Some(base.join("accord").join("policies"))
}

/// The line an author command prints about the module's compile, e.g.
/// `compile: 12.3 s (cached for next time)` or `compile: cached, loaded
/// in 40 ms`.
pub fn compile_line(stats: CompileStats, cache_dir: Option<&Path>) -> String {
    let took = human(stats.elapsed);
    match stats.how {
        Compilation::FromCache => format!("compile: cached, loaded in {took}"),
        Compilation::Cached {
            replaced_unreadable: false,
        } => format!("compile: {took} (cached for next time)"),
        Compilation::Cached {
            replaced_unreadable: true,
        } => format!(
            "compile: {took} (the cached artifact was unreadable: discarded, recompiled and cached for next time)"
        ),
        Compilation::Uncached => match cache_dir {
            None => format!("compile: {took} (no cache)"),
            Some(dir) => format!(
                "compile: {took} (not cached: cannot write {})",
                dir.display()
            ),
        },
    }
}

/// Milliseconds under a second, else seconds to a tenth.
fn human(d: std::time::Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1e3)
    }
}

/// What `policy run`'s JSON says about the compile.
#[derive(Debug, serde::Serialize)]
pub struct CompileReport {
    /// `true` when the module was read from the cache.
    pub cached: bool,
    /// How long compiling or reading it took, milliseconds.
    pub ms: f64,
    /// The line the text commands print.
    pub summary: String,
}

impl CompileReport {
    /// The report of `stats`.
    pub fn new(stats: CompileStats, cache_dir: Option<&Path>) -> Self {
        CompileReport {
            cached: stats.how == Compilation::FromCache,
            ms: stats.elapsed.as_secs_f64() * 1e3,
            summary: compile_line(stats, cache_dir),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_follows_xdg_then_home() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            default_dir(p("/x/cache"), p("/home/a")),
            p("/x/cache/accord/policies")
        );
        assert_eq!(
            default_dir(p("relative"), p("/home/a")),
            p("/home/a/.cache/accord/policies")
        );
        assert_eq!(
            default_dir(None, p("/home/a")),
            p("/home/a/.cache/accord/policies")
        );
        assert_eq!(default_dir(None, p("")), None);
        assert_eq!(default_dir(None, None), None);
    }

    #[test]
    fn no_cache_wins() {
        let args = CacheArgs {
            cache_dir: Some(PathBuf::from("/tmp/x")),
            no_cache: true,
        };
        assert_eq!(args.dir(), None);
    }
}
