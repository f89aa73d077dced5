#!/usr/bin/env python3
"""The scenarios of docs/scenarios.md in PyTorch (eager) and JAX (jit), timed like the
criterion bench `benches/scenarios.rs`, and a table of burn-nested / peer ratios.

One step = the loss (which contains a derivative of the model) plus its gradients
w.r.t. the input and every parameter.

    python3 benches/compare/compare.py --device cpu                  # runs the bench
    python3 benches/compare/compare.py --criterion target/criterion  # reads results
    python3 benches/compare/compare.py --bench-bin gpu/scenarios --device cuda
    python3 benches/compare/compare.py --backend tch --batches '' \
        --paired-cmd '<benches/backends binary> tch --paired 9'       # another inner backend

Not part of CI.
"""

import argparse
import glob
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

# --------------------------------------------------------------------------
# Packages


def ensure(module, pip_args):
    """Imports `module`, installing it with pip first when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pass
    for args in pip_args:
        print(f"[compare] installing {module}: pip install {' '.join(args)}", file=sys.stderr)
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *args])
        if r.returncode == 0:
            importlib.invalidate_caches()
            try:
                return importlib.import_module(module)
            except ImportError:
                pass
    print(f"[compare] {module} is not available; skipping it", file=sys.stderr)
    return None


# --------------------------------------------------------------------------
# Scenarios: widths, batch norm, input shape (docs/scenarios.md)

SCENARIOS = [
    "jacobian_regularization",
    "batched_jacobian",
    "pinn_gradient",
    "pinn_gradient_rowwise",
    "parameter_jacobian",
    "hutchinson_vjp",
    "hutchinson_jvp",
    "hutchinson_full_jacobian",
]

SHAPES = {
    ("jacobian_regularization", "seed"): ([2, 4, 2], True, (10, 2)),
    ("jacobian_regularization", "bench"): ([8, 64, 8], True, (32, 8)),
    ("batched_jacobian", "seed"): ([2, 4, 2], False, (10, 2)),
    ("batched_jacobian", "bench"): ([16, 256, 16], False, (512, 16)),
    ("pinn_gradient", "seed"): ([1, 12, 12, 12, 1], False, (16, 1)),
    ("pinn_gradient", "bench"): ([1, 64, 64, 64, 1], False, (4096, 1)),
    ("parameter_jacobian", "seed"): ([1, 12, 12, 12, 1], False, (16, 1)),
    ("parameter_jacobian", "bench"): ([1, 32, 32, 32, 1], False, (64, 1)),
    ("hutchinson", "seed"): ([4, 12, 12, 12, 4], False, (12, 4)),
    ("hutchinson", "bench"): ([64, 256, 256, 256, 64], False, (256, 64)),
}


def shape_of(scenario, size, batch=None):
    key = scenario
    if scenario.startswith("hutchinson"):
        key = "hutchinson"
    if scenario == "pinn_gradient_rowwise":
        key = "pinn_gradient"
    widths, bn, shape = SHAPES[(key, size)]
    if batch is not None:
        shape = (batch, shape[1])
    return widths, bn, shape


def runs(scenario, size):
    # The bench-size full Jacobian of the Hutchinson model is [16384, 16384].
    return not (scenario == "hutchinson_full_jacobian" and size == "bench")


def cases(sizes, batches):
    """(label, scenario, size, batch) for every benchmark the table shows."""
    out = []
    for s in SCENARIOS:
        for size in sizes:
            if runs(s, size):
                out.append((f"{s}/{size}", s, size, None))
    for b in batches:
        out.append((f"pinn_gradient_rowwise/batch/{b}", "pinn_gradient_rowwise", "bench", b))
    return out


# --------------------------------------------------------------------------
# Timing


def median_time(step, sync, min_time, min_iters, warmup):
    for _ in range(warmup):
        step()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
        if len(times) >= 1000:
            break
    return statistics.median(times)


# --------------------------------------------------------------------------
# PyTorch


def torch_step(torch, scenario, size, batch, device):
    from torch.func import functional_call, jacfwd, jacrev, jvp, vmap  # noqa: F401

    widths, bn, shape = shape_of(scenario, size, batch)
    g = torch.Generator().manual_seed(0)

    def rand(*s, lo=-1.0, hi=1.0):
        return (torch.rand(*s, generator=g) * (hi - lo) + lo).to(device)

    params = []
    for a, b in zip(widths[:-1], widths[1:]):
        bound = 1.0 / a**0.5
        params.append(rand(a, b, lo=-bound, hi=bound).requires_grad_())
        params.append(rand(b, lo=-bound, hi=bound).requires_grad_())
    if bn:
        params.append(torch.ones(widths[1], device=device).requires_grad_())
        params.append(torch.zeros(widths[1], device=device).requires_grad_())
    n_lin = len(widths) - 1

    def model(ps, x):
        h = x
        for i in range(n_lin):
            h = h @ ps[2 * i] + ps[2 * i + 1]
            if i < n_lin - 1:
                h = torch.tanh(h)
            if i == 0 and bn:
                mean = h.mean(0, keepdim=True)
                var = ((h - mean) ** 2).mean(0, keepdim=True)
                h = (h - mean) / torch.sqrt(var + 1e-5) * ps[-2] + ps[-1]
        return h

    lo = -1.0 if scenario in ("jacobian_regularization", "batched_jacobian") else 0.0
    x0 = rand(*shape, lo=lo, hi=1.0)
    y = rand(shape[0], widths[-1])
    v = (torch.randint(0, 2, shape, generator=g) * 2 - 1).float().to(device)

    def loss(x):
        if scenario == "jacobian_regularization":
            f = lambda x: model(params, x)  # noqa: E731
            j = jacfwd(f)(x)
            return ((f(x) - y) ** 2).sum() + ((0.01 * j) ** 2).sum()
        if scenario == "batched_jacobian":
            row = lambda r: model(params, r[None])[0]  # noqa: E731
            j = vmap(jacfwd(row))(x)
            return ((model(params, x) - y) ** 2).sum() + ((0.01 * j) ** 2).sum()
        if scenario == "pinn_gradient":
            u = model(params, x)
            (gt,) = torch.autograd.grad((u * u).sum(), x, create_graph=True)
            return ((gt - torch.cos(x)) ** 2).sum()
        if scenario == "pinn_gradient_rowwise":
            row = lambda r: model(params, r[None])[0] ** 2  # noqa: E731
            gt = vmap(jacfwd(row))(x).reshape(x.shape)
            return ((gt - torch.cos(x)) ** 2).sum()
        if scenario == "parameter_jacobian":
            j = jacrev(lambda ps: model(ps, x))(list(params))
            return sum((t**2).sum() for t in j)
        if scenario == "hutchinson_vjp":
            (vj,) = torch.autograd.grad(model(params, x), x, v, create_graph=True)
            return (vj * v).sum()
        if scenario == "hutchinson_jvp":
            _, jv = jvp(lambda x: model(params, x), (x,), (v,))
            return (v * jv).sum()
        if scenario == "hutchinson_full_jacobian":
            n = x.numel()
            j = jacfwd(lambda x: model(params, x.reshape(shape)).reshape(-1))(x.reshape(-1))
            fv = v.reshape(n, 1)
            return (fv.T @ j @ fv).reshape(1)
        raise ValueError(scenario)

    def step():
        x = x0.detach().requires_grad_()
        l = loss(x)
        torch.autograd.grad(l.sum(), [x, *params], allow_unused=True, materialize_grads=True)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    return step, sync


# --------------------------------------------------------------------------
# JAX


def jax_step(jax, scenario, size, batch, device):
    import jax.numpy as jnp

    widths, bn, shape = shape_of(scenario, size, batch)
    key = jax.random.PRNGKey(0)
    keys = iter(jax.random.split(key, 64))

    def rand(s, lo=-1.0, hi=1.0):
        return jax.random.uniform(next(keys), s, jnp.float32, lo, hi)

    params = []
    for a, b in zip(widths[:-1], widths[1:]):
        bound = 1.0 / a**0.5
        params.append(rand((a, b), -bound, bound))
        params.append(rand((b,), -bound, bound))
    if bn:
        params.append(jnp.ones(widths[1], jnp.float32))
        params.append(jnp.zeros(widths[1], jnp.float32))
    n_lin = len(widths) - 1

    def model(ps, x):
        h = x
        for i in range(n_lin):
            h = h @ ps[2 * i] + ps[2 * i + 1]
            if i < n_lin - 1:
                h = jnp.tanh(h)
            if i == 0 and bn:
                mean = h.mean(0, keepdims=True)
                var = ((h - mean) ** 2).mean(0, keepdims=True)
                h = (h - mean) / jnp.sqrt(var + 1e-5) * ps[-2] + ps[-1]
        return h

    lo = -1.0 if scenario in ("jacobian_regularization", "batched_jacobian") else 0.0
    x0 = rand(shape, lo, 1.0)
    y = rand((shape[0], widths[-1]))
    v = jnp.where(rand(shape, 0.0, 1.0) < 0.5, -1.0, 1.0).astype(jnp.float32)

    def loss(x, ps):
        f = lambda x: model(ps, x)  # noqa: E731
        if scenario == "jacobian_regularization":
            j = jax.jacfwd(f)(x)
            return ((f(x) - y) ** 2).sum() + ((0.01 * j) ** 2).sum()
        if scenario == "batched_jacobian":
            row = lambda r: model(ps, r[None])[0]  # noqa: E731
            j = jax.vmap(jax.jacfwd(row))(x)
            return ((f(x) - y) ** 2).sum() + ((0.01 * j) ** 2).sum()
        if scenario == "pinn_gradient":
            gt = jax.grad(lambda t: (f(t) ** 2).sum())(x)
            return ((gt - jnp.cos(x)) ** 2).sum()
        if scenario == "pinn_gradient_rowwise":
            row = lambda r: model(ps, r[None])[0] ** 2  # noqa: E731
            gt = jax.vmap(jax.jacfwd(row))(x).reshape(x.shape)
            return ((gt - jnp.cos(x)) ** 2).sum()
        if scenario == "parameter_jacobian":
            j = jax.jacrev(lambda p: model(p, x))(ps)
            return sum((t**2).sum() for t in j)
        if scenario == "hutchinson_vjp":
            _, pull = jax.vjp(f, x)
            return (pull(v)[0] * v).sum()
        if scenario == "hutchinson_jvp":
            _, jv = jax.jvp(f, (x,), (v,))
            return (v * jv).sum()
        if scenario == "hutchinson_full_jacobian":
            n = x.size
            j = jax.jacfwd(lambda z: f(z.reshape(shape)).reshape(-1))(x.reshape(-1))
            fv = v.reshape(n, 1)
            return (fv.T @ j @ fv).reshape(())
        raise ValueError(scenario)

    dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
    x0, params = jax.device_put((x0, params), dev)
    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    out = {}

    def step():
        out["r"] = grad(x0, params)

    def sync():
        if "r" in out:
            jax.block_until_ready(out["r"])

    step.jitted, step.jit_args = grad, (x0, params)  # for tracing and lowering
    return step, sync


# --------------------------------------------------------------------------
# burn-nested results from criterion


def read_criterion(root):
    """{full_id: median seconds} from criterion's `new/estimates.json` files."""
    found = {}
    for bench in glob.glob(os.path.join(root, "**", "new", "benchmark.json"), recursive=True):
        d = os.path.dirname(bench)
        try:
            with open(bench) as f:
                full_id = json.load(f)["full_id"]
            with open(os.path.join(d, "estimates.json")) as f:
                found[full_id] = json.load(f)["median"]["point_estimate"] * 1e-9
        except (OSError, KeyError, ValueError):
            continue
    return found


