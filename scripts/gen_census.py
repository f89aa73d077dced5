#!/usr/bin/env python3
"""Generate `Census<B>`'s delegation of Burn's backend traits and its op table.

`Census<B>` (src/census/) counts every call that reaches the inner backend `B`.
Every method of every backend trait forwards to `B`, defaults included: a
default left in place would decompose an op that `B` implements natively and
change the op stream being counted. Each forwarding method first notes its op.

Writes two files:
  src/census/delegate.rs  the impls of the seven op traits for `Census<B>`
  src/census/table.rs     `Op` (one variant per method, traits and `Backend`),
                          each op's name and kind (the classification below)

Run: python3 scripts/gen_census.py <burn-backend-0.21.0 dir> <out dir>
  e.g. python3 scripts/gen_census.py ~/.cargo/registry/src/*/burn-backend-0.21.0 src/census
then `rustfmt --edition 2024 src/census/delegate.rs src/census/table.rs`.

The signature parsing (`methods`, `params`) is scripts/gen_delegation.py's,
imported from it.
"""
import ast
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent


def _import_parsers():
    """`methods` and `params` from gen_delegation.py, without running its script part."""
    path = HERE / "gen_delegation.py"
    tree = ast.parse(path.read_text(), str(path))
    tree.body = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef))]
    ns = {}
    exec(compile(tree, str(path), "exec"), ns)
    return ns["methods"], ns["params"]


methods, params = _import_parsers()

# (file under src/backend/ops, trait)
TRAITS = [
    ("tensor.rs", "FloatTensorOps"),
    ("int_tensor.rs", "IntTensorOps"),
    ("bool_tensor.rs", "BoolTensorOps"),
    ("modules/base.rs", "ModuleOps"),
    ("activation.rs", "ActivationOps"),
    ("qtensor.rs", "QTensorOps"),
    ("transaction.rs", "TransactionOps"),
]

# `Backend`'s own methods, written by hand in src/census/mod.rs (two are generic
# with closures, which the parser above does not take). The generator checks this
# list against Burn's trait so a new method cannot be missed.
BACKEND_METHODS = [
    "ad_enabled", "memory_persistent_allocations", "memory_cleanup", "name", "seed",
    "sync", "staging", "supports_dtype", "dtype_usage", "device_count",
]

# ---------------------------------------------------------------------------
# Classification. `None` marks a call that touches no tensor data (a device or
# flag query, a backend-level call): noted, listed apart, never in a total.
# The op name is classified with its `float_`/`int_`/`bool_`/`q_` prefix removed.

QUERY = None
KINDS = ["Elementwise", "MatmulConv", "Reduction", "Layout", "Copy", "Fill", "HostRead", "Other"]

