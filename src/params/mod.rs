//! Layer 5: a module's trainable float parameters as one flat vector, and back.
//!
//! The order is Burn's visiting order (fields in declaration order, recursively).
//! Burn's visitors also report running statistics (`BatchNorm`'s `RunningState`) as
//! float tensors; those are not parameters, so they are skipped: a tensor counts as
//! a parameter when lifting the module to `Autodiff` marks it as requiring a
//! gradient, which is exactly what an optimizer would update.

use burn::module::{HasAutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;

/// For each float tensor Burn's visitor reports, in order: is it a trainable
/// parameter (rather than running state or a frozen parameter)?
///
/// On an `Autodiff` backend the tensors say so themselves. On a plain backend the
/// module is lifted to `Autodiff` to ask. Burn drops the flags when an
/// *initialized* parameter on a plain backend is cloned; if none survive, every
/// tensor counts as a parameter (running statistics included) — build the
/// [`StatefulLayer`](crate::StatefulLayer) from the model before its first use to
/// avoid that.
pub fn trainable_mask<B, M>(module: &M) -> Vec<bool>
where
    B: Backend,
    M: Module<B> + HasAutodiffModule<Autodiff<B>>,
{
    let direct = require_grad_flags(module);
    if direct.iter().any(|&t| t) {
        return direct;
    }
    let lifted = require_grad_flags(&module.clone().train::<Autodiff<B>>());
    if lifted.iter().any(|&t| t) {
        return lifted;
    }
    vec![true; direct.len()]
}

/// Where a [`ModuleVisitor`] is in the module: the field names and indices from
/// its `enter_module`/`exit_module` calls, so a message can name a parameter by
/// its path (`layers.0.weight`) rather than by an index or an opaque id.
#[derive(Debug, Default)]
pub(crate) struct ModulePath(Vec<String>);

impl ModulePath {
    /// Called from `enter_module`.
    pub(crate) fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }

    /// Called from `exit_module`.
    pub(crate) fn exit(&mut self) {
        self.0.pop();
    }

    /// The dotted path of the tensor being visited (`<module>` for a module
    /// that is a bare parameter).
    pub(crate) fn current(&self) -> String {
        match self.0.is_empty() {
            true => "<module>".to_string(),
            false => self.0.join("."),
        }
    }
}

/// Whether each visited float tensor requires a gradient, in visiting order.
pub(crate) fn require_grad_flags<B: Backend, M: Module<B>>(module: &M) -> Vec<bool> {
    struct Flags(Vec<bool>);
    impl<B: Backend> ModuleVisitor<B> for Flags {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push(param.val().is_require_grad());
        }
    }
    let mut flags = Flags(Vec::new());
    module.visit(&mut flags);
    flags.0
}

/// Shapes of the trainable parameters, in flattening order: `[[3, 7], [7]]` for a
/// `Linear(3 → 7)` (Burn stores the weight `[in, out]`).
pub fn param_shapes<B, M>(module: &M) -> Vec<Vec<usize>>
where
    B: Backend,
    M: Module<B> + HasAutodiffModule<Autodiff<B>>,
{
    struct Shapes<'a> {
        mask: &'a [bool],
        index: usize,
        shapes: Vec<Vec<usize>>,
    }
    impl<B: Backend> ModuleVisitor<B> for Shapes<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if self.mask[self.index] {
                self.shapes.push(param.val().dims().to_vec());
            }
            self.index += 1;
        }
    }
    let mask = trainable_mask(module);
    let mut visitor = Shapes {
        mask: &mask,
        index: 0,
        shapes: Vec::new(),
    };
    module.visit(&mut visitor);
    visitor.shapes
}

/// Number of trainable parameter elements.
pub fn num_params<B, M>(module: &M) -> usize
where
    B: Backend,
    M: Module<B> + HasAutodiffModule<Autodiff<B>>,
{
    param_shapes(module)
        .iter()
        .map(|s| s.iter().product::<usize>())
        .sum()
}

