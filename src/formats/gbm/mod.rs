//! Gradient-boosting models saved by their libraries' own writers: XGBoost's UBJSON model
//! (`Booster.save_model("*.ubj")`, the default since XGBoost 2.1), XGBoost's legacy binary
//! model (`legacy`: what `save_model` wrote before 2.0) and CatBoost's `.cbm`.
//! XGBoost JSON and LightGBM text models are text and are read as text. Their pickled forms go
//! through the pickle engine.
//!
//! None of them carries code; the checks are structural (bounded, every declared count and
//! length checked against the bytes left), with the strings (feature names, attributes) handed
//! to the signature scan. UBJSON has no well-kept Rust reader, so `ubjson` is our own (fuzzed:
//! `fuzz/fuzz_targets/gbm.rs`).

pub mod legacy;
pub mod ubjson;

use crate::bytes::ReadRef;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, Origin};

/// CatBoost's model file magic (`CBM1`), followed by the little-endian size of the
/// FlatBuffers model core.
pub const CATBOOST_MAGIC: &[u8] = b"CBM1";

/// Whether `data` starts like an XGBoost UBJSON model: an object whose first key is read
/// with an integer length marker and is a plain name.
pub fn looks_like_xgboost_ubj(data: &[u8]) -> bool {
    ubjson::first_key(data).is_some_and(|k| {
        matches!(
            k.as_str(),
            "learner" | "version" | "Config" | "Model" | "gradient_booster"
        )
    })
}

/// Whether `data` is a CatBoost `.cbm`: the magic and a model-core size that fits.
pub fn looks_like_catboost(data: &[u8]) -> bool {
    let Ok(size) = data.u32_le(4) else {
        return false;
    };
    let size = size as usize;
    data.starts_with(CATBOOST_MAGIC) && size >= 8 && size <= data.len() - 8
}

pub fn analyse_xgboost(data: &[u8], ctx: &mut Ctx<'_>) {
    let collect = ctx.wants_extracts();
    match ubjson::walk(data, collect) {
        Ok(w) => {
            if w.end < data.len() && data[w.end..].iter().any(|b| !b.is_ascii_whitespace()) {
                ctx.report(
                    RuleId::GbmMalformed,
                    Some(w.end as u64),
                    format!(
                        "{} bytes follow the UBJSON model; XGBoost stops at the end of the value",
                        data.len() - w.end
                    ),
                    None,
                );
            }
            for (at, s) in w.strings.iter() {
                ctx.extract(
                    Origin::FrameworkString,
                    "xgboost model string",
                    Some(*at as u64),
                    s.as_bytes(),
                );
            }
        }
        Err(e) => ctx.report(
            RuleId::GbmMalformed,
            Some(e.at as u64),
            format!("XGBoost UBJSON model could not be read whole: {}", e.why),
            None,
        ),
    }
}

/// Whether `data` has the structure of an XGBoost legacy binary model ([`legacy::header`]).
pub fn looks_like_xgboost_legacy(data: &[u8]) -> bool {
    legacy::header(data).is_some()
}

pub fn analyse_xgboost_legacy(data: &[u8], ctx: &mut Ctx<'_>) {
    let Some(header) = legacy::header(data) else {
        return;
    };
    let collect = ctx.wants_extracts();
    match legacy::walk(data, &header, collect) {
        Ok(w) => {
            if w.end < data.len() {
                ctx.report(
                    RuleId::GbmMalformed,
                    Some(w.end as u64),
                    format!(
                        "{} bytes follow the XGBoost binary model (they read as {}); XGBoost stops reading at its end, another reader of the file need not",
                        data.len() - w.end,
                        crate::detect::detect(data.get(w.end..).unwrap_or_default()).name()
                    ),
                    Some(crate::detect::hex_prefix(data.get(w.end..).unwrap_or_default(), 8)),
                );
            }
            for (at, s) in w.strings.iter() {
                ctx.extract(
                    Origin::FrameworkString,
                    "xgboost model attribute",
                    Some(*at as u64),
                    s.as_bytes(),
                );
            }
        }
        Err(e) => ctx.report(
            RuleId::GbmMalformed,
            Some(e.at as u64),
            format!("XGBoost binary model could not be read whole: {}", e.why),
            Some(format!(
                "objective {}, booster {}",
                header.objective, header.booster
            )),
        ),
    }
}

pub fn analyse_catboost(data: &[u8], ctx: &mut Ctx<'_>) {
    let Ok(size) = data.u32_le(4) else {
        return;
    };
    let size = size as usize;
    let Some(core) = data.get(8..8 + size) else {
        ctx.report(
            RuleId::GbmMalformed,
            Some(4),
            format!("the CatBoost model core declares {size} bytes, more than the file holds"),
            None,
        );
        return;
    };
    // The core is a FlatBuffer: its first word is the offset of the root table, inside it.
    let root = core.u32_le(0).ok().map(|r| r as usize);
    if !root.is_some_and(|r| r >= 4 && r + 4 <= core.len()) {
        ctx.report(
            RuleId::GbmMalformed,
            Some(8),
            "the CatBoost model core's root table lies outside it",
            None,
        );
    }
}
