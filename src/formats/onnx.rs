//! ONNX: placeholder until the graph analyser lands.

use crate::engine::Ctx;
use crate::rules::RuleId;

pub fn analyse(_data: &[u8], ctx: &mut Ctx<'_>) {
    ctx.report(
        RuleId::FormatNotAnalysed,
        Some(0),
        "recognised as ONNX, whose graph the scanner does not analyse yet",
        None,
    );
}

/// Whether `data` starts like an ONNX `ModelProto`: field 1 (`ir_version`, a small varint)
/// followed by another well-formed field tag.
pub fn looks_like_onnx(data: &[u8]) -> bool {
    matches!(data, [0x08, 1..=15, next, ..] if next & 0x07 <= 5 && next >> 3 != 0)
}
