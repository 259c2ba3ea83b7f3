//! The behaviour probe: a model that can be run without its code is run on seeded (or the
//! user's) inputs and attacked; the memory it needs is checked from declared shapes first.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Deadline, Model, ProbeError, attack};
use crate::config::ProbeSettings;
use crate::model::robustness::{BehaviourSummary, Grade, Robustness};
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;

/// Synthetic inputs: this many samples, uniform in [0, 1), from a fixed seed; halved while the
/// run would not fit the probe's memory limit, down to `MIN_SAMPLES`.
const SYNTHETIC_SAMPLES: usize = 128;
const MIN_SAMPLES: usize = 8;
/// Running one sample needs more than this: declared shapes no real model has, crafted to
/// exhaust the memory of whatever loads the model (PRB004).
const ABSURD_BYTES: u128 = 64 << 30;
const SYNTHETIC_SEED: u64 = 0;
/// Copies of every activation the attacks hold at once (forward, backward, the PGD iterate,
/// perturbed batches), for the memory estimate.
pub const ACTIVATION_COPIES: u128 = 16;

type Load<'a> = Box<dyn FnOnce(&Device) -> Result<Box<dyn Model + 'a>, ProbeError> + 'a>;

/// A model ready to run: the shape of one input sample, the bytes a run on `n` samples needs
/// (from declared shapes, before anything is allocated), and how to load it.
pub struct Plan<'a> {
    pub input: Vec<usize>,
    pub memory: Box<dyn Fn(usize) -> u128 + 'a>,
    pub load: Load<'a>,
}

/// Runs and attacks the planned model (or records why there is none) and grades the result.
pub fn run(
    plan: Result<Plan<'_>, String>,
    settings: &ProbeSettings,
    device: &Device,
    deadline: &Deadline,
    result: &mut Robustness,
    ctx: &mut Ctx<'_>,
) {
    let not_run = |result: &mut Robustness, why: String| {
        result.summary = format!("{}; behaviour not probed: {why}", result.summary);
        result.skipped.get_or_insert(why);
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(why) => return not_run(result, why),
    };
    let limit = u128::from(settings.max_bytes);
    let samples = match &settings.inputs {
        Some(path) => npy_rows(path, &plan.input).unwrap_or(0),
        None => {
            // Large inputs (a 1000x1000 image) get fewer synthetic samples, not a refusal.
            let mut n = SYNTHETIC_SAMPLES;
            while n > MIN_SAMPLES && (plan.memory)(n) > limit {
                n /= 2;
            }
            n
        }
    };
    let needed = (plan.memory)(samples.max(1));
    if needed > limit {
        let why = format!(
            "running the model on {samples} samples of shape {:?} needs about {needed} bytes, over the probe's limit of {}",
            plan.input, settings.max_bytes
        );
        // Only shapes no model has (one sample past ABSURD_BYTES) are a finding; a model that
        // is merely larger than the probe runs is not probed, and says so.
        if (plan.memory)(1) > ABSURD_BYTES {
            return refuse(result, why, ctx);
        }
        return not_run(result, why);
    }
    let (inputs, described) = match load_inputs(settings, samples, &plan.input, device) {
        Ok(inputs) => inputs,
        Err(why) => return not_run(result, why),
    };
    let run = (plan.load)(device).and_then(|model| {
        let rows = attack::run(model.as_ref(), &inputs, deadline)?;
        Ok((rows, model.describe()))
    });
    let (rows, model) = match run {
        Ok(done) => done,
        Err(ProbeError::TooLarge(why)) => return refuse(result, why, ctx),
        Err(e) => return not_run(result, e.to_string()),
    };
    // The probe measures; only a gate the user set turns the measure into a finding.
    let gate = settings.gate_flip_permille.map(|g| f64::from(g) / 1000.0);
    let reference = f64::from(settings.max_flip_permille) / 1000.0;
    let limit = gate.unwrap_or(reference);
    let policy_label = format!("{}/255", attack::POLICY_EPSILON);
    if let Some(row) = rows.iter().find(|r| r.label == policy_label) {
        let line = format!(
            "PGD at {} flips {:.0}% of answers (random noise of the same size: {:.0}%)",
            row.label,
            row.pgd_flip_rate * 100.0,
            row.noise_flip_rate * 100.0
        );
        let brittle = row.pgd_flip_rate > limit;
        result.grade = if brittle {
            Grade::Brittle
        } else {
            Grade::Robust
        };
        match gate {
            Some(gate) if brittle => {
                ctx.report(
                    RuleId::ProbeBrittleModel,
                    None,
                    format!("{line}; the gate allows {:.0}%", gate * 100.0),
                    Some(format!("{model}: {line}")),
                );
                result.summary = format!("brittle: {line}, the gate allows {:.0}%", gate * 100.0);
            }
            Some(gate) => {
                result.summary = format!("robust: {line}, the gate allows {:.0}%", gate * 100.0);
            }
            None => {
                result.summary = format!(
                    "{}: {line} (measured, not judged: no --probe-gate set)",
                    result.grade.as_str()
                );
            }
        }
    }
    let range = inputs.hi - inputs.lo;
    result.behaviour = Some(BehaviourSummary {
        model,
        inputs: described,
        samples: inputs.x.dim(0).unwrap_or(0) as u64,
        input_range: range,
        policy_epsilon: range * f64::from(attack::POLICY_EPSILON) / 255.0,
        max_flip_rate: limit,
        gated: gate.is_some(),
        epsilons: rows,
    });
}

