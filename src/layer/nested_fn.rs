//! What a transform differentiates: a function it can run on `B`, on `Dual<B>`
//! (forward mode) and on `Autodiff<B>` (reverse mode).

use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;

use crate::dual::Dual;

/// A function of one tensor that burn-nested can evaluate on the plain backend
/// `B`, on `Dual<B>` (forward mode) and on `Autodiff<Dual<B>>` (reverse mode).
///
/// Inside a loss on `Autodiff<I>` (so `B = Autodiff<I>`) those are the nested
/// backends `Dual<Autodiff<I>>` and `Autodiff<Dual<Autodiff<I>>>`, whose results
/// stay on the loss's tape. Implemented by [`StatefulLayer`](crate::StatefulLayer), its
/// compositions and [`Pure`] functions.
pub trait NestedFn<B: Backend, const DI: usize, const DO: usize> {
    /// Evaluates on `B`.
    fn eval(&self, input: Tensor<B, DI>) -> Tensor<B, DO>;
    /// Evaluates on the forward-mode backend.
    fn eval_dual(&self, input: Tensor<Dual<B>, DI>) -> Tensor<Dual<B>, DO>;
    /// Evaluates on reverse mode over forward mode, `Autodiff<Dual<B>>`: with a
    /// tangent this gives Hessian-vector products; without one it is plain reverse
    /// mode (see the crate docs for why reverse mode runs over `Dual`).
    fn eval_reverse_dual(
        &self,
        input: Tensor<Autodiff<Dual<B>>, DI>,
    ) -> Tensor<Autodiff<Dual<B>>, DO>;

    /// An identity of the function's structure (which layers, in which order), the
    /// same across calls that compute the same kind of function: a
    /// [`StatefulLayer`](crate::StatefulLayer) hashes its model's type and parameter
    /// ids, compositions combine their parts. Measured switching keys its
    /// decisions on it; `None` (the default) keeps a function out of tuning. The
    /// row guard of the per-row transforms does not use it: it runs on every call.
    fn structure_key(&self) -> Option<u64> {
        None
    }

    /// An identity of the function's structure that is the same in every run of
    /// the same program (the same build), where
    /// [`structure_key`](Self::structure_key) is not: Burn draws parameter ids at
    /// random in every process. A [`StatefulLayer`](crate::StatefulLayer) hashes
    /// its model's type and the shapes of its parameters in visiting order,
    /// compositions combine their parts, with a hash fixed by burn-nested (64-bit
    /// FNV-1a) rather than std's. Tuning decisions saved to a file
    /// ([`save_tuning`](crate::settings::save_tuning)) are matched on it when loaded
    /// ([`load_tuning`](crate::settings::load_tuning)) in a later run. `None` (the default)
    /// keeps the function's decisions out of the file; they are still made and
    /// kept for the process.
    ///
    /// Two functions with the same key should compute the same kind of function
    /// at the same cost: layers of one type with parameters of the same shapes
    /// share a key whatever their values.
    fn portable_key(&self) -> Option<u64> {
        None
    }
}

