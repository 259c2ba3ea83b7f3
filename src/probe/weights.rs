//! The weight probe: every tensor is read into the device a chunk at a time (never a whole file,
//! never a whole large tensor) for NaN/Inf counts, zero and constant tensors, magnitude
//! outliers by robust z-score, and, for 2-D tensors, the spectral norm by power iteration.

use candle_core::{DType, Device, Tensor};

use super::{Deadline, ProbeError, RawTensor};

/// Elements per chunk: bounds what one step allocates (16 MiB of f32).
const CHUNK: usize = 1 << 22;
/// Values kept per chunk for the median and MAD estimate.
const SAMPLES_PER_CHUNK: usize = 4096;
/// Largest 2-D tensor whose spectral norm is computed (it is held whole, as f32).
const MAX_SPECTRAL_ELEMENTS: usize = 1 << 24;
const POWER_ITERATIONS: usize = 12;
/// Robust z-score beyond which a value is an outlier no training produces (a planted value).
pub const OUTLIER_Z: f64 = 1e4;

/// What the probe learned about one tensor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorStats {
    pub elements: u64,
    pub nan: u64,
    pub inf: u64,
    /// Of the infinities, how many are `+inf`.
    pub pos_inf: u64,
    /// Smallest and largest finite values.
    pub min: f64,
    pub max: f64,
    pub median: f64,
    /// Largest |x - median| / scale, the scale being 1.4826 MAD or the 90th percentile of
    /// |x - median| over 1.645, whichever is larger; none when both are zero.
    pub max_z: Option<f64>,
    /// Values beyond [`OUTLIER_Z`], counted only when `max_z` passes it.
    pub outliers: u64,
    pub spectral_norm: Option<f64>,
}

impl TensorStats {
    pub fn is_zero(&self) -> bool {
        self.nan == 0 && self.inf == 0 && self.min == 0.0 && self.max == 0.0
    }

    pub fn is_constant(&self) -> bool {
        self.nan == 0 && self.inf == 0 && self.min == self.max && self.elements > 1
    }
}

/// Reads one floating-point tensor.
pub fn probe(
    t: &RawTensor<'_>,
    device: &Device,
    deadline: &Deadline,
) -> Result<TensorStats, ProbeError> {
    let item = t.dtype.size_in_bytes();
    let elements = t.data.len() / item;
    let mut stats = TensorStats {
        elements: elements as u64,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        ..TensorStats::default()
    };
    let mut samples = Vec::new();
    for chunk in t.data.chunks(CHUNK * item) {
        deadline.check()?;
        let (x, finite) = load_finite(chunk, t.dtype, device)?;
        let n = x.elem_count();
        let finite_count = finite.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()? as u64;
        // The common case, all finite, needs no NaN count and no masking.
        let clean = if finite_count == n as u64 {
            x
        } else {
            let nan = x
                .ne(&x)?
                .to_dtype(DType::F32)?
                .sum_all()?
                .to_scalar::<f32>()? as u64;
            stats.nan += nan;
            stats.inf += (n as u64).saturating_sub(nan + finite_count);
            stats.pos_inf += x
                .ge(f64::INFINITY)?
                .to_dtype(DType::F32)?
                .sum_all()?
                .to_scalar::<f32>()? as u64;
            // Extremes of the finite values only; NaN and infinities count as zero below.
            if finite_count > 0 {
                let lowest =
                    finite.where_cond(&x, &x.ones_like()?.affine(0.0, f64::from(f32::MAX))?)?;
                let highest =
                    finite.where_cond(&x, &x.ones_like()?.affine(0.0, f64::from(f32::MIN))?)?;
                stats.min = stats
                    .min
                    .min(f64::from(lowest.min_all()?.to_scalar::<f32>()?));
                stats.max = stats
                    .max
                    .max(f64::from(highest.max_all()?.to_scalar::<f32>()?));
            }
            finite.where_cond(&x, &x.zeros_like()?)?
        };
        if finite_count == n as u64 {
            stats.min = stats
                .min
                .min(f64::from(clean.min_all()?.to_scalar::<f32>()?));
            stats.max = stats
                .max
                .max(f64::from(clean.max_all()?.to_scalar::<f32>()?));
        }
        let stride = n.div_ceil(SAMPLES_PER_CHUNK).max(1);
        let picks: Vec<u32> = (0..n)
            .step_by(stride)
            .filter_map(|i| u32::try_from(i).ok())
            .collect();
        let picks = Tensor::new(picks.as_slice(), device)?;
        samples.extend(clean.index_select(&picks, 0)?.to_vec1::<f32>()?);
    }
    if elements == 0 || stats.min > stats.max {
        // No values, or no finite ones.
        (stats.min, stats.max) = (0.0, 0.0);
        if elements == 0 {
            return Ok(stats);
        }
    }
    samples.sort_by(f32::total_cmp);
    let median = f64::from(middle(&samples));
    let mut deviations: Vec<f32> = samples
        .iter()
        .map(|&v| (f64::from(v) - median).abs() as f32)
        .collect();
    deviations.sort_by(f32::total_cmp);
    // The scaled MAD, or the 90th percentile of the deviations over 1.645 (the same for a
    // normal distribution) when that is larger: a two-valued tensor such as an LSTM bias
    // (forget gates at 1, the rest at 0) has a MAD near zero and would make every 1 an outlier.
    let p90 = deviations
        .get(deviations.len() * 9 / 10)
        .copied()
        .unwrap_or(0.0);
    let scale = (1.4826 * f64::from(middle(&deviations))).max(f64::from(p90) / 1.645);
    stats.median = median;
    if scale > 0.0 {
        let z = (stats.max - median).abs().max((stats.min - median).abs()) / scale;
        stats.max_z = Some(z);
        if z > OUTLIER_Z {
            stats.outliers = count_beyond(t, device, median, OUTLIER_Z * scale, deadline)?;
        }
    }
    if let [rows, cols] = t.shape[..]
        && rows > 1
        && cols > 1
        && elements <= MAX_SPECTRAL_ELEMENTS
        && stats.nan == 0
        && stats.inf == 0
    {
        deadline.check()?;
        let w = load(t.data, t.dtype, device)?.reshape((rows, cols))?;
        stats.spectral_norm = Some(spectral_norm(&w, deadline)?);
    }
    Ok(stats)
}

