//! The generated list of Hydra targets NeMo configurations instantiate
//! (`signatures/hydra-targets.tsv`, written by `scripts/hydra_targets.py` from the sources of
//! pinned NeMo 1.x/2.x/3.x, PyTorch, Lightning, torchmetrics, Megatron-Core and OmegaConf).
//!
//! Every public class of those packages is listed by each path Hydra's `_locate` reaches it
//! under (its defining module, package re-exports, module-level aliases). Functions are listed
//! only from modules reviewed as pure computation (`torch.nn.functional` activations,
//! `torch.nn.init` initialisers, NeMo 2's GPT step and layer-spec functions): a function
//! target is called with the configuration's arguments, and a package's public functions
//! include ones that write files, build native code or load other checkpoints.

use std::collections::HashMap;
use std::sync::LazyLock;

/// `target<TAB>kind<TAB>canonical`, sorted.
pub(super) const TARGETS_TSV: &str = include_str!("../../../signatures/hydra-targets.tsv");

/// Packages whose classes NeMo configurations instantiate in ordinary use: the generator
/// enumerates exactly these. A target under one of them that the list lacks is reported as
/// unknown with the package named (a class the pinned releases do not define).
pub(super) const HYDRA_PACKAGES: &[&str] = &[
    "nemo.collections",
    "nemo.core",
    "nemo.lightning",
    "nemo.utils.exp_manager",
    "torch.nn",
    "torch.optim",
    "torch.utils.data",
    "torchmetrics",
    "lightning.pytorch",
    "pytorch_lightning",
    "megatron.core",
    "omegaconf",
];

/// What the list records of one target (its kind column, class or function, is for readers:
/// the generator already decided which functions are listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Listed {
    /// `module:qualname` where it is defined, when the target is a re-export or alias.
    pub canonical: Option<&'static str>,
}

static TARGETS: LazyLock<HashMap<&'static str, Listed>> = LazyLock::new(|| parse(TARGETS_TSV));

fn parse(text: &'static str) -> HashMap<&'static str, Listed> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let (target, kind, canonical) = (cols.next()?, cols.next()?, cols.next());
            if !matches!(kind, "class" | "function") {
                return None;
            }
            let canonical = canonical.filter(|c| !c.is_empty());
            Some((target, Listed { canonical }))
        })
        .collect()
}

/// The list's entry for a dotted target path.
pub(super) fn listed(path: &str) -> Option<Listed> {
    TARGETS.get(path).copied()
}

/// The package of [`HYDRA_PACKAGES`] a target is under.
pub(super) fn package_of(path: &str) -> Option<&'static str> {
    HYDRA_PACKAGES
        .iter()
        .copied()
        .find(|p| path.starts_with(p) && path.as_bytes().get(p.len()) == Some(&b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_parses_and_lies_under_a_package() {
        let rows = TARGETS_TSV.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(TARGETS.len(), rows, "a row did not parse or is repeated");
        for (path, entry) in TARGETS.iter() {
            assert!(package_of(path).is_some(), "{path} is under no package");
            assert!(!path.split('.').any(|p| p.starts_with('_')), "{path}");
            if let Some(canonical) = entry.canonical {
                assert!(canonical.contains(':'), "{path}: {canonical}");
            }
        }
        let mut sorted: Vec<&str> = TARGETS_TSV
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect();
        sorted.sort_unstable();
        assert!(
            TARGETS_TSV
                .lines()
                .filter(|l| !l.starts_with('#'))
                .eq(sorted.iter().copied()),
            "the table is not sorted"
        );
    }
}
