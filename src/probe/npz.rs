//! NumPy `.npz` archives: one probe result over the float arrays of all `.npy` members, read one
//! member at a time (stored members are slices of the mapped file; compressed ones are inflated
//! up to the probe's `max_bytes`, and dropped before the next). Arrays are data as far as the
//! probe can tell (`np.savez` holds features as often as weights), so NaN and infinities in
//! them are counted, not judged.

use candle_core::DType;

use crate::config::ProbeSettings;
use crate::model::robustness::{Grade, Robustness};
use crate::scan::context::Ctx;

use super::{Deadline, Holds, RawTensor, WeightPass, device, skipped};

/// Whether the archive's members are all `.npy` arrays by content: what `np.load` reads as an
/// `NpzFile`.
pub fn is_npz(members: &[crate::model::finding::MemberReport]) -> bool {
    let top: Vec<_> = members.iter().filter(|m| !m.member.contains('!')).collect();
    !top.is_empty() && top.iter().all(|m| m.format == crate::model::Format::Numpy)
}

/// The float arrays of an `.npz` archive.
pub fn npz(data: &[u8], settings: &ProbeSettings, ctx: &mut Ctx<'_>) -> Robustness {
    let device = match device::open(settings.device) {
        Ok(device) => device,
        Err(e) => return skipped(&e.to_string()),
    };
    let deadline = Deadline::after(settings.budget);
    let mut pass = WeightPass::new(Vec::new(), 0, Holds::Data);
    let max_members = ctx.config().zone.max_members;
    let mut visit =
        |name: &[u8], bytes: Result<crate::containers::zip::MemberBytes<'_>, String>| {
            let name = String::from_utf8_lossy(name);
            let name = name.strip_suffix(".npy").unwrap_or(&name).to_owned();
            pass.declare(1);
            match bytes {
                Err(why) => pass.not_probed(format!("{name}: {why}")),
                Ok(bytes) => {
                    if deadline.check().is_err() {
                        pass.not_probed(format!("{name}: the time budget ran out"));
                        return;
                    }
                    let Some((itemsize, shape, values)) =
                        crate::formats::numpy::float_array(&bytes)
                    else {
                        // Integer, boolean, string and object arrays hold no weights.
                        return;
                    };
                    let dtype = match itemsize {
                        2 => DType::F16,
                        4 => DType::F32,
                        _ => DType::F64,
                    };
                    let Ok(shape) = shape.iter().map(|&d| usize::try_from(d)).collect() else {
                        pass.not_probed(format!("{name}: its shape does not fit this machine"));
                        return;
                    };
                    let tensor = RawTensor {
                        name: name.clone(),
                        dtype,
                        shape,
                        data: values,
                    };
                    pass.tensor(&tensor, &device, &deadline, ctx);
                }
            }
        };
    crate::containers::zip::members(
        data,
        max_members,
        settings.max_bytes,
        |name| name.ends_with(b".npy"),
        &mut visit,
    );
    let mut result = pass.finish(None);
    result.device = device::name(&device).to_owned();
    if result.grade == Grade::WeightsOnly {
        result.summary = format!("{} (arrays: there is no model to run)", result.summary);
    }
    result
}
