//! What the robustness probe reports: the `robustness` section of an artifact's report (JSON and
//! text).

use serde::{Deserialize, Serialize};

/// The probe's result for one artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Robustness {
    pub grade: Grade,
    /// The grade as one line a reviewer reads first.
    pub summary: String,
    /// Why the probe (or its behaviour part) did not run, or what the budget cut short.
    pub skipped: Option<String>,
    /// `cpu` or `cuda:0`.
    pub device: String,
    /// Wall-clock time of the probe (the one part of a report that varies between runs).
    pub runtime_ms: u64,
    pub weights: Option<WeightSummary>,
    pub behaviour: Option<BehaviourSummary>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grade {
    /// Adversarial perturbations of the policy size rarely change the model's answers.
    Robust,
    /// They often do: the model is brittle (a figure; a finding only under a gate).
    Brittle,
    /// NaN or infinite values are spread through a weight matrix (values where masks and
    /// bounds put infinities, and NaN in data arrays, are normal and do not count).
    Tampered,
    /// Weights were probed; the behaviour probe could not run.
    WeightsOnly,
    /// The model's declared shapes need more memory than the probe may allocate.
    Refused,
    /// Nothing was probed.
    Skipped,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Robust => "robust",
            Grade::Brittle => "brittle",
            Grade::Tampered => "tampered",
            Grade::WeightsOnly => "weights-only",
            Grade::Refused => "refused",
            Grade::Skipped => "skipped",
        }
    }
}

/// Totals over every tensor the weight probe read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightSummary {
    pub tensors: u64,
    /// Tensors whose values were read (the others are named in `not_probed`).
    pub probed: u64,
    pub parameters: u64,
    pub bytes: u64,
    pub nan: u64,
    pub inf: u64,
    pub zero_tensors: u64,
    pub constant_tensors: u64,
    /// Tensors with a value further from the median than the outlier threshold allows.
    pub outlier_tensors: u64,
    /// The largest robust z-score (distance from the median in scaled MADs) of any tensor.
    pub max_robust_z: Option<NamedValue>,
    /// The largest spectral norm of any 2-D tensor (power iteration).
    pub max_spectral_norm: Option<NamedValue>,
    /// Product of the spectral norms of a recognised chain of linear layers: an upper bound
    /// on how much the network can stretch an input change (ReLU is 1-Lipschitz).
    pub lipschitz_bound: Option<f64>,
    /// `name: reason` for tensors not read (first 16).
    pub not_probed: Vec<String>,
    /// Tensors holding NaN or infinite values, however many; the first 16 are in `non_finite`.
    #[serde(default)]
    pub non_finite_tensors: u64,
    /// NaN and infinite values where they do not belong (spread through weights): what
    /// PRB001 reports. `nan`/`inf` count all of them, normal ones included.
    #[serde(default)]
    pub unexpected_nan: u64,
    #[serde(default)]
    pub unexpected_inf: u64,
    #[serde(default)]
    pub non_finite: Vec<NonFiniteTensor>,
    /// Tensors whose statistics come from an evenly spread sample of their blocks (large
    /// quantised GGUF tensors, dequantised within the probe's budget); their `parameters` and
    /// `bytes` count the sample.
    #[serde(default)]
    pub sampled_tensors: u64,
}

/// A tensor with NaN or infinite values, and where they sit: `bound` (a scalar or small
/// constant such as a `Clip` bound or padding value, or the open ends of a boundary vector),
/// `mask` (one finite value and infinities of one sign), `data` (a data array) — all normal —
/// or `weights` (spread through a weight matrix: PRB001).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonFiniteTensor {
    pub tensor: String,
    pub shape: Vec<usize>,
    pub nan: u64,
    pub inf: u64,
    pub place: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedValue {
    pub tensor: String,
    pub value: f64,
}

/// The adversarial behaviour probe: how often small input changes flip the model's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BehaviourSummary {
    /// The network as recognised (`mlp 64-32-2, ReLU between layers`).
    pub model: String,
    /// Where the inputs came from and how many.
    pub inputs: String,
    pub samples: u64,
    /// Width of the input domain; epsilons are fractions of it.
    pub input_range: f64,
    /// The epsilon whose adversarial flip rate the policy judges.
    pub policy_epsilon: f64,
    /// The flip rate above which the grade is `brittle`: the gate when one is set, else the
    /// reference of 25 %.
    pub max_flip_rate: f64,
    /// Whether `max_flip_rate` is a gate (`--probe-gate`, `[probe] gate_max_flip_rate`): only
    /// then does a brittle model get a PRB003 finding.
    #[serde(default)]
    pub gated: bool,
    pub epsilons: Vec<EpsilonRow>,
}

/// One epsilon: flip rates and output changes of the attacks and of random noise of the same
/// size (L-infinity). A model far more sensitive to the attack than to noise is brittle, not noisy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpsilonRow {
    /// Absolute size, in input units.
    pub epsilon: f64,
    /// As written for reading: `4/255` of the input range.
    pub label: String,
    pub fgsm_flip_rate: f64,
    pub pgd_flip_rate: f64,
    pub noise_flip_rate: f64,
    /// Mean relative L2 change of the outputs.
    pub fgsm_output_change: f64,
    pub pgd_output_change: f64,
    pub noise_output_change: f64,
}
