//! The device the probe computes on: the CPU, or a CUDA GPU when built with the `cuda` feature.

use candle_core::Device;

use crate::config::DeviceKind;

/// Whether this build can use a CUDA GPU.
pub const CUDA_COMPILED: bool = cfg!(feature = "cuda");

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("--device cuda needs a build with the `cuda` feature (cargo build --features cuda)")]
    NotCompiled,
    #[error("no usable CUDA device: {0}")]
    Unavailable(String),
}

/// Opens the device. CUDA contexts are costly, so the GPU is opened once per process.
pub fn open(kind: DeviceKind) -> Result<Device, DeviceError> {
    match kind {
        DeviceKind::Cpu => Ok(Device::Cpu),
        DeviceKind::Cuda if !CUDA_COMPILED => Err(DeviceError::NotCompiled),
        DeviceKind::Cuda => {
            static CUDA: std::sync::OnceLock<Result<Device, String>> = std::sync::OnceLock::new();
            CUDA.get_or_init(|| Device::new_cuda(0).map_err(|e| e.to_string()))
                .clone()
                .map_err(DeviceError::Unavailable)
        }
    }
}

/// How a device is named in reports.
pub fn name(device: &Device) -> &'static str {
    match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda:0",
        Device::Metal(_) => "metal",
    }
}