/// All trainable parameters of `module` concatenated into one vector. On an
/// `Autodiff` backend the vector stays on the tape.
///
/// # Panics
/// If the module has no trainable parameter.
#[track_caller]
pub fn flatten_params<B, M>(module: &M) -> Tensor<B, 1>
where
    B: Backend,
    M: Module<B> + HasAutodiffModule<Autodiff<B>>,
{
    let mask = trainable_mask(module);
    let mut parts = Vec::new();
    visit_masked(module, &mask, |t| parts.push(t));
    assert!(
        !parts.is_empty(),
        "burn-nested: `flatten_params` found no trainable float parameter in the module (it has \
         no float tensor at all), so there is nothing to flatten; give it a module with a \
         float parameter"
    );
    Tensor::cat(parts, 0)
}

/// `module` with its trainable parameters replaced by consecutive slices of `flat`
/// (the inverse of [`flatten_params`]). Parameter ids are kept. On an `Autodiff`
/// backend, when `flat` is on a tape the new parameters stay on it (gradients flow
/// to `flat`); when it is not, each new parameter is a leaf that requires a
/// gradient, so the module trains like the original with the new weights.
///
/// # Panics
/// If `flat` does not have exactly [`num_params`] elements.
#[track_caller]
pub fn unflatten_params<B, M>(module: M, flat: Tensor<B, 1>) -> M
where
    B: Backend,
    M: Module<B> + HasAutodiffModule<Autodiff<B>>,
{
    let mask = trainable_mask(&module);
    let expected = num_params(&module);
    let [given] = flat.dims();
    assert!(
        given == expected,
        "burn-nested: `unflatten_params` needs a vector of {expected} elements (the module's \
         trainable parameters), got {given}; pass a vector from `flatten_params` of the same \
         kind of module, or one of `num_params(&module)` elements"
    );
    // Off a tape, the new parameters become leaves so the module still trains.
    let leaves = !flat.is_require_grad();
    map_masked_slices(module, &mask, leaves, &flat)
}

/// Number of elements of the masked-in float tensors: the length of the flat
/// parameter vector. Reads shapes only, so it runs no op.
pub(crate) fn masked_numel<B: Backend, M: Module<B>>(module: &M, mask: &[bool]) -> usize {
    struct Count<'a> {
        mask: &'a [bool],
        index: usize,
        numel: usize,
    }
    impl<B: Backend> ModuleVisitor<B> for Count<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if self.mask[self.index] {
                self.numel += param.lazy_shape().num_elements();
            }
            self.index += 1;
        }
    }
    let mut count = Count {
        mask,
        index: 0,
        numel: 0,
    };
    module.visit(&mut count);
    count.numel
}

/// Calls `f` on each masked-in float tensor, flattened to rank 1.
pub(crate) fn visit_masked<B: Backend, M: Module<B>>(
    module: &M,
    mask: &[bool],
    f: impl FnMut(Tensor<B, 1>),
) {
    struct Visit<'a, F> {
        mask: &'a [bool],
        index: usize,
        f: F,
    }
    impl<B: Backend, F: FnMut(Tensor<B, 1>)> ModuleVisitor<B> for Visit<'_, F> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if self.mask[self.index] {
                (self.f)(to_rank1(param.val()));
            }
            self.index += 1;
        }
    }
    module.visit(&mut Visit { mask, index: 0, f });
}

/// `tensor` flattened to rank 1. A rank-1 tensor (a bias) is only retyped: a
/// reshape to its own shape would still be an op on the backend, and on a tape
/// one more node for every backward pass to walk.
fn to_rank1<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Tensor<B, 1> {
    match D {
        1 => Tensor::from_primitive(tensor.into_primitive()),
        _ => tensor.flatten(0, D - 1),
    }
}

/// The inverse of [`to_rank1`]: `flat` reshaped to `shape`, retyped only when
/// `D` is 1 (for the same reason).
fn from_rank1<B: Backend, const D: usize>(flat: Tensor<B, 1>, shape: [usize; D]) -> Tensor<B, D> {
    match D {
        1 => Tensor::from_primitive(flat.into_primitive()),
        _ => flat.reshape(shape),
    }
}

