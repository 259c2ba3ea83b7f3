//! Adversarial perturbations: FGSM and PGD (L-infinity, gradients from candle's autograd,
//! margin loss so that saturated logits still give a gradient) beside random sign noise of the
//! same size. A flip is a sample whose predicted class changes.

use candle_core::{D, DType, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Deadline, Model, ProbeError};
use crate::model::robustness::EpsilonRow;

/// Epsilons as fractions of the input range, in 1/255 steps (the image convention).
pub const EPSILONS: [u32; 3] = [1, 4, 8];
/// The epsilon the policy judges (4/255).
pub const POLICY_EPSILON: u32 = 4;
const PGD_STEPS: usize = 5;
const SEED: u64 = 0x9e37_79b9;

/// The inputs and the domain they live in.
pub struct Inputs {
    pub x: Tensor,
    pub lo: f64,
    pub hi: f64,
}

/// One row per epsilon of [`EPSILONS`], as far as the deadline allows.
pub fn run(
    model: &dyn Model,
    inputs: &Inputs,
    deadline: &Deadline,
) -> Result<Vec<EpsilonRow>, ProbeError> {
    let x = &inputs.x;
    let clean = model.forward(x)?;
    let labels = clean.argmax(D::Minus1)?;
    let classes = clean.dim(1)?;
    let gradient = margin_gradient(model, x, &labels, classes)?;
    let range = inputs.hi - inputs.lo;
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut rows = Vec::new();
    for steps in EPSILONS {
        deadline.check()?;
        let eps = range * f64::from(steps) / 255.0;
        let fgsm = project(
            x,
            &x.broadcast_add(&gradient.sign()?.affine(eps, 0.0)?)?,
            eps,
            inputs,
        )?;
        let mut pgd = x.clone();
        for _ in 0..PGD_STEPS {
            deadline.check()?;
            let g = margin_gradient(model, &pgd, &labels, classes)?;
            let step = pgd.broadcast_add(&g.sign()?.affine(eps / 2.0, 0.0)?)?;
            pgd = project(x, &step, eps, inputs)?;
        }
        let signs: Vec<f32> = (0..x.elem_count())
            .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
            .collect();
        let noise = Tensor::from_vec(signs, x.shape(), x.device())?.affine(eps, 0.0)?;
        let noisy = project(x, &x.broadcast_add(&noise)?, eps, inputs)?;
        let (fgsm_flip, fgsm_change) = compare(model, &clean, &labels, &fgsm)?;
        let (pgd_flip, pgd_change) = compare(model, &clean, &labels, &pgd)?;
        let (noise_flip, noise_change) = compare(model, &clean, &labels, &noisy)?;
        rows.push(EpsilonRow {
            epsilon: eps,
            label: format!("{steps}/255"),
            fgsm_flip_rate: fgsm_flip,
            pgd_flip_rate: pgd_flip,
            noise_flip_rate: noise_flip,
            fgsm_output_change: fgsm_change,
            pgd_output_change: pgd_change,
            noise_output_change: noise_change,
        });
    }
    Ok(rows)
}

/// d/dx of the margin (best other logit minus the labelled one), summed over the batch.
fn margin_gradient(
    model: &dyn Model,
    x: &Tensor,
    labels: &Tensor,
    classes: usize,
) -> Result<Tensor, ProbeError> {
    let var = Var::from_tensor(&x.detach())?;
    let logits = model.forward(var.as_tensor())?;
    let onehot = candle_nn::encoding::one_hot(labels.clone(), classes, 1f32, 0f32)?;
    let own = (&logits * &onehot)?.sum(D::Minus1)?;
    // The labelled class pushed far down, so that the max picks the best other one.
    let others = (&logits + onehot.affine(-1e30, 0.0)?)?.max(D::Minus1)?;
    let margin = (others - own)?.sum_all()?;
    let grads = margin.backward()?;
    match grads.get(var.as_tensor()) {
        Some(g) => Ok(g.clone()),
        None => Ok(x.zeros_like()?),
    }
}

/// Keeps `candidate` within `eps` of `x` and inside the input domain.
fn project(
    x: &Tensor,
    candidate: &Tensor,
    eps: f64,
    inputs: &Inputs,
) -> Result<Tensor, ProbeError> {
    let delta = (candidate - x)?.clamp(-eps, eps)?;
    Ok((x + delta)?.clamp(inputs.lo, inputs.hi)?)
}

/// Flip rate and mean relative L2 change of the logits.
fn compare(
    model: &dyn Model,
    clean: &Tensor,
    labels: &Tensor,
    perturbed: &Tensor,
) -> Result<(f64, f64), ProbeError> {
    let out = model.forward(perturbed)?;
    let n = clean.dim(0)?.max(1) as f64;
    let flips = out
        .argmax(D::Minus1)?
        .ne(labels)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    let diff = (&out - clean)?.sqr()?.sum(D::Minus1)?.sqrt()?;
    let base = clean.sqr()?.sum(D::Minus1)?.sqrt()?.affine(1.0, 1e-12)?;
    let change = (diff / base)?.mean_all()?.to_scalar::<f32>()?;
    Ok((f64::from(flips) / n, f64::from(change)))
}
