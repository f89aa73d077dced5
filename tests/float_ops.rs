//! Dot-product, transparency and finite-difference tests of the float ops.

mod common;

use common::Check;

fn positive() -> Check {
    Check {
        lo: 0.5,
        hi: 2.0,
        ..Check::default()
    }
}

op_test!(add_broadcast, [[3, 1], [1, 4]], 2 => 2, |xs| xs[0].clone() + xs[1].clone());
op_test!(sub_broadcast, [[3, 4], [1, 4]], 2 => 2, |xs| xs[0].clone() - xs[1].clone());
op_test!(mul_broadcast, [[3, 1], [1, 4]], 2 => 2, |xs| xs[0].clone() * xs[1].clone());
op_test!(div, [[3, 4], [3, 4]], 2 => 2, positive(), |xs| xs[0].clone() / xs[1].clone());
op_test!(matmul, [[3, 4], [4, 5]], 2 => 2, |xs| xs[0].clone().matmul(xs[1].clone()));
op_test!(matmul_batched, [[2, 3, 4], [2, 4, 5]], 3 => 3, |xs| xs[0].clone().matmul(xs[1].clone()));
op_test!(exp, [[3, 4]], 2 => 2, |xs| xs[0].clone().exp());
op_test!(log, [[3, 4]], 2 => 2, positive(), |xs| xs[0].clone().log());
op_test!(tanh, [[3, 4]], 2 => 2, |xs| xs[0].clone().tanh());
op_test!(sum, [[3, 4]], 2 => 1, |xs| xs[0].clone().sum());
op_test!(sum_dim, [[3, 4]], 2 => 2, |xs| xs[0].clone().sum_dim(1));
op_test!(reshape_permute, [[2, 3, 4]], 3 => 3, |xs| xs[0].clone().permute([2, 0, 1]).reshape([4, 3, 2]));
