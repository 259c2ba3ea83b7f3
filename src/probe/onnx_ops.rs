//! The ONNX operators the probe's interpreter runs, on candle ops (so autograd gives input
//! gradients through all of them). Attributes default as the ONNX operator specs say.

use candle_core::{DType, Tensor};

use super::ProbeError;
use crate::formats::onnx::proto::{AttributeProto, NodeProto};

/// The operators the interpreter knows (the documented subset).
pub const SUPPORTED: &[&str] = &[
    "MatMul",
    "Gemm",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "BatchNormalization",
    "Flatten",
    "Reshape",
    "Transpose",
    "Concat",
    "Identity",
    "Dropout",
];

/// Why a node cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Probe(#[from] ProbeError),
}

impl From<candle_core::Error> for OpError {
    fn from(e: candle_core::Error) -> Self {
        OpError::Probe(ProbeError::Tensor(e))
    }
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn int(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn float(node: &NodeProto, name: &str, default: f64) -> f64 {
    attr(node, name).map_or(default, |a| f64::from(a.f))
}

fn ints(node: &NodeProto, name: &str) -> Vec<i64> {
    attr(node, name).map(|a| a.ints.clone()).unwrap_or_default()
}

fn unsupported(node: &NodeProto, why: &str) -> OpError {
    OpError::Unsupported(format!("{} node `{}`: {why}", node.op_type, node.name))
}

/// A possibly negative axis of a rank-`rank` tensor.
fn axis(node: &NodeProto, value: i64, rank: usize) -> Result<usize, OpError> {
    let r = i64::try_from(rank).unwrap_or(i64::MAX);
    let a = if value < 0 { value + r } else { value };
    usize::try_from(a)
        .ok()
        .filter(|&a| a < rank.max(1))
        .ok_or_else(|| unsupported(node, &format!("axis {value} out of range for rank {rank}")))
}

/// Refuses an output of more than `max` values before it is allocated.
fn guard(node: &NodeProto, dims: &[usize], max: usize) -> Result<(), OpError> {
    let values = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match values {
        Some(v) if v <= max => Ok(()),
        _ => Err(OpError::Probe(ProbeError::TooLarge(format!(
            "{} node `{}` would produce a tensor of shape {dims:?}, over the probe's limit of {max} values",
            node.op_type, node.name
        )))),
    }
}

/// The output shape of a broadcasting binary op or a (batched) matrix product.
fn output_dims(
    node: &NodeProto,
    a: &Tensor,
    b: &Tensor,
    matmul: bool,
) -> Result<Vec<usize>, OpError> {
    let (ad, bd) = (a.dims(), b.dims());
    if !matmul {
        return Ok(a
            .shape()
            .broadcast_shape_binary_op(b.shape(), "probe")?
            .dims()
            .to_vec());
    }
    let (Some(m), Some(n)) = (ad.len().checked_sub(2).and_then(|i| ad.get(i)), bd.last()) else {
        return Err(unsupported(
            node,
            "matrix product of tensors of rank below 2",
        ));
    };
    let batch = |d: &[usize]| {
        d.get(..d.len().saturating_sub(2))
            .unwrap_or_default()
            .to_vec()
    };
    let mut dims = candle_core::Shape::from(batch(ad))
        .broadcast_shape_binary_op(&candle_core::Shape::from(batch(bd)), "probe")?
        .dims()
        .to_vec();
    dims.extend([*m, *n]);
    Ok(dims)
}

/// Evaluates one node on its inputs (missing optional inputs are `None`); no output may hold
/// more than `max` values.
pub fn eval(node: &NodeProto, inputs: &[Option<Tensor>], max: usize) -> Result<Tensor, OpError> {
    let arg = |i: usize| -> Result<&Tensor, OpError> {
        inputs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| unsupported(node, &format!("input {i} is missing")))
    };
    let opt = |i: usize| inputs.get(i).and_then(Option::as_ref);
    let x = arg(0)?;
    match node.op_type.as_str() {
        "Add" | "Sub" | "Mul" | "Div" => guard(node, &output_dims(node, x, arg(1)?, false)?, max)?,
        "MatMul" => guard(node, &output_dims(node, x, arg(1)?, true)?, max)?,
        "Gemm" => {
            let (&[a0, a1], &[b0, b1]) = (x.dims(), arg(1)?.dims()) else {
                return Err(unsupported(node, "Gemm of tensors that are not matrices"));
            };
            let m = if int(node, "transA", 0) != 0 { a1 } else { a0 };
            let n = if int(node, "transB", 0) != 0 { b0 } else { b1 };
            guard(node, &[m, n], max)?;
        }
        _ => {}
    }
    Ok(match node.op_type.as_str() {
        "Identity" | "Dropout" => x.clone(),
        "Relu" => x.relu()?,
        "LeakyRelu" => {
            let alpha = float(node, "alpha", 0.01);
            (x.relu()? - x.neg()?.relu()?.affine(alpha, 0.0)?)?
        }
        "Sigmoid" => (x.neg()?.exp()? + 1.0)?.recip()?,
        "Tanh" => x.tanh()?,
        "Softmax" => {
            let a = axis(node, int(node, "axis", -1), x.rank())?;
            candle_nn::ops::softmax(x, a)?
        }
        "Add" => x.broadcast_add(arg(1)?)?,
        "Sub" => x.broadcast_sub(arg(1)?)?,
        "Mul" => x.broadcast_mul(arg(1)?)?,
        "Div" => x.broadcast_div(arg(1)?)?,
        "MatMul" => x.broadcast_matmul(arg(1)?)?,
        "Gemm" => {
            let a = if int(node, "transA", 0) != 0 {
                x.t()?
            } else {
                x.clone()
            };
            let b = arg(1)?;
            let b = if int(node, "transB", 0) != 0 {
                b.t()?
            } else {
                b.clone()
            };
            let y = a.matmul(&b)?.affine(float(node, "alpha", 1.0), 0.0)?;
            match opt(2) {
                Some(c) => y.broadcast_add(&c.affine(float(node, "beta", 1.0), 0.0)?)?,
                None => y,
            }
        }
        "Flatten" => {
            let a = axis(node, int(node, "axis", 1), x.rank() + 1)?;
            let outer = x
                .dims()
                .get(..a)
                .and_then(super::element_count)
                .ok_or_else(|| unsupported(node, "Flatten past the address space"))?;
            x.reshape((outer, ()))?
        }
        "Reshape" => {
            let spec = arg(1)?.to_dtype(DType::I64)?.to_vec1::<i64>()?;
            x.reshape(reshape_dims(node, x.dims(), &spec)?)?
        }
        "Transpose" => {
            let perm = ints(node, "perm");
            let perm: Vec<usize> = if perm.is_empty() {
                (0..x.rank()).rev().collect()
            } else {
                perm.iter()
                    .map(|&p| axis(node, p, x.rank()))
                    .collect::<Result<_, _>>()?
            };
            x.permute(perm)?.contiguous()?
        }
        "Concat" => {
            let parts: Vec<&Tensor> = inputs.iter().flatten().collect();
            let a = axis(node, int(node, "axis", 0), x.rank())?;
            Tensor::cat(&parts, a)?
        }
        "GlobalAveragePool" => {
            let spatial: Vec<usize> = (2..x.rank()).collect();
            x.mean_keepdim(spatial)?
        }
        "BatchNormalization" => {
            let shape = channel_shape(x)?;
            let mean = arg(3)?.reshape(shape.clone())?;
            let var = arg(4)?.reshape(shape.clone())?;
            let scale = arg(1)?.reshape(shape.clone())?;
            let bias = arg(2)?.reshape(shape)?;
            let eps = float(node, "epsilon", 1e-5);
            x.broadcast_sub(&mean)?
                .broadcast_div(&(var + eps)?.sqrt()?)?
                .broadcast_mul(&scale)?
                .broadcast_add(&bias)?
        }
        "Conv" => conv(node, x, arg(1)?, opt(2), max)?,
        "MaxPool" | "AveragePool" => pool(node, x)?,
        other => {
            return Err(unsupported(
                node,
                &format!("operator {other} is not in the probe's subset"),
            ));
        }
    })
}

/// `[1, C, 1, 1]` for a per-channel parameter of an `[N, C, ...]` tensor.
fn channel_shape(x: &Tensor) -> Result<Vec<usize>, ProbeError> {
    let mut shape = vec![1; x.rank()];
    if let Some(c) = shape.get_mut(1) {
        *c = x.dim(1)?;
    }
    Ok(shape)
}

/// ONNX Reshape: 0 copies the input's dimension, -1 takes what is left.
fn reshape_dims(node: &NodeProto, dims: &[usize], spec: &[i64]) -> Result<Vec<usize>, OpError> {
    let total = super::element_count(dims).ok_or_else(|| unsupported(node, "input too large"))?;
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 => out.push(
                dims.get(i)
                    .copied()
                    .ok_or_else(|| unsupported(node, "0 past the input's rank"))?,
            ),
            d => out.push(
                usize::try_from(d).map_err(|_| unsupported(node, &format!("dimension {d}")))?,
            ),
        }
    }
    if let Some(i) = infer {
        let known = super::element_count(&out)
            .ok_or_else(|| unsupported(node, "a shape past the address space"))?;
        let slot = out.get_mut(i).ok_or_else(|| unsupported(node, "bad -1"))?;
        *slot = total.checked_div(known).unwrap_or(0);
    }
    Ok(out)
}

