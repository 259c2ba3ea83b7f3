//! Tensors whose bytes live in another file (`data_location: EXTERNAL`). Loaders read
//! `location` relative to the model's directory; a location that leaves it is an arbitrary file
//! read on the loading machine (see [`crate::zone::sibling`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::proto::TensorProto;
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;
use crate::zone::sibling::{self, Resolved, lexical_escape};

pub struct ExternalData {
    /// The model's directory, canonical; `None` when the model is not a file on disk (an
    /// archive member) and locations can be judged only by name.
    dir: Option<PathBuf>,
    resolved: HashMap<String, Resolved>,
}

impl ExternalData {
    pub fn new(model: Option<&Path>) -> Self {
        ExternalData {
            dir: model.and_then(sibling::model_dir),
            resolved: HashMap::new(),
        }
    }

    /// Judges one tensor's external data and reports what is wrong with it.
    pub fn check(&mut self, ctx: &mut Ctx<'_>, tensor: &TensorProto, context: &str) {
        // onnx and ONNX Runtime assign the entries in order, so the last of a repeated key wins.
        let field = |key: &str| {
            tensor
                .external_data
                .iter()
                .rev()
                .find(|e| e.key == key)
                .map(|e| e.value.as_str())
        };
        self.check_repeated_locations(ctx, tensor, context);
        let Some(location) = field("location").filter(|l| !l.is_empty()) else {
            return ctx.report(
                RuleId::OnnxExternalDataInvalid,
                None,
                format!("{context} keeps its data externally but names no location"),
                None,
            );
        };
        let evidence = Some(format!("location={location:?}"));
        if let Some(why) = lexical_escape(location) {
            return ctx.report(
                RuleId::OnnxExternalDataEscape,
                None,
                format!("{context} reads its data from {why}: loading the model reads that file"),
                evidence,
            );
        }
        let number = |key: &str| field(key).map(|v| v.trim().parse::<u64>().map_err(|_| v));
        let (offset, length) = match (number("offset"), number("length")) {
            (Some(Err(v)), _) | (_, Some(Err(v))) => {
                return ctx.report(
                    RuleId::OnnxExternalDataInvalid,
                    None,
                    format!("{context} has an external data offset or length that is not a number: {v:?}"),
                    evidence,
                );
            }
            (offset, length) => (
                offset.and_then(Result::ok).unwrap_or(0),
                length.and_then(Result::ok),
            ),
        };
        let Some(resolved) = self.resolve(location) else {
            return; // not on disk: judged by name only
        };
        match resolved {
            Resolved::Escapes(real) => ctx.report(
                RuleId::OnnxExternalDataEscape,
                None,
                format!(
                    "{context} reads its data from `{location}`, which resolves outside the model's directory (to {})",
                    real.display()
                ),
                evidence,
            ),
            Resolved::Missing(why) => ctx.report(
                RuleId::OnnxExternalDataInvalid,
                None,
                format!("{context} reads its data from `{location}`, {why}"),
                evidence,
            ),
            Resolved::File(size) => {
                let end = offset.saturating_add(length.unwrap_or(0));
                if offset > size || end > size {
                    ctx.report(
                        RuleId::OnnxExternalDataInvalid,
                        None,
                        format!(
                            "{context} reads bytes {offset}..{end} of `{location}`, which holds {size} bytes"
                        ),
                        evidence,
                    );
                }
            }
        }
    }

    /// A tensor that names its location more than once: no writer does that, and a reader that
    /// takes the first sees another file than the loaders, so every spelling is judged.
    fn check_repeated_locations(&self, ctx: &mut Ctx<'_>, tensor: &TensorProto, context: &str) {
        let mut locations: Vec<&str> = tensor
            .external_data
            .iter()
            .filter(|e| e.key == "location")
            .map(|e| e.value.as_str())
            .collect();
        if locations.len() < 2 {
            return;
        }
        let last = locations.pop().unwrap_or_default();
        ctx.report(
            RuleId::OnnxExternalDataInvalid,
            None,
            format!(
                "{context} names its external data location {} times; onnx and ONNX Runtime read the last, `{last}`",
                locations.len() + 1
            ),
            Some(format!("locations={locations:?} then {last:?}")),
        );
        for earlier in locations.into_iter().filter(|&l| l != last) {
            if let Some(why) = lexical_escape(earlier) {
                ctx.report(
                    RuleId::OnnxExternalDataEscape,
                    None,
                    format!("{context} also names {why} as its data location"),
                    Some(format!("location={earlier:?}")),
                );
            }
        }
    }

    fn resolve(&mut self, location: &str) -> Option<Resolved> {
        let dir = self.dir.as_ref()?;
        if let Some(known) = self.resolved.get(location) {
            return Some(known.clone());
        }
        let resolved = sibling::resolve(dir, location);
        self.resolved.insert(location.to_owned(), resolved.clone());
        Some(resolved)
    }
}
