//! Executables among model files: ELF, PE, Mach-O and Cosmopolitan's Actually Portable
//! Executables (llamafile: the llama.cpp server as an APE, with the GGUF weights stored in a zip
//! appended to it). An executable is never "just weights": it is a finding of its own. What it
//! carries is analysed: the zip (through the engine's second reading from the end) and any GGUF
//! found inside.

use crate::bytes::ReadRef;
use crate::model::rules::RuleId;
use crate::scan::context::{Ctx, MemberKind};

/// The kind of executable `data` starts as, if any.
pub fn kind(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"MZqFpD") || data.starts_with(b"jartsr") {
        return Some("Actually Portable Executable (Cosmopolitan, as llamafile ships)");
    }
    if data.starts_with(b"\x7fELF") {
        return Some("ELF executable");
    }
    if data.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]) || data.starts_with(&[0xce, 0xfa, 0xed, 0xfe]) {
        return Some("Mach-O executable");
    }
    if data.starts_with(b"MZ") {
        let pe = data.u32_le(0x3c).ok().map(|at| at as usize);
        if pe.is_some_and(|at| data.has_at(at, b"PE\0\0")) {
            return Some("Windows PE executable");
        }
    }
    None
}

/// GGUF headers further in (version 1–3 after the magic), at most this many analysed.
const MAX_EMBEDDED: usize = 4;

pub fn analyse(data: &[u8], ctx: &mut Ctx<'_>) {
    let what = kind(data).unwrap_or("executable");
    ctx.report(
        RuleId::ExecutableArtifact,
        Some(0),
        format!("the file is an {what}: running it runs native code with the user's rights"),
        None,
    );
    // A zip appended to the program (llamafile's weights) is analysed by the engine's reading
    // from the end; otherwise look for GGUF headers inside the program.
    if crate::detect::has_zip_end_record(data) {
        return;
    }
    let mut found = 0;
    for at in memchr::memmem::find_iter(data, b"GGUF") {
        if at == 0 || found >= MAX_EMBEDDED {
            continue;
        }
        if matches!(data.u32_le(at + 4), Ok(1..=3)) {
            found += 1;
            ctx.nested(
                &format!("embedded gguf@{at}"),
                &data[at..],
                MemberKind::File,
            );
        }
    }
}
