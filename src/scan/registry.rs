//! The one place a format is registered: which analyser runs over it and how the robustness
//! probe treats it. The `match` is exhaustive, so a new [`Format`] does not build until it has a
//! row here. What a format *is* (its name, container-ness) is in [`crate::model::format`].

use crate::containers;
use crate::formats;
use crate::model::Format;
use crate::model::rules::RuleId;
use crate::probe::{self, Support};
use crate::scan::context::Ctx;

/// The analyser of a format.
#[derive(Clone, Copy)]
pub enum Analyser {
    /// Runs over the bytes, reporting through the context.
    Run(fn(&[u8], &mut Ctx<'_>)),
    /// Recognised, but not analysed yet: a `FMT005` finding says so (fail closed).
    NotYet,
}

/// Everything the scan needs to know about handling one format.
#[derive(Clone, Copy)]
pub struct Registration {
    pub analyser: Analyser,
    pub probe: Support,
}

const fn row(analyser: Analyser, probe: Support) -> Registration {
    Registration { analyser, probe }
}

/// The registration of `format`.
pub fn registration(format: Format) -> Registration {
    use Analyser::Run;
    use Support::{NoModel, Reads};
    match format {
        Format::Empty => row(Run(empty), NoModel),
        Format::Pickle => row(Run(formats::pickle::analyse), Reads(probe::torch::pickle)),
        Format::Numpy => row(Run(formats::numpy::analyse), Reads(probe::numpy_array)),
        Format::Zip => row(Run(zip), NoModel),
        Format::SevenZip => row(Run(containers::sevenz::analyse), NoModel),
        Format::Tar => row(Run(tar), NoModel),
        Format::Gzip => row(Run(|d, c| compressed(Format::Gzip, d, c)), NoModel),
        Format::Bzip2 => row(Run(|d, c| compressed(Format::Bzip2, d, c)), NoModel),
        Format::Xz => row(Run(|d, c| compressed(Format::Xz, d, c)), NoModel),
        Format::Lzma => row(Run(|d, c| compressed(Format::Lzma, d, c)), NoModel),
        Format::Zstd => row(Run(|d, c| compressed(Format::Zstd, d, c)), NoModel),
        Format::Zlib => row(Run(|d, c| compressed(Format::Zlib, d, c)), NoModel),
        Format::Lz4 => row(Run(|d, c| compressed(Format::Lz4, d, c)), NoModel),
        Format::JoblibZfile => row(Run(|d, c| compressed(Format::JoblibZfile, d, c)), NoModel),
        Format::Safetensors => row(
            Run(formats::safetensors::analyse),
            Reads(probe::safetensors),
        ),
        Format::Onnx => row(Run(formats::onnx::analyse), Reads(probe::onnx_model)),
        Format::Gguf => row(Run(formats::gguf::analyse), Reads(probe::gguf::gguf)),
        Format::GgmlLegacy => row(Run(formats::gguf::analyse_legacy), NoModel),
        Format::Executable => row(Run(formats::executable::analyse), NoModel),
        Format::Hdf5 => row(Run(formats::hdf5::analyse), Support::NotYet("hdf5 tensors")),
        Format::Tensorflow => row(
            Run(formats::tensorflow::analyse),
            Support::NotYet("tensorflow tensors"),
        ),
        Format::Tflite => row(
            Run(formats::tflite::analyse),
            Support::NotYet("tflite tensors"),
        ),
        Format::Msgpack => row(Run(formats::msgpack::analyse), NoModel),
        Format::XgboostUbj => row(Run(formats::gbm::analyse_xgboost), NoModel),
        Format::XgboostLegacy => row(Run(formats::gbm::analyse_xgboost_legacy), NoModel),
        Format::Catboost => row(Run(formats::gbm::analyse_catboost), NoModel),
        Format::Executorch => row(
            Run(formats::executorch::analyse),
            Support::NotYet("executorch tensors"),
        ),
        Format::Openvino => row(Run(formats::xmlmodel::analyse_openvino), NoModel),
        Format::Pmml => row(Run(formats::xmlmodel::analyse_pmml), NoModel),
        Format::Coreml => row(Run(formats::coreml::analyse), NoModel),
        Format::Ort => row(Run(formats::onnx::ort::analyse), NoModel),
        Format::Text => row(Run(text), NoModel),
        Format::Unknown => row(Run(unknown), NoModel),
    }
}

/// A TorchScript archive's code is read first: its pickles name its own classes; a TorchServe
/// archive's manifest too: it says which members the server imports.
fn zip(data: &[u8], ctx: &mut Ctx<'_>) {
    // Archives back to back (a torch.distributed.checkpoint shard) are each read on their own.
    if containers::zip::analyse_concatenated(data, ctx) {
        return;
    }
    let code = formats::torchscript::prepare(data, ctx);
    let scoped = code.is_some();
    ctx.state().archive_code.extend(code);
    let mar = formats::torchserve::prepare(data, ctx);
    let served = mar.is_some();
    ctx.state().mar.extend(mar);
    containers::zip::analyse(data, ctx);
    if served {
        ctx.state().mar.pop();
    }
    if scoped {
        ctx.state().archive_code.pop();
    }
}

/// A tar written by `torch-model-archiver --archive-format tgz` is a TorchServe archive: its
/// manifest is read first, as in a zip.
fn tar(data: &[u8], ctx: &mut Ctx<'_>) {
    let mar = formats::torchserve::prepare_tar(data, ctx);
    let served = mar.is_some();
    ctx.state().mar.extend(mar);
    containers::tar::analyse(data, ctx);
    if served {
        ctx.state().mar.pop();
    }
}

fn text(data: &[u8], ctx: &mut Ctx<'_>) {
    if formats::torchserve::analyse_member(data, ctx) {
        return;
    }
    if formats::coreml::package::analyse_manifest(data, ctx) {
        return;
    }
    if formats::skops::analyse_text(data, ctx) || formats::nemo::analyse_text(data, ctx) {
        return;
    }
    if !formats::keras::analyse_text(data, ctx) {
        formats::text::analyse(data, ctx);
    }
}

fn compressed(format: Format, data: &[u8], ctx: &mut Ctx<'_>) {
    // An Orbax checkpoint's OCDBT data file starts with a zstd frame and goes on with more.
    if format == Format::Zstd && formats::ocdbt::analyse_data_file(data, ctx) {
        return;
    }
    containers::compress::analyse(format, data, ctx);
}

fn empty(_: &[u8], ctx: &mut Ctx<'_>) {
    ctx.report(RuleId::EmptyFile, None, "the file is empty", None);
}

fn unknown(data: &[u8], ctx: &mut Ctx<'_>) {
    if let Some(kind) = formats::data::recognise(data) {
        return ctx.report(
            RuleId::DataFile,
            Some(0),
            format!("a {kind}: data that no model loader runs"),
            None,
        );
    }
    if formats::ocdbt::analyse_data_file(data, ctx) {
        return;
    }
    if let Some(owner) = ctx
        .disk_path()
        .and_then(formats::xmlmodel::openvino_weights_owner)
    {
        return ctx.report(
            RuleId::OpenvinoWeightsFile,
            None,
            format!("raw weights that the OpenVINO model `{owner}` beside this file reads"),
            None,
        );
    }
    if formats::tensorflow::analyse_sidecar(data, ctx) || formats::onnx::analyse_tensor(data, ctx) {
        return;
    }
    let max_bytes = ctx.config().onnx.max_bytes;
    if let Some(owner) = ctx
        .disk_path()
        .and_then(|path| formats::onnx::external_data_owner(path, max_bytes))
    {
        return ctx.report(
            RuleId::OnnxExternalDataFile,
            None,
            format!("raw tensor bytes that the ONNX model `{owner}` names as its external data"),
            None,
        );
    }
    ctx.report(
        RuleId::UnknownFormat,
        Some(0),
        format!(
            "content matches no format the scanner analyses (starts with {})",
            crate::detect::hex_prefix(data, 8)
        ),
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formats recognised but not analysed yet are named, so that one gaining an analyser is
    /// noticed here (and its FMT005 samples updated).
    #[test]
    fn formats_not_analysed_yet() {
        let not_yet: Vec<Format> = Format::ALL
            .iter()
            .copied()
            .filter(|&f| matches!(registration(f).analyser, Analyser::NotYet))
            .collect();
        assert_eq!(not_yet, Vec::<Format>::new());
    }

    /// Containers hand their members to the probe through detection, never their own bytes.
    #[test]
    fn containers_are_not_probed_whole() {
        for &format in Format::ALL.iter().filter(|f| f.is_container()) {
            assert!(
                matches!(registration(format).probe, Support::NoModel),
                "{format}"
            );
        }
    }
}
