#!/usr/bin/env python3
"""Op census: how many ops PyTorch eager and JAX run for ONE training step of each
workload of benches/compare (pinn.py's main job, poisson.py's step, compare.py's
scenarios at bench size). It times nothing; it counts.

PyTorch (eager, CPU): every aten op that reaches the Python dispatch key during one
step, after a warm-up step, recorded by a TorchDispatchMode. That key sits below
autograd and below torch.func's vmap/jvp layers, so what it sees is what runs:
CompositeImplicit ops (reshape, contiguous, item, linear, ...) arrive already
decomposed (into view/_unsafe_view/clone, _local_scalar_dense, mm/addmm, ...), and
backward ops are seen too. Each op gets one kind (first rule that matches):
  host      _local_scalar_dense, item, tolist, equal, is_nonzero
  view      a view op (OpOverload.is_view, or in-place views such as squeeze_), or
            _unsafe_view, alias, lift_fresh: no kernel on CUDA
  fill      zeros, ones, empty*, full, fill_, zero_, *_like, new_*, arange, rand*,
            _efficientzerotensor (empty*, _efficientzerotensor allocate only)
  copy      clone, copy_, _to_copy, cat, stack, index*, gather, scatter*,
            *_backward of slice/select/diagonal, *_scatter, repeat, ...
  matmul    mm, bmm, addmm, baddbmm, dot, mv, addmv, linear, conv*
  elementwise  ops tagged torch.Tag.pointwise, and _foreach_* (one op per list)
  reduction ops tagged torch.Tag.reduction, and sum, mean, amax, trace, ...
  other     everything else (listed by name in the JSON)
plus, before all but host: meta = metadata queries (is_same_size, ...), profiler
markers, and any op whose result lies on the meta device (torch.func's zero-tensor
shape checks run `to(device="meta")`); a `to`/`contiguous` that returns its input's
storage counts as a view. "kernel ops" = total − views − meta (so total = kernel ops
+ views + meta). Kernel ops still include alloc-only ops (empty*,
_efficientzerotensor, reported apart) and scalar ops on CPU tensors (Adam's step
counters).

JAX: (1) equations of `jax.make_jaxpr(step)`, counted recursively: an equation
whose params hold a jaxpr (pjit, custom_jvp_call, custom_vjp_call, remat, cond's
branches, scan/while bodies, ...) is a wrapper: it is not counted itself, its
sub-jaxprs are (every branch of a cond, a loop body once). "jaxpr eqns" counts the
leaf equations; wrappers are reported apart. (2) The compiled HLO on CPU,
`jit(step).lower(*args).compile().as_text()`: the instructions of the ENTRY
computation that are not parameter, tuple, get-tuple-element, constant or bitcast,
where `call` is replaced by the instructions of the computation it calls and
`while`/`conditional` count as one plus those of their bodies (recursively, same
rule). Fusion bodies are not opened. Reported as fusions + other instructions.

    python3 benches/compare/census.py                       # table to stdout
    python3 benches/compare/census.py --json census.json    # and the numbers
    python3 benches/compare/census.py --self-test           # check the counters

Not part of CI; installs torch, jax and folx with pip when they are missing (the
same `ensure` helper and pip arguments as poisson.py).
"""

import argparse
import collections
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare  # noqa: E402
import pinn  # noqa: E402
import poisson  # noqa: E402


