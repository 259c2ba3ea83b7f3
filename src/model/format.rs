//! The formats the scanner recognises from content, and what each one is.
//!
//! One row per format in the `formats!` table below: its name in reports, whether it packs other
//! files (a container: signatures match its members, not its own bytes) and whether reading it as
//! bytes can run code. The analyser of each format is registered in `scan::registry`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! formats {
    ($(
        $(#[$doc:meta])*
        $variant:ident => { name: $name:literal, container: $container:literal, carries_code: $code:literal $(,)? }
    ),* $(,)?) => {
        /// A format recognised from content.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Format {
            $($(#[$doc])* $variant),*
        }

        impl Format {
            /// Every format, in table order.
            pub const ALL: &'static [Format] = &[$(Format::$variant),*];

            /// The name used in reports.
            pub fn name(self) -> &'static str {
                match self {
                    $(Format::$variant => $name),*
                }
            }

            /// Its bytes are other files packed or compressed: the members are what gets
            /// analysed and matched, not the container's own bytes.
            pub fn is_container(self) -> bool {
                match self {
                    $(Format::$variant => $container),*
                }
            }

            /// Pickles and the containers that can hold one: content that can run code when a
            /// loader reads it as bytes (followed even inside opaque tensor storage).
            pub fn can_carry_code(self) -> bool {
                match self {
                    $(Format::$variant => $code),*
                }
            }
        }
    };
}

formats! {
    Empty => { name: "empty", container: false, carries_code: false },
    Pickle => { name: "pickle", container: false, carries_code: true },
    /// A `.npy` array: an object array's data is a pickle.
    Numpy => { name: "numpy", container: false, carries_code: true },
    Zip => { name: "zip", container: true, carries_code: true },
    SevenZip => { name: "7z", container: true, carries_code: true },
    Tar => { name: "tar", container: true, carries_code: true },
    Gzip => { name: "gzip", container: true, carries_code: true },
    Bzip2 => { name: "bzip2", container: true, carries_code: true },
    Xz => { name: "xz", container: true, carries_code: true },
    /// The legacy `.lzma` ("LZMA alone") container that joblib's `lzma` compressor writes.
    Lzma => { name: "lzma", container: true, carries_code: true },
    Zstd => { name: "zstd", container: true, carries_code: true },
    /// A bare zlib stream, as joblib's `zlib` compressor writes.
    Zlib => { name: "zlib", container: true, carries_code: true },
    /// An LZ4 frame, as joblib's `lz4` compressor writes.
    Lz4 => { name: "lz4", container: true, carries_code: true },
    /// joblib's own pre-0.10 compressed file: `ZF`, the data length in hex padded to 19
    /// bytes, then a zlib stream.
    JoblibZfile => { name: "joblib-zfile", container: true, carries_code: true },
    /// safetensors: an 8-byte little-endian header length, then a JSON header.
    Safetensors => { name: "safetensors", container: false, carries_code: false },
    /// An ONNX `ModelProto` (protobuf).
    Onnx => { name: "onnx", container: false, carries_code: false },
    /// GGUF (llama.cpp): weights plus metadata, including a Jinja chat template.
    Gguf => { name: "gguf", container: false, carries_code: false },
    /// llama.cpp's formats before GGUF (`ggml`, `ggmf`, `ggjt` magics).
    GgmlLegacy => { name: "ggml", container: false, carries_code: false },
    /// An ELF, PE, Mach-O or Actually Portable Executable (llamafile). What it carries (an
    /// appended zip, an embedded GGUF) is analysed as members.
    Executable => { name: "executable", container: false, carries_code: false },
    /// HDF5, as Keras `.h5` models use (they can carry marshalled Python in Lambda layers).
    Hdf5 => { name: "hdf5", container: false, carries_code: false },
    /// A TensorFlow protobuf: SavedModel, MetaGraphDef, GraphDef, Keras's keras_metadata.pb.
    Tensorflow => { name: "tensorflow", container: false, carries_code: false },
    /// A TFLite FlatBuffer.
    Tflite => { name: "tflite", container: false, carries_code: false },
    /// MessagePack, as Flax writes model state (`flax.serialization.to_bytes`).
    Msgpack => { name: "msgpack", container: false, carries_code: false },
    /// An XGBoost model in UBJSON (`Booster.save_model("*.ubj")`).
    XgboostUbj => { name: "xgboost-ubj", container: false, carries_code: false },
    /// An XGBoost model in the legacy binary format (`binf`, parameters, objective and booster
    /// names, the booster; what `save_model` wrote before XGBoost 2.0).
    XgboostLegacy => { name: "xgboost-binary", container: false, carries_code: false },
    /// A CatBoost model (`.cbm`: `CBM1`, then a FlatBuffers model core).
    Catboost => { name: "catboost", container: false, carries_code: false },
    /// An ExecuTorch program (`.pte`: a FlatBuffer with the `ET12` identifier).
    Executorch => { name: "executorch", container: false, carries_code: false },
    /// An OpenVINO IR model description (`<net>` XML; its weights are the `.bin` beside it).
    Openvino => { name: "openvino", container: false, carries_code: false },
    /// A PMML document (`<PMML>` XML).
    Pmml => { name: "pmml", container: false, carries_code: false },
    /// A Core ML model (`.mlmodel`: a `CoreML.Specification.Model` protobuf).
    Coreml => { name: "coreml", container: false, carries_code: false },
    /// An ONNX Runtime ORT-format model (`.ort`: a FlatBuffer with the `ORTM` identifier).
    Ort => { name: "ort", container: false, carries_code: false },
    Text => { name: "text", container: false, carries_code: false },
    Unknown => { name: "unknown", container: false, carries_code: false },
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no format's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a format name")]
pub struct UnknownFormatName(pub String);

impl FromStr for Format {
    type Err = UnknownFormatName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFormatName(s.to_owned()))
    }
}

