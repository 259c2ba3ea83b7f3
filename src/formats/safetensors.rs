//! safetensors: placeholder until the header analyser lands.

use crate::engine::Ctx;
use crate::rules::RuleId;

pub fn analyse(_data: &[u8], ctx: &mut Ctx<'_>) {
    ctx.report(
        RuleId::FormatNotAnalysed,
        Some(0),
        "recognised as safetensors, whose header the scanner does not validate yet",
        None,
    );
}
