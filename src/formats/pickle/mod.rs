//! Placeholder until the pickle engine lands.

use crate::engine::Ctx;

pub fn analyse(_data: &[u8], _ctx: &mut Ctx<'_>) {}

pub fn looks_like_pickle(data: &[u8]) -> bool {
    matches!(data, [0x80, 2..=5, ..])
}

/// Checks the user's `--allow-global`/`--deny-global` entries before any scan starts.
pub fn validate_config(_config: &crate::Config) -> Result<(), std::convert::Infallible> {
    Ok(())
}
