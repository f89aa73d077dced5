//! A warning, once per process, on backends built on burn-fusion.
//!
//! Burn 0.21's burn-fusion (the `fusion` feature of burn-wgpu and burn-cuda,
//! on in Burn's defaults) returned wrong nested derivatives, deterministically
//! and without an error, for some functions in this crate's tests, through
//! lavapipe (docs/burn-issues.md, "burn-fusion returns wrong values"):
//!
//! - with its default setting (`[fusion.beam_search] max_blocks = 5`), a forward
//!   Laplacian through `select`ed columns (`tests/wgpu_scenarios.rs`,
//!   `forward_laplacian_through_fused_selects`);
//! - with `max_blocks = 1`, the naive path's input gradient of the
//!   `jacobian_regularization` scenario, which the default setting gets right.
//!
//! The ops burn-nested hands the backend are ordinary Burn ops on owned tensors,
//! so no rule of this crate can avoid the fault, and no check of the output
//! can tell a wrong value from a right one at run time. Refusing burn-fusion
//! would take the GPU away from every user; saying nothing would leave a wrong
//! derivative without a word. The warning says what to do instead: check once
//! against the CPU, or run on CubeCL's backend without burn-fusion, where no
//! fault of burn-fusion's can arise (the same tests check the `select` case on
//! it), at about three times the kernel launches.

use std::sync::Once;

/// Prints the warning the first time a transform runs on a burn-fusion
/// backend `B`.
pub(crate) fn check<B>() {
    static WARNED: Once = Once::new();
    // A backend type names its layers (`Fusion<CubeBackend<..>>`); burn-fusion
    // offers no trait to ask.
    if !std::any::type_name::<B>().contains("burn_fusion::") {
        return;
    }
    WARNED.call_once(|| {
        eprintln!(
            "burn-nested: warning: this backend runs on burn-fusion, and Burn 0.21's burn-fusion \
             returned wrong nested derivatives, without an error, for some functions in \
             burn-nested's tests. Compare your function's derivatives on this backend with the \
             CPU's once (`burn_nested::check`, or the same call on `NdArray`), or run on the \
             backend without burn-fusion, e.g. `burn_wgpu::CubeBackend<WgpuRuntime, f32, i32, \
             u32>` in place of `Wgpu` (no burn-fusion fault can arise there; it launches more \
             kernels; docs/backends.md, \"burn-fusion\")"
        );
    });
}