impl Serialize for Format {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// What an artifact is called in reports: its format, or for a zip the PyTorch layout its
/// members make it (`torch.save`: `<name>/data.pkl` beside `<name>/data/`; `torch.jit.save`:
/// also `<name>/constants.pkl` and `<name>/code/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    Format(Format),
    PytorchZip,
    Torchscript,
    /// A Keras 3 `.keras` archive (config.json, metadata.json, model.weights.h5 at the root).
    Keras,
    /// A skops archive: a flat zip with `schema.json` at the root.
    Skops,
    /// A NeMo `.nemo` model: a tar with `model_config.yaml` at its root.
    Nemo,
    /// A TorchServe `.mar` archive: a zip with `MAR-INF/MANIFEST.json`.
    Torchserve,
    /// The file could not be read, so nothing is known of its content.
    Unreadable,
}

impl Label {
    pub fn name(self) -> &'static str {
        match self {
            Label::Format(format) => format.name(),
            Label::PytorchZip => "pytorch-zip",
            Label::Torchscript => "torchscript",
            Label::Keras => "keras",
            Label::Skops => "skops",
            Label::Nemo => "nemo",
            Label::Torchserve => "torchserve",
            Label::Unreadable => "unreadable",
        }
    }

    /// The format underneath the label, if the content was read.
    pub fn format(self) -> Option<Format> {
        match self {
            Label::Format(format) => Some(format),
            Label::PytorchZip
            | Label::Torchscript
            | Label::Keras
            | Label::Skops
            | Label::Torchserve => Some(Format::Zip),
            Label::Nemo => Some(Format::Tar),
            Label::Unreadable => None,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reports are compared with format names in tests and filters.
impl PartialEq<&str> for Format {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl PartialEq<&str> for Label {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl FromStr for Label {
    type Err = UnknownFormatName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pytorch-zip" => Ok(Label::PytorchZip),
            "torchscript" => Ok(Label::Torchscript),
            "keras" => Ok(Label::Keras),
            "skops" => Ok(Label::Skops),
            "nemo" => Ok(Label::Nemo),
            "torchserve" => Ok(Label::Torchserve),
            "unreadable" => Ok(Label::Unreadable),
            _ => s.parse().map(Label::Format),
        }
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for &format in Format::ALL {
            assert_eq!(format.name().parse::<Format>(), Ok(format));
            assert_eq!(
                Label::Format(format).name().parse::<Label>(),
                Ok(Label::Format(format))
            );
        }
        for label in [
            Label::PytorchZip,
            Label::Torchscript,
            Label::Skops,
            Label::Nemo,
            Label::Torchserve,
            Label::Unreadable,
        ] {
            assert_eq!(label.name().parse::<Label>(), Ok(label));
            assert!(label.name().parse::<Format>().is_err());
        }
    }

    #[test]
    fn containers_can_carry_code() {
        for &format in Format::ALL {
            assert!(
                !format.is_container() || format.can_carry_code(),
                "{format}"
            );
        }
    }
}