EXACT = {
    # Not data: device and autodiff flags, capability questions, backend-level calls.
    **{n: QUERY for n in [
        "device", "detach", "set_require_grad", "is_require_grad", "has_ctc_loss_backward",
        *BACKEND_METHODS,
    ]},
    # Fill: a new tensor from nothing or from host data.
    **{n: "Fill" for n in ["from_data", "random", "zeros", "ones", "full", "empty", "arange",
                           "arange_step"]},
    # Host reads. `bool_argwhere` counts here: its output shape depends on the
    # data, so a device backend reads a count back before it can allocate.
    **{n: "HostRead" for n in ["into_data", "tr_execute", "argwhere"]},
    # Copies and conversions.
    **{n: "Copy" for n in ["to_device", "into_int", "into_float", "cast", "quantize",
                           "quantize_dynamic", "dequantize"]},
    # Layout: moving or indexing data without arithmetic on it.
    **{n: "Layout" for n in [
        "reshape", "transpose", "swap_dims", "permute", "flip", "expand", "slice",
        "slice_assign", "cat", "repeat_dim", "gather", "scatter_add", "scatter_nd",
        "gather_nd", "select", "select_add", "scatter_or", "select_or", "unfold",
        "embedding", "embedding_backward",
    ]},
    # Reductions, scans, sorts and top-k along a dimension; the softmax family and
    # layer norm (a reduction along the last dim inside).
    **{n: "Reduction" for n in [
        "sum", "sum_dim", "prod", "prod_dim", "mean", "mean_dim", "cumsum", "cumprod",
        "cummin", "cummax", "argmax", "argmin", "argtopk", "topk", "max", "max_dim",
        "max_dim_with_indices", "min", "min_dim", "min_dim_with_indices", "max_abs",
        "max_abs_dim", "any", "any_dim", "all", "all_dim", "sort", "sort_with_indices",
        "argsort", "softmax", "log_softmax", "softmin", "layer_norm",
    ]},
    # Structured kernels: matmul, linear and the convolution family with their
    # backward kernels, attention, pooling, interpolation, grid sampling, FFT.
    **{n: "MatmulConv" for n in [
        "matmul", "linear", "linear_x_backward", "linear_weight_backward",
        "linear_bias_backward", "attention", "unfold4d", "interpolate",
        "interpolate_backward", "grid_sample_2d", "rfft", "irfft",
    ]},
    # Loss kernels with no better home.
    **{n: "Other" for n in ["ctc_loss", "ctc_loss_backward"]},
}
MATMUL_CONV = re.compile(
    r"^(conv\d?d|conv_transpose\dd|deform_conv2d|avg_pool\dd|adaptive_avg_pool\dd|max_pool\dd)"
    r"(_with_indices)?(_x|_weight|_bias)?(_backward)?$"
)
ELEMENTWISE = {
    # arithmetic
    "add", "add_scalar", "sub", "sub_scalar", "mul", "mul_scalar", "div", "div_scalar",
    "remainder", "remainder_scalar", "neg", "recip", "abs", "sign", "cross",
    "clamp", "clamp_min", "clamp_max",
    # powers and math functions
    "powf", "powi", "powi_scalar", "powi_scalar_impl", "powf_scalar", "powf_scalar_impl",
    "exp", "log", "log1p", "sqrt", "erf", "cos", "sin", "tan", "cosh", "sinh", "tanh",
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "atan2", "round", "floor", "ceil",
    "trunc", "is_nan", "is_inf",
    # comparisons, masks, logic, bits
    "equal", "not_equal", "equal_elem", "not_equal_elem", "greater", "greater_elem",
    "greater_equal", "greater_equal_elem", "lower", "lower_elem", "lower_equal",
    "lower_equal_elem", "mask_where", "mask_fill", "not", "and", "or", "xor",
    "bitwise_and", "bitwise_and_scalar", "bitwise_or", "bitwise_or_scalar", "bitwise_xor",
    "bitwise_xor_scalar", "bitwise_not", "bitwise_left_shift", "bitwise_left_shift_scalar",
    "bitwise_right_shift", "bitwise_right_shift_scalar",
    # activations and their backward kernels
    "relu", "relu_backward", "leaky_relu", "prelu", "gelu", "gelu_backward", "sigmoid",
    "sigmoid_backward", "hard_sigmoid", "log_sigmoid", "log_sigmoid_backward",
}


def classify(name):
    base = re.sub(r"^(float|int|bool|q)_", "", name)
    if base in EXACT:
        return EXACT[base]
    if base in ELEMENTWISE:
        return "Elementwise"
    if MATMUL_CONV.match(base):
        return "MatmulConv"
    sys.exit(f"gen_census.py: no kind for `{name}`; add it to the table")


# ---------------------------------------------------------------------------
# Delegation.

# Types generic over the backend that are not the backend's own primitives: a
# value crossing between `Census<B>` and `B` is rebuilt by a helper in mod.rs.
ARG_IN = {
    "QuantizationParametersPrimitive<Self>": "qparams_in",
    "TensorPrimitive<Self>": "primitive_in",
    "TransactionPrimitive<Self>": "transaction_in",
}
RET_OUT = {
    "TensorPrimitive<Self>": "primitive_out",
    "MaxPool1dWithIndices<Self>": "max_pool1d_indices_out",
    "MaxPool2dWithIndices<Self>": "max_pool2d_indices_out",
    "MaxPool1dBackward<Self>": "max_pool1d_backward_out",
    "MaxPool2dBackward<Self>": "max_pool2d_backward_out",
    "DeformConv2dBackward<Self>": "deform_conv2d_backward_out",
}
# Aliases whose `Self` and `B` forms are the same type (Census keeps B's primitives).
SAME = {"FloatTensor", "IntTensor", "BoolTensor", "QuantizedTensor", "Device"}

