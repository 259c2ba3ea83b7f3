//! The pickle analyser: an abstract unpickler that follows every opcode of protocols 0–5 over
//! symbolic values, resolves what each stream imports and calls, and checks it against the
//! import policy in `signatures/pickle-imports.toml`. Nothing is imported, called or unpickled.
//!
//! - `ops`: the opcode set and a zero-copy instruction reader; `cparse`: text operands parsed
//!   the way CPython's `_pickle.c` parses them.
//! - `value`: symbolic values and the node arena; `budget`: what a stream keeps once its memory
//!   budget is spent.
//! - `render`: Python-like rendering of values for evidence.
//! - `vm`: the stack machine for one stream; `memo`: its memo, thinned to what the stream reads
//!   back once it is large; `rare`: its opcodes off the hot path; `salvage`:
//!   what is read of the data after the machine halts.
//! - `globals`: the stream's import table and how GLOBAL, INST and STACK_GLOBAL resolve.
//! - `extract`: strings of calls and states handed to the signature engine.
//! - `inspect`: calls, mutations of globals, nested pickles, joblib arrays, import findings.
//! - `imports`: the import policy and the generated table of canonical names; `checked`:
//!   callables judged call by call (getattr, partial) and helpers that call their arguments.
//! - `plain`: a quick reading of streams that are plain data, which need no machine, by their
//!   shape; `batch`: the same reading for a large container's later batches of plain data.
//! - `layout`: several streams in one file, legacy PyTorch storages, trailing data; `frames`:
//!   the second reading of a stream whose operand runs past a frame, as a file reader sees it.
//! - `sniff`: recognising a pickle by its first bytes.
//! - `tensors`: what `_rebuild_tensor_v2` calls declare (storage, offset, shape, stride) and the
//!   state-dict keys they sit under, kept for the robustness probe.

mod batch;
mod budget;
mod carried;
mod checked;
mod cparse;
mod extract;
mod frames;
mod globals;
mod imports;
mod inspect;
mod joblib_files;
mod layout;
mod memo;
mod ops;
mod plain;
mod rare;
mod rebuild;
mod render;
mod salvage;
mod sniff;
mod tensors;
mod value;
mod vm;

#[cfg(test)]
mod tests;

use crate::config::Config;
use crate::scan::context::Ctx;

pub use imports::PolicyError;
/// The import policy, for other formats that import by name (skops, Hydra configs).
pub use imports::{Class, Classification, Denial, classify};

/// Analyses every pickle stream in `data` (starting at offset 0) and reports what loading it
/// would import, call and mutate.
pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    layout::analyse(data, ctx);
}

/// Whether `data` starts like a pickle: a PROTO 2–5 header followed by an opcode, or a
/// plausible run of protocol 0/1 opcodes.
pub fn looks_like_pickle(data: &[u8]) -> bool {
    sniff::looks_like_pickle(data)
}

/// Checks the user's `--allow-global`/`--deny-global` entries before any scan starts.
pub fn validate_config(config: &Config) -> Result<(), PolicyError> {
    imports::validate_config(config)
}

/// The embedded import tables (signatures/pickle-imports.toml), for the settings fingerprint.
pub fn imports_table() -> &'static str {
    imports::POLICY_TOML
}

/// The strings a pickle carries when it loads persistent ids (PyTorch's `data.pkl` names each
/// tensor storage by a key string inside a `('storage', type, key, location, size)` id): every
/// string operand of the first stream, or nothing when the stream loads no persistent id. Read
/// opcode by opcode, nothing evaluated.
pub fn persistent_keys(data: &[u8]) -> Vec<Vec<u8>> {
    let mut strings: Vec<Vec<u8>> = Vec::new();
    let mut persistent = false;
    let mut pos = 0usize;
    while let Ok(instr) = ops::read(data, pos) {
        match (instr.op, instr.arg) {
            (ops::Op::Stop, _) => break,
            (ops::Op::PersId, ops::Arg::Line(pid)) => {
                persistent = true;
                strings.push(pid.to_vec());
            }
            (ops::Op::BinPersId, _) => persistent = true,
            (
                ops::Op::Unicode
                | ops::Op::BinUnicode
                | ops::Op::ShortBinUnicode
                | ops::Op::BinUnicode8
                | ops::Op::String
                | ops::Op::BinString
                | ops::Op::ShortBinString,
                ops::Arg::Bytes(s) | ops::Arg::Line(s),
            ) if s.len() <= 256 => strings.push(s.to_vec()),
            _ => {}
        }
        pos = instr.next;
    }
    if persistent { strings } else { Vec::new() }
}
