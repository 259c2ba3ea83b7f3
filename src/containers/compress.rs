//! Placeholder until the container analyser lands.

use crate::engine::Ctx;
use crate::zone::detect::Format;

pub fn analyse(_format: Format, _data: &[u8], _ctx: &mut Ctx<'_>) {}