IMPORTS = {
    "burn_backend": ["Backend", "BoolDType", "Distribution", "ExecutionError", "FloatDType",
                     "IntDType", "Scalar", "Shape", "Slice", "TensorData", "TensorPrimitive"],
    "burn_backend::tensor": ["BoolTensor", "Device", "FloatTensor", "IndexingUpdateOp",
                             "IntTensor", "QuantizedTensor"],
    "burn_backend::ops": ["AttentionModuleOptions", "ConvOptions", "ConvTransposeOptions",
                          "DeformConv2dBackward", "DeformConvOptions", "GridSampleOptions",
                          "InterpolateOptions", "MaxPool1dBackward", "MaxPool1dWithIndices",
                          "MaxPool2dBackward", "MaxPool2dWithIndices", "TransactionPrimitive",
                          "TransactionPrimitiveData", "UnfoldOptions"],
    "burn_backend::quantization": ["QuantScheme", "QuantizationParametersPrimitive"],
    "core::ops": ["Range"],
}
BUILTIN = {"Option", "Result", "Vec", "Future", "Output", "Send", "Self"}


def trait_body(path, marker="pub trait"):
    """The trait's text, from `marker` to its closing brace (rustfmt'ed source)."""
    src = path.read_text()
    start = src.index(marker)
    return src[start:src.index("\n}\n", start) + 3]


def param_types(sig):
    """The parameters' types, in the order of `params(sig)`."""
    inner = sig[sig.index("(") + 1:params_end(sig)]
    depth, cur, out = 0, "", []
    for c in inner:
        if c in "(<[":
            depth += 1
        elif c in ")>]" and not (c == ">" and cur.endswith("-")):
            depth -= 1
        if c == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += c
    if cur.strip():
        out.append(cur)
    return [" ".join(p.split(":", 1)[1].split()) for p in out if p.strip()]


def params_end(sig):
    """The index of the `)` closing the parameter list."""
    depth = 0
    for j, c in enumerate(sig):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(sig)


def return_type(sig):
    """What the method returns, `()` when nothing."""
    rest = sig[params_end(sig) + 1:].strip()
    return " ".join(rest[2:].split()) if rest.startswith("->") else "()"


def check_types(name, text):
    for generic in re.findall(r"\b(\w+)<Self>", text):
        if generic not in SAME and f"{generic}<Self>" not in ARG_IN and f"{generic}<Self>" not in RET_OUT:
            sys.exit(f"gen_census.py: `{name}` uses `{generic}<B>`, which needs a conversion")


def delegate(name, sig, callee="B", prologue=None):
    """One forwarding method: `prologue` (default: noting the op), then `name`
    called on `callee` with the arguments converted where they need it."""
    sig = sig.replace("<B>", "<Self>").replace("crate::tensor::", "")
    names, types = params(sig), param_types(sig)
    assert len(names) == len(types), (name, names, types)
    check_types(name, sig)
    args = []
    for n, t in zip(names, types):
        n = n.removeprefix("mut ").strip()
        if t in ARG_IN:
            args.append(f"{ARG_IN[t]}({n})")
        elif re.search(r"\b\w+<Self>", t) and t.split("<")[0].lstrip("&") not in SAME \
                and not t.startswith(("Option<", "Vec<", "&[", "(")):
            sys.exit(f"gen_census.py: `{name}` takes `{t}`, which needs a conversion")
        else:
            args.append(n)
    call = f"{callee}::{name}({', '.join(args)})"
    ret = return_type(sig)
    if ret in RET_OUT:
        call = f"{RET_OUT[ret]}({call})"
    elif ret.startswith(("Option<TensorPrimitive", "Vec<TensorPrimitive")):
        sys.exit(f"gen_census.py: `{name}` returns `{ret}`, which needs a conversion")
    first = f"note(Op::{name});" if prologue is None else prologue
    first = f"        {first}\n" if first else ""
    return f"    {sig} {{\n{first}        {call}\n    }}\n", sig


def trait_impls(root, impl_line, callee="B", prologue=None, skip=()):
    """One impl per op trait, every method forwarding (see `delegate`).
    `impl_line` is the impl's opening with `{trait}` to fill; `prologue(name)`
    gives a method's first statement (None: noting the op), `callee(name)` the
    type whose method it calls; methods in `skip` keep the trait's default.
    Returns the impls, the method names and the
    signatures' text (for the imports)."""
    impls, names, text = [], [], ""
    for fname, trait in TRAITS:
        body = []
        for name, sig in methods(trait_body(root / "ops" / fname)):
            if name in skip:
                continue
            code, sig = delegate(
                name, sig, callee(name) if callable(callee) else callee,
                prologue(name) if prologue else None,
            )
            body.append(code)
            names.append(name)
            text += sig + "\n"
        impls.append(impl_line.format(trait=trait) + "\n" + "\n".join(body) + "}\n")
    return impls, names, text


