#!/usr/bin/env python3
"""Flips the sign of one JVP rule at a time and records which tests catch it.

A test that cannot fail is a defect: every mutated rule must make at least one
test fail. Not run in CI (about half a minute per mutation on two cores, with the test build warm). Run from
the repository root:

    python3 scripts/mutate_rules.py            # every mutation
    python3 scripts/mutate_rules.py exp log    # some, by name

Each mutation edits one file, runs the op tests on ndarray (`cargo test
--no-fail-fast --test float_ops --test activation_ops --test module_ops --test
hard_inputs`, without the `wgpu` feature), restores the file and prints a
Markdown row with the failing tests. The file is restored even when the run is
interrupted.
"""
import os
import subprocess
import sys

D = "src/dual"
MUTATIONS = [
    ("exp", f"{D}/ops/float_tensor.rs", "tensor.elementwise(B::float_exp, |_, y| y)",
     "tensor.elementwise(B::float_exp, |_, y| B::float_neg(y))"),
    ("log", f"{D}/ops/float_tensor.rs", "tensor.elementwise(B::float_log, |x, _| B::float_recip(x))",
     "tensor.elementwise(B::float_log, |x, _| B::float_neg(B::float_recip(x)))"),
    ("sin", f"{D}/ops/float_tensor.rs", "tensor.elementwise(B::float_sin, |x, _| B::float_cos(x))",
     "tensor.elementwise(B::float_sin, |x, _| B::float_neg(B::float_cos(x)))"),
    ("cos", f"{D}/ops/float_tensor.rs", "tensor.elementwise(B::float_cos, |x, _| B::float_neg(B::float_sin(x)))",
     "tensor.elementwise(B::float_cos, |x, _| B::float_sin(x))"),
    ("tanh", f"{D}/ops/float_tensor.rs", "tensor.elementwise(B::float_tanh, |_, y| one_plus_square::<B>(y, -1.0))",
     "tensor.elementwise(B::float_tanh, |_, y| B::float_neg(one_plus_square::<B>(y, -1.0)))"),
    ("sqrt", f"{D}/ops/float_tensor.rs", "B::float_mul_scalar(B::float_recip(y), half)",
     "B::float_mul_scalar(B::float_neg(B::float_recip(y)), half)"),
    ("abs", f"{D}/ops/float_tensor.rs", "tensor.elementwise(B::float_abs, |x, _| B::float_sign(x))",
     "tensor.elementwise(B::float_abs, |x, _| B::float_neg(B::float_sign(x)))"),
    ("recip", f"{D}/ops/float_tensor.rs", "B::float_neg(B::float_mul(y.clone(), y))",
     "B::float_mul(y.clone(), y)"),
    ("erf", f"{D}/ops/float_tensor.rs", "B::float_mul_scalar(gauss, factor)",
     "B::float_neg(B::float_mul_scalar(gauss, factor))"),
    ("powf_scalar", f"{D}/ops/float_tensor.rs",
     "B::float_mul_scalar(B::float_powf_scalar(x, minus_one(exponent)), factor)",
     "B::float_neg(B::float_mul_scalar(B::float_powf_scalar(x, minus_one(exponent)), factor))"),
    ("cumsum", f"{D}/ops/float_tensor.rs", "|t| B::float_cumsum(t, dim + 1))",
     "|t| B::float_neg(B::float_cumsum(t, dim + 1)))"),
    ("sum_dim", f"{D}/ops/float_tensor.rs", "            |t| B::float_sum_dim(t, dim + 1),",
     "            |t| B::float_neg(B::float_sum_dim(t, dim + 1)),"),
    ("mul", f"{D}/rules/binary.rs", "        |_, r, _| Some(r.clone()),\n        |l, _, _| Some(l.clone()),",
     "        |_, r, _| Some(B::float_neg(r.clone())),\n        |l, _, _| Some(B::float_neg(l.clone())),"),
    ("div", f"{D}/rules/binary.rs", "|_, r, _| Some(B::float_recip(r.clone())),",
     "|_, r, _| Some(B::float_neg(B::float_recip(r.clone()))),"),
    ("matmul", f"{D}/rules/binary.rs", "let tangent = add_tangents::<B>(\"float_matmul\", tl, tr, &shape);",
     "let tangent = add_tangents::<B>(\"float_matmul\", tl, tr, &shape).map(B::float_neg);"),
    ("gather", f"{D}/rules/index.rs",
     "    let tangent = B::float_gather(dim + 1, t, int_over_lanes::<B>(indices.clone(), lanes));",
     "    let tangent = B::float_neg(B::float_gather(dim + 1, t, int_over_lanes::<B>(indices.clone(), lanes)));"),
    ("prod_dim", f"{D}/rules/reduce.rs", "let tangent = B::float_sum_dim(scale::<B>(t, others), dim + 1);",
     "let tangent = B::float_neg(B::float_sum_dim(scale::<B>(t, others), dim + 1));"),
    ("cumprod", f"{D}/rules/reduce.rs", "let driven = scale::<B>(t, previous);",
     "let driven = B::float_neg(scale::<B>(t, previous));"),
    ("sigmoid", f"{D}/ops/activation.rs", "B::float_mul(y.clone(), B::float_add_scalar(B::float_neg(y), one))",
     "B::float_neg(B::float_mul(y.clone(), B::float_add_scalar(B::float_neg(y), one)))"),
    ("gelu", f"{D}/ops/activation.rs", "tensor.elementwise(B::gelu, |x, _| gelu_derivative::<B>(x))",
     "tensor.elementwise(B::gelu, |x, _| B::float_neg(gelu_derivative::<B>(x)))"),
    ("softmax", f"{D}/ops/activation.rs",
     "let centred = B::float_sub(t.clone(), weighted_sum::<B>(&s, t, dim));\n        D::new(s.clone(), Some(scale::<B>(centred, s)))",
     "let centred = B::float_sub(weighted_sum::<B>(&s, t.clone(), dim), t);\n        D::new(s.clone(), Some(scale::<B>(centred, s)))"),
    ("conv (input tangent)", f"{D}/rules/conv.rs",
     "let tx = tx.map(|t| per_batch::<B>(t, |t| conv(t, w.clone(), None, options.clone())));",
     "let tx = tx.map(|t| B::float_neg(per_batch::<B>(t, |t| conv(t, w.clone(), None, options.clone()))));"),
    ("max_pool (gathered tangent)", f"{D}/rules/pool.rs",
     "    B::float_reshape(picked, lane_shape(lanes, &out))",
     "    B::float_neg(B::float_reshape(picked, lane_shape(lanes, &out)))"),
]