def run_criterion(bench_bin, backend, filter_re, measurement_time, cwd):
    args = [filter_re or f"^{backend}/",
            "--warm-up-time", "0.5", "--measurement-time", str(measurement_time)]
    if bench_bin:
        # Without cargo, criterion needs `--bench` to measure rather than test.
        cmd = [bench_bin, "--bench", *args]
    else:
        cmd = ["cargo", "bench", "--bench", "scenarios"]
        if backend == "wgpu":
            cmd += ["--features", "wgpu"]
        cmd += ["--", *args]
    print("[compare] running:", " ".join(cmd), file=sys.stderr)
    # Criterion's report goes to stderr so stdout is only the table.
    subprocess.run(cmd, check=True, cwd=cwd, stdout=sys.stderr)


def run_paired(command, backend):
    """{full_id: median seconds} from a `--paired` table (`| scenario | switched |
    naive | native | ...`, bench size) printed by `command`."""
    print("[compare] running:", command, file=sys.stderr)
    out = subprocess.run(command, shell=True, check=True, capture_output=True, text=True).stdout
    sys.stderr.write(out)
    found = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or cells[0] not in SCENARIOS:
            continue
        for path, cell in zip(["switched", "naive", "native"], cells[1:4]):
            if cell.endswith(" ms"):
                found[f"{backend}/{cells[0]}/bench/{path}"] = float(cell[:-3]) * 1e-3
    if not found:
        sys.exit(f"[compare] no paired table in the output of: {command}")
    return found


