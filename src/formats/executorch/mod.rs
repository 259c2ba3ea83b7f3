//! ExecuTorch programs (`.pte`): a FlatBuffer whose file identifier is `ET` and two digits
//! (`ET12` today, `schema/program.fbs`), optionally followed at byte 8 by ExecuTorch's extended
//! header (`eh` and two digits, its length, the size of the program data and the offset of the
//! data segments that follow it). Read with the bounds-checked table reader TFLite uses
//! ([`crate::formats::tflite::fb`]).
//!
//! The runtime runs a program's instructions with kernels compiled into it, looked up by
//! operator name (`aten::add.out`): a program carries no code of its own, but it can name
//! operators of libraries linked into the application (listed, `info`) and hand its delegate
//! blobs to backends registered by id (`XnnpackBackend`), native code that parses them. A
//! delegate id no known backend uses is reported. Delegate blobs, constant buffers and data
//! segments are handed to detection as opaque members, so a pickle or an archive hidden in them
//! is analysed like one in a PyTorch checkpoint's storage.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::formats::tflite::fb::{self, Buf, Table};
use crate::model::rules::RuleId;
use crate::model::summary::{FrameworkSummary, ModelSummary};
use crate::scan::context::{Ctx, MemberKind};

const MAX_PLANS: usize = 10_000;
const MAX_OPERATORS: usize = 1_000_000;
const MAX_DELEGATES: usize = 100_000;
const MAX_SEGMENTS: usize = 1_000_000;
/// Problems, custom operators and unknown delegates listed per program.
const MAX_LISTED: usize = 64;

/// Backend ids of ExecuTorch's own backends (`backends/*`, the class name `to_backend` records).
const KNOWN_DELEGATES: &[&str] = &[
    "XnnpackBackend",
    "CoreMLBackend",
    "MPSBackend",
    "VulkanBackend",
    "QnnBackend",
    "EthosUBackend",
    "ArmBackend",
    "TOSABackend",
    "VgfBackend",
    "NeuronBackend",
    "OpenvinoBackend",
    "EnnBackend",
    "NeutronBackend",
    "CudaBackend",
    "MetalBackend",
    "CadenceBackend",
];

/// Operator namespaces whose kernels ship with ExecuTorch (portable, optimized and quantized
/// kernel libraries, the LLM custom ops, torchao's low-bit kernels).
const KNOWN_NAMESPACES: &[&str] = &[
    "aten",
    "prim",
    "executorch_prim",
    "quantized_decomposed",
    "dim_order_ops",
    "llama",
    "torchao",
    "quantized",
    "cadence",
    "et_vk",
];

/// Whether `data` starts like an ExecuTorch program: `ET` and two digits at 4, and a root
/// offset inside the file (a FlatBuffer's first four bytes; under 16 MiB, so text never has it).
pub fn looks_like_pte(data: &[u8]) -> bool {
    let Some(ident) = data.get(4..8) else {
        return false;
    };
    let root = data
        .get(0..4)
        .and_then(|b| b.try_into().ok())
        .map_or(u32::MAX, u32::from_le_bytes) as usize;
    ident.starts_with(b"ET")
        && ident
            .get(2..4)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
        && data.get(3) == Some(&0)
        && root >= 8
        && root < data.len()
}

