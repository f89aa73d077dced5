#!/usr/bin/env python3
"""One training step of a Poisson PINN at several input dimensions, in PyTorch
(eager and torch.func) and JAX (jit, with the Hessian trace, folx's forward
Laplacian and a Hutchinson estimate), side by side with burn-nested results.

Problem (the Rust bench times the same thing):
  u: R^d -> R, Linear(d,W)-tanh-Linear(W,W)-tanh-Linear(W,W)-tanh-Linear(W,1), f32
  x: B points uniform in [-1, 1]^d, fixed for the run
  f(x) = sum_i sin(x_i)            (u* = sum_i sin(x_i) solves -Δu = f)
  loss = mean_batch (Δu(x) + f(x))^2
  one step = the loss and its gradient w.r.t. every parameter (no update)

    python3 benches/compare/poisson.py --dims 2,8
    python3 benches/compare/poisson.py --json peers.json --burn-json burn.json

Not part of CI; installs torch, jax and folx with pip when they are missing.
"""

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

# --------------------------------------------------------------------------
# Packages


def ensure(module, pip_args):
    """Imports `module`, installing it with pip first when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pass
    for args in pip_args:
        print(f"[poisson] installing {module}: pip install {' '.join(args)}", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "install", "-q", *args]
        r = subprocess.run(cmd)
        if r.returncode != 0:
            # Some system Pythons refuse pip without this flag.
            r = subprocess.run(cmd + ["--break-system-packages"])
        if r.returncode == 0:
            importlib.invalidate_caches()
            try:
                return importlib.import_module(module)
            except ImportError:
                pass
    print(f"[poisson] {module} is not available; skipping it", file=sys.stderr)
    return None


def single_thread_xla():
    """Asks XLA's CPU client for one intra-op thread (must run before jax is imported)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()


def log(*a):
    print("[poisson]", *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Problem data, shared by both frameworks (numpy, fixed seed)


def problem(d, width, batch, seed):
    """(weights, biases, x, f) as float32 numpy arrays; weights are [in, out]."""
    rng = np.random.default_rng(seed)
    sizes = [d, width, width, width, 1]
    ws, bs = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        k = 1.0 / np.sqrt(a)  # PyTorch's and Burn's default Linear bound
        ws.append(rng.uniform(-k, k, (a, b)).astype(np.float32))
        bs.append(rng.uniform(-k, k, (b,)).astype(np.float32))
    x = rng.uniform(-1.0, 1.0, (batch, d)).astype(np.float32)
    f = np.sin(x).sum(axis=1).astype(np.float32)
    return ws, bs, x, f


# --------------------------------------------------------------------------
# PyTorch


def torch_step(torch, method, d, width, batch, seed):
    from torch.func import hessian, vmap

    ws, bs, x_np, f_np = problem(d, width, batch, seed)
    ws = [torch.tensor(w, requires_grad=True) for w in ws]
    bs = [torch.tensor(b, requires_grad=True) for b in bs]
    params = [p for pair in zip(ws, bs) for p in pair]
    x0 = torch.tensor(x_np)
    f = torch.tensor(f_np)
    n = len(ws)

    def mlp(h):
        for i in range(n):
            h = h @ ws[i] + bs[i]
            if i < n - 1:
                h = torch.tanh(h)
        return h

    if method == "torch-loop":

        def laplacian():
            x = x0.detach().requires_grad_()
            u = mlp(x)
            (g,) = torch.autograd.grad(u.sum(), x, create_graph=True)
            lap = 0.0
            for i in range(d):
                (gi,) = torch.autograd.grad(g[:, i].sum(), x, create_graph=True)
                lap = lap + gi[:, i]
            return lap

    elif method == "torch-func-hessian":

        def u_single(x):  # x: [d] -> scalar
            return mlp(x)[0]

        lap_fn = vmap(lambda x: torch.trace(hessian(u_single)(x)))

        def laplacian():
            return lap_fn(x0)

    else:
        raise ValueError(method)

    def step():
        for p in params:
            p.grad = None
        loss = ((laplacian() + f) ** 2).mean()
        loss.backward()
        return loss

    def sync():
        pass

    return step, sync


# --------------------------------------------------------------------------
# JAX


def jax_step(jax, folx, method, d, width, batch, seed, k):
    import jax.numpy as jnp

    ws, bs, x_np, f_np = problem(d, width, batch, seed)
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(ws, bs)]
    x0 = jnp.asarray(x_np)
    f = jnp.asarray(f_np)

    def u_single(ps, x):  # x: [d] -> scalar
        h = x
        for i, (w, b) in enumerate(ps):
            h = h @ w + b
            if i < len(ps) - 1:
                h = jnp.tanh(h)
        return h[0]

    extra = ()
    if method == "jax-hessian":

        def laplacian(ps, x):
            return jax.vmap(lambda xi: jnp.trace(jax.hessian(u_single, argnums=1)(ps, xi)))(x)

    elif method == "jax-folx":
        if folx is None:
            raise RuntimeError("folx is not installed")

        def laplacian(ps, x):
            one = lambda xi: folx.forward_laplacian(lambda z: u_single(ps, z))(xi).laplacian  # noqa: E731
            return jax.vmap(one)(x)

    elif method == "jax-stochastic":
        # k Rademacher directions per point, fixed for the run.
        v = jax.random.rademacher(jax.random.PRNGKey(seed + 1), (batch, k, d), jnp.float32)
        extra = (v,)

        def laplacian(ps, x, v):
            grad_u = jax.grad(u_single, argnums=1)

            def one(xi, vi):  # vi: [k, d]
                hv = jax.vmap(lambda vl: jax.jvp(lambda z: grad_u(ps, z), (xi,), (vl,))[1])(vi)
                return jnp.mean(jnp.sum(hv * vi, axis=1))

            return jax.vmap(one)(x, v)

    else:
        raise ValueError(method)

    def loss(ps, x, f, *extra):
        return jnp.mean((laplacian(ps, x, *extra) + f) ** 2)

    vg = jax.jit(jax.value_and_grad(loss))
    out = {}

    def step():
        out["r"] = vg(params, x0, f, *extra)
        return out["r"][0]

    def sync():
        if "r" in out:
            jax.block_until_ready(out["r"])

    step.jitted, step.jit_args = vg, (params, x0, f, *extra)  # for tracing and lowering
    return step, sync


