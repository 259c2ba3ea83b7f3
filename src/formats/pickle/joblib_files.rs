//! Files that old joblib pickles name beside themselves. joblib before 0.10 wrote each array to
//! its own file and left in the pickle a `numpy_pickle_compat.NDArrayWrapper` (or the zlib
//! `ZNDArrayWrapper`) whose state names it; `joblib.load` joins that `filename` to the
//! pickle's directory and reads it: `NDArrayWrapper` with `numpy.load(..., allow_pickle=True)`,
//! which unpickles any file that is neither `.npy` nor a zip. So the named file is code the
//! load runs: a name that leaves the directory runs a file of the loading machine, and a file
//! beside the pickle is analysed as part of it.

use std::fs::File;

use crate::model::rules::RuleId;
use crate::scan::context::MemberKind;
use crate::zone::sibling::{self, Resolved, lexical_escape};

use super::value::{Node, Value};
use super::vm::Machine;

impl<'a> Machine<'a, '_, '_> {
    /// On BUILD of an object: when it is one of joblib's legacy array wrappers, judges the file
    /// its state names.
    pub(super) fn joblib_array_file(
        &mut self,
        callable: Value<'a>,
        args: Value<'a>,
        state: Value<'a>,
    ) {
        let Some(unpickles) = self.legacy_wrapper(callable, args) else {
            return;
        };
        let Some(name) = self.state_filename(state) else {
            return;
        };
        let what = if unpickles {
            "joblib.load unpickles it with numpy.load(allow_pickle=True)"
        } else {
            "joblib.load reads it into an array"
        };
        let rule = if unpickles {
            RuleId::JoblibArrayFileEscape
        } else {
            RuleId::JoblibArrayFileOutside
        };
        if let Some(why) = lexical_escape(&name) {
            let message = format!("a legacy joblib array names its data file as {why}: {what}");
            self.ctx
                .report(rule, None, message, Some(format!("filename={name:?}")));
            return;
        }
        let Some(dir) = self.ctx.disk_path().and_then(sibling::model_dir) else {
            return; // a member of an archive: judged by the name alone
        };
        match sibling::resolve(&dir, &name) {
            Resolved::Escapes(real) => {
                let message = format!(
                    "a legacy joblib array names its data file `{name}`, which resolves outside the pickle's directory (to {}): {what}",
                    real.display()
                );
                self.ctx
                    .report(rule, None, message, Some(format!("filename={name:?}")));
            }
            // The load fails without it; nothing more runs.
            Resolved::Missing(_) => {}
            Resolved::File(_) => {
                let Ok(mapped) =
                    File::open(dir.join(&name)).and_then(|f| crate::zone::mmap::map(&f))
                else {
                    return;
                };
                self.ctx.nested(
                    &format!("joblib array file `{name}`"),
                    &mapped,
                    MemberKind::File,
                );
            }
        }
    }

    /// `Some(unpickles)` when `callable` (directly, or as `copyreg._reconstructor`'s class)
    /// is joblib's `NDArrayWrapper` (`true`) or `ZNDArrayWrapper` (`false`).
    pub(super) fn legacy_wrapper(&self, callable: Value<'a>, args: Value<'a>) -> Option<bool> {
        let wrapper = |v: Value<'a>| match self.arena.node(v) {
            Some(Node::Global(i)) => self.imports.list.get(*i as usize).and_then(|g| {
                let joblib =
                    g.module.ends_with("numpy_pickle") || g.module.ends_with("numpy_pickle_compat");
                match g.name.as_str() {
                    "NDArrayWrapper" if joblib => Some(true),
                    "ZNDArrayWrapper" if joblib => Some(false),
                    _ => None,
                }
            }),
            _ => None,
        };
        wrapper(callable).or_else(|| {
            let first = *self.arena.seq(args)?.first()?;
            wrapper(first)
        })
    }

    /// The `filename` entry of a state dict.
    fn state_filename(&self, state: Value<'a>) -> Option<String> {
        let Some(Node::Dict(items)) = self.arena.node(state) else {
            return None;
        };
        self.arena
            .pairs(items)
            .take(64)
            .find(|(k, _)| k.str_text().is_some_and(|k| k == "filename"))
            .and_then(|(_, v)| v.str_text())
            .map(|v| v.into_owned())
    }
}
