//! The robustness probe: runs before the verdict, only on artifacts static analysis did not call
//! malicious, and never executes an artifact's code. Tensors are read from the memory-mapped
//! file into candle a chunk at a time ([`weights`]); a model whose computation is known without
//! its code (a state dict that is a plain MLP, [`mlp`]) is run on seeded inputs and attacked
//! ([`attack`]). Everything runs under a time budget and a memory cap checked from declared
//! shapes before anything is allocated.

pub mod attack;
pub mod device;
pub mod mlp;
pub mod report;
pub mod weights;

use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{ProbeMode, ProbeSettings};
use crate::engine::Ctx;
use crate::rules::RuleId;
use crate::zone::detect::Format;
use report::{BehaviourSummary, Grade, NamedValue, Robustness, WeightSummary};

/// Synthetic inputs: this many samples, uniform in [0, 1), from a fixed seed.
const SYNTHETIC_SAMPLES: usize = 128;
const SYNTHETIC_SEED: u64 = 0;
/// Tensors named in `not_probed`.
const MAX_NAMED: usize = 16;
/// Activation copies the attacks hold per sample and layer width (forward, backward, PGD
/// iterate, perturbed batches), for the memory estimate.
const ACTIVATION_COPIES: u128 = 16;

/// One tensor of an artifact, its bytes still in the mapped file.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor<'a> {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: &'a [u8],
}

