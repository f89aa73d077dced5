//! The `--device` of the examples and benches: the CPU ([`Cpu`], burn-ndarray
//! with this crate's faster kernels, or burn-ndarray as it is), wgpu or CUDA,
//! each GPU backend in f32 behind the crate feature of the same name, with
//! burn-fusion (Burn's default) or without it (`wgpu-unfused`, `cuda-unfused`:
//! every op its own kernel; docs/backends.md, "burn-fusion").
//!
//! [`Wgpu`], [`Cuda`], [`WgpuUnfused`] and [`CudaUnfused`] name the backends
//! whatever the features, so a binary dispatches on [`Device`] with plain generic
//! calls and no `cfg`: without its feature a name stands for `NdArray<f32>`, and
//! [`check`] exits before anything runs on it.
//!
//! burn-cuda loads the CUDA driver and NVRTC when its device first starts, and
//! NVRTC compiles each kernel against the CUDA toolkit's headers. A missing
//! piece panics on CubeCL's device thread, where a binary shows no clear error;
//! [`cuda_problem`] looks for each piece first (docs/backends.md, "CUDA").
// Each binary uses a different part of this module.
#![allow(dead_code)]

use clap::ValueEnum;

/// Where a binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Device {
    /// The CPU: burn-ndarray with this crate's faster kernels
    /// (`burn_nested::cpu::FastNdArray`).
    Ndarray,
    /// Burn's CPU backend (burn-ndarray) as it is, for comparison.
    BurnNdarray,
    /// Burn's wgpu backend, in f32; needs the crate's `wgpu` feature and a
    /// Vulkan driver.
    Wgpu,
    /// Burn's CUDA backend, in f32; needs the crate's `cuda` feature, an NVIDIA
    /// driver, and NVRTC and the CUDA headers of a CUDA toolkit.
    Cuda,
    /// Burn's wgpu backend without burn-fusion (CubeCL's backend as it is): every
    /// op launches its own kernel; needs the crate's `wgpu` feature.
    WgpuUnfused,
    /// Burn's CUDA backend without burn-fusion; needs what `cuda` needs.
    CudaUnfused,
}

impl Device {
    /// The name `--device` takes, which also labels results.
    pub fn name(self) -> &'static str {
        match self {
            Device::Ndarray => "ndarray",
            Device::BurnNdarray => "burn-ndarray",
            Device::Wgpu => "wgpu",
            Device::Cuda => "cuda",
            Device::WgpuUnfused => "wgpu-unfused",
            Device::CudaUnfused => "cuda-unfused",
        }
    }

    /// The crate feature the backend needs (`None` for the CPU).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Device::Ndarray | Device::BurnNdarray => None,
            Device::Wgpu | Device::WgpuUnfused => Some("wgpu"),
            Device::Cuda | Device::CudaUnfused => Some("cuda"),
        }
    }

    /// Whether the binary was built with the backend.
    pub fn built(self) -> bool {
        match self {
            Device::Ndarray | Device::BurnNdarray => true,
            Device::Wgpu | Device::WgpuUnfused => cfg!(feature = "wgpu"),
            Device::Cuda | Device::CudaUnfused => cfg!(feature = "cuda"),
        }
    }

    /// The device named `name` (`ndarray`, `burn-ndarray`, `wgpu`, `cuda`,
    /// `wgpu-unfused` or `cuda-unfused`), for the benches' hand-parsed command
    /// lines; exits with status 2 on another name.
    pub fn parse(name: &str) -> Device {
        Device::from_str(name, true).unwrap_or_else(|_| {
            eprintln!(
                "error: unknown device {name:?}; expected ndarray, burn-ndarray, wgpu, cuda, \
                 wgpu-unfused or cuda-unfused"
            );
            std::process::exit(2)
        })
    }
}

/// The CPU backend of `--device ndarray`: burn-ndarray with this crate's faster
/// kernels, in f32.
pub type Cpu = burn_nested::cpu::FastNdArray<f32>;

/// Burn's wgpu backend in f32 (`NdArray<f32>` without the `wgpu` feature).
#[cfg(feature = "wgpu")]
pub type Wgpu = burn_wgpu::Wgpu<f32>;
/// Burn's wgpu backend in f32 (`NdArray<f32>` without the `wgpu` feature).
#[cfg(not(feature = "wgpu"))]
pub type Wgpu = burn_ndarray::NdArray<f32>;

/// Burn's CUDA backend in f32 (`NdArray<f32>` without the `cuda` feature).
#[cfg(feature = "cuda")]
pub type Cuda = burn_cuda::Cuda<f32>;
/// Burn's CUDA backend in f32 (`NdArray<f32>` without the `cuda` feature).
#[cfg(not(feature = "cuda"))]
pub type Cuda = burn_ndarray::NdArray<f32>;

/// Burn's wgpu backend in f32 without burn-fusion (`NdArray<f32>` without the
/// `wgpu` feature). The crate's `wgpu` feature turns burn-wgpu's `fusion` on, so
/// [`Wgpu`] is fused; CubeCL's backend itself is always there.
#[cfg(feature = "wgpu")]
pub type WgpuUnfused = burn_wgpu::CubeBackend<burn_wgpu::WgpuRuntime, f32, i32, u32>;
/// Burn's wgpu backend in f32 without burn-fusion (`NdArray<f32>` without the
/// `wgpu` feature).
#[cfg(not(feature = "wgpu"))]
pub type WgpuUnfused = burn_ndarray::NdArray<f32>;