/// 2-D convolution (symmetric or asymmetric zero padding, equal strides and dilations).
fn conv(
    node: &NodeProto,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    max: usize,
) -> Result<Tensor, OpError> {
    let (&[n, _, _, _], &[c_out, _, kh, kw]) = (x.dims(), w.dims()) else {
        return Err(unsupported(node, "only 2-D convolutions are supported"));
    };
    let same = |v: Vec<i64>| -> Result<usize, OpError> {
        match v.as_slice() {
            [] => Ok(1),
            [a, b] if a == b => {
                usize::try_from(*a).map_err(|_| unsupported(node, "negative stride"))
            }
            _ => Err(unsupported(node, "unequal strides or dilations")),
        }
    };
    let stride = same(ints(node, "strides"))?;
    let dilation = same(ints(node, "dilations"))?;
    if attr(node, "auto_pad").is_some_and(|a| !a.s.is_empty() && a.s != b"NOTSET") {
        return Err(unsupported(node, "auto_pad"));
    }
    let groups = usize::try_from(int(node, "group", 1)).map_err(|_| unsupported(node, "group"))?;
    if stride == 0 || dilation == 0 || groups == 0 {
        return Err(unsupported(node, "zero stride, dilation or group"));
    }
    let x = pad(node, x, max)?;
    // candle computes output sizes in unsigned arithmetic: the kernel must fit the input.
    let reach = |k: usize| {
        dilation
            .checked_mul(k.saturating_sub(1))
            .and_then(|r| r.checked_add(1))
    };
    let (h, w_in) = (x.dim(2)?, x.dim(3)?);
    match (reach(kh), reach(kw)) {
        (Some(rh), Some(rw)) if rh <= h && rw <= w_in => {
            guard(
                node,
                &[n, c_out, (h - rh) / stride + 1, (w_in - rw) / stride + 1],
                max,
            )?;
        }
        _ => return Err(unsupported(node, "the kernel is larger than the input")),
    }
    let y = x.conv2d(w, 0, stride, dilation, groups)?;
    Ok(match b {
        Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?)?,
        None => y,
    })
}