def imports(text, impls):
    """The `use` lines the impls need, and the conversion helpers they call."""
    used = set(re.findall(r"\b[A-Z]\w*", text))
    if re.search(r"\bBackend\b", impls[0].split("{")[0]):
        used.add("Backend")
    unknown = used - BUILTIN - {n for ns in IMPORTS.values() for n in ns}
    if unknown:
        sys.exit(f"gen_census.py: no import for {sorted(unknown)}")
    uses = []
    for path, items in IMPORTS.items():
        items = [i for i in items if i in used]
        if items:
            uses.append(f"use {path}::{{{', '.join(items)}}};")
    uses.append(f"use burn_backend::ops::{{{', '.join(t for _, t in TRAITS)}}};")
    conv = sorted({f for f in list(ARG_IN.values()) + list(RET_OUT.values()) if f + "(" in "".join(impls)})
    uses.append(f"use crate::relay::{{{', '.join(conv)}}};")
    return uses


def backend_root(path):
    """Burn's `src/backend` folder, after checking `Backend`'s methods against
    the hand-written list."""
    root = pathlib.Path(path) / "src" / "backend"
    backend = re.findall(r"\n    fn (\w+)", trait_body(root / "base.rs", "pub trait Backend:"))
    if backend != BACKEND_METHODS:
        sys.exit(f"gen_census.py: Burn's `Backend` has {backend}, mod.rs writes {BACKEND_METHODS}")
    return root


def main():
    root = backend_root(sys.argv[1])
    out = pathlib.Path(sys.argv[2])

    impls, names, text = trait_impls(root, "impl<B: Backend> {trait}<Self> for Census<B> {{")
    names += BACKEND_METHODS
    if len(set(names)) != len(names):
        sys.exit("gen_census.py: a method name occurs in two traits")
    uses = imports(text, impls)

    header = (
        "// @generated by scripts/gen_census.py from Burn 0.21's backend traits; do not edit.\n"
        "// Regenerate: python3 scripts/gen_census.py ~/.cargo/registry/src/*/burn-backend-0.21.0 src/census\n"
        "//             && rustfmt --edition 2024 src/census/delegate.rs src/census/table.rs\n"
    )
    (out / "delegate.rs").write_text(
        header
        + "//! `Census<B>`'s op traits: every method notes its op and forwards to `B`,\n"
        + "//! methods with a default body included.\n\n"
        + "\n".join(uses) + "\n\n"
        + "use super::table::Op;\nuse super::{Census, note};\n\n"
        + "\n".join(impls)
    )

    variants = "".join(f"    {n},\n" for n in names)
    names_rs = "".join(f'    "{n}",\n' for n in names)
    kinds = [classify(n) for n in names]
    kinds_rs = "".join(f"    {'None' if k is None else f'Some(OpKind::{k})'},\n" for k in kinds)
    (out / "table.rs").write_text(
        header
        + "//! One entry per method of Burn's backend traits: its op id, name and kind.\n\n"
        + "use super::OpKind;\n\n"
        + "/// An op: one method of Burn's backend traits, named as the method.\n"
        + "#[allow(non_camel_case_types)]\n"
        + "#[derive(Clone, Copy, Debug)]\n#[repr(u16)]\n"
        + f"pub(crate) enum Op {{\n{variants}}}\n\n"
        + "/// How many ops there are.\n"
        + f"pub(crate) const OP_COUNT: usize = {len(names)};\n\n"
        + "/// Each op's name, indexed by `Op as usize`.\n"
        + f"pub(crate) const NAMES: [&str; OP_COUNT] = [\n{names_rs}];\n\n"
        + "/// Each op's kind; `None` for a call that touches no tensor data (not in totals).\n"
        + f"pub(crate) const KINDS: [Option<OpKind>; OP_COUNT] = [\n{kinds_rs}];\n"
    )
    tally = {}
    for k in kinds:
        tally[k or "query"] = tally.get(k or "query", 0) + 1
    print(f"{len(names)} ops:", ", ".join(f"{k} {v}" for k, v in tally.items()))


if __name__ == "__main__":
    main()