def log(*a):
    print("[census]", *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# PyTorch: a dispatch mode that records every aten op

HOST = {"_local_scalar_dense", "item", "tolist", "equal", "is_nonzero"}
VIEW_EXTRA = {"_unsafe_view", "alias", "lift_fresh", "view", "expand", "t", "transpose",
              "permute", "slice", "select", "as_strided", "unsqueeze", "squeeze", "detach",
              "_reshape_alias", "diagonal", "narrow", "unfold", "view_as", "expand_as",
              "split", "split_with_sizes", "unbind", "chunk", "_conj", "_neg_view"}
NO_KERNEL_ALLOC = {"empty", "empty_like", "new_empty", "empty_strided", "new_empty_strided",
                   "empty_permuted", "_efficientzerotensor"}
FILL = NO_KERNEL_ALLOC | {
    "zeros", "ones", "full", "fill", "zero", "zeros_like", "ones_like", "full_like",
    "new_zeros", "new_ones", "new_full", "scalar_tensor", "arange", "eye", "linspace",
    "rand", "randn", "randint", "rand_like", "randn_like", "randint_like", "uniform",
    "normal", "bernoulli", "random"}
COPY = {"clone", "copy", "contiguous", "_to_copy", "to", "_copy_from", "lift_fresh_copy",
        "cat", "stack", "index_select", "gather", "scatter", "scatter_add", "index",
        "_unsafe_index", "index_put", "_index_put_impl", "index_add", "index_copy", "repeat",
        "slice_backward", "select_backward", "diagonal_backward", "unfold_backward",
        "as_strided_scatter", "slice_scatter", "select_scatter", "diagonal_scatter",
        "diag_embed", "constant_pad_nd", "flip", "roll", "masked_scatter", "masked_select",
        "nonzero", "view_copy", "permute_copy", "t_copy", "transpose_copy", "expand_copy",
        "unsqueeze_copy", "squeeze_copy", "alias_copy", "narrow_copy", "tril", "triu"}
MATMUL = {"mm", "bmm", "addmm", "addbmm", "baddbmm", "matmul", "dot", "vdot", "mv", "addmv",
          "addr", "linear", "_addmm_activation", "convolution", "_convolution",
          "convolution_backward", "conv1d", "conv2d", "conv3d", "mkldnn_convolution",
          "cudnn_convolution", "_mm_dtype"}
REDUCTION = {"sum", "mean", "amax", "amin", "max", "min", "prod", "norm", "linalg_vector_norm",
             "var", "std", "var_mean", "std_mean", "logsumexp", "argmax", "argmin", "any",
             "all", "cumsum", "cumprod", "trace", "nansum", "aminmax", "count_nonzero"}
ELEMENTWISE = {"add", "sub", "rsub", "mul", "div", "neg", "pow", "tanh", "tanh_backward", "sin",
               "cos", "exp", "log", "sqrt", "rsqrt", "reciprocal", "square", "abs", "sign",
               "sgn", "where", "clamp", "lerp", "addcmul", "addcdiv", "maximum", "minimum",
               "sigmoid", "relu", "threshold_backward", "eq", "ne", "lt", "le", "gt", "ge"}
# Metadata queries and profiler markers: no kernel, no tensor data touched.
META = {"is_same_size", "_has_same_storage_numel", "sym_size", "sym_stride", "sym_numel",
        "sym_storage_offset", "is_contiguous", "is_strides_like_format", "_record_function_enter",
        "_record_function_enter_new", "_record_function_exit"}
# Composite ops that return an input unchanged when there is nothing to do; when one
# reaches the counter and its result shares an input's storage, it counts as a view.
MAYBE_ALIAS = {"to", "contiguous", "reshape", "type_as", "flatten", "_to_copy_if_needed"}
KINDS = ["elementwise", "matmul", "reduction", "copy", "fill", "host", "other", "meta", "view"]
SHORT = {"elementwise": "ew", "matmul": "mm", "reduction": "red", "copy": "copy",
         "fill": "fill", "host": "host", "other": "other", "meta": "meta"}


def op_name(func):
    """`add_` for aten.add_.Tensor."""
    return func.overloadpacket.__name__


def kind_of(func, torch, flag=None):
    name = op_name(func)
    base = name[:-1] if name.endswith("_") and not name.endswith("__") else name
    tags = set(getattr(func, "tags", ()))
    if name in HOST or base in HOST:
        return "host"
    if name in META or func.namespace == "profiler" or flag == "meta-device":
        return "meta"
    if flag == "alias" or getattr(func, "is_view", False) or torch.Tag.inplace_view in tags or base in VIEW_EXTRA:
        return "view"
    if base in FILL or name in FILL:
        return "fill"
    if base in COPY or name in COPY:  # clone is tagged pointwise: test copies first
        return "copy"
    if base in MATMUL:
        return "matmul"
    if torch.Tag.pointwise in tags or name.startswith("_foreach_") or base in ELEMENTWISE:
        return "elementwise"
    if getattr(torch.Tag, "reduction", None) in tags or base in REDUCTION:
        return "reduction"
    return "other"


def _same_storage(a, b):
    try:
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    except RuntimeError:  # tensors without storage (zero tensors, wrappers)
        return a is b


def make_counter(torch):
    from torch.utils._python_dispatch import TorchDispatchMode

    class OpCounter(TorchDispatchMode):
        """Records (OpOverload, phase) for every op that reaches the Python key."""

        def __init__(self):
            super().__init__()
            self.ops = []
            self.phase = "step"

        def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            flag = None
            if op_name(func) in MAYBE_ALIAS and isinstance(out, torch.Tensor):
                if any(isinstance(a, torch.Tensor) and _same_storage(a, out) for a in args):
                    flag = "alias"
            outs = out if isinstance(out, (tuple, list)) else (out,)
            if any(isinstance(o, torch.Tensor) and o.device.type == "meta" for o in outs):
                flag = "meta-device"  # shape propagation (e.g. for zero tensors): no data
            self.ops.append((func, self.phase, flag))
            return out

    return OpCounter


def summarize_ops(ops, torch):
    """{"total", "views", "meta", "kernel_ops", "by_kind", "no_kernel_allocs", "by_op"}."""
    by_kind = collections.Counter()
    by_op = collections.Counter()
    allocs = 0
    others = set()
    for func, _, flag in ops:
        k = kind_of(func, torch, flag)
        by_kind[k] += 1
        label = f"{func.namespace}.{op_name(func)}" + (f" ({flag})" if flag else "")
        by_op[label] += 1
        if op_name(func) in NO_KERNEL_ALLOC:
            allocs += 1
        if k == "other":
            others.add(label)
    total = len(ops)
    views, meta = by_kind.get("view", 0), by_kind.get("meta", 0)
    others = sorted(others)
    return {"total": total, "views": views, "meta": meta, "kernel_ops": total - views - meta,
            "by_kind": {k: by_kind.get(k, 0) for k in KINDS},
            "no_kernel_allocs": allocs, "other_ops": others,
            "by_op": dict(by_op.most_common())}


def count_torch(torch, step, warmup=1, optimizer_phase=False):
    """Runs `step` `warmup` times, then once under the counter; returns the summary.
    With `optimizer_phase`, ops run inside any optimizer.step() are also summarized
    apart (via torch.optim's global step hooks)."""
    for _ in range(warmup):
        step()
    counter = make_counter(torch)()
    handles = []
    if optimizer_phase:
        from torch.optim.optimizer import (register_optimizer_step_post_hook,
                                           register_optimizer_step_pre_hook)

        def pre(*_a):
            counter.phase = "optimizer"

        def post(*_a):
            counter.phase = "step"

        handles = [register_optimizer_step_pre_hook(pre), register_optimizer_step_post_hook(post)]
    try:
        with counter:
            step()
    finally:
        for h in handles:
            h.remove()
    out = summarize_ops(counter.ops, torch)
    if optimizer_phase:
        out["optimizer"] = summarize_ops([o for o in counter.ops if o[1] == "optimizer"], torch)
    return out


# --------------------------------------------------------------------------
# JAX: jaxpr equations and compiled-HLO instructions


def _jaxpr_types():
    try:
        from jax.extend.core import ClosedJaxpr, Jaxpr
    except ImportError:  # older jax
        from jax.core import ClosedJaxpr, Jaxpr
    return ClosedJaxpr, Jaxpr


def jaxpr_census(closed):
    """Leaf equations (recursively through every sub-jaxpr), wrappers, top level."""
    ClosedJaxpr, Jaxpr = _jaxpr_types()
    leaves, wrappers = collections.Counter(), collections.Counter()

    def subs(params):
        for v in params.values():
            for x in (v if isinstance(v, (tuple, list)) else (v,)):
                if isinstance(x, ClosedJaxpr):
                    yield x.jaxpr
                elif isinstance(x, Jaxpr):
                    yield x

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            inner = list(subs(eqn.params))
            if inner:
                wrappers[eqn.primitive.name] += 1
                for j in inner:
                    walk(j)
            else:
                leaves[eqn.primitive.name] += 1

    walk(closed.jaxpr)
    # The body of the outermost jit, if the step is one pjit.
    top = closed.jaxpr
    while len(top.eqns) == 1 and top.eqns[0].primitive.name in ("pjit", "jit"):
        top = top.eqns[0].params["jaxpr"].jaxpr
    return {"eqns": sum(leaves.values()), "wrappers": sum(wrappers.values()),
            "wrappers_by_primitive": dict(wrappers.most_common()),
            "top_level_eqns": len(top.eqns),
            "by_primitive": dict(leaves.most_common())}


TRIVIAL_HLO = {"parameter", "tuple", "get-tuple-element", "constant", "bitcast"}
_COMP_RE = re.compile(r"^(ENTRY\s+)?%?([\w.\-]+)\s*\(.*->.*\{\s*$")
_NAME_RE = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*")


def _split_instruction(line):
    """(opcode, rest) of an HLO instruction line, or None."""
    m = _NAME_RE.match(line)
    if not m:
        return None
    s = line[m.end():]
    if s.startswith("("):  # tuple type: skip to the matching parenthesis
        depth = 0
        for i, c in enumerate(s):
            depth += c == "("
            depth -= c == ")"
            if depth == 0:
                s = s[i + 1:]
                break
    else:
        s = s.split(" ", 1)[1] if " " in s else ""
    m = re.match(r"\s*([a-z][\w\-]*)\(", s)
    return (m.group(1), s[m.end():]) if m else None


def parse_hlo(text):
    """({computation: [(opcode, rest)]}, entry name)."""
    comps, entry, cur = {}, None, None
    for line in text.splitlines():
        if cur is None:
            m = _COMP_RE.match(line)
            if m:
                cur = m.group(2)
                comps[cur] = []
                if m.group(1):
                    entry = cur
            continue
        if line.strip() == "}":
            cur = None
            continue
        ins = _split_instruction(line)
        if ins:
            comps[cur].append(ins)
    return comps, entry


def hlo_census(text):
    comps, entry = parse_hlo(text)
    ops = collections.Counter()
    fusion_kinds = collections.Counter()
    contents = collections.Counter()  # what each counted instruction computes

    def inside(name, depth=0):
        """Opcodes of a fused computation, nested fusions and calls opened."""
        found = set()
        for opcode, rest in comps.get(name, []):
            found.add(opcode)
            if opcode in ("fusion", "call") and depth < 8:
                for c in called(rest, "calls") + called(rest, "to_apply"):
                    found |= inside(c, depth + 1)
        return found

    def content(opcode, rest):
        found = {opcode}
        if opcode == "fusion":
            for c in called(rest, "calls"):
                found |= inside(c)
        if found & {"dot", "convolution"} or (opcode == "custom-call" and "matmul" in rest.lower()):
            return "dot"
        if found & {"reduce", "reduce-window", "scatter", "sort"}:
            return "reduce"
        if opcode in ("while", "conditional", "custom-call"):
            return opcode
        if found - {"fusion", "parameter", "constant", "bitcast", "tuple",
                    "get-tuple-element"} <= {"copy", "transpose", "reshape", "broadcast",
                                            "slice", "concatenate", "pad", "dynamic-slice",
                                            "dynamic-update-slice", "iota", "reverse"}:
            return "data-movement"
        return "elementwise"

    def called(rest, key):
        """Computations named by `key=%c` or `key={%a, %b}` in an instruction."""
        m = re.search(r"\b" + key + r"=(\{[^}]*\}|%?[\w.\-]+)", rest)
        if not m:
            return []
        return [c.strip().lstrip("%") for c in m.group(1).strip("{}").split(",") if c.strip()]

    def walk(name):
        for opcode, rest in comps.get(name, []):
            if opcode in TRIVIAL_HLO:
                continue
            if opcode == "call":
                for c in called(rest, "to_apply"):
                    walk(c)
                continue
            ops[opcode] += 1
            contents[content(opcode, rest)] += 1
            if opcode == "fusion":
                m = re.search(r"kind=(k\w+)", rest)
                fusion_kinds[m.group(1) if m else "?"] += 1
            elif opcode == "while":
                for c in called(rest, "condition") + called(rest, "body"):
                    walk(c)
            elif opcode == "conditional":
                for c in (called(rest, "branch_computations") + called(rest, "true_computation")
                          + called(rest, "false_computation")):
                    walk(c)

    if entry is None:
        raise ValueError("no ENTRY computation in the HLO text")
    walk(entry)
    total = sum(ops.values())
    return {"ops": total, "fusions": ops.get("fusion", 0), "non_fusion": total - ops.get("fusion", 0),
            "fusion_kinds": dict(fusion_kinds.most_common()), "by_opcode": dict(ops.most_common()),
            "by_content": dict(contents.most_common())}


def count_jax(jax, jitted, args):
    closed = jax.make_jaxpr(jitted)(*args)
    out = {"jaxpr": jaxpr_census(closed)}
    text = jitted.lower(*args).compile().as_text()
    out["hlo"] = hlo_census(text)
    return out


# --------------------------------------------------------------------------
# Self-test


def self_test(torch, jax):
    if torch is not None:
        a, b = torch.randn(4, 4), torch.randn(4, 4)

        def one(fn):
            c = make_counter(torch)()
            with c:
                fn()
            return summarize_ops(c.ops, torch)

        s = one(lambda: a + b)
        assert s["total"] == 1 and s["by_kind"]["elementwise"] == 1, s
        s = one(lambda: torch.mm(a, b))
        assert s["total"] == 1 and s["by_kind"]["matmul"] == 1, s
        s = one(lambda: a.t())
        assert s["total"] == 1 and s["views"] == 1 and s["kernel_ops"] == 0, s
        s = one(lambda: a.sum())
        assert s["total"] == 1 and s["by_kind"]["reduction"] == 1, s
        s = one(lambda: a.sum().item())
        assert s["by_kind"]["reduction"] == 1 and s["by_kind"]["host"] == 1 and s["total"] == 2, s
        s = one(lambda: torch.zeros(3))
        assert s["total"] == 1 and s["by_kind"]["fill"] == 1, s
        s = one(lambda: a.clone())
        assert s["total"] == 1 and s["by_kind"]["copy"] == 1, s
        s = one(lambda: a.t().reshape(16))  # reshape of a non-contiguous tensor: t, clone, view
        assert s["views"] == 2 and s["by_kind"]["copy"] == 1 and s["kernel_ops"] == 1, s
        w = torch.randn(4, 4, requires_grad=True)
        s = one(lambda: torch.tanh(a @ w).sum().backward())
        assert s["by_kind"]["matmul"] == 2 and s["by_op"]["aten.tanh_backward"] == 1, s
        s = one(lambda: torch._foreach_add_([a, b], 1.0))
        assert s["total"] == 1 and s["by_kind"]["elementwise"] == 1, s
        log("torch counter: ok")
    if jax is not None:
        import jax.numpy as jnp

        x = jnp.ones((4, 4), jnp.float32)
        r = count_jax(jax, jax.jit(lambda a, b: a + b), (x, x))
        assert r["jaxpr"]["eqns"] == 1 and r["jaxpr"]["wrappers"] == 1, r
        assert r["hlo"]["ops"] == 1, r
        r = count_jax(jax, jax.jit(lambda a, b: jnp.tanh(a * b + 1.0)), (x, x))
        assert r["jaxpr"]["eqns"] == 3 and r["hlo"]["ops"] == 1 and r["hlo"]["fusions"] == 1, r
        r = count_jax(jax, jax.jit(lambda a, b: a @ b), (x, x))
        assert r["jaxpr"]["eqns"] == 1 and r["hlo"]["ops"] == 1, r
        assert r["hlo"]["by_content"] == {"dot": 1}, r
        r = count_jax(jax, jax.jit(lambda a: jnp.sum(jnp.exp(a), axis=0)), (x,))
        assert r["jaxpr"]["eqns"] == 2 and r["hlo"]["by_content"] == {"reduce": 1}, r
        # Recursion: a custom_jvp inside the jit (relu), and both branches of a cond.
        r = count_jax(jax, jax.jit(lambda a: jax.nn.relu(a)), (x,))
        assert r["jaxpr"]["eqns"] == 1 and r["jaxpr"]["wrappers"] >= 2, r
        r = count_jax(jax, jax.jit(lambda p, a: jax.lax.cond(p, lambda z: z + 1.0,
                                                             lambda z: jnp.sin(z) * 2.0, a)),
                      (True, x))
        assert r["jaxpr"]["by_primitive"].get("add") == 1, r
        assert r["jaxpr"]["by_primitive"].get("sin") == 1, r
        assert r["jaxpr"]["by_primitive"].get("mul") == 1, r
        assert r["hlo"]["by_opcode"].get("conditional") == 1, r
        log("jax counter: ok")


# --------------------------------------------------------------------------
# Workloads


def pinn_args():
    return argparse.Namespace(steps=pinn.STEPS, batch=pinn.BATCH, lr=pinn.LR, seed=0)


def census_pinn(torch, jax, folx):
    args = pinn_args()
    params0 = pinn.init_params(args.seed, pinn.WIDTH, pinn.HIDDEN)
    points = pinn.all_points(args.seed, 3, args.batch)
    meta = {"batch": args.batch, "width": pinn.WIDTH, "hidden": pinn.HIDDEN}
    out = {}
    if torch is not None:
        step, _ = pinn.torch_trainer(torch, args, params0)
        it = iter(range(3))

        def one():
            t = next(it)
            step(t, points[t])

        r = count_torch(torch, one, warmup=1, optimizer_phase=True)
        # torch.optim resolves foreach=None to the single-tensor loop on CPU tensors and
        # to the foreach path on CUDA tensors; count the foreach variant too by
        # switching the built optimizer's groups (what a CUDA run would dispatch).
        r["adam_impl"] = "single-tensor (foreach=None resolves to False on CPU; fused=None)"
        step2, _ = pinn.torch_trainer(torch, args, params0)
        opt = _find_adam(step2)
        if opt is not None:
            for g in opt.param_groups:
                g["foreach"] = True
            it = iter(range(3))

            def two():
                t = next(it)
                step2(t, points[t])

            rf = count_torch(torch, two, warmup=1, optimizer_phase=True)
            r["foreach_variant"] = {"total": rf["total"], "kernel_ops": rf["kernel_ops"],
                                    "views": rf["views"], "optimizer": rf["optimizer"]}
        out["torch-loop"] = {"framework": "torch", **meta, **r}
    if jax is not None and folx is not None:
        step, _, _, _ = pinn.jax_trainer(jax, folx, "jax-folx", args, params0)
        out["jax-folx"] = {"framework": "jax", **meta,
                           **count_jax(jax, step.jitted, step.jit_args(1, points[1]))}
    return out


def _find_adam(step):
    """The Adam optimizer a pinn.torch_trainer step closes over."""
    for cell in step.__closure__ or ():
        v = cell.cell_contents
        if type(v).__name__ == "Adam":
            return v
    return None


def census_poisson(torch, jax, folx, d, width, batch, seed, k, jax_methods):
    meta = {"d": d, "width": width, "batch": batch}
    out = {}
    if torch is not None:
        for method in poisson.TORCH_METHODS:
            step, _ = poisson.torch_step(torch, method, d, width, batch, seed)
            out[method] = {"framework": "torch", **meta, **count_torch(torch, step)}
    if jax is not None:
        for method in jax_methods:
            if method == "jax-folx" and folx is None:
                continue
            step, _ = poisson.jax_step(jax, folx, method, d, width, batch, seed, k)
            out[method] = {"framework": "jax", **meta, **count_jax(jax, step.jitted, step.jit_args)}
    return out


def census_scenario(torch, jax, scenario):
    widths, bn, shape = compare.shape_of(scenario, "bench")
    meta = {"size": "bench", "widths": widths, "batch_norm": bn, "input": list(shape)}
    out = {}
    if torch is not None:
        step, _ = compare.torch_step(torch, scenario, "bench", None, "cpu")
        out["torch"] = {"framework": "torch", **meta, **count_torch(torch, step)}
    if jax is not None:
        step, _ = compare.jax_step(jax, scenario, "bench", None, "cpu")
        out["jax"] = {"framework": "jax", **meta, **count_jax(jax, step.jitted, step.jit_args)}
    return out


# --------------------------------------------------------------------------
# Output


def fmt_torch(r):
    if r is None:
        return "—", "—"
    head = f"{r['total']} ({r['kernel_ops']} / {r['views']})"
    kinds = ", ".join(f"{SHORT[k]} {r['by_kind'][k]}" for k in KINDS
                      if k != "view" and r["by_kind"][k])
    if r.get("no_kernel_allocs"):
        kinds += f" (fill: {r['no_kernel_allocs']} alloc-only)"
    if "optimizer" in r:
        o = r["optimizer"]
        kinds += f"; Adam {o['total']} ({o['kernel_ops']} / {o['views']})"
        fv = r.get("foreach_variant")
        if fv:
            kinds += f", foreach Adam {fv['optimizer']['total']} ({fv['optimizer']['kernel_ops']} / {fv['optimizer']['views']})"
    return head, kinds


def fmt_jax(r):
    if r is None:
        return "—", "—"
    j, h = r["jaxpr"], r["hlo"]
    jx = f"{j['eqns']} (+{j['wrappers']} wrappers)"
    rest = ", ".join(f"{op} {n}" for op, n in h["by_opcode"].items() if op != "fusion")
    hx = f"{h['ops']} = {h['fusions']} fusions + {h['non_fusion']}" + (f" ({rest})" if rest else "")
    short = {"dot": "dot", "reduce": "red", "elementwise": "ew", "data-movement": "move"}
    hx += "; " + ", ".join(f"{short.get(k, k)} {n}" for k, n in h["by_content"].items())
    return jx, hx


def table(results, pairs):
    head = ["workload", "torch method", "torch aten ops (kernel ops / views)", "torch by kind",
            "jax method", "jax jaxpr eqns", "jax HLO ops (CPU)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, tm, jm in pairs:
        res = results.get(key, {})
        t_total, t_kinds = fmt_torch(res.get(tm) if tm else None)
        j_eq, j_hlo = fmt_jax(res.get(jm) if jm else None)
        lines.append("| " + " | ".join([key, tm or "—", t_total, t_kinds, jm or "—", j_eq, j_hlo]) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--self-test", action="store_true", help="check the counters and exit")
    p.add_argument("--json", default=None, help="write the numbers here")
    p.add_argument("--workloads", default=None,
                   help="comma-separated subset: pinn, poisson, or scenario names")
    p.add_argument("--frameworks", default="torch,jax")
    p.add_argument("--dims", default="2,8,32", help="Poisson input dimensions")
    p.add_argument("--poisson-jax-methods", default="jax-folx",
                   help="comma-separated poisson.py JAX methods (jax-folx, jax-hessian, ...)")
    args = p.parse_args()

    fw = set(x for x in args.frameworks.split(",") if x)
    torch = jax = folx = None
    if "torch" in fw:
        torch = poisson.ensure("torch", [["torch", "--index-url",
                                          "https://download.pytorch.org/whl/cpu"], ["torch"]])
        if torch is not None:
            torch.manual_seed(0)
    if "jax" in fw:
        jax = poisson.ensure("jax", [["jax[cpu]"], ["jax"]])
        if jax is not None:
            jax.config.update("jax_platforms", "cpu")
            folx = poisson.ensure("folx", [["folx"]])

    self_test(torch, jax)
    if args.self_test:
        return

    versions = {"torch": getattr(torch, "__version__", None),
                "jax": getattr(jax, "__version__", None),
                "jaxlib": None, "folx": getattr(folx, "__version__", None)}
    if jax is not None:
        import jaxlib
        versions["jaxlib"] = jaxlib.__version__
    if versions["folx"] is None and folx is not None:
        from importlib.metadata import version
        versions["folx"] = version("folx")

    want = set(args.workloads.split(",")) if args.workloads else None
    dims = [int(s) for s in args.dims.split(",") if s]
    pj = [m for m in args.poisson_jax_methods.split(",") if m]
    results, pairs = {}, []

    def run(key, fn, rows):
        if want and key not in want and key.split("_d")[0] not in want:
            return
        t0 = time.perf_counter()
        try:
            results[key] = fn()
        except Exception as e:  # a workload that fails is left out, with the reason
            log(f"{key}: failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
            results[key] = {"error": f"{type(e).__name__}: {e}"}
        log(f"{key}: {time.perf_counter() - t0:.1f} s")
        pairs.extend(rows)

    run("pinn", lambda: census_pinn(torch, jax, folx), [("pinn", "torch-loop", "jax-folx")])
    for d in dims:
        key = f"poisson_d{d}"
        rows = [(key, tm, pj[0] if i == 0 and pj else None)
                for i, tm in enumerate(poisson.TORCH_METHODS)]
        rows += [(key, None, jm) for jm in pj[1:]]
        run(key, lambda d=d: census_poisson(torch, jax, folx, d, 64, 1024, 0, 8, pj), rows)
    for s in compare.SCENARIOS:
        if not compare.runs(s, "bench"):
            log(f"{s}: not run at bench size (compare.py skips it too)")
            continue
        run(s, lambda s=s: census_scenario(torch, jax, s), [(s, "torch", "jax")])

    print("# Op census: one training step per workload, CPU\n")
    print(f"- torch {versions['torch']}, jax {versions['jax']} (jaxlib {versions['jaxlib']}), "
          f"folx {versions['folx']}\n")
    print(table(results, pairs))
    if args.json:
        doc = dict(results)
        doc["_meta"] = {"versions": versions, "date": time.strftime("%Y-%m-%d"),
                        "rules": "see benches/compare/census.py's docstring"}
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=1)
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