/// What a [`Map`] puts in place of one masked-in float tensor. A trait rather
/// than a closure because the replacement is generic over the tensor's rank.
trait Replace<B: Backend> {
    /// The new value of `original`, which starts at `offset` in the flat
    /// parameter vector.
    fn replace<const D: usize>(&mut self, offset: usize, original: Tensor<B, D>) -> Tensor<B, D>;
}

/// A [`ModuleMapper`] that replaces each masked-in float tensor through `R`,
/// keeping parameter ids; with `leaves`, each new tensor (which must not be on a
/// tape) is made a leaf that requires a gradient, as a trainable parameter is.
struct Map<'a, R> {
    mask: &'a [bool],
    leaves: bool,
    index: usize,
    offset: usize,
    replace: R,
}

impl<B: Backend, R: Replace<B>> ModuleMapper<B> for Map<'_, R> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let keep = self.mask[self.index];
        self.index += 1;
        if !keep {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let n = tensor.shape().num_elements();
        let mut mapped = self.replace.replace(self.offset, tensor);
        if self.leaves {
            mapped = mapped.set_require_grad(true);
        }
        self.offset += n;
        Param::from_mapped_value(id, mapped, mapper)
    }
}

/// Runs a [`Map`] over `module`.
fn map_with<B: Backend, M: Module<B>>(
    module: M,
    mask: &[bool],
    leaves: bool,
    replace: impl Replace<B>,
) -> M {
    module.map(&mut Map {
        mask,
        leaves,
        index: 0,
        offset: 0,
        replace,
    })
}

/// Replaces each masked-in float tensor by `f(offset, flattened)`, reshaped back;
/// `offset` is the tensor's position in the flat parameter vector. With `leaves`,
/// each new tensor (which must not be on a tape) is made a leaf that requires a
/// gradient, as a trainable parameter is.
pub(crate) fn map_masked<B: Backend, M: Module<B>>(
    module: M,
    mask: &[bool],
    leaves: bool,
    f: impl FnMut(usize, Tensor<B, 1>) -> Tensor<B, 1>,
) -> M {
    struct Flat<F>(F);
    impl<B: Backend, F: FnMut(usize, Tensor<B, 1>) -> Tensor<B, 1>> Replace<B> for Flat<F> {
        fn replace<const D: usize>(
            &mut self,
            offset: usize,
            original: Tensor<B, D>,
        ) -> Tensor<B, D> {
            let shape = original.dims();
            from_rank1((self.0)(offset, to_rank1(original)), shape)
        }
    }
    map_with(module, mask, leaves, Flat(f))
}

/// Replaces each masked-in float tensor by its consecutive slice of `flat`,
/// reshaped to the tensor's shape (with `leaves` as in [`map_masked`]). The
/// original tensors are not touched, so no op runs on them: one slice per
/// tensor, and a reshape only where the shape has more than one dim. The caller
/// checks that `flat` has [`masked_numel`] entries.
pub(crate) fn map_masked_slices<B: Backend, M: Module<B>>(
    module: M,
    mask: &[bool],
    leaves: bool,
    flat: &Tensor<B, 1>,
) -> M {
    struct Slices<'a, B: Backend>(&'a Tensor<B, 1>);
    impl<B: Backend> Replace<B> for Slices<'_, B> {
        fn replace<const D: usize>(
            &mut self,
            offset: usize,
            original: Tensor<B, D>,
        ) -> Tensor<B, D> {
            let shape = original.dims();
            let n = original.shape().num_elements();
            from_rank1(self.0.clone().slice(offset..offset + n), shape)
        }
    }
    map_with(module, mask, leaves, Slices(flat))
}

/// Makes each masked-in float tensor (which must not be on a tape) a leaf that
/// requires a gradient, running no op on it: a module whose trainable parameters
/// can each be differentiated against directly, with no flat vector between.
pub(crate) fn require_grad_masked<B: Backend, M: Module<B>>(module: M, mask: &[bool]) -> M {
    struct Keep;
    impl<B: Backend> Replace<B> for Keep {
        fn replace<const D: usize>(&mut self, _: usize, original: Tensor<B, D>) -> Tensor<B, D> {
            original
        }
    }
    map_with(module, mask, true, Keep)
}