/// The extended header: (program data size, segment base offset), or why it is wrong.
fn extended_header(data: &[u8]) -> Result<Option<(u64, u64)>, String> {
    let Some(magic) = data.get(8..12) else {
        return Ok(None);
    };
    if !(magic.starts_with(b"eh") && magic.iter().skip(2).all(u8::is_ascii_digit)) {
        return Ok(None);
    }
    let u32_at = |at: usize| {
        data.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |at: usize| {
        data.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let len = u32_at(12).ok_or("the extended header is cut short")?;
    if len < 24 {
        return Err(format!(
            "the extended header declares {len} bytes, fewer than its 24 bytes of fields"
        ));
    }
    let (Some(program), Some(segments)) = (u64_at(16), u64_at(24)) else {
        return Err("the extended header is cut short".to_owned());
    };
    let size = data.len() as u64;
    if program > size || segments > size {
        return Err(format!(
            "the extended header places the program's end at {program} and the segments at {segments}, past the file's {size} bytes"
        ));
    }
    if segments != 0 && segments < program {
        return Err(format!(
            "the extended header places the segments at {segments}, inside the {program}-byte program data"
        ));
    }
    Ok(Some((program, segments)))
}

/// A delegate: its backend id, the method it belongs to, and where its processed data is
/// (location: 0 inline, 1 segment; index).
type Delegate = (String, String, Option<(i8, u32)>);

/// What the execution plans hold (see [`Walk::plans`]).
struct Plans {
    histogram: BTreeMap<String, u64>,
    /// Operators outside ExecuTorch's kernel libraries, with the method that calls them.
    custom: BTreeMap<String, String>,
    delegates: Vec<Delegate>,
    /// The methods' names.
    entry: Vec<String>,
}

struct Walk<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    problems: Vec<String>,
}

impl Walk<'_, '_> {
    fn problem(&mut self, what: String) {
        if self.problems.len() < MAX_LISTED {
            self.problems.push(what);
        }
    }

    fn tables(
        &mut self,
        buf: &Buf<'_>,
        t: &Table,
        index: usize,
        max: usize,
        what: &str,
    ) -> Vec<Table> {
        t.tables(buf, index, max).unwrap_or_else(|e| {
            self.problem(format!("{what}: {e}"));
            Vec::new()
        })
    }

    /// The execution plans: operators (counted, and those outside ExecuTorch's kernels kept)
    /// and delegates.
    fn plans(&mut self, buf: &Buf<'_>, program: &Table) -> Plans {
        let plans = self.tables(buf, program, 1, MAX_PLANS, "execution plans");
        let mut histogram: BTreeMap<String, u64> = BTreeMap::new();
        let mut custom: BTreeMap<String, String> = BTreeMap::new();
        let mut delegates: Vec<Delegate> = Vec::new();
        let mut entry = Vec::new();
        for (p, plan) in plans.iter().enumerate() {
            let name = plan.string(buf, 0).unwrap_or_else(|| format!("plan {p}"));
            entry.push(name.clone());
            for op in self.tables(
                buf,
                plan,
                6,
                MAX_OPERATORS,
                &format!("operators of `{name}`"),
            ) {
                let Some(op_name) = op.string(buf, 0) else {
                    self.problem(format!("an operator of `{name}` has no name"));
                    continue;
                };
                let overload = op.string(buf, 1).unwrap_or_default();
                let full = if overload.is_empty() {
                    op_name.clone()
                } else {
                    format!("{op_name}.{overload}")
                };
                *histogram.entry(full.clone()).or_default() += 1;
                let namespace = op_name.split_once("::").map_or("", |(ns, _)| ns);
                if !KNOWN_NAMESPACES.contains(&namespace) && custom.len() < MAX_LISTED {
                    custom.entry(full).or_insert_with(|| name.clone());
                }
            }
            for d in self.tables(
                buf,
                plan,
                7,
                MAX_DELEGATES,
                &format!("delegates of `{name}`"),
            ) {
                let id = d.string(buf, 0).unwrap_or_default();
                let processed = d
                    .table(buf, 1)
                    .map(|r| (r.i8(buf, 0).unwrap_or(0), r.u32(buf, 1).unwrap_or(0)));
                delegates.push((id, name.clone(), processed));
            }
        }
        Plans {
            histogram,
            custom,
            delegates,
            entry,
        }
    }
}

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let buf = Buf::new(data);
    let Some(program) = fb::root(data) else {
        return ctx.report(
            RuleId::PteMalformed,
            Some(0),
            "the ExecuTorch program's root table lies outside the file; the runtime's verifier refuses it and nothing in it was checked",
            None,
        );
    };
    let mut walk = Walk {
        ctx,
        problems: Vec::new(),
    };
    let header = extended_header(data).unwrap_or_else(|e| {
        walk.problem(e);
        None
    });
    let version = program.u32(&buf, 0).unwrap_or(0);

    let Plans {
        histogram,
        custom,
        delegates,
        entry,
    } = walk.plans(&buf, &program);

    // Inline delegate data and segments, in bounds, handed to detection.
    let inline = walk.tables(&buf, &program, 3, MAX_DELEGATES, "inline delegate data");
    let segments = walk.tables(&buf, &program, 4, MAX_SEGMENTS, "data segments");
    let base = header.map_or(0, |(_, s)| s);
    if !segments.is_empty() && header.is_none_or(|(_, s)| s == 0) {
        walk.problem(format!(
            "{} data segment(s) but no extended header giving where they start",
            segments.len()
        ));
    }
    let mut segment_bytes: Vec<Option<&[u8]>> = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        let offset = seg.u64(&buf, 0).unwrap_or(0);
        let size = seg.u64(&buf, 1).unwrap_or(0);
        let slice = base
            .checked_add(offset)
            .and_then(|start| Some((start, start.checked_add(size)?)))
            .and_then(|(s, e)| data.get(usize::try_from(s).ok()?..usize::try_from(e).ok()?));
        if slice.is_none() {
            walk.problem(format!(
                "data segment {i} ({size} bytes at {offset} past the segment base {base}) extends past the end of the file"
            ));
        }
        segment_bytes.push(slice);
    }
    for (id, plan, processed) in &delegates {
        let Some((location, index)) = *processed else {
            walk.problem(format!(
                "delegate `{id}` of `{plan}` has no processed data reference"
            ));
            continue;
        };
        let found = match location {
            0 => inline.get(index as usize).is_some(),
            1 => segment_bytes.get(index as usize).is_some(),
            _ => false,
        };
        if !found {
            walk.problem(format!(
                "delegate `{id}` of `{plan}` points to {} {index}, which the program does not have",
                if location == 1 {
                    "segment"
                } else {
                    "inline data"
                }
            ));
        }
    }
    let Walk { ctx, problems } = walk;
    for (i, blob) in inline.iter().enumerate() {
        if let Some(bytes) = blob.bytes(&buf, 0) {
            ctx.nested(
                &format!("backend_delegate_data[{i}]"),
                bytes,
                MemberKind::Opaque,
            );
        }
    }
    for (i, slice) in segment_bytes.iter().enumerate() {
        if let Some(bytes) = slice {
            ctx.nested(&format!("segments[{i}]"), bytes, MemberKind::Opaque);
        }
    }
    if let Ok(buffers) = program.tables(&buf, 2, MAX_SEGMENTS) {
        for (i, b) in buffers.iter().enumerate() {
            if let Some(bytes) = b.bytes(&buf, 0).filter(|b| !b.is_empty()) {
                ctx.nested(&format!("constant_buffer[{i}]"), bytes, MemberKind::Opaque);
            }
        }
    }

    report_findings(ctx, &delegates, &custom, &problems);
    let mut notes = Vec::new();
    let ids: Vec<&str> = delegates.iter().map(|(id, _, _)| id.as_str()).collect();
    if !ids.is_empty() {
        notes.push(format!("delegates: {}", ids.join(", ")));
    }
    if !segments.is_empty() {
        notes.push(format!("{} data segment(s)", segments.len()));
    }
    ctx.summarise(ModelSummary::Executorch(FrameworkSummary {
        producer: "executorch".to_owned(),
        version: format!(
            "{} schema {version}",
            String::from_utf8_lossy(data.get(4..8).unwrap_or_default())
        ),
        entry: entry.join(", "),
        units: "ops".to_owned(),
        count: histogram.values().sum(),
        histogram,
        notes,
    }));
}

