//! burn-fusion: how to tell it is there, and a warning, once per process.
//!
//! Burn 0.21's burn-fusion (the `fusion` feature of burn-wgpu and burn-cuda,
//! on in Burn's defaults) returned wrong values, deterministically and without
//! an error, in two cases found through lavapipe (docs/burn-issues.md,
//! "burn-fusion returns wrong values"):
//!
//! - a `select` (or `gather`) of one index, fused into a kernel that is wider
//!   along the selected dim. The cause is traced to burn-cubecl-fusion's code,
//!   and `Dual` routes around it (`select_exact` and `gather` in
//!   `dual/rules/index.rs`, checked by `tests/wgpu_scenarios.rs`,
//!   `forward_laplacian_through_fused_selects`); a user's own code outside the
//!   transforms can still meet it;
//! - a sum over the last dim of a `swap_dims`ed input times a broadcast
//!   operand, with an op after the sum, all fused into one reduction (plain
//!   Burn, `tests/wgpu_scenarios.rs`,
//!   `burn_fusion_reduce_of_a_swapped_broadcast_product`). Burn's own backward
//!   passes produce it, where `Dual`'s rules cannot reach: with
//!   `max_blocks = 1`, the naive path's input gradient of the
//!   `jacobian_regularization` scenario.
//!
//! No check of an output can tell such a wrong value from a right one at run
//! time. Refusing burn-fusion would take the GPU away from every user; saying
//! nothing would leave a wrong value without a word. The warning says what to
//! do instead: take columns with `slice`, check once against the CPU, or run on
//! CubeCL's backend without burn-fusion, where no fault of burn-fusion's can
//! arise, at about three times the kernel launches.

use std::sync::Once;

/// Whether `B` runs on burn-fusion, alone or under other layers (`Autodiff`,
/// `Dual`).
pub(crate) fn on_fusion<B>() -> bool {
    // A backend type names its layers (`Fusion<CubeBackend<..>>`); burn-fusion
    // offers no trait to ask.
    std::any::type_name::<B>().contains("burn_fusion::")
}

/// Whether `B` runs on a CubeCL backend (burn-cubecl: burn-wgpu, burn-cuda),
/// with or without burn-fusion, alone or under other layers.
pub(crate) fn on_cubecl<B>() -> bool {
    std::any::type_name::<B>().contains("burn_cubecl::")
}

/// Prints the warning the first time a transform runs on a burn-fusion
/// backend `B`.
pub(crate) fn check<B>() {
    static WARNED: Once = Once::new();
    if !on_fusion::<B>() {
        return;
    }
    WARNED.call_once(|| {
        eprintln!(
            "burn-nested: warning: this backend runs on burn-fusion, and Burn 0.21's burn-fusion \
             returned wrong values, without an error, in some of burn-nested's tests. The \
             transforms avoid one case (a `select` or `gather` of one index, fused with a \
             wider op; in your own code on this backend, take columns with `slice`), not the \
             other (a sum over a swapped, broadcast product). Compare your function's derivatives on this backend \
             with the CPU's once (`burn_nested::check`, or the same call on `NdArray`), or run \
             on the backend without burn-fusion, e.g. `burn_wgpu::CubeBackend<WgpuRuntime, \
             f32, i32, u32>` in place of `Wgpu` (no burn-fusion fault can arise there; it \
             launches more kernels; docs/backends.md, \"burn-fusion\")"
        );
    });
}
