//! HDF5 (legacy Keras `.h5` models, Keras 3 `model.weights.h5`, any h5py file), read by our
//! own bounded reader ([`reader`]): no crate reads HDF5 without the C library except young
//! ones not yet hardened against hostile input (see the README's dependency notes).
//!
//! What loading an HDF5 model can do beyond reading numbers: the `model_config` and
//! `training_config` root attributes are Keras configurations (Lambda bytecode, imported
//! modules: analysed by [`crate::formats::keras`]); external links, external raw storage and
//! virtual datasets make the library read other files; the user block before the superblock
//! is ignored by HDF5 but read by anything that looks at the file's start.

pub mod reader;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::detect;
use crate::formats::hostcalls;
use crate::formats::keras;
use crate::model::format::Format;
use crate::model::rules::RuleId;
use crate::model::summary::{FrameworkSummary, ModelSummary};
use crate::scan::context::{Ctx, MemberKind, Origin};
use reader::{AttrValue, External};

/// Root attributes that hold a Keras configuration (JSON).
const CONFIG_ATTRIBUTES: &[&str] = &["model_config", "training_config"];

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let Some(file) = reader::read(data) else {
        return ctx.report(
            RuleId::Hdf5Malformed,
            Some(0),
            "no HDF5 superblock at 0, 512, 1024, … although the file was recognised as HDF5",
            None,
        );
    };
    user_block(data, file.superblock_at, ctx);
    for (at, problem) in &file.problems {
        ctx.report(RuleId::Hdf5Malformed, *at, problem.clone(), None);
    }
    for external in &file.externals {
        report_external(external, ctx);
    }
    let mut keras_version = String::new();
    let mut backend = String::new();
    let mut entry = String::new();
    let mut layers = BTreeMap::new();
    let mut lambdas = 0;
    for attr in &file.attributes {
        let AttrValue::Strings(strings) = &attr.value else {
            continue;
        };
        let context = format!("attribute `{}` of `{}`", attr.name, attr.object);
        if CONFIG_ATTRIBUTES.contains(&attr.name.as_str()) {
            for s in strings {
                match crate::formats::json::parse_like_python(s) {
                    Ok(value) if attr.name == "model_config" || keras::is_config(&value) => {
                        if attr.name == "model_config" {
                            entry = value
                                .get("class_name")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned();
                        }
                        let stats = keras::check_config(&value, &context, ctx);
                        layers = stats.layers;
                        lambdas += stats.lambdas;
                    }
                    Ok(value) => keras_training_config(&value, &context, ctx),
                    Err(e) => ctx.report(
                        RuleId::KerasMalformed,
                        None,
                        format!(
                            "{context} is not JSON ({e}); Keras would fail or read it differently"
                        ),
                        None,
                    ),
                }
            }
        } else if attr.object == "/" && attr.name == "keras_version" {
            keras_version = strings
                .first()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_default();
        } else if attr.object == "/" && attr.name == "backend" {
            backend = strings
                .first()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_default();
        }
        if ctx.wants_extracts() {
            for s in strings {
                ctx.extract(Origin::FrameworkString, &context, None, s);
            }
        }
    }
    let mut histogram = BTreeMap::new();
    histogram.insert("groups".to_owned(), file.groups);
    histogram.insert("datasets".to_owned(), file.datasets);
    histogram.insert("attributes".to_owned(), file.attributes.len() as u64);
    histogram.insert("links".to_owned(), file.links);
    let mut notes = Vec::new();
    if !layers.is_empty() {
        let mut top: Vec<(String, u64)> = layers.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let shown: Vec<String> = top
            .iter()
            .take(6)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        notes.push(format!(
            "{} layers ({})",
            top.iter().map(|t| t.1).sum::<u64>(),
            shown.join(", ")
        ));
    }
    if lambdas > 0 {
        notes.push(format!("{lambdas} Lambda function(s)"));
    }
    if !backend.is_empty() {
        notes.push(format!("backend {backend}"));
    }
    if !file.externals.is_empty() {
        notes.push(format!("{} external reference(s)", file.externals.len()));
    }
    if !file.skipped.is_empty() {
        notes.push(format!("not read: {}", file.skipped.join("; ")));
    }
    ctx.summarise(ModelSummary::Hdf5(FrameworkSummary {
        producer: if keras_version.is_empty() {
            "hdf5".to_owned()
        } else {
            "keras".to_owned()
        },
        version: if keras_version.is_empty() {
            format!("superblock v{}", file.superblock_version)
        } else {
            keras_version
        },
        entry,
        units: "objects".to_owned(),
        count: file.groups + file.datasets,
        histogram,
        notes,
    }));
}

/// `training_config` holds the optimizer, loss and metrics configs: each is a Keras object.
fn keras_training_config(value: &Value, context: &str, ctx: &mut Ctx<'_>) {
    let wrapped = serde_json::json!({ "class_name": "training_config", "config": value });
    keras::check_config(&wrapped, context, ctx);
}

fn report_external(external: &External, ctx: &mut Ctx<'_>) {
    let (what, file, evidence) = match external {
        External::Link { link, file, object } => (
            format!("external link `{link}`"),
            file,
            format!("{link} -> {file}:{object}"),
        ),
        External::Storage { dataset, file } => (
            format!("dataset `{dataset}` stores its raw data externally"),
            file,
            format!("{dataset} raw data in {file:?}"),
        ),
        External::Virtual {
            dataset,
            file,
            source,
        } => {
            if file == "." {
                return; // maps a dataset of the same file
            }
            (
                format!("virtual dataset `{dataset}`"),
                file,
                format!("{dataset} <- {file}:{source}"),
            )
        }
    };
    match hostcalls::path_escape(file) {
        Some(why) => ctx.report(
            RuleId::Hdf5ExternalEscape,
            None,
            format!("{what} reads {why}: loading the model opens `{file}`"),
            Some(evidence),
        ),
        None => ctx.report(
            RuleId::Hdf5ExternalReference,
            None,
            format!("{what} reads `{file}` beside the model"),
            Some(evidence),
        ),
    }
}

/// The bytes before the superblock: zeros and text are ordinary (h5py writes a user block of
/// notes); anything in a known format is analysed as a member of its own.
fn user_block(data: &[u8], at: usize, ctx: &mut Ctx<'_>) {
    if at == 0 {
        return;
    }
    let block = &data[..at];
    let used = block.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    if used == 0 {
        return;
    }
    let content = &block[..used];
    match detect::detect(content) {
        Format::Text => ctx.extract(Origin::TextMember, "HDF5 user block", Some(0), content),
        format => {
            ctx.report(
                RuleId::Hdf5UserBlock,
                Some(0),
                format!(
                    "the {at}-byte user block before the HDF5 superblock holds {used} bytes of {} content; HDF5 ignores it, other readers see it first",
                    format.name()
                ),
                Some(detect::hex_prefix(content, 16)),
            );
            ctx.nested("(user block)", content, MemberKind::File);
        }
    }
}

#[cfg(test)]
mod tests;