/// How many of the first and last values of `t` are infinite (0, 1 or 2).
pub fn infinities_at_ends(t: &RawTensor<'_>, device: &Device) -> u64 {
    let item = t.dtype.size_in_bytes();
    let n = t.data.len() / item;
    let infinite = |i: usize| {
        t.data
            .get(i * item..(i + 1) * item)
            .and_then(|b| load(b, t.dtype, device).ok())
            .and_then(|x| x.to_vec1::<f32>().ok())
            .is_some_and(|v| v.first().is_some_and(|f| f.is_infinite()))
    };
    match n {
        0 => 0,
        1 => u64::from(infinite(0)),
        _ => u64::from(infinite(0)) + u64::from(infinite(n - 1)),
    }
}

/// A chunk of raw little-endian values as a 1-D f32 tensor on the device.
fn load(bytes: &[u8], dtype: DType, device: &Device) -> Result<Tensor, ProbeError> {
    let n = bytes.len() / dtype.size_in_bytes();
    let x = Tensor::from_raw_buffer(bytes, dtype, &[n], device)?;
    Ok(if dtype == DType::F32 {
        x
    } else {
        x.to_dtype(DType::F32)?
    })
}

/// A chunk and its mask of finite values (1 where finite, NaN and infinities 0).
fn load_finite(
    bytes: &[u8],
    dtype: DType,
    device: &Device,
) -> Result<(Tensor, Tensor), ProbeError> {
    let x = load(bytes, dtype, device)?;
    let finite = x.abs()?.lt(f64::INFINITY)?;
    Ok((x, finite))
}

fn middle(sorted: &[f32]) -> f32 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// Values further than `limit` from `median` (a second pass, only for tensors that have some).
fn count_beyond(
    t: &RawTensor<'_>,
    device: &Device,
    median: f64,
    limit: f64,
    deadline: &Deadline,
) -> Result<u64, ProbeError> {
    let item = t.dtype.size_in_bytes();
    let mut count = 0;
    for chunk in t.data.chunks(CHUNK * item) {
        deadline.check()?;
        let (x, finite) = load_finite(chunk, t.dtype, device)?;
        let far = x.affine(1.0, -median)?.abs()?.gt(limit)?.mul(&finite)?;
        count += far.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()? as u64;
    }
    Ok(count)
}

