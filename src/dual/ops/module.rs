//! `ModuleOps` for `Dual<B>`: every method is overridden so that its primal is `B`'s
//! own op (so without tangents `Dual<B>` gives exactly `B`'s result), with the
//! tangent rule of `rules/` (see the table in each rule file).

use burn_backend::{
    Backend,
    ops::*,
    tensor::{BoolTensor, FloatTensor, IntTensor},
};

use burn_backend::TensorMetadata;

use crate::dual::rules::autodiff_inner::{self, inner_is_autodiff, refuse};
use crate::dual::rules::conv::{self, Layout};
use crate::dual::rules::fold::{batch_linear, batch_linear_grad};
use crate::dual::rules::{composed, deform, embedding, fft, linear, norm, pool};
use crate::dual::{Dual, rows};

impl<B: Backend> ModuleOps<Self> for Dual<B> {
    fn embedding(weights: FloatTensor<Self>, indices: IntTensor<Self>) -> FloatTensor<Self> {
        embedding::embedding(weights, indices)
    }

    fn embedding_backward(
        weights: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        indices: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        if inner_is_autodiff::<B>(&weights.primal) {
            return autodiff_inner::embedding_backward::<Self>(weights, output_grad, indices);
        }
        embedding::embedding_backward(weights, output_grad, indices)
    }