/// Burn's CUDA backend in f32 without burn-fusion (`NdArray<f32>` without the
/// `cuda` feature), with the index and bool types of [`Cuda`].
#[cfg(feature = "cuda")]
pub type CudaUnfused =
    burn_cubecl::CubeBackend<burn_cubecl::cubecl::cuda::CudaRuntime, f32, i32, u8>;
/// Burn's CUDA backend in f32 without burn-fusion (`NdArray<f32>` without the
/// `cuda` feature).
#[cfg(not(feature = "cuda"))]
pub type CudaUnfused = burn_ndarray::NdArray<f32>;

/// Exits with status 2 if the binary was built without `device`'s feature, and
/// with status 1 if `device` is CUDA and [`cuda_problem`] finds something
/// missing.
pub fn check(device: Device) {
    let name = device.name();
    if !device.built() {
        let feature = device.feature().unwrap_or(name);
        eprintln!(
            "error: --device {name} needs the crate's `{feature}` feature; rebuild with --features {feature}"
        );
        std::process::exit(2)
    }
    if matches!(device, Device::Cuda | Device::CudaUnfused)
        && let Some(problem) = cuda_problem()
    {
        eprintln!("error: --device {name} cannot run here: {problem} (docs/backends.md, \"CUDA\")");
        std::process::exit(1)
    }
}

/// What keeps burn-cuda from running on this machine, or `None` if the driver
/// starts, NVRTC loads and the CUDA headers are found. It loads the libraries as
/// cudarc does (the same names, in the same order) and calls `cuInit`.
pub fn cuda_problem() -> Option<String> {
    // cudarc tries `libcuda.so` first: a toolkit's `stubs/` folder on
    // LD_LIBRARY_PATH wins over the driver's `libcuda.so.1`.
    let Some(driver) = open_first(&["libcuda.so", "libcuda.so.1"]) else {
        return Some(
            "no CUDA driver: libcuda.so and libcuda.so.1 do not load (an NVIDIA driver installs them)"
                .into(),
        );
    };
    // SAFETY: `cuInit` has this signature in every CUDA driver API version; it
    // only initializes the driver and may be called more than once.
    let code = unsafe {
        let symbol = libc::dlsym(driver, c"cuInit".as_ptr());
        if symbol.is_null() {
            return Some("the CUDA driver library has no cuInit".into());
        }
        let cu_init: extern "C" fn(u32) -> i32 = std::mem::transmute(symbol);
        cu_init(0)
    };
    match code {
        0 => {}
        34 => {
            return Some(
                "the CUDA toolkit's stub libcuda was loaded (CUDA_ERROR_STUB_LIBRARY): take its \
                 stubs/ folder off LD_LIBRARY_PATH"
                    .into(),
            );
        }
        100 => return Some("cuInit found no CUDA device (CUDA_ERROR_NO_DEVICE)".into()),
        35 => {
            return Some(
                "the NVIDIA driver is older than CUDA needs (CUDA_ERROR_INSUFFICIENT_DRIVER)"
                    .into(),
            );
        }
        code => return Some(format!("cuInit failed with CUDA error {code}")),
    }
    if open_first(&[
        "libnvrtc.so",
        "libnvrtc.so.13",
        "libnvrtc.so.12",
        "libnvrtc.so.11",
    ])
    .is_none()
    {
        return Some(
            "NVRTC (libnvrtc.so) does not load: put the CUDA toolkit's library folder (e.g. \
             /usr/local/cuda/targets/x86_64-linux/lib, never its stubs/ folder) on LD_LIBRARY_PATH"
                .into(),
        );
    }
    // CubeCL compiles every kernel with NVRTC against `<toolkit>/include`, the
    // toolkit found as `cubecl_cuda::cuda_path` finds it.
    let toolkit = std::env::var_os("CUDA_PATH")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            ["/usr/local/cuda", "/opt/cuda"]
                .into_iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.exists())
        })
        .or_else(|| {
            std::path::Path::new("/usr/bin/nvcc")
                .exists()
                .then(|| "/usr".into())
        });
    match toolkit {
        None => Some(
            "no CUDA toolkit for NVRTC's headers: set CUDA_PATH to the folder that holds \
             include/cuda_runtime.h (CubeCL looks only at CUDA_PATH, /usr/local/cuda, /opt/cuda \
             and /usr when /usr/bin/nvcc exists)"
                .into(),
        ),
        Some(path) if !path.join("include/cuda_runtime.h").exists() => Some(format!(
            "{}/include/cuda_runtime.h does not exist: set CUDA_PATH to the CUDA toolkit's folder",
            path.display()
        )),
        Some(_) => None,
    }
}

/// The first of `names` that `dlopen` loads; the handle is never closed.
fn open_first(names: &[&str]) -> Option<*mut libc::c_void> {
    names.iter().find_map(|name| {
        let name = std::ffi::CString::new(*name).expect("no NUL in a library name");
        // SAFETY: `name` is a NUL-terminated string; loading a library runs its
        // initializers, as cudarc's own loading would.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        (!handle.is_null()).then_some(handle)
    })
}