# --------------------------------------------------------------------------
# Timing


class Skip(Exception):
    pass


def measure(step, sync, args):
    """Median seconds per step, after a warm-up step (which includes compilation)."""
    t0 = time.perf_counter()
    step()
    sync()
    first = time.perf_counter() - t0
    if first > args.max_case_seconds:
        raise Skip(f"warm-up step took {first:.1f} s > --max-case-seconds")
    t0 = time.perf_counter()
    step()
    sync()
    est = time.perf_counter() - t0
    if est > args.max_step_seconds:
        raise Skip(f"one step takes {est:.3g} s > --max-step-seconds {args.max_step_seconds:g}")
    times = [est]
    start = time.perf_counter()
    while len(times) < args.min_iters or time.perf_counter() - start < args.measurement_time:
        if time.perf_counter() - start + first > args.max_case_seconds or len(times) >= 10000:
            break
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times), first


# --------------------------------------------------------------------------
# Output


def machine(torch, jax, folx):
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    lines = [f"- CPU: {cpu}, {os.cpu_count()} logical cores ({usable} usable)",
             f"- Python {platform.python_version()}, numpy {np.__version__}"]
    if torch is not None:
        lines.append(f"- torch {torch.__version__}, {torch.get_num_threads()} intra-op threads")
    if jax is not None:
        devs = ", ".join(str(x) for x in jax.devices())
        xla = os.environ.get("XLA_FLAGS", "")
        lines.append(f"- jax {jax.__version__} ({devs}){', XLA_FLAGS=' + xla if xla else ''}")
    if folx is not None:
        lines.append(f"- folx {getattr(folx, '__version__', '?')}")
    return "\n".join(lines)


def fmt_ms(ms):
    if ms is None:
        return "—"
    if isinstance(ms, str):
        return ms
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def fmt_ratio(a, b):
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b == 0:
        return "—"
    return f"{a / b:.2f}×"


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


# --------------------------------------------------------------------------