    fn linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        let keeps = x.primal.rank() >= 2 && rows::constant_weights(&weight, bias.as_ref());
        rows::op::<B, _, _, _>("linear", (), |_| keeps, |_| linear::linear(x, weight, bias))
    }

    fn linear_x_backward(
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        if inner_is_autodiff::<B>(&weight.primal) {
            return autodiff_inner::linear_x_backward::<Self>(weight, output_grad);
        }
        linear::x_backward(weight, output_grad)
    }

    fn linear_weight_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        if inner_is_autodiff::<B>(&x.primal) {
            return autodiff_inner::linear_weight_backward::<Self>(x, output_grad);
        }
        linear::weight_backward(x, output_grad)
    }

    fn linear_bias_backward(output_grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if inner_is_autodiff::<B>(&output_grad.primal) {
            return autodiff_inner::linear_bias_backward::<Self>(output_grad);
        }
        linear::bias_backward(output_grad)
    }

    fn conv1d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<1>,
    ) -> FloatTensor<Self> {
        let keeps = rows::constant_weights(&weight, bias.as_ref());
        rows::op::<B, _, _, _>(
            "conv1d",
            (),
            |_| keeps,
            |_| conv::conv("conv1d", B::conv1d, x, weight, bias, options),
        )
    }

    fn conv1d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<1>,
    ) -> FloatTensor<Self> {
        conv::x_backward(
            B::conv1d_x_backward,
            B::conv_transpose1d,
            x,
            weight,
            output_grad,
            options,
        )
    }

    fn conv1d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<1>,
    ) -> FloatTensor<Self> {
        let groups = options.groups;
        conv::weight_backward(
            B::conv1d_weight_backward,
            Layout::Conv,
            groups,
            x,
            weight,
            output_grad,
            options,
        )
    }

    fn conv1d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        conv::bias_backward(B::conv1d_bias_backward, x, bias, output_grad)
    }

    fn conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let keeps = rows::constant_weights(&weight, bias.as_ref());
        rows::op::<B, _, _, _>(
            "conv2d",
            (),
            |_| keeps,
            |_| conv::conv("conv2d", B::conv2d, x, weight, bias, options),
        )
    }

    fn conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        conv::x_backward(
            B::conv2d_x_backward,
            B::conv_transpose2d,
            x,
            weight,
            output_grad,
            options,
        )
    }

    fn conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let groups = options.groups;
        conv::weight_backward(
            B::conv2d_weight_backward,
            Layout::Conv,
            groups,
            x,
            weight,
            output_grad,
            options,
        )
    }

    fn conv2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        conv::bias_backward(B::conv2d_bias_backward, x, bias, output_grad)
    }

    fn deform_conv2d(
        x: FloatTensor<Self>,
        offset: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        mask: Option<FloatTensor<Self>>,
        bias: Option<FloatTensor<Self>>,
        options: DeformConvOptions<2>,
    ) -> FloatTensor<Self> {
        deform::deform_conv2d(x, offset, weight, mask, bias, options)
    }

    fn deform_conv2d_backward(
        x: FloatTensor<Self>,
        offset: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        mask: Option<FloatTensor<Self>>,
        bias: Option<FloatTensor<Self>>,
        output_grad: FloatTensor<Self>,
        options: DeformConvOptions<2>,
    ) -> DeformConv2dBackward<Self> {
        if inner_is_autodiff::<B>(&x.primal) {
            refuse("deform_conv2d_backward")
        }
        let (x, offset, weight, mask, bias) =
            deform::deform_conv2d_backward(x, offset, weight, mask, bias, output_grad, options);
        DeformConv2dBackward::new(x, offset, weight, mask, bias)
    }

    fn conv3d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        let keeps = rows::constant_weights(&weight, bias.as_ref());
        rows::op::<B, _, _, _>(
            "conv3d",
            (),
            |_| keeps,
            |_| conv::conv("conv3d", B::conv3d, x, weight, bias, options),
        )
    }

    fn conv3d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        conv::x_backward(
            B::conv3d_x_backward,
            B::conv_transpose3d,
            x,
            weight,
            output_grad,
            options,
        )
    }

    fn conv3d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        let groups = options.groups;
        conv::weight_backward(
            B::conv3d_weight_backward,
            Layout::Conv,
            groups,
            x,
            weight,
            output_grad,
            options,
        )
    }

    fn conv3d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        conv::bias_backward(B::conv3d_bias_backward, x, bias, output_grad)
    }

    fn conv_transpose1d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvTransposeOptions<1>,
    ) -> FloatTensor<Self> {
        let keeps = rows::constant_weights(&weight, bias.as_ref());
        rows::op::<B, _, _, _>(
            "conv_transpose1d",
            (),
            |_| keeps,
            |_| {
                conv::conv_transpose(
                    "conv_transpose1d",
                    B::conv_transpose1d,
                    x,
                    weight,
                    bias,
                    options,
                )
            },
        )
    }

    fn conv_transpose1d_x_backward(
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvTransposeOptions<1>,
    ) -> FloatTensor<Self> {
        conv::transpose_x_backward(B::conv_transpose1d_x_backward, weight, output_grad, options)
    }

    fn conv_transpose1d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvTransposeOptions<1>,
    ) -> FloatTensor<Self> {
        let (f, groups) = (B::conv_transpose1d_weight_backward, options.groups);
        conv::weight_backward(
            f,
            Layout::Transposed,
            groups,
            x,
            weight,
            output_grad,
            options,
        )
    }

    fn conv_transpose1d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        conv::bias_backward(B::conv_transpose1d_bias_backward, x, bias, output_grad)
    }

    fn conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self> {
        let keeps = rows::constant_weights(&weight, bias.as_ref());
        rows::op::<B, _, _, _>(
            "conv_transpose2d",
            (),
            |_| keeps,
            |_| {
                conv::conv_transpose(
                    "conv_transpose2d",
                    B::conv_transpose2d,
                    x,
                    weight,
                    bias,
                    options,
                )
            },
        )
    }

    fn conv_transpose2d_x_backward(
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self> {
        conv::transpose_x_backward(B::conv_transpose2d_x_backward, weight, output_grad, options)
    }

    fn conv_transpose2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self> {
        let (f, groups) = (B::conv_transpose2d_weight_backward, options.groups);
        conv::weight_backward(
            f,
            Layout::Transposed,
            groups,
            x,
            weight,
            output_grad,
            options,
        )
    }

    fn conv_transpose2d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        conv::bias_backward(B::conv_transpose2d_bias_backward, x, bias, output_grad)
    }

    fn conv_transpose3d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvTransposeOptions<3>,
    ) -> FloatTensor<Self> {
        let keeps = rows::constant_weights(&weight, bias.as_ref());
        rows::op::<B, _, _, _>(
            "conv_transpose3d",
            (),
            |_| keeps,
            |_| {
                conv::conv_transpose(
                    "conv_transpose3d",
                    B::conv_transpose3d,
                    x,
                    weight,
                    bias,
                    options,
                )
            },
        )
    }

    fn conv_transpose3d_x_backward(
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvTransposeOptions<3>,
    ) -> FloatTensor<Self> {
        conv::transpose_x_backward(B::conv_transpose3d_x_backward, weight, output_grad, options)
    }

    fn conv_transpose3d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvTransposeOptions<3>,
    ) -> FloatTensor<Self> {
        let (f, groups) = (B::conv_transpose3d_weight_backward, options.groups);
        conv::weight_backward(
            f,
            Layout::Transposed,
            groups,
            x,
            weight,
            output_grad,
            options,
        )
    }

    fn conv_transpose3d_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        conv::bias_backward(B::conv_transpose3d_bias_backward, x, bias, output_grad)
    }

    fn unfold4d(
        x: FloatTensor<Self>,
        kernel_size: [usize; 2],
        options: UnfoldOptions,
    ) -> FloatTensor<Self> {
        batch_linear(x, |x| B::unfold4d(x, kernel_size, options.clone()))
    }

    fn avg_pool1d(
        x: FloatTensor<Self>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        count_include_pad: bool,
        ceil_mode: bool,
    ) -> FloatTensor<Self> {
        // Sample by sample: it keeps rows.
        rows::kept::<B, _>("avg_pool1d", || {
            batch_linear(x, |x| {
                B::avg_pool1d(
                    x,
                    kernel_size,
                    stride,
                    padding,
                    count_include_pad,
                    ceil_mode,
                )
            })
        })
    }

    fn avg_pool1d_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        count_include_pad: bool,
        ceil_mode: bool,
    ) -> FloatTensor<Self> {
        if inner_is_autodiff::<B>(&x.primal) {
            refuse("avg_pool1d_backward")
        }
        batch_linear_grad(x, grad, |x, g| {
            B::avg_pool1d_backward(
                x,
                g,
                kernel_size,
                stride,
                padding,
                count_include_pad,
                ceil_mode,
            )
        })
    }

    fn avg_pool2d(
        x: FloatTensor<Self>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        count_include_pad: bool,
        ceil_mode: bool,
    ) -> FloatTensor<Self> {
        // Sample by sample: it keeps rows.
        rows::kept::<B, _>("avg_pool2d", || {
            batch_linear(x, |x| {
                B::avg_pool2d(
                    x,
                    kernel_size,
                    stride,
                    padding,
                    count_include_pad,
                    ceil_mode,
                )
            })
        })
    }

    fn avg_pool2d_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        count_include_pad: bool,
        ceil_mode: bool,
    ) -> FloatTensor<Self> {
        if inner_is_autodiff::<B>(&x.primal) {
            refuse("avg_pool2d_backward")
        }
        batch_linear_grad(x, grad, |x, g| {
            B::avg_pool2d_backward(
                x,
                g,
                kernel_size,
                stride,
                padding,
                count_include_pad,
                ceil_mode,
            )
        })
    }

    fn adaptive_avg_pool2d(x: FloatTensor<Self>, output_size: [usize; 2]) -> FloatTensor<Self> {
        // Sample by sample: it keeps rows.
        rows::kept::<B, _>("adaptive_avg_pool2d", || {
            batch_linear(x, |x| B::adaptive_avg_pool2d(x, output_size))
        })
    }

    fn adaptive_avg_pool2d_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        if inner_is_autodiff::<B>(&x.primal) {
            refuse("adaptive_avg_pool2d_backward")
        }
        batch_linear_grad(x, grad, B::adaptive_avg_pool2d_backward)
    }

    fn adaptive_avg_pool1d(x: FloatTensor<Self>, output_size: usize) -> FloatTensor<Self> {
        // Sample by sample: it keeps rows.
        rows::kept::<B, _>("adaptive_avg_pool1d", || {
            batch_linear(x, |x| B::adaptive_avg_pool1d(x, output_size))
        })
    }

    fn adaptive_avg_pool1d_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        if inner_is_autodiff::<B>(&x.primal) {
            refuse("adaptive_avg_pool1d_backward")
        }
        batch_linear_grad(x, grad, B::adaptive_avg_pool1d_backward)
    }

    fn max_pool1d(
        x: FloatTensor<Self>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        ceil_mode: bool,
    ) -> FloatTensor<Self> {
        // Sample by sample: it keeps rows.
        rows::kept::<B, _>("max_pool1d", || {
            pool::max_pool(
                x,
                |x| B::max_pool1d(x, kernel_size, stride, padding, dilation, ceil_mode),
                |x| {
                    let r = B::max_pool1d_with_indices(
                        x,
                        kernel_size,
                        stride,
                        padding,
                        dilation,
                        ceil_mode,
                    );
                    (r.output, r.indices)
                },
            )
        })
    }

    fn max_pool1d_with_indices(
        x: FloatTensor<Self>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        ceil_mode: bool,
    ) -> MaxPool1dWithIndices<Self> {
        // Sample by sample: it keeps rows.
        let (output, indices) = rows::kept::<B, _>("max_pool1d_with_indices", || {
            pool::max_pool_with_indices(x, |x| {
                let r = B::max_pool1d_with_indices(
                    x,
                    kernel_size,
                    stride,
                    padding,
                    dilation,
                    ceil_mode,
                );
                (r.output, r.indices)
            })
        });
        MaxPool1dWithIndices::new(output, indices)
    }

    fn max_pool1d_with_indices_backward(
        x: FloatTensor<Self>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        ceil_mode: bool,
        output_grad: FloatTensor<Self>,
        indices: IntTensor<Self>,
    ) -> MaxPool1dBackward<Self> {
        if inner_is_autodiff::<B>(&x.primal) {
            refuse("max_pool1d_with_indices_backward")
        }
        MaxPool1dBackward::new(pool::max_pool_backward(
            x,
            output_grad,
            indices,
            |x, g, i| {
                B::max_pool1d_with_indices_backward(
                    x,
                    kernel_size,
                    stride,
                    padding,
                    dilation,
                    ceil_mode,
                    g,
                    i,
                )
                .x_grad
            },
        ))
    }

    fn max_pool2d(
        x: FloatTensor<Self>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        ceil_mode: bool,
    ) -> FloatTensor<Self> {
        // Sample by sample: it keeps rows.
        rows::kept::<B, _>("max_pool2d", || {
            pool::max_pool(
                x,
                |x| B::max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode),
                |x| {
                    let r = B::max_pool2d_with_indices(
                        x,
                        kernel_size,
                        stride,
                        padding,
                        dilation,
                        ceil_mode,
                    );
                    (r.output, r.indices)
                },
            )
        })
    }

    fn max_pool2d_with_indices(
        x: FloatTensor<Self>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        ceil_mode: bool,
    ) -> MaxPool2dWithIndices<Self> {
        // Sample by sample: it keeps rows.
        let (output, indices) = rows::kept::<B, _>("max_pool2d_with_indices", || {
            pool::max_pool_with_indices(x, |x| {
                let r = B::max_pool2d_with_indices(
                    x,
                    kernel_size,
                    stride,
                    padding,
                    dilation,
                    ceil_mode,
                );
                (r.output, r.indices)
            })
        });
        MaxPool2dWithIndices::new(output, indices)
    }

    fn max_pool2d_with_indices_backward(
        x: FloatTensor<Self>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        ceil_mode: bool,
        output_grad: FloatTensor<Self>,
        indices: IntTensor<Self>,
    ) -> MaxPool2dBackward<Self> {
        if inner_is_autodiff::<B>(&x.primal) {
            refuse("max_pool2d_with_indices_backward")
        }
        MaxPool2dBackward::new(pool::max_pool_backward(
            x,
            output_grad,
            indices,
            |x, g, i| {
                B::max_pool2d_with_indices_backward(
                    x,
                    kernel_size,
                    stride,
                    padding,
                    dilation,
                    ceil_mode,
                    g,
                    i,
                )
                .x_grad
            },
        ))
    }

    fn interpolate(
        x: FloatTensor<Self>,
        output_size: [usize; 2],
        options: InterpolateOptions,
    ) -> FloatTensor<Self> {
        // Sample by sample: it keeps rows.
        rows::kept::<B, _>("interpolate", || {
            batch_linear(x, |x| B::interpolate(x, output_size, options.clone()))
        })
    }

    fn interpolate_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        output_size: [usize; 2],
        options: InterpolateOptions,
    ) -> FloatTensor<Self> {
        if inner_is_autodiff::<B>(&x.primal) {
            refuse("interpolate_backward")
        }
        batch_linear_grad(x, grad, |x, g| {
            B::interpolate_backward(x, g, output_size, options.clone())
        })
    }

    fn attention(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        mask: Option<BoolTensor<Self>>,
        attn_bias: Option<FloatTensor<Self>>,
        options: AttentionModuleOptions,
    ) -> FloatTensor<Self> {
        composed::attention(query, key, value, mask, attn_bias, options)
    }

    fn layer_norm(
        tensor: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: Option<FloatTensor<Self>>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let keeps = tensor.primal.rank() >= 2 && rows::constant_weights(&gamma, beta.as_ref());
        rows::op::<B, _, _, _>(
            "layer_norm",
            (),
            |_| keeps,
            |_| norm::layer_norm(tensor, gamma, beta, epsilon),
        )
    }

    fn ctc_loss(
        log_probs: FloatTensor<Self>,
        targets: IntTensor<Self>,
        input_lengths: IntTensor<Self>,
        target_lengths: IntTensor<Self>,
        blank: usize,
    ) -> FloatTensor<Self> {
        composed::ctc_loss(log_probs, targets, input_lengths, target_lengths, blank)
    }

    /// `false`, whatever `B` says: then `Autodiff<Dual<B>>` differentiates the
    /// default composition (made of differentiable `Dual` ops) instead of calling
    /// [`ctc_loss_backward`](ModuleOps::ctc_loss_backward) in its backward pass.
    fn has_ctc_loss_backward() -> bool {
        false
    }

    fn ctc_loss_backward(
        log_probs: FloatTensor<Self>,
        targets: IntTensor<Self>,
        input_lengths: IntTensor<Self>,
        target_lengths: IntTensor<Self>,
        grad_loss: FloatTensor<Self>,
        blank: usize,
    ) -> FloatTensor<Self> {
        composed::ctc_loss_backward(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            grad_loss,
            blank,
        )
    }

    fn rfft(
        signal: FloatTensor<Self>,
        dim: usize,
        n: Option<usize>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        fft::rfft(signal, dim, n)
    }

    fn irfft(
        spectrum_re: FloatTensor<Self>,
        spectrum_im: FloatTensor<Self>,
        dim: usize,
        n: Option<usize>,
    ) -> FloatTensor<Self> {
        fft::irfft(spectrum_re, spectrum_im, dim, n)
    }
}