/// Zero padding from the `pads` attribute (`[top, left, bottom, right]`).
fn pad(node: &NodeProto, x: &Tensor, max: usize) -> Result<Tensor, OpError> {
    let pads = ints(node, "pads");
    let p = |i: usize| {
        usize::try_from(pads.get(i).copied().unwrap_or(0))
            .map_err(|_| unsupported(node, "negative pad"))
    };
    let (top, left, bottom, right) = (p(0)?, p(1)?, p(2)?, p(3)?);
    let grow = |d: usize, a: usize, b: usize| {
        d.checked_add(a)
            .and_then(|v| v.checked_add(b))
            .unwrap_or(usize::MAX)
    };
    let mut dims = x.dims().to_vec();
    if let [_, _, h, w] = dims.as_mut_slice() {
        *h = grow(*h, top, bottom);
        *w = grow(*w, left, right);
    }
    guard(node, &dims, max)?;
    Ok(x.pad_with_zeros(2, top, bottom)?
        .pad_with_zeros(3, left, right)?)
}

fn pool(node: &NodeProto, x: &Tensor) -> Result<Tensor, OpError> {
    if x.rank() != 4 {
        return Err(unsupported(node, "only 2-D pooling is supported"));
    }
    if ints(node, "pads").iter().any(|&p| p != 0) || int(node, "ceil_mode", 0) != 0 {
        return Err(unsupported(node, "padded or ceil-mode pooling"));
    }
    let pair = |v: &[i64], default: usize| -> Result<(usize, usize), OpError> {
        match v {
            [] => Ok((default, default)),
            [a, b] => Ok((
                usize::try_from(*a).map_err(|_| unsupported(node, "negative size"))?,
                usize::try_from(*b).map_err(|_| unsupported(node, "negative size"))?,
            )),
            _ => Err(unsupported(node, "not 2-D")),
        }
    };
    let kernel = pair(&ints(node, "kernel_shape"), 0)?;
    if kernel.0 == 0 || kernel.1 == 0 {
        return Err(unsupported(node, "kernel_shape missing"));
    }
    let stride = pair(&ints(node, "strides"), 1)?;
    if stride.0 == 0 || stride.1 == 0 || kernel.0 > x.dim(2)? || kernel.1 > x.dim(3)? {
        return Err(unsupported(
            node,
            "zero stride, or a kernel larger than the input",
        ));
    }
    Ok(if node.op_type == "MaxPool" {
        x.max_pool2d_with_stride(kernel, stride)?
    } else {
        x.avg_pool2d_with_stride(kernel, stride)?
    })
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn node(op: &str, attrs: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: "n".into(),
            attribute: attrs,
            ..NodeProto::default()
        }
    }

    fn ints_attr(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            ints: v.to_vec(),
            ..AttributeProto::default()
        }
    }

    fn zeros(dims: &[usize]) -> Option<Tensor> {
        Some(Tensor::zeros(dims, DType::F32, &Device::Cpu).unwrap())
    }

    #[test]
    fn outputs_over_the_limit_are_refused_before_allocation() {
        let blowup = eval(
            &node("Add", vec![]),
            &[zeros(&[1, 100_000, 1]), zeros(&[100_000])],
            1 << 20,
        );
        assert!(
            matches!(blowup, Err(OpError::Probe(ProbeError::TooLarge(_)))),
            "{blowup:?}"
        );
        let outer = eval(
            &node("MatMul", vec![]),
            &[zeros(&[50_000, 1]), zeros(&[1, 50_000])],
            1 << 20,
        );
        assert!(
            matches!(outer, Err(OpError::Probe(ProbeError::TooLarge(_)))),
            "{outer:?}"
        );
        let pads = vec![ints_attr("pads", &[1 << 40, 0, 0, 0])];
        let padded = eval(
            &node("Conv", pads),
            &[zeros(&[1, 1, 4, 4]), zeros(&[1, 1, 3, 3])],
            1 << 20,
        );
        assert!(
            matches!(padded, Err(OpError::Probe(ProbeError::TooLarge(_)))),
            "{padded:?}"
        );
    }

    #[test]
    fn kernels_that_do_not_fit_are_unsupported_not_a_panic() {
        let pool = node("MaxPool", vec![ints_attr("kernel_shape", &[9, 9])]);
        assert!(matches!(
            eval(&pool, &[zeros(&[1, 1, 4, 4])], 1 << 20),
            Err(OpError::Unsupported(_))
        ));
        let conv = eval(
            &node("Conv", vec![]),
            &[zeros(&[1, 1, 2, 2]), zeros(&[1, 1, 3, 3])],
            1 << 20,
        );
        assert!(matches!(conv, Err(OpError::Unsupported(_))), "{conv:?}");
        let stride0 = node("Conv", vec![ints_attr("strides", &[0, 0])]);
        let conv = eval(
            &stride0,
            &[zeros(&[1, 1, 4, 4]), zeros(&[1, 1, 3, 3])],
            1 << 20,
        );
        assert!(matches!(conv, Err(OpError::Unsupported(_))), "{conv:?}");
        assert!(matches!(
            eval(&node("Lstm", vec![]), &[zeros(&[1])], 1 << 20),
            Err(OpError::Unsupported(_))
        ));
    }

    #[test]
    fn reshape_copies_zero_and_infers_minus_one() {
        let n = node("Reshape", vec![]);
        assert_eq!(reshape_dims(&n, &[2, 3, 4], &[0, -1]).unwrap(), [2, 12]);
        assert!(reshape_dims(&n, &[2], &[0, 0]).is_err());
    }
}