TESTS = ["--test", "float_ops", "--test", "activation_ops", "--test", "module_ops",
         "--test", "hard_inputs"]


def run(name, path, old, new):
    src = open(path).read()
    assert src.count(old) == 1, f"{name}: the text to mutate is not unique in {path}"
    open(path, "w").write(src.replace(old, new))
    try:
        env = {**os.environ, "RUST_BACKTRACE": "0"}
        r = subprocess.run(["cargo", "test", "-q", "--no-fail-fast", *TESTS, "--",
                            "--test-threads=2"],
                           capture_output=True, text=True, env=env)
        out = r.stdout + r.stderr
        if "error[" in out:
            return f"| {name} | BUILD ERROR | |"
        # Each failing binary ends with a "failures:" list of test names.
        names = sorted({l.strip() for part in out.split("failures:")[1:]
                        for l in part.split("test result")[0].splitlines()
                        if l.startswith("    ") and not l.strip().startswith("----")})
        status = "caught" if r.returncode != 0 else "**MISSED**"
        shown = ", ".join(f"`{n}`" for n in names[:4]) + (f" (+{len(names) - 4})" if len(names) > 4 else "")
        return f"| {name} | {status} | {shown} |"
    finally:
        open(path, "w").write(src)


def main():
    wanted = set(sys.argv[1:])
    print("| mutated rule (tangent sign flipped) | result | failing tests |")
    print("|---|---|---|")
    for m in MUTATIONS:
        if wanted and m[0] not in wanted:
            continue
        print(run(*m), flush=True)


if __name__ == "__main__":
    main()