/// Records a model the probe will not run because of the memory it would take (PRB004).
fn refuse(result: &mut Robustness, why: String, ctx: &mut Ctx<'_>) {
    ctx.report(RuleId::ProbeRefused, None, why.clone(), None);
    result.grade = Grade::Refused;
    result.summary = format!("refused: {why}");
    result.skipped = Some(why);
}

/// How many samples of shape `sample` an `.npy` file holds, from its header alone.
fn npy_rows(path: &Path, sample: &[usize]) -> Option<usize> {
    let per = super::element_count(sample)?;
    let bytes = std::fs::metadata(path).ok()?.len();
    usize::try_from(bytes / 4).ok()?.checked_div(per.max(1))
}

/// The user's inputs (`--probe-inputs`), or seeded synthetic ones; with a description.
fn load_inputs(
    settings: &ProbeSettings,
    samples: usize,
    sample: &[usize],
    device: &Device,
) -> Result<(attack::Inputs, String), String> {
    let Some(path) = &settings.inputs else {
        let count = super::element_count(sample)
            .and_then(|per| per.checked_mul(samples))
            .ok_or("the model's declared input shape is past the address space")?;
        let mut rng = StdRng::seed_from_u64(SYNTHETIC_SEED);
        let values: Vec<f32> = (0..count).map(|_| rng.random::<f32>()).collect();
        let mut shape = vec![samples];
        shape.extend_from_slice(sample);
        let x = Tensor::from_vec(values, shape, device).map_err(|e| e.to_string())?;
        let described =
            format!("synthetic: {samples} samples uniform in [0, 1), seed {SYNTHETIC_SEED}");
        return Ok((
            attack::Inputs {
                x,
                lo: 0.0,
                hi: 1.0,
            },
            described,
        ));
    };
    let failed = |e: candle_core::Error| format!("cannot use {}: {e}", path.display());
    let x = Tensor::read_npy(path)
        .map_err(failed)?
        .to_dtype(DType::F32)
        .map_err(failed)?
        .to_device(device)
        .map_err(failed)?;
    let dims = x.dims().to_vec();
    let rows = match dims.len().checked_sub(sample.len()) {
        Some(0) if dims == sample => 1,
        Some(1) if dims.get(1..) == Some(sample) => dims.first().copied().unwrap_or(0),
        _ => 0,
    };
    if rows == 0 || sample.is_empty() {
        return Err(format!(
            "{} has shape {dims:?}, not rows of the model's input shape {sample:?}",
            path.display()
        ));
    }
    let mut shape = vec![rows];
    shape.extend_from_slice(sample);
    let x = x.reshape(shape).map_err(failed)?;
    let lo = f64::from(
        x.min_all()
            .and_then(|t| t.to_scalar::<f32>())
            .map_err(failed)?,
    );
    let hi = f64::from(
        x.max_all()
            .and_then(|t| t.to_scalar::<f32>())
            .map_err(failed)?,
    );
    if !(hi > lo && lo.is_finite() && hi.is_finite()) {
        return Err(format!(
            "{} spans no finite range of values",
            path.display()
        ));
    }
    Ok((
        attack::Inputs { x, lo, hi },
        format!("{}: {rows} samples", path.display()),
    ))
}