/// Unknown delegates, custom operators and structural problems, as findings.
fn report_findings(
    ctx: &mut Ctx<'_>,
    delegates: &[Delegate],
    custom: &BTreeMap<String, String>,
    problems: &[String],
) {
    for (id, plan, _) in delegates {
        if !KNOWN_DELEGATES.contains(&id.as_str()) {
            ctx.report(
                RuleId::PteUnknownDelegate,
                None,
                format!(
                    "method `{plan}` hands part of the model to a backend delegate `{id}` that is none of ExecuTorch's backends: its data goes to native code registered under that id in the application, which the scanner cannot vouch for"
                ),
                Some(format!("delegates[].id = {id:?}")),
            );
        }
    }
    if !custom.is_empty() {
        let list: Vec<String> = custom
            .iter()
            .map(|(op, plan)| format!("{op} (in `{plan}`)"))
            .collect();
        ctx.report(
            RuleId::PteCustomOp,
            None,
            format!(
                "the program calls {} operator(s) outside ExecuTorch's kernel libraries: they run native kernels the application links in",
                custom.len()
            ),
            Some(list.join(", ")),
        );
    }
    if !problems.is_empty() {
        ctx.report(
            RuleId::PteMalformed,
            None,
            format!(
                "the ExecuTorch program does not hold together ({} problem(s)); the runtime refuses it or reads it differently from the scanner",
                problems.len()
            ),
            Some(problems.join("; ")),
        );
    }
}