/// A hash of `parts`, for [`NestedFn::structure_key`].
pub(crate) fn key_of(parts: impl core::hash::Hash) -> u64 {
    use core::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// A hash that is the same in every run of one build, for
/// [`NestedFn::portable_key`]: 64-bit FNV-1a over bytes written explicitly (std's
/// `DefaultHasher` and `Hash` impls promise no stability). Strings are written
/// with their length first, so `("ab", "c")` and `("a", "bc")` differ.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PortableHash(u64);

impl PortableHash {
    /// The hash of nothing yet, then `tag` (what kind of function this is).
    pub(crate) fn new(tag: &str) -> Self {
        Self(0xcbf2_9ce4_8422_2325).str(tag)
    }

    fn bytes(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    /// Adds a number (as its 8 little-endian bytes, whatever the platform).
    pub(crate) fn u64(self, value: u64) -> Self {
        self.bytes(&value.to_le_bytes())
    }

    /// Adds a string, its length first.
    pub(crate) fn str(self, s: &str) -> Self {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }

    /// Adds a shape, its rank first.
    pub(crate) fn dims(self, dims: &[usize]) -> Self {
        dims.iter()
            .fold(self.u64(dims.len() as u64), |h, &d| h.u64(d as u64))
    }

    /// The hash.
    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

impl<B: Backend, const DI: usize, const DO: usize, T: NestedFn<B, DI, DO> + ?Sized>
    NestedFn<B, DI, DO> for &T
{
    fn eval(&self, input: Tensor<B, DI>) -> Tensor<B, DO> {
        (**self).eval(input)
    }

    fn eval_dual(&self, input: Tensor<Dual<B>, DI>) -> Tensor<Dual<B>, DO> {
        (**self).eval_dual(input)
    }

    fn eval_reverse_dual(
        &self,
        input: Tensor<Autodiff<Dual<B>>, DI>,
    ) -> Tensor<Autodiff<Dual<B>>, DO> {
        (**self).eval_reverse_dual(input)
    }

    fn structure_key(&self) -> Option<u64> {
        (**self).structure_key()
    }

    fn portable_key(&self) -> Option<u64> {
        (**self).portable_key()
    }
}

/// A tensor function generic over the backend, such as the `f` of a nested
/// loss's `f ∘ layer`: `sum(abs2, ·)`, a physics residual, a reshape.
///
/// Closures cannot be generic, so a function is a type; [`tensor_fn!`](crate::tensor_fn)
/// declares one in a line.
pub trait TensorFn<const DI: usize, const DO: usize> {
    /// Applies the function on any backend.
    fn apply<B: Backend>(&self, input: Tensor<B, DI>) -> Tensor<B, DO>;
}

/// A [`TensorFn`] used on its own as a [`NestedFn`] (no model involved).
#[derive(Debug, Clone, Copy)]
pub struct Pure<F>(pub F);

impl<B: Backend, const DI: usize, const DO: usize, F: TensorFn<DI, DO>> NestedFn<B, DI, DO>
    for Pure<F>
{
    fn eval(&self, input: Tensor<B, DI>) -> Tensor<B, DO> {
        self.0.apply(input)
    }

    fn eval_dual(&self, input: Tensor<Dual<B>, DI>) -> Tensor<Dual<B>, DO> {
        self.0.apply(input)
    }

    fn eval_reverse_dual(
        &self,
        input: Tensor<Autodiff<Dual<B>>, DI>,
    ) -> Tensor<Autodiff<Dual<B>>, DO> {
        self.0.apply(input)
    }

    /// The function's type: a `TensorFn` computes the same kind of function
    /// whatever data it holds.
    fn structure_key(&self) -> Option<u64> {
        Some(key_of(core::any::type_name::<F>()))
    }

    /// The function's type name, hashed the same way in every run.
    fn portable_key(&self) -> Option<u64> {
        Some(
            PortableHash::new("pure")
                .str(core::any::type_name::<F>())
                .finish(),
        )
    }
}

/// Declares a backend-generic [`TensorFn`]: a unit struct, or a struct with
/// fields when the function carries data. Doc comments and attributes written
/// before the name go on the struct.
///
/// ```
/// use burn_nested::tensor_fn;
/// // f(y) = Σ y², from rank 2 to rank 1.
/// tensor_fn!(pub SumOfSquares, |y: 2| -> 1 { (y.clone() * y).sum() });
/// ```
///
/// A function that carries data names its fields in braces and a binding for
/// `self` before the input. The function runs on every backend burn-nested lifts
/// to (`Dual<B>`, `Autodiff<Dual<B>>`, ...), so data lives in the struct as
/// backend-free [`TensorData`](burn::tensor::TensorData) (or plain numbers) and
/// becomes a tensor on the input's device; a tensor of the loss's backend could
/// not be used there. The data is a constant of the nested derivative.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Mode, StatefulLayer, gradient, tensor_fn};
///
/// // f(y) = Σ (y − target)², the squared error against fixed targets.
/// tensor_fn!(pub SquaredError { pub target: TensorData }, |this, y: 2| -> 1 {
///     let target = Tensor::from_data(this.target.clone(), &y.device());
///     let e = y - target;
///     (e.clone() * e).sum()
/// });
///
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let model = burn::nn::LinearConfig::new(2, 1).init::<B>(&device);
/// let layer = StatefulLayer::from_ref(&model);
/// let x = Tensor::<B, 2>::from_data(TensorData::new(vec![0.5, -1.0, 2.0, 0.0], [2, 2]), &device);
/// let head = SquaredError { target: TensorData::new(vec![1.0, 0.0], [2, 1]) };
/// // ∇ₓ Σ (x W + b − t)²: one row per sample, each 2·(ŷ − t)·Wᵀ.
/// let g = gradient(&layer.then(head), x, Mode::Auto);
/// assert_eq!(g.dims(), [2, 2]);
/// ```
#[macro_export]
macro_rules! tensor_fn {
    ($(#[$meta:meta])* $vis:vis $name:ident, |$x:ident : $di:literal| -> $do:literal $body:block) => {
        #[doc = concat!("The tensor function `", stringify!($name), "`.")]
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;

        impl $crate::TensorFn<$di, $do> for $name {
            fn apply<B: ::burn::tensor::backend::Backend>(
                &self,
                $x: ::burn::tensor::Tensor<B, $di>,
            ) -> ::burn::tensor::Tensor<B, $do> $body
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis $name:ident { $($fvis:vis $field:ident : $fty:ty),* $(,)? },
        |$this:ident, $x:ident : $di:literal| -> $do:literal $body:block
    ) => {
        #[doc = concat!("The tensor function `", stringify!($name), "`.")]
        $(#[$meta])*
        #[derive(Debug, Clone)]
        $vis struct $name {
            $(
                #[doc = concat!("The `", stringify!($field), "` it carries.")]
                $fvis $field: $fty,
            )*
        }

        impl $crate::TensorFn<$di, $do> for $name {
            fn apply<B: ::burn::tensor::backend::Backend>(
                &self,
                $x: ::burn::tensor::Tensor<B, $di>,
            ) -> ::burn::tensor::Tensor<B, $do> {
                let $this = self;
                $body
            }
        }
    };
}

/// `f ∘ inner`: a tensor function applied after a nested function (a nested
/// loss's `f ∘ layer`). `DM` is the rank in between.
#[derive(Debug, Clone, Copy)]
pub struct Then<L, F, const DM: usize> {
    /// The function applied first.
    pub inner: L,
    /// The function applied to its output.
    pub outer: F,
}

impl<B, L, F, const DI: usize, const DM: usize, const DO: usize> NestedFn<B, DI, DO>
    for Then<L, F, DM>
where
    B: Backend,
    L: NestedFn<B, DI, DM>,
    F: TensorFn<DM, DO>,
{
    fn eval(&self, input: Tensor<B, DI>) -> Tensor<B, DO> {
        self.outer.apply(self.inner.eval(input))
    }

    fn eval_dual(&self, input: Tensor<Dual<B>, DI>) -> Tensor<Dual<B>, DO> {
        self.outer.apply(self.inner.eval_dual(input))
    }

    fn eval_reverse_dual(
        &self,
        input: Tensor<Autodiff<Dual<B>>, DI>,
    ) -> Tensor<Autodiff<Dual<B>>, DO> {
        self.outer.apply(self.inner.eval_reverse_dual(input))
    }

    fn structure_key(&self) -> Option<u64> {
        let inner = self.inner.structure_key()?;
        Some(key_of(("then", inner, core::any::type_name::<F>())))
    }

    fn portable_key(&self) -> Option<u64> {
        let inner = self.inner.portable_key()?;
        let h = PortableHash::new("then").u64(inner);
        Some(h.str(core::any::type_name::<F>()).finish())
    }
}

/// `outer ∘ f`: a tensor function applied before a nested function (a nested
/// loss's `layer ∘ f`). `DM` is the rank in between.
#[derive(Debug, Clone, Copy)]
pub struct After<F, L, const DM: usize> {
    /// The function applied first.
    pub inner: F,
    /// The nested function applied to its output.
    pub outer: L,
}

impl<B, F, L, const DI: usize, const DM: usize, const DO: usize> NestedFn<B, DI, DO>
    for After<F, L, DM>
where
    B: Backend,
    F: TensorFn<DI, DM>,
    L: NestedFn<B, DM, DO>,
{
    fn eval(&self, input: Tensor<B, DI>) -> Tensor<B, DO> {
        self.outer.eval(self.inner.apply(input))
    }

    fn eval_dual(&self, input: Tensor<Dual<B>, DI>) -> Tensor<Dual<B>, DO> {
        self.outer.eval_dual(self.inner.apply(input))
    }

    fn eval_reverse_dual(
        &self,
        input: Tensor<Autodiff<Dual<B>>, DI>,
    ) -> Tensor<Autodiff<Dual<B>>, DO> {
        self.outer.eval_reverse_dual(self.inner.apply(input))
    }

    fn structure_key(&self) -> Option<u64> {
        let outer = self.outer.structure_key()?;
        Some(key_of(("after", outer, core::any::type_name::<F>())))
    }

    fn portable_key(&self) -> Option<u64> {
        let outer = self.outer.portable_key()?;
        let h = PortableHash::new("after").u64(outer);
        Some(h.str(core::any::type_name::<F>()).finish())
    }
}

/// `.then(f)` and `.after(f)` on the composition types, so compositions chain
/// like [`StatefulLayer::then`](crate::StatefulLayer::then):
/// `layer.then(Square).then(Sum)`. A hand-written [`NestedFn`] composes the same
/// way through the struct literals, `Then { inner: my_fn, outer: f }`.
macro_rules! composable {
    ($($ty:ident < $($param:ident),* $(; const $c:ident)? >),+ $(,)?) => {$(
        impl<$($param,)* $(const $c: usize)?> $ty<$($param,)* $($c)?> {
            /// `f ∘ self`: apply the tensor function `f` to this function's output.
            pub fn then<G, const DN: usize>(self, f: G) -> Then<Self, G, DN> {
                Then { inner: self, outer: f }
            }

            /// `self ∘ f`: apply the tensor function `f` to the input first.
            pub fn after<G, const DN: usize>(self, f: G) -> After<G, Self, DN> {
                After { inner: f, outer: self }
            }
        }
    )+};
}

composable!(Pure<F>, Then<L, F; const DM>, After<F, L; const DM>);
