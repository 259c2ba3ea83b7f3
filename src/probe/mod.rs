//! The robustness probe: runs before the verdict, only on artifacts static analysis did not call
//! malicious, and never executes an artifact's code. Tensors are read from the memory-mapped
//! file into candle a chunk at a time ([`weights`]); a model whose computation is known without
//! its code (a state dict that is a plain MLP, [`mlp`]) is run on seeded inputs and attacked
//! ([`attack`]). Everything runs under a time budget and a memory cap checked from declared
//! shapes before anything is allocated.

pub mod attack;
pub mod behaviour;
pub mod device;
pub mod gguf;
pub mod mlp;
pub mod npz;
pub mod onnx;
pub mod onnx_ops;
pub mod torch;
pub mod weights;

use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};

use crate::config::{ProbeMode, ProbeSettings};
use crate::model::robustness::{Grade, NamedValue, Robustness, WeightSummary};
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;

/// Tensors named in `not_probed`.
const MAX_NAMED: usize = 16;

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
    #[error("{0}")]
    Unsupported(String),
    /// Running the model would allocate more than the probe's memory limit.
    #[error("{0}")]
    TooLarge(String),
}

/// How the probe treats a format; each format's is registered in `scan::registry`.
#[derive(Clone, Copy)]
pub enum Support {
    /// The probe reads the format's weights with this function.
    Reads(fn(&[u8], &ProbeSettings, &mut Ctx<'_>) -> Robustness),
    /// A model whose weights the probe cannot read yet: reported as skipped, with the reason.
    NotYet(&'static str),
    /// No model (text, archives of other things): nothing to report.
    NoModel,
}

/// Probes one artifact as its format's registration says. Returns `None` for content that is no
/// model.
pub fn run(support: Support, data: &[u8], ctx: &mut Ctx<'_>) -> Option<Robustness> {
    let settings = ctx.config().probe.clone();
    let start = Instant::now();
    let mut result = match support {
        Support::Reads(probe) => probe(data, &settings, ctx),
        Support::NotYet(what) => skipped(&format!("the probe does not read {what} yet")),
        Support::NoModel => return None,
    };
    result.runtime_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    if let Some(w) = result.weights.as_ref().filter(|w| w.outlier_tensors > 0) {
        result.summary = format!(
            "{}; {} tensors with outliers",
            result.summary, w.outlier_tensors
        );
    }
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

/// Weights and, for a plain MLP state dict, behaviour of a safetensors file.
pub fn safetensors(data: &[u8], settings: &ProbeSettings, ctx: &mut Ctx<'_>) -> Robustness {
    let device = match device::open(settings.device) {
        Ok(device) => device,
        Err(e) => return skipped(&e.to_string()),
    };
    // The crate parses the whole header into memory at once; a probe samples weights and can
    // do without a file of a million tensors.
    let header_len = data
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    let limit = crate::formats::safetensors::CRATE_HEADER_LIMIT;
    if header_len > limit {
        return skipped(&format!(
            "the safetensors header is {header_len} bytes, more than the {limit} the probe reads"
        ));
    }
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
    weights_then_behaviour(tensors, not_probed, 0, &device, settings, ctx)
}

/// The probe of a model's weights (`tensors`, in any order), then, when they form a plain MLP
/// state dict and the weights gave no reason to stop, of its behaviour, in one time budget.
/// `ignored` counts tensors that are not weights (integer buffers).
pub(crate) fn weights_then_behaviour(
    mut tensors: Vec<RawTensor<'_>>,
    mut not_probed: Vec<String>,
    ignored: u64,
    device: &Device,
    settings: &ProbeSettings,
    ctx: &mut Ctx<'_>,
) -> Robustness {
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    not_probed.sort();
    let deadline = Deadline::after(settings.budget);
    let mut result = probe_tensors(
        &tensors,
        not_probed,
        ignored,
        device,
        &deadline,
        ctx,
        Holds::Weights,
    );
    result.device = device::name(device).to_owned();
    if result.grade == Grade::WeightsOnly {
        behaviour::run(
            mlp_plan(&tensors),
            settings,
            device,
            &deadline,
            &mut result,
            ctx,
        );
    }
    result
}

/// A `.npy` array: its values through the weight probe; an array alone is no model to run.
/// Weight statistics of a float `.npy` array.
pub fn numpy_array(data: &[u8], settings: &ProbeSettings, ctx: &mut Ctx<'_>) -> Robustness {
    let Some((itemsize, shape, bytes)) = crate::formats::numpy::float_array(data) else {
        return skipped("the array is not of little-endian floats");
    };
    let dtype = match itemsize {
        2 => DType::F16,
        4 => DType::F32,
        _ => DType::F64,
    };
    let Ok(shape) = shape.iter().map(|&d| usize::try_from(d)).collect() else {
        return skipped("the array's shape does not fit this machine");
    };
    let device = match device::open(settings.device) {
        Ok(device) => device,
        Err(e) => return skipped(&e.to_string()),
    };
    let tensor = RawTensor {
        name: "array".to_owned(),
        dtype,
        shape,
        data: bytes,
    };
    let deadline = Deadline::after(settings.budget);
    let mut result = probe_tensors(
        &[tensor],
        Vec::new(),
        0,
        &device,
        &deadline,
        ctx,
        Holds::Data,
    );
    result.device = device::name(&device).to_owned();
    if result.grade == Grade::WeightsOnly {
        result.summary = format!("{} (an array: there is no model to run)", result.summary);
    }
    result
}

/// Initializer statistics and, for the supported operator subset, behaviour of an ONNX model.
pub fn onnx_model(data: &[u8], settings: &ProbeSettings, ctx: &mut Ctx<'_>) -> Robustness {
    let device = match device::open(settings.device) {
        Ok(device) => device,
        Err(e) => return skipped(&e.to_string()),
    };
    if data.len() as u64 > ctx.config().onnx.max_bytes {
        return skipped("the model is over the ONNX decoding limit");
    }
    let budget = ctx.config().zone.max_memory;
    if let Some(estimate) = crate::formats::onnx::decoded_size(data, ctx.shared(data).is_some())
        && estimate > budget
    {
        return skipped(&format!(
            "decoding the model would take about {estimate} bytes of memory, over the artifact's budget of {budget}"
        ));
    }
    let decoded = match onnx::decode(data, ctx.shared(data)) {
        Ok(decoded) => decoded,
        Err(why) => return skipped(&why),
    };
    let tensors = onnx::raw_tensors(&decoded);
    let deadline = Deadline::after(settings.budget);
    let mut result = probe_tensors(
        &tensors,
        decoded.unread.clone(),
        0,
        &device,
        &deadline,
        ctx,
        Holds::Weights,
    );
    result.device = device::name(&device).to_owned();
    if result.grade == Grade::WeightsOnly {
        behaviour::run(
            onnx::plan(&decoded, settings.max_bytes),
            settings,
            &device,
            &deadline,
            &mut result,
            ctx,
        );
    }
    result
}

/// A state dict that is a plain MLP, ready to run.
fn mlp_plan<'a>(tensors: &'a [RawTensor<'a>]) -> Result<behaviour::Plan<'a>, String> {
    let layers = mlp::recognise(tensors)?;
    let floats = |l: &mlp::LayerSpec<'_>| {
        is_float(l.weight.dtype) && l.bias.is_none_or(|b| is_float(b.dtype))
    };
    if let Some(l) = layers.iter().find(|l| !floats(l)) {
        return Err(format!(
            "layer `{}` is not of 16, 32 or 64-bit floats",
            l.prefix
        ));
    }
    let width = layers.first().map_or(0, mlp::LayerSpec::inputs);
    let params: u128 = layers
        .iter()
        .map(|l| l.weight.shape.iter().product::<usize>() as u128 + l.outputs() as u128)
        .sum();
    let widths = width as u128 + layers.iter().map(|l| l.outputs() as u128).sum::<u128>();
    Ok(behaviour::Plan {
        input: vec![width],
        memory: Box::new(move |samples| {
            4 * (params + samples as u128 * widths * behaviour::ACTIVATION_COPIES)
        }),
        load: Box::new(move |device| {
            Ok(Box::new(mlp::Mlp::load(&layers, device)?) as Box<dyn Model>)
        }),
    })
}

pub(crate) fn is_float(dtype: DType) -> bool {
    matches!(dtype, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
}

/// A model the behaviour probe can run without the artifact's code.
pub trait Model {
    /// Logits `[n, classes]` for a batch of inputs.
    fn forward(&self, x: &Tensor) -> Result<Tensor, ProbeError>;
    /// What the model was recognised as (`mlp 64-32-2, ReLU between layers`).
    fn describe(&self) -> String;
}

/// Outputs as `[n, classes]` logits: higher ranks flattened, a single output `z` made the two
/// logits `[0, z]`.
pub(crate) fn logits(out: Tensor) -> Result<Tensor, ProbeError> {
    let n = out.dim(0)?;
    let flat = out.reshape((n, ()))?;
    Ok(if flat.dim(1)? == 1 {
        Tensor::cat(&[&flat.zeros_like()?, &flat], 1)?
    } else {
        flat
    })
}

/// What the tensors of an artifact are: a model's weights and constants, or data (a `.npy`
/// array of features, where NaN marks a missing value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    Weights,
    Data,
}

/// Where non-finite values sit decides what they mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonFinitePlace {
    /// In a data array: NaN marks missing values, infinities overflowed features. Normal.
    Data,
    /// In a scalar or a small constant, or at the ends of a vector of boundaries: the bounds of
    /// a `Clip`, a padding value, bucket edges. `±inf` there means "unbounded". Normal.
    Bound,
    /// In a mask: every finite value is the same and every infinity has one sign (an attention
    /// mask of 0 and `-inf`). Normal.
    Mask,
    /// Spread through a weight matrix: an integrity finding (PRB001).
    Weights,
}

impl NonFinitePlace {
    pub fn as_str(self) -> &'static str {
        match self {
            NonFinitePlace::Data => "data",
            NonFinitePlace::Bound => "bound",
            NonFinitePlace::Mask => "mask",
            NonFinitePlace::Weights => "weights",
        }
    }

    /// Where no training or export would put them.
    pub fn is_unexpected(self) -> bool {
        self == NonFinitePlace::Weights
    }
}

/// A constant this small holding an infinity is a bound or a fill value, not a weight matrix.
const SMALL_CONSTANT: u64 = 16;

/// Where the non-finite values of tensor `t` (with `stats`) sit.
pub fn non_finite_place(
    t: &RawTensor<'_>,
    stats: &weights::TensorStats,
    holds: Holds,
    device: &Device,
) -> NonFinitePlace {
    if holds == Holds::Data {
        return NonFinitePlace::Data;
    }
    if stats.nan > 0 {
        return NonFinitePlace::Weights;
    }
    if stats.elements <= SMALL_CONSTANT {
        return NonFinitePlace::Bound;
    }
    let one_sign = stats.pos_inf == 0 || stats.pos_inf == stats.inf;
    let finite = stats.elements - stats.inf;
    if one_sign && (finite == 0 || stats.min == stats.max) {
        return NonFinitePlace::Mask;
    }
    // A vector of boundaries open at one or both ends: `[-inf, 0.1, …, 0.9, inf]`.
    if t.shape.len() <= 1 && stats.inf <= 2 && weights::infinities_at_ends(t, device) == stats.inf {
        return NonFinitePlace::Bound;
    }
    NonFinitePlace::Weights
}

/// The weight probe over every tensor, with findings for non-finite values where they do not
/// belong, and for outliers.
/// `ignored`: tensors of the artifact that hold no weights (integer counters and indices),
/// counted but not read.
fn probe_tensors(
    tensors: &[RawTensor<'_>],
    not_probed: Vec<String>,
    ignored: u64,
    device: &Device,
    deadline: &Deadline,
    ctx: &mut Ctx<'_>,
    holds: Holds,
) -> Robustness {
    let declared = tensors.len() as u64 + ignored;
    let mut pass = WeightPass::new(not_probed, declared, holds);
    for t in tensors {
        pass.tensor(t, device, deadline, ctx);
    }
    let lipschitz = mlp::recognise(tensors).ok().and_then(|layers| {
        layers
            .iter()
            .map(|l| {
                pass.spectral
                    .iter()
                    .find(|(n, _)| *n == l.weight.name)
                    .map(|(_, s)| *s)
            })
            .product()
    });
    pass.finish(lipschitz)
}

/// The weight probe, one tensor at a time (so that a caller can hand over tensors it builds and
/// drops one by one, such as dequantised GGUF blocks).
pub(crate) struct WeightPass {
    w: WeightSummary,
    spectral: Vec<(String, f64)>,
    cut_short: Option<String>,
    not_probed: Vec<String>,
    holds: Holds,
}

impl WeightPass {
    /// A pass over `declared` tensors besides those already in `not_probed`.
    pub(crate) fn new(not_probed: Vec<String>, declared: u64, holds: Holds) -> Self {
        WeightPass {
            w: WeightSummary {
                tensors: declared + not_probed.len() as u64,
                ..WeightSummary::default()
            },
            spectral: Vec::new(),
            cut_short: None,
            not_probed,
            holds,
        }
    }

    /// `n` more tensors in the artifact (for callers that hand tensors over one by one).
    pub(crate) fn declare(&mut self, n: u64) {
        self.w.tensors += n;
    }

    /// A tensor that was not read, and why (counted by [`WeightPass::declare`] or `new`).
    pub(crate) fn not_probed(&mut self, why: String) {
        self.not_probed.push(why);
    }

    /// A tensor read from a sample of its values (counted in `sampled_tensors`).
    pub(crate) fn sampled(&mut self) {
        self.w.sampled_tensors += 1;
    }

    /// Reads one tensor; returns whether it was read.
    pub(crate) fn tensor(
        &mut self,
        t: &RawTensor<'_>,
        device: &Device,
        deadline: &Deadline,
        ctx: &mut Ctx<'_>,
    ) -> bool {
        if !is_float(t.dtype) {
            return false;
        }
        let w = &mut self.w;
        let stats = match weights::probe(t, device, deadline) {
            Ok(stats) => stats,
            Err(e) => {
                self.not_probed.push(format!("{}: {e}", t.name));
                self.cut_short.get_or_insert_with(|| e.to_string());
                return false;
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
            let place = non_finite_place(t, &stats, self.holds, device);
            w.non_finite_tensors += 1;
            if place.is_unexpected() {
                w.unexpected_nan += stats.nan;
                w.unexpected_inf += stats.inf;
                ctx.report(
                    RuleId::ProbeNonFiniteWeights,
                    None,
                    format!(
                        "tensor `{}` {:?} holds {} NaN and {} infinite values spread through its weights",
                        t.name, t.shape, stats.nan, stats.inf
                    ),
                    Some(format!(
                        "{}: {} NaN, {} Inf of {} values",
                        t.name, stats.nan, stats.inf, stats.elements
                    )),
                );
            }
            if w.non_finite.len() < MAX_NAMED {
                w.non_finite
                    .push(crate::model::robustness::NonFiniteTensor {
                        tensor: t.name.clone(),
                        shape: t.shape.clone(),
                        nan: stats.nan,
                        inf: stats.inf,
                        place: place.as_str().to_owned(),
                    });
            }
        }
        if stats.outliers > 0 && !is_optimizer_state(&t.name) {
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
            self.spectral.push((t.name.clone(), norm));
        }
        true
    }

    /// The result, with the Lipschitz bound of a recognised layer chain.
    pub(crate) fn finish(self, lipschitz_bound: Option<f64>) -> Robustness {
        let WeightPass {
            mut w,
            cut_short,
            mut not_probed,
            ..
        } = self;
        w.lipschitz_bound = lipschitz_bound;
        let left_out = not_probed.len().saturating_sub(MAX_NAMED);
        not_probed.truncate(MAX_NAMED);
        if left_out > 0 {
            not_probed.push(format!("{left_out} more"));
        }
        w.not_probed = not_probed;
        let (grade, summary) = if w.unexpected_nan + w.unexpected_inf > 0 {
            (
                Grade::Tampered,
                format!(
                    "tampered: {} NaN and {} infinite values spread through weights",
                    w.unexpected_nan, w.unexpected_inf
                ),
            )
        } else {
            let mut summary = format!("weights-only: {} of {} tensors probed", w.probed, w.tensors);
            if w.sampled_tensors > 0 {
                summary.push_str(&format!(
                    " ({} from a sample of their blocks)",
                    w.sampled_tensors
                ));
            }
            if w.nan + w.inf > 0 {
                let places: std::collections::BTreeSet<&str> =
                    w.non_finite.iter().map(|n| n.place.as_str()).collect();
                let places: Vec<&str> = places.into_iter().collect();
                summary.push_str(&format!(
                    "; {} NaN and {} infinite values, where they are normal ({})",
                    w.nan,
                    w.inf,
                    places.join(", ")
                ));
            }
            (Grade::WeightsOnly, summary)
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
}

fn keep_max(slot: &mut Option<NamedValue>, name: &str, value: f64) {
    if slot.as_ref().is_none_or(|m| value > m.value) {
        *slot = Some(NamedValue {
            tensor: name.to_owned(),
            value,
        });
    }
}

/// The number of elements of a tensor of shape `dims`, or `None` past `usize` (declared shapes
/// are untrusted).
pub(crate) fn element_count(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Whether a tensor is an optimizer's running statistic rather than a weight: the
/// `state.<parameter index>.<buffer>` entries of `Optimizer.state_dict()` (Adam's moments are
/// mostly zeros with heavy-tailed squares, which the weight outlier test would flag in every
/// resumable checkpoint).
fn is_optimizer_state(name: &str) -> bool {
    const BUFFERS: &[&str] = &[
        "exp_avg",
        "exp_avg_sq",
        "max_exp_avg_sq",
        "momentum_buffer",
        "square_avg",
        "acc_delta",
        "exp_inf",
        "sum",
    ];
    let mut parts = name.rsplit('.');
    let (Some(buffer), Some(index), Some(state)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    state == "state" && index.bytes().all(|b| b.is_ascii_digit()) && BUFFERS.contains(&buffer)
}

#[cfg(test)]
mod tests {
    #[test]
    fn optimizer_state_is_told_from_weights() {
        use super::is_optimizer_state;
        assert!(is_optimizer_state("state.0.exp_avg_sq"));
        assert!(is_optimizer_state(
            "optimizer_states.0.state.12.momentum_buffer"
        ));
        assert!(!is_optimizer_state("model.layers.0.exp_avg_sq"));
        assert!(!is_optimizer_state("encoder.state.weight"));
        assert!(!is_optimizer_state("exp_avg"));
    }
}
