//! `--include` / `--exclude` globs (and the policy's `include` / `exclude`), matched the way
//! ripgrep matches `--glob`: each glob is a gitignore line relative to the scan root (a glob
//! without `/` matches a name at any depth, a trailing `/` only directories); an excluded
//! directory is not entered; when there are include globs, a file must match one of them. The
//! last matching glob wins, and excludes come after includes, so an exclude wins over an include.
//!
//! Nothing else is skipped, except `.git` directories (see [`super::walk`]). Paths named on the
//! command line are always scanned, whatever the globs say (as in ripgrep).

use std::path::Path;

use ignore::overrides::{Override, OverrideBuilder};

/// The compiled globs; empty means every file is scanned.
#[derive(Clone, Debug)]
pub struct Filter {
    globs: Override,
    described: Vec<String>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            globs: Override::empty(),
            described: Vec::new(),
        }
    }
}

impl Filter {
    /// Compiles `include` and `exclude` globs; the error names the bad glob.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter, String> {
        let mut builder = OverrideBuilder::new(".");
        let mut described = Vec::new();
        for glob in include {
            builder
                .add(glob)
                .map_err(|e| format!("--include `{glob}`: {e}"))?;
            described.push(format!("include {glob}"));
        }
        for glob in exclude {
            let line = format!("!{}", glob.strip_prefix('!').unwrap_or(glob));
            builder
                .add(&line)
                .map_err(|e| format!("--exclude `{glob}`: {e}"))?;
            described.push(format!("exclude {glob}"));
        }
        let globs = builder.build().map_err(|e| e.to_string())?;
        Ok(Filter { globs, described })
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// The globs as given (`exclude .venv`), for reports.
    pub fn describe(&self) -> &[String] {
        &self.described
    }

    /// Whether the walk skips the file or directory at `relative` (`/`-separated, below the
    /// scan root).
    pub fn skips(&self, relative: &str, is_dir: bool) -> bool {
        self.globs.matched(Path::new(relative), is_dir).is_ignore()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> Filter {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Filter::new(&owned(include), &owned(exclude)).unwrap()
    }

    #[test]
    fn globs_match_like_ripgrep() {
        let f = filter(&[], &[".venv", "build/", "*.pyc", "data/raw/**"]);
        assert!(f.skips(".venv", true));
        assert!(
            f.skips("sub/.venv", true),
            "a name without / matches at any depth"
        );
        assert!(f.skips("build", true));
        assert!(
            !f.skips("build", false),
            "a trailing / matches directories only"
        );
        assert!(f.skips("a/b/c.pyc", false));
        assert!(f.skips("data/raw/x.bin", false));
        assert!(
            !f.skips("other/data/raw/x.bin", false),
            "a / anchors at the root"
        );
        assert!(!f.skips("model.onnx", false));

        let f = filter(&["*.onnx", "*.safetensors"], &["tests"]);
        assert!(!f.skips("m/model.onnx", false));
        assert!(
            f.skips("m/readme.md", false),
            "includes leave out other files"
        );
        assert!(
            !f.skips("m", true),
            "directories are entered to look for includes"
        );
        assert!(f.skips("tests", true));
        let f = filter(&["*.onnx"], &["*.onnx"]);
        assert!(f.skips("a.onnx", false), "an exclude wins over an include");
        assert!(Filter::new(&["a[".to_owned()], &[]).is_err());
        assert!(Filter::default().is_empty() && !Filter::default().skips("x", false));
    }
}
