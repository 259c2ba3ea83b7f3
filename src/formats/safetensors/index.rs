//! Sharded checkpoints: `model.safetensors.index.json` maps every tensor to a shard file
//! through `weight_map`. Loaders join each shard name to the index's directory and read it, so
//! a name that leaves the directory reads an arbitrary file. Recognised by content (a JSON
//! object with a `weight_map` object), never by name.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::formats::json;
use crate::model::rules::RuleId;
use crate::scan::context::Ctx;
use crate::zone::sibling::{self, Resolved, lexical_escape};

/// Index files larger than this are not parsed (real ones are a few hundred KiB).
const MAX_INDEX: usize = 64 << 20;

/// Checks `data` if it is a sharded checkpoint index; other text is left alone.
pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    if data.len() > MAX_INDEX || !json::may_hold_key(data, &["\"weight_map\""]) {
        return;
    }
    let index = match json::parse_like_python(data) {
        Ok(Value::Object(index)) => index,
        Ok(_) => return,
        Err(e) => {
            if json::starts_like_json(data) {
                ctx.report(
                    RuleId::SafetensorsShardMissing,
                    None,
                    format!("the text spells `weight_map` like a sharded checkpoint index but is not JSON Python reads ({e}); its shards were not checked"),
                    None,
                );
            }
            return;
        }
    };
    let Some(map) = index.get("weight_map") else {
        return;
    };
    let Some(map) = map.as_object() else {
        return ctx.report(
            RuleId::SafetensorsShardMissing,
            None,
            "the index's `weight_map` is not an object of tensor names to shard files",
            None,
        );
    };
    let mut shards = BTreeSet::new();
    for (tensor, shard) in map {
        match shard.as_str() {
            Some(shard) => {
                shards.insert(shard);
            }
            None => ctx.report(
                RuleId::SafetensorsShardMissing,
                None,
                format!("`weight_map` maps `{tensor}` to something that is not a file name"),
                None,
            ),
        }
    }
    let dir = ctx.disk_path().and_then(sibling::model_dir);
    for shard in shards {
        let evidence = Some(format!("weight_map shard {shard:?}"));
        if let Some(why) = lexical_escape(shard) {
            ctx.report(
                RuleId::SafetensorsShardEscape,
                None,
                format!("the index names a shard at {why}: loading the checkpoint reads that file"),
                evidence,
            );
            continue;
        }
        let Some(dir) = &dir else {
            continue; // inside an archive: judged by name only
        };
        match sibling::resolve(dir, shard) {
            Resolved::File(_) => {}
            Resolved::Escapes(real) => ctx.report(
                RuleId::SafetensorsShardEscape,
                None,
                format!(
                    "the index names shard `{shard}`, which resolves outside the checkpoint's directory (to {})",
                    real.display()
                ),
                evidence,
            ),
            Resolved::Missing(why) => ctx.report(
                RuleId::SafetensorsShardMissing,
                None,
                format!("the index names shard `{shard}`, {why}"),
                evidence,
            ),
        }
    }
}
