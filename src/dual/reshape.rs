//! Reshapes that stay right on CubeCL backends.
//!
//! Burn 0.21's CubeCL backends (burn-wgpu, burn-cuda, with or without
//! burn-fusion) reshape a tensor that is not contiguous in memory by new
//! strides where they can. For a shape with a dim of size one after a larger
//! dim (`[n, 1]`, a column) reshaped to a higher rank that adds dims other than
//! leading ones (`[n, 1, 1]`, `[3, 3, 1]`), burn-std's `split_strides` does
//! not step past that size-one dim and gives the wrong strides: the result
//! reads other entries, without an error. Such columns are views: a column
//! `slice` at an aligned offset, the transpose of a row, an `expand`ed column
//! (docs/burn-issues.md, "A column view reshaped to a higher rank").
//!
//! [`reshape`] takes those reshapes in two steps on a CubeCL backend: to one
//! dimension first (for a tensor that is not contiguous, a copy, which the
//! backends get right), then to the shape asked for (strides of a contiguous
//! tensor). Elsewhere, and for every other reshape, it is one
//! `float_reshape`.

use burn_backend::{Backend, Shape, TensorMetadata};

use super::lanes::Prim;
use crate::fusion_warning::on_cubecl;

/// Whether reshaping `from` to `to` may take burn-std 0.21's faulty stride
/// split when the tensor is not contiguous: a higher rank that adds more than
/// leading dims, from a shape with a dim of size one after a larger one.
fn may_split_wrongly(from: &[usize], to: &[usize]) -> bool {
    if to.len() <= from.len() {
        return false;
    }
    let added = to.len() - from.len();
    let leading_only = to[added..] == *from && to[..added].iter().all(|&d| d == 1);
    let first_larger = from.iter().position(|&d| d != 1);
    let unit_after_larger = first_larger.is_some_and(|i| from[i..].contains(&1));
    !leading_only && unit_after_larger
}

/// `B::float_reshape(t, shape)`, in two steps where a CubeCL backend could get
/// it wrong (see the module docs).
pub(crate) fn reshape<B: Backend>(t: Prim<B>, shape: Shape) -> Prim<B> {
    if on_cubecl::<B>() && may_split_wrongly(t.shape().as_slice(), shape.as_slice()) {
        let flat = Shape::new([t.shape().num_elements()]);
        return B::float_reshape(B::float_reshape(t, flat), shape);
    }
    B::float_reshape(t, shape)
}

#[cfg(test)]
mod tests {
    use super::may_split_wrongly;

    #[test]
    fn the_faulty_reshapes_are_the_ones_routed_through_one_dimension() {
        // Wrong on burn-wgpu 0.21 from a column view (tests/wgpu_scenarios.rs).
        assert!(may_split_wrongly(&[9, 1], &[9, 1, 1]));
        assert!(may_split_wrongly(&[9, 1], &[3, 3, 1]));
        assert!(may_split_wrongly(&[4, 9, 1], &[4, 9, 1, 1]));
        // Wrong there too, among random views (tests/wgpu_scenarios/views.rs).
        assert!(may_split_wrongly(&[8, 8, 1], &[2, 2, 2, 8]));
        assert!(may_split_wrongly(&[2, 1, 1], &[2, 1, 1, 1, 1]));
        assert!(may_split_wrongly(&[2, 2, 1], &[1, 2, 2, 1, 1]));
        assert!(may_split_wrongly(&[4, 1, 1], &[1, 2, 2, 1]));
        // Right there: leading dims only, no size-one dim after a larger one,
        // or no higher rank.
        assert!(!may_split_wrongly(&[9, 1], &[1, 9, 1]));
        assert!(!may_split_wrongly(&[1, 9], &[1, 3, 3]));
        assert!(!may_split_wrongly(&[4, 9], &[4, 1, 9]));
        assert!(!may_split_wrongly(&[9, 1], &[9]));
        assert!(!may_split_wrongly(&[9, 1], &[1, 9]));
    }
}
