//! Text files and members: each text analyser recognises its own content (a sharded
//! checkpoint index, a chat template or a JSON file carrying one, a Hugging Face config, a
//! Python script) and leaves the rest alone.

use crate::formats::{hf, safetensors, template};
use crate::scan::context::Ctx;

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    safetensors::index::analyse(data, ctx);
    template::analyse_text(data, ctx);
    hf::analyse_config(data, ctx);
    hf::analyse_script(data, ctx);
}