/// The largest singular value of `w` by power iteration on `wᵀw`, from a fixed start vector.
pub fn spectral_norm(w: &Tensor, deadline: &Deadline) -> Result<f64, ProbeError> {
    // Computed on w / max|w| so that no product of large weights overflows f32.
    let largest = f64::from(w.abs()?.max_all()?.to_scalar::<f32>()?);
    if largest == 0.0 || !largest.is_finite() {
        return Ok(largest);
    }
    let w = &w.affine(1.0 / largest, 0.0)?;
    let cols = w.dim(1)?;
    // A start vector with no symmetry a weight matrix could be orthogonal to by accident.
    let start: Vec<f32> = (0..cols)
        .map(|i| 1.0 + ((i * 7919) % 97) as f32 / 97.0)
        .collect();
    let mut v = Tensor::from_vec(start, (cols, 1), w.device())?;
    v = v.affine(1.0 / norm(&v)?.max(f64::MIN_POSITIVE), 0.0)?;
    let mut sigma = 0.0;
    for _ in 0..POWER_ITERATIONS {
        deadline.check()?;
        let u = w.matmul(&v)?;
        sigma = norm(&u)?;
        if sigma == 0.0 {
            break;
        }
        // wᵀu as (uᵀw)ᵀ: no transposed copy of w.
        let back = u.t()?.matmul(w)?.t()?;
        v = back.affine(1.0 / norm(&back)?.max(f64::MIN_POSITIVE), 0.0)?;
    }
    Ok(sigma * largest)
}

/// The L2 norm, scaled by the largest magnitude first so that squares of large weights do not
/// overflow f32.
fn norm(t: &Tensor) -> Result<f64, ProbeError> {
    let largest = f64::from(t.abs()?.max_all()?.to_scalar::<f32>()?);
    if largest == 0.0 || !largest.is_finite() {
        return Ok(largest);
    }
    let scaled = t.affine(1.0 / largest, 0.0)?;
    Ok(largest * f64::from(scaled.sqr()?.sum_all()?.to_scalar::<f32>()?).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(values: &[f32], shape: &[usize]) -> (Vec<u8>, Vec<usize>) {
        (
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            shape.to_vec(),
        )
    }

    fn stats(values: &[f32], shape: &[usize]) -> TensorStats {
        let (bytes, shape) = raw(values, shape);
        let t = RawTensor {
            name: "t".into(),
            dtype: DType::F32,
            shape,
            data: &bytes,
        };
        probe(
            &t,
            &Device::Cpu,
            &Deadline::after(std::time::Duration::from_secs(60)),
        )
        .unwrap()
    }

    #[test]
    fn counts_non_finite_values_and_outliers() {
        let mut v: Vec<f32> = (0..1000).map(|i| (i % 17) as f32 / 17.0 - 0.5).collect();
        v[3] = f32::NAN;
        v[4] = f32::INFINITY;
        v[5] = f32::NEG_INFINITY;
        v[6] = 1e9;
        let s = stats(&v, &[1000]);
        assert_eq!((s.nan, s.inf, s.outliers), (1, 2, 1));
        assert!(s.max_z.unwrap() > OUTLIER_Z);
    }

    #[test]
    fn spectral_norm_of_a_diagonal_matrix_is_its_largest_entry() {
        let s = stats(&[3.0, 0.0, 0.0, 0.0, -5.0, 0.0, 0.0, 0.0, 1.0], &[3, 3]);
        assert!((s.spectral_norm.unwrap() - 5.0).abs() < 1e-3, "{s:?}");
        let huge = stats(&[1e30, 0.0, 0.0, 1.0], &[2, 2]);
        assert!(
            (huge.spectral_norm.unwrap() / 1e30 - 1.0).abs() < 1e-3,
            "{huge:?}"
        );
        assert!(s.max_z.is_none() || s.outliers == 0);
    }

    #[test]
    fn zero_and_constant_tensors_are_recognised() {
        assert!(stats(&[0.0; 8], &[8]).is_zero());
        assert!(stats(&[0.25; 8], &[8]).is_constant());
        assert!(!stats(&[0.25, 0.5], &[2]).is_constant());
    }
}
