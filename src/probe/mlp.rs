//! A state dict that is a plain multi-layer perceptron: every tensor is a linear layer's 2-D
//! `weight` ([out, in]) or 1-D `bias` ([out]), and the layers, in natural name order, chain
//! (each one's `out` is the next one's `in`). Such a model can be run without its code:
//! `y = W x + b` per layer with ReLU between layers (the common choice, and 1-Lipschitz, so
//! the Lipschitz bound holds for any such activation).

use candle_core::{DType, Device, Tensor};

use super::{Model, ProbeError, RawTensor};

/// One linear layer, as its tensors name it.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec<'a> {
    pub prefix: String,
    pub weight: &'a RawTensor<'a>,
    pub bias: Option<&'a RawTensor<'a>>,
}

impl LayerSpec<'_> {
    pub fn inputs(&self) -> usize {
        self.weight.shape.get(1).copied().unwrap_or(0)
    }

    pub fn outputs(&self) -> usize {
        self.weight.shape.first().copied().unwrap_or(0)
    }
}

/// The layers of `tensors` in order, or why they are not a plain MLP.
pub fn recognise<'a>(tensors: &'a [RawTensor<'a>]) -> Result<Vec<LayerSpec<'a>>, String> {
    let mut layers: Vec<LayerSpec<'a>> = Vec::new();
    let mut biases = Vec::new();
    for t in tensors {
        let (prefix, role) = match t.name.rsplit_once('.') {
            Some((prefix, role)) => (prefix.to_owned(), role),
            None => (String::new(), t.name.as_str()),
        };
        match (role, t.shape.len()) {
            ("weight", 2) => layers.push(LayerSpec {
                prefix,
                weight: t,
                bias: None,
            }),
            ("bias", 1) => biases.push((prefix, t)),
            _ => {
                return Err(format!(
                    "not a plain MLP: `{}` (shape {:?}) is not a linear layer's weight or bias",
                    t.name, t.shape
                ));
            }
        }
    }
    for (prefix, bias) in biases {
        let Some(layer) = layers.iter_mut().find(|l| l.prefix == prefix) else {
            return Err(format!(
                "not a plain MLP: bias `{}` has no weight",
                bias.name
            ));
        };
        if bias.shape.first() != Some(&layer.outputs()) {
            return Err(format!(
                "bias `{}` does not match its weight's {} outputs",
                bias.name,
                layer.outputs()
            ));
        }
        layer.bias = Some(bias);
    }
    layers.sort_by_cached_key(|l| natural_key(&l.prefix));
    if layers.is_empty() {
        return Err("no linear layer".to_owned());
    }
    for pair in layers.windows(2) {
        if let [a, b] = pair
            && a.outputs() != b.inputs()
        {
            return Err(format!(
                "linear layers do not chain: `{}` gives {} outputs, `{}` takes {} inputs",
                a.prefix,
                a.outputs(),
                b.prefix,
                b.inputs()
            ));
        }
    }
    if let Some(l) = layers.iter().find(|l| l.inputs() == 0 || l.outputs() == 0) {
        return Err(format!("layer `{}` has a zero-sized weight", l.prefix));
    }
    Ok(layers)
}

/// `layers.10` after `layers.2`: digit runs compare as numbers.
fn natural_key(name: &str) -> Vec<(u64, String)> {
    let mut key = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            let (num, tail) = rest.split_at(digits);
            key.push((num.parse().unwrap_or(u64::MAX), String::new()));
            rest = tail;
        } else {
            let text = rest.len() - rest.trim_start_matches(|c: char| !c.is_ascii_digit()).len();
            let (word, tail) = rest.split_at(text);
            key.push((0, word.to_owned()));
            rest = tail;
        }
    }
    key
}

/// The network loaded on a device: per layer the transposed weight ([in, out]) and the bias.
pub struct Mlp {
    layers: Vec<(Tensor, Option<Tensor>)>,
    pub widths: Vec<usize>,
}

impl Mlp {
    pub fn load(specs: &[LayerSpec<'_>], device: &Device) -> Result<Self, ProbeError> {
        let mut layers = Vec::new();
        let mut widths = vec![specs.first().map_or(0, LayerSpec::inputs)];
        for spec in specs {
            let w = Tensor::from_raw_buffer(
                spec.weight.data,
                spec.weight.dtype,
                &spec.weight.shape,
                device,
            )?
            .to_dtype(DType::F32)?
            .t()?
            .contiguous()?;
            let b = match spec.bias {
                Some(b) => Some(
                    Tensor::from_raw_buffer(b.data, b.dtype, &b.shape, device)?
                        .to_dtype(DType::F32)?,
                ),
                None => None,
            };
            layers.push((w, b));
            widths.push(spec.outputs());
        }
        Ok(Mlp { layers, widths })
    }
}

impl Model for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor, ProbeError> {
        let mut h = x.clone();
        let last = self.layers.len().saturating_sub(1);
        for (i, (w, b)) in self.layers.iter().enumerate() {
            h = h.matmul(w)?;
            if let Some(b) = b {
                h = h.broadcast_add(b)?;
            }
            if i < last {
                h = h.relu()?;
            }
        }
        super::logits(h)
    }

    /// `mlp 64-32-2`.
    fn describe(&self) -> String {
        let widths: Vec<String> = self.widths.iter().map(usize::to_string).collect();
        format!("mlp {}, ReLU between layers", widths.join("-"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, shape: &[usize]) -> RawTensor<'static> {
        RawTensor {
            name: name.into(),
            dtype: DType::F32,
            shape: shape.to_vec(),
            data: &[],
        }
    }

    #[test]
    fn layers_chain_in_natural_order() {
        let tensors = [
            t("net.10.weight", &[2, 8]),
            t("net.2.weight", &[8, 4]),
            t("net.2.bias", &[8]),
            t("net.10.bias", &[2]),
        ];
        let layers = recognise(&tensors).unwrap();
        let prefixes: Vec<&str> = layers.iter().map(|l| l.prefix.as_str()).collect();
        assert_eq!(prefixes, ["net.2", "net.10"]);
        assert!(layers.iter().all(|l| l.bias.is_some()));
    }

    #[test]
    fn other_models_are_not_mlps() {
        assert!(recognise(&[t("conv.weight", &[8, 3, 3, 3])]).is_err());
        assert!(recognise(&[t("a.weight", &[8, 4]), t("b.weight", &[2, 7])]).is_err());
        assert!(recognise(&[t("a.weight", &[8, 4]), t("a.bias", &[4])]).is_err());
        assert!(recognise(&[t("a.weight", &[0, 4])]).is_err());
        assert!(recognise(&[]).is_err());
    }
}