# --------------------------------------------------------------------------


def fmt(t):
    if t is None:
        return "—"
    if t >= 1.0:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.0f} µs"


def ratio(a, b):
    return "—" if a is None or b is None else f"{a / b:.2f}×"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--backend", choices=["ndarray", "wgpu", "tch", "candle"], default=None,
                   help="burn backend to compare (default: ndarray on cpu, wgpu on cuda)")
    p.add_argument("--paired-cmd", default=None,
                   help="read burn's bench-size medians from this command's `--paired` table "
                        "instead of criterion (e.g. the binary of benches/backends with "
                        "'tch --paired 9')")
    p.add_argument("--criterion", default=None,
                   help="read burn results from this criterion folder instead of running the bench")
    p.add_argument("--bench-bin", default=None,
                   help="run this prebuilt bench binary instead of `cargo bench`")
    p.add_argument("--filter", default=None, help="criterion filter (regex) for the burn run")
    p.add_argument("--sizes", default="bench", help="comma-separated: seed,bench")
    p.add_argument("--batches", default="1024,4096,16384",
                   help="batch sizes of the pinn_gradient_rowwise scaling rows ('' for none)")
    p.add_argument("--frameworks", default="torch,jax")
    p.add_argument("--measurement-time", type=float, default=2.0)
    p.add_argument("--min-iters", type=int, default=10)
    p.add_argument("--scenarios", default=None, help="comma-separated subset")
    args = p.parse_args()

    backend = args.backend or ("wgpu" if args.device == "cuda" else "ndarray")
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    sizes = [s for s in args.sizes.split(",") if s]
    batches = [int(b) for b in args.batches.split(",") if b]
    todo = cases(sizes, batches)
    if args.scenarios:
        keep = set(args.scenarios.split(","))
        todo = [c for c in todo if c[1] in keep]

    if args.paired_cmd:
        burn = run_paired(args.paired_cmd, backend)
    elif args.criterion:
        crit_root = args.criterion
    else:
        cwd = os.path.dirname(os.path.abspath(args.bench_bin)) if args.bench_bin else repo
        run_criterion(args.bench_bin and os.path.abspath(args.bench_bin), backend, args.filter,
                      args.measurement_time, cwd)
        crit_root = os.path.join(cwd, "target", "criterion")
    if not args.paired_cmd:
        burn = read_criterion(crit_root)

    peers = {}
    fw = [f for f in args.frameworks.split(",") if f]
    if "torch" in fw:
        torch = ensure("torch", [["torch", "--index-url", "https://download.pytorch.org/whl/cpu"],
                                 ["torch"]])
        if torch is not None:
            torch.manual_seed(0)
            peers["torch"] = lambda s, z, b: torch_step(torch, s, z, b, args.device)
            print(f"[compare] torch {torch.__version__}, threads {torch.get_num_threads()}",
                  file=sys.stderr)
    if "jax" in fw:
        jax = ensure("jax", [["jax"]])
        if jax is not None:
            peers["jax"] = lambda s, z, b: jax_step(jax, s, z, b, args.device)
            print(f"[compare] jax {jax.__version__}, {jax.devices()}", file=sys.stderr)

    rows = []
    for label, scenario, size, batch in todo:
        base = f"{backend}/{label}"
        if batch is None:
            sw, nv = burn.get(f"{base}/switched"), burn.get(f"{base}/naive")
            nat = burn.get(f"{base}/native")
        else:
            sw, nv, nat = burn.get(base), None, None
        times = {}
        for name, make in peers.items():
            try:
                step, sync = make(scenario, size, batch)
                times[name] = median_time(step, sync, args.measurement_time, args.min_iters, 2)
            except Exception as e:  # a peer that cannot run a case gets a dash
                print(f"[compare] {name} {label}: {type(e).__name__}: {e}", file=sys.stderr)
                times[name] = None
            print(f"[compare] {label}: {name} {fmt(times[name])}", file=sys.stderr)
        rows.append((label, sw, nv, nat, times))

    head = ["scenario/size", f"burn switched ({backend})", "burn naive", "naive/switched",
            "plain Burn", "plain/switched"]
    for name in peers:
        head += [f"{name} ({args.device})", f"burn/{name}"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, sw, nv, nat, times in rows:
        cells = [label, fmt(sw), fmt(nv), ratio(nv, sw), fmt(nat), ratio(nat, sw)]
        for name in peers:
            cells += [fmt(times[name]), ratio(sw, times[name])]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