/// When the probe's time budget runs out.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Deadline(Instant::now() + budget)
    }

    pub fn check(&self) -> Result<(), ProbeError> {
        if Instant::now() > self.0 {
            Err(ProbeError::Budget)
        } else {
            Ok(())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("the time budget ran out")]
    Budget,
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// Probes one artifact. `label` is the format as reported (`pytorch-zip`). Returns `None` for
/// content that is no model (text, archives of other things).
pub fn run(format: Format, label: &str, data: &[u8], ctx: &mut Ctx<'_>) -> Option<Robustness> {
    let settings = ctx.config().probe.clone();
    let start = Instant::now();
    let mut result = match format {
        Format::Safetensors => safetensors(data, &settings, ctx),
        Format::Pickle | Format::Numpy => {
            skipped("the probe does not read pickled or .npy tensors yet")
        }
        Format::Zip if label != Format::Zip.name() => {
            skipped("the probe does not read PyTorch checkpoints yet")
        }
        Format::Onnx => skipped("the probe does not run ONNX graphs yet"),
        Format::Gguf | Format::Hdf5 => skipped(&format!(
            "the probe does not read {} tensors yet",
            format.name()
        )),
        _ => return None,
    };
    result.runtime_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    if settings.mode == ProbeMode::Require
        && let Some(why) = &result.skipped
    {
        ctx.report(
            RuleId::ProbeSkipped,
            None,
            format!("--probe require: {why}"),
            None,
        );
    }
    Some(result)
}

fn skipped(reason: &str) -> Robustness {
    Robustness {
        grade: Grade::Skipped,
        summary: format!("skipped: {reason}"),
        skipped: Some(reason.to_owned()),
        device: String::new(),
        runtime_ms: 0,
        weights: None,
        behaviour: None,
    }
}

fn safetensors(data: &[u8], settings: &ProbeSettings, ctx: &mut Ctx<'_>) -> Robustness {
    let device = match device::open(settings.device) {
        Ok(device) => device,
        Err(e) => return skipped(&e.to_string()),
    };
    let Ok(file) = safetensors::SafeTensors::deserialize(data) else {
        return skipped("the safetensors header does not parse");
    };
    let mut tensors = Vec::new();
    let mut not_probed = Vec::new();
    for (name, view) in file.tensors() {
        match DType::try_from(view.dtype()) {
            Ok(dtype) => tensors.push(RawTensor {
                name,
                dtype,
                shape: view.shape().to_vec(),
                data: view.data(),
            }),
            Err(_) => not_probed.push(format!("{name}: dtype {} is not read", view.dtype())),
        }
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    not_probed.sort();
    let deadline = Deadline::after(settings.budget);
    let mut result = probe_tensors(&tensors, not_probed, &device, &deadline, ctx);
    result.device = device::name(&device).to_owned();
    if result.grade == Grade::WeightsOnly {
        behaviour(&tensors, settings, &device, &deadline, &mut result, ctx);
    }
    result
}

/// The weight probe over every tensor, with findings for non-finite values and outliers.
fn probe_tensors(
    tensors: &[RawTensor<'_>],
    mut not_probed: Vec<String>,
    device: &Device,
    deadline: &Deadline,
    ctx: &mut Ctx<'_>,
) -> Robustness {
    let mut w = WeightSummary {
        tensors: (tensors.len() + not_probed.len()) as u64,
        ..WeightSummary::default()
    };
    let mut spectral = Vec::new();
    let mut cut_short = None;
    for t in tensors {
        if !matches!(t.dtype, DType::F16 | DType::BF16 | DType::F32 | DType::F64) {
            continue;
        }
        let stats = match weights::probe(t, device, deadline) {
            Ok(stats) => stats,
            Err(e) => {
                not_probed.push(format!("{}: {e}", t.name));
                cut_short.get_or_insert_with(|| e.to_string());
                continue;
            }
        };
        w.probed += 1;
        w.parameters += stats.elements;
        w.bytes += t.data.len() as u64;
        w.nan += stats.nan;
        w.inf += stats.inf;
        w.zero_tensors += u64::from(stats.is_zero());
        w.constant_tensors += u64::from(stats.is_constant() && !stats.is_zero());
        if stats.nan + stats.inf > 0 {
            ctx.report(
                RuleId::ProbeNonFiniteWeights,
                None,
                format!(
                    "tensor `{}` {:?} holds {} NaN and {} infinite values",
                    t.name, t.shape, stats.nan, stats.inf
                ),
                Some(format!(
                    "{}: {} NaN, {} Inf of {} values",
                    t.name, stats.nan, stats.inf, stats.elements
                )),
            );
        }
        if stats.outliers > 0 {
            w.outlier_tensors += 1;
            let z = stats.max_z.unwrap_or(f64::INFINITY);
            ctx.report(
                RuleId::ProbeWeightOutliers,
                None,
                format!(
                    "tensor `{}` has {} values beyond {} robust z (largest {z:.3e}; values span {:.3e} to {:.3e} around a median of {:.3e})",
                    t.name, stats.outliers, weights::OUTLIER_Z, stats.min, stats.max, stats.median
                ),
                Some(format!("{}: robust z {z:.3e}", t.name)),
            );
        }
        if let Some(z) = stats.max_z {
            keep_max(&mut w.max_robust_z, &t.name, z);
        }
        if let Some(norm) = stats.spectral_norm {
            keep_max(&mut w.max_spectral_norm, &t.name, norm);
            spectral.push((t.name.clone(), norm));
        }
    }
    if let Ok(layers) = mlp::recognise(tensors) {
        w.lipschitz_bound = layers
            .iter()
            .map(|l| {
                spectral
                    .iter()
                    .find(|(n, _)| *n == l.weight.name)
                    .map(|(_, s)| *s)
            })
            .product();
    }
    let left_out = not_probed.len().saturating_sub(MAX_NAMED);
    not_probed.truncate(MAX_NAMED);
    if left_out > 0 {
        not_probed.push(format!("{left_out} more"));
    }
    w.not_probed = not_probed;
    let (grade, summary) = if w.nan + w.inf > 0 {
        (
            Grade::Tampered,
            format!(
                "tampered: {} NaN and {} infinite weight values",
                w.nan, w.inf
            ),
        )
    } else {
        (
            Grade::WeightsOnly,
            format!("weights-only: {} of {} tensors probed", w.probed, w.tensors),
        )
    };
    Robustness {
        grade,
        summary,
        skipped: cut_short.map(|why| format!("weight probe cut short: {why}")),
        device: String::new(),
        runtime_ms: 0,
        weights: Some(w),
        behaviour: None,
    }
}

fn keep_max(slot: &mut Option<NamedValue>, name: &str, value: f64) {
    if slot.as_ref().is_none_or(|m| value > m.value) {
        *slot = Some(NamedValue {
            tensor: name.to_owned(),
            value,
        });
    }
}

/// Runs and attacks the model when it is a plain MLP; grades the result.
fn behaviour(
    tensors: &[RawTensor<'_>],
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
    let layers = match mlp::recognise(tensors) {
        Ok(layers) => layers,
        Err(why) => return not_run(result, why),
    };
    if let Some(l) = layers.iter().find(|l| {
        !matches!(
            l.weight.dtype,
            DType::F16 | DType::BF16 | DType::F32 | DType::F64
        )
    }) {
        return not_run(result, format!("layer `{}` has integer weights", l.prefix));
    }
    let inputs = match load_inputs(
        settings,
        layers.first().map_or(0, mlp::LayerSpec::inputs),
        device,
    ) {
        Ok(inputs) => inputs,
        Err(why) => return not_run(result, why),
    };
    let samples = inputs.0.x.dim(0).unwrap_or(0);
    let needed = memory_needed(&layers, samples);
    if needed > u128::from(settings.max_bytes) {
        let why = format!(
            "running the model on {samples} samples needs about {needed} bytes, over the probe's limit of {}",
            settings.max_bytes
        );
        ctx.report(RuleId::ProbeRefused, None, why.clone(), None);
        result.grade = Grade::Refused;
        result.summary = format!("refused: {why}");
        result.skipped = Some(why);
        return;
    }
    let run = mlp::Mlp::load(&layers, device)
        .and_then(|net| Ok((attack::run(&net, &inputs.0, deadline)?, net.describe())));
    let (rows, model) = match run {
        Ok(done) => done,
        Err(e) => return not_run(result, e.to_string()),
    };
    let limit = f64::from(settings.max_flip_permille) / 1000.0;
    let policy = rows
        .iter()
        .find(|r| r.label == format!("{}/255", attack::POLICY_EPSILON));
    if let Some(row) = policy {
        let line = format!(
            "PGD at {} flips {:.0}% of answers (random noise of the same size: {:.0}%)",
            row.label,
            row.pgd_flip_rate * 100.0,
            row.noise_flip_rate * 100.0
        );
        if row.pgd_flip_rate > limit {
            ctx.report(
                RuleId::ProbeBrittleModel,
                None,
                format!("{line}; the policy allows {:.0}%", limit * 100.0),
                Some(format!("{model}: {line}")),
            );
            result.grade = Grade::Brittle;
            result.summary = format!("brittle: {line}, policy allows {:.0}%", limit * 100.0);
        } else {
            result.grade = Grade::Robust;
            result.summary = format!("robust: {line}");
        }
    }
    result.behaviour = Some(BehaviourSummary {
        model,
        inputs: inputs.1,
        samples: samples as u64,
        input_range: inputs.0.hi - inputs.0.lo,
        policy_epsilon: (inputs.0.hi - inputs.0.lo) * f64::from(attack::POLICY_EPSILON) / 255.0,
        max_flip_rate: limit,
        epsilons: rows,
    });
}

/// Bytes the behaviour probe allocates: the weights as f32 plus the activations of every copy
/// of the batch the attacks hold.
fn memory_needed(layers: &[mlp::LayerSpec<'_>], samples: usize) -> u128 {
    let params: u128 = layers
        .iter()
        .map(|l| l.weight.shape.iter().map(|&d| d as u128).product::<u128>() + l.outputs() as u128)
        .sum();
    let widths: u128 = layers.first().map_or(0, |l| l.inputs() as u128)
        + layers.iter().map(|l| l.outputs() as u128).sum::<u128>();
    4 * (params + samples as u128 * widths * ACTIVATION_COPIES)
}

/// The user's inputs (`--probe-inputs`), or seeded synthetic ones; with a description.
fn load_inputs(
    settings: &ProbeSettings,
    width: usize,
    device: &Device,
) -> Result<(attack::Inputs, String), String> {
    let Some(path) = &settings.inputs else {
        let mut rng = StdRng::seed_from_u64(SYNTHETIC_SEED);
        let values: Vec<f32> = (0..SYNTHETIC_SAMPLES * width)
            .map(|_| rng.random::<f32>())
            .collect();
        let x = Tensor::from_vec(values, (SYNTHETIC_SAMPLES, width), device)
            .map_err(|e| e.to_string())?;
        let described = format!(
            "synthetic: {SYNTHETIC_SAMPLES} samples uniform in [0, 1), seed {SYNTHETIC_SEED}"
        );
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
    let n = x.elem_count();
    if width == 0 || n == 0 || x.dims().last() != Some(&width) {
        return Err(format!(
            "{} has shape {:?}, not rows of the model's {width} inputs",
            path.display(),
            x.dims()
        ));
    }
    let x = x.reshape((n / width, width)).map_err(failed)?;
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
    let described = format!("{}: {} samples", path.display(), n / width);
    Ok((attack::Inputs { x, lo, hi }, described))
}