TORCH_METHODS = ["torch-loop", "torch-func-hessian"]
JAX_METHODS = ["jax-hessian", "jax-folx", "jax-stochastic"]


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dims", default="2,8,32,128", help="comma-separated input dimensions d")
    p.add_argument("--width", type=int, default=64, help="hidden width W")
    p.add_argument("--batch", type=int, default=1024, help="points per batch B")
    p.add_argument("--methods", default=",".join(TORCH_METHODS + JAX_METHODS),
                   help="comma-separated subset of the methods")
    p.add_argument("--k", type=int, default=8, help="Rademacher directions per point (jax-stochastic)")
    p.add_argument("--measurement-time", type=float, default=2.0,
                   help="seconds to time each case for, at least")
    p.add_argument("--min-iters", type=int, default=10, help="timed steps per case, at least")
    p.add_argument("--max-case-seconds", type=float, default=60.0,
                   help="stop timing a case after this long (warm-up included)")
    p.add_argument("--max-step-seconds", type=float, default=10.0,
                   help="skip a case whose first timed step takes longer than this")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads; 1 also makes XLA single-threaded")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the peer results here")
    p.add_argument("--burn-json", default=None,
                   help="burn-nested results (same record schema) to show beside the peers")
    args = p.parse_args()

    dims = [int(s) for s in args.dims.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(TORCH_METHODS + JAX_METHODS)
    if unknown:
        p.error(f"unknown methods: {', '.join(sorted(unknown))}")

    torch = jax = folx = None
    if any(m in TORCH_METHODS for m in methods):
        torch = ensure("torch", [["torch", "--index-url", "https://download.pytorch.org/whl/cpu"],
                                 ["torch"]])
        if torch is not None:
            torch.manual_seed(args.seed)
            if args.threads:
                torch.set_num_threads(args.threads)
    if any(m in JAX_METHODS for m in methods):
        if args.threads == 1:
            single_thread_xla()
        jax = ensure("jax", [["jax[cpu]"], ["jax"]])
        if "jax-folx" in methods:
            folx = ensure("folx", [["folx"]])

    print(f"# Poisson PINN step: W={args.width}, B={args.batch}, f32, CPU\n")
    print(machine(torch, jax, folx) + "\n")

    records = []
    results = {}  # (framework, method) -> {d: ms or "skipped"}
    for method in methods:
        fw = "torch" if method in TORCH_METHODS else "jax"
        mod = torch if fw == "torch" else jax
        cells = results.setdefault((fw, method), {})
        for d in dims:
            if mod is None:
                cells[d] = "n/a"
                log(f"{method} d={d}: skipped: {fw} is not installed")
                continue
            try:
                if fw == "torch":
                    step, sync = torch_step(torch, method, d, args.width, args.batch, args.seed)
                else:
                    step, sync = jax_step(jax, folx, method, d, args.width, args.batch, args.seed,
                                          args.k)
                med, n, first = measure(step, sync, args)
            except Skip as e:
                cells[d] = "skipped"
                log(f"{method} d={d}: skipped: {e}")
                continue
            except Exception as e:  # a case that fails is shown as skipped
                cells[d] = "skipped"
                log(f"{method} d={d}: skipped: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
                continue
            ms = med * 1e3
            cells[d] = ms
            log(f"{method} d={d}: {ms:.3f} ms/step (median of {n}; warm-up {first:.2f} s)")
            records.append({"framework": fw, "method": method, "d": d, "width": args.width,
                            "batch": args.batch, "ms": ms})

    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)
        log(f"wrote {len(records)} records to {args.json}")

    burn = {}
    if args.burn_json:
        with open(args.burn_json) as fh:
            for r in json.load(fh):
                if r.get("width", args.width) != args.width or r.get("batch", args.batch) != args.batch:
                    log(f"ignoring burn record with width {r.get('width')} batch {r.get('batch')}: {r}")
                    continue
                key = (r.get("framework", "burn-nested"), r["method"])
                burn.setdefault(key, {})[int(r["d"])] = float(r["ms"])
        for cells in burn.values():
            for d in cells:
                if d not in dims:
                    dims.append(d)
        dims.sort()

    rows = []
    for (fw, method), cells in list(burn.items()) + list(results.items()):
        rows.append([f"{fw} {method}"] + [fmt_ms(cells.get(d)) for d in dims])
    print("## Median ms per step\n")
    print(table(["method"] + [f"d={d}" for d in dims], rows))

    # One ratio block per burn-nested label ("burn-nested", or one per inner
    # backend from benches/backends: "burn-nested (tch)", ...).
    labels = sorted({fw for fw, m in burn if m == "forward-laplacian"})
    ratio_rows = []
    for label in labels:
        fl = burn[(label, "forward-laplacian")]
        for (fw, method), cells in results.items():
            ratio_rows.append([f"{label} forward-laplacian / {method}"]
                              + [fmt_ratio(fl.get(d), cells.get(d)) for d in dims])
        fr = burn.get((label, "forward-over-reverse"))
        if fr:
            ratio_rows.append([f"{label} forward-over-reverse / forward-laplacian"]
                              + [fmt_ratio(fr.get(d), fl.get(d)) for d in dims])
        st = burn.get((label, f"stochastic-k{args.k}"))
        if st and ("jax", "jax-stochastic") in results:
            js = results[("jax", "jax-stochastic")]
            ratio_rows.append([f"{label} stochastic-k{args.k} / jax-stochastic"]
                              + [fmt_ratio(st.get(d), js.get(d)) for d in dims])
    if ratio_rows:
        print("\n## burn-nested / peer (below 1× = burn-nested faster)\n")
        print(table(["ratio"] + [f"d={d}" for d in dims], ratio_rows))
    elif burn:
        log("no burn-nested forward-laplacian records; ratio table left out")

if __name__ == "__main__":
    main()
