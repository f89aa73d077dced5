#!/usr/bin/env python3
"""The training run of `examples/pinn.rs` (2-D Poisson PINN) in PyTorch eager and
JAX jit, timed per step, with the final relative L2 error measured like the example.

Problem (examples/pinn/problem.rs):
  Δu = −2π² sin(πx) sin(πy) on [0, 1]², u = 0 on the boundary, u* = sin(πx) sin(πy)
  u(p) = 16·x(1−x)·y(1−y)·N(2p − 1), N: 2 → 32 → 32 → 32 → 1 tanh MLP (biases)
  loss = mean over the batch of (Δu − f)², Δu w.r.t. p = (x, y)
Training (examples/pinn/train.rs, defaults of examples/pinn.rs):
  Adam (β = 0.9, 0.999, ε = 1e-5, Burn's defaults), 8000 steps, 512 fresh points
  uniform in [0, 1]² each step, lr = 3e-3 decaying exponentially to 3e-5 at the
  last step: lr_t = lr · exp(t · ln(1/100) / (steps − 1)).
Error: ‖u − u*‖₂ / ‖u*‖₂ over a 101 × 101 grid of the closed unit square.

Methods: torch-loop (autograd.grad per input dimension), jax-hessian
(vmap(trace(jax.hessian))), jax-folx (vmap(folx.forward_laplacian)).

The initial weights (U(±1/√fan_in), as Burn and PyTorch draw them) and the
collocation points come from numpy with `--seed`, so every method trains on the
same data from the same start; they cannot match Burn's own random streams.

    python3 benches/compare/pinn.py --steps 500
    python3 benches/compare/pinn.py --json pinn_peers.json

Not part of CI; installs torch, jax and folx with pip when they are missing.
"""

import argparse
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np

# Defaults of examples/pinn.rs and the Config it builds.
STEPS = 8000
BATCH = 512
LR = 3e-3
WIDTH = 32
HIDDEN = 3
GRID = 101
BETA1, BETA2, EPS = 0.9, 0.999, 1e-5  # burn::optim::AdamConfig defaults


def ensure(module, pip_args):
    """Imports `module`, installing it with pip first when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pass
    for args in pip_args:
        print(f"[pinn] installing {module}: pip install {' '.join(args)}", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "install", "-q", *args]
        r = subprocess.run(cmd)
        if r.returncode != 0:
            r = subprocess.run(cmd + ["--break-system-packages"])
        if r.returncode == 0:
            importlib.invalidate_caches()
            try:
                return importlib.import_module(module)
            except ImportError:
                pass
    print(f"[pinn] {module} is not available; skipping it", file=sys.stderr)
    return None


def single_thread_xla():
    """Asks XLA's CPU client for one intra-op thread (must run before jax is imported)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()


def log(*a):
    print("[pinn]", *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Shared data


def init_params(seed, width, hidden):
    """[(w [in, out], b [out])] float32, U(±1/√fan_in) for weights and biases."""
    rng = np.random.default_rng(seed)
    sizes = [2] + [width] * hidden + [1]
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        k = 1.0 / math.sqrt(a)
        out.append((rng.uniform(-k, k, (a, b)).astype(np.float32),
                    rng.uniform(-k, k, (b,)).astype(np.float32)))
    return out


def all_points(seed, steps, batch):
    """The collocation points of every step, [steps, batch, 2] in [0, 1)²."""
    rng = np.random.default_rng(seed + 1)
    return rng.random((steps, batch, 2), dtype=np.float32)


def lr_at(step, steps, lr):
    decay = math.log((lr / 100.0) / lr) / (max(steps, 2) - 1)
    return lr * math.exp(decay * step)


def grid_points(n):
    """Row-major, y outer, over the closed unit square; and the exact solution there."""
    c = np.arange(n, dtype=np.float64) / (n - 1)
    yy, xx = np.meshgrid(c, c, indexing="ij")
    pts = np.stack([xx.ravel(), yy.ravel()], axis=1)
    exact = np.sin(np.pi * pts[:, 0]) * np.sin(np.pi * pts[:, 1])
    return pts.astype(np.float32), exact


def relative_l2(learned, exact):
    learned = np.asarray(learned, dtype=np.float64).ravel()
    return float(np.sqrt(((learned - exact) ** 2).sum() / (exact**2).sum()))


# --------------------------------------------------------------------------
# PyTorch


def torch_trainer(torch, args, params0):
    """The torch-loop training step, built but not run: (step(t, pts) -> loss, net).
    `args` needs `lr` and `steps` (the learning-rate schedule)."""
    params = [torch.tensor(a, requires_grad=True) for pair in params0 for a in pair]
    n_lin = len(params0)
    opt = torch.optim.Adam(params, lr=args.lr, betas=(BETA1, BETA2), eps=EPS)

    def net(p):
        h = p * 2.0 - 1.0
        for i in range(n_lin):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_lin - 1:
                h = torch.tanh(h)
        bump = p * (1.0 - p) * 4.0
        return bump[:, 0:1] * bump[:, 1:2] * h

    def source(p):
        s = torch.sin(math.pi * p)
        return -2.0 * math.pi**2 * s[:, 0] * s[:, 1]

    def step(t, pts):
        p = torch.from_numpy(pts).requires_grad_()
        u = net(p)
        (g,) = torch.autograd.grad(u.sum(), p, create_graph=True)
        lap = 0.0
        for i in range(p.shape[1]):
            (gi,) = torch.autograd.grad(g[:, i].sum(), p, create_graph=True)
            lap = lap + gi[:, i]
        loss = ((lap - source(p.detach())) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = lr_at(t, args.steps, args.lr)
        opt.step()
        return loss.item()

    return step, net


def train_torch(torch, args, params0, points):
    step, net = torch_trainer(torch, args, params0)
    losses, t_first, t_rest = run_loop(step, points, lambda: None)
    pts, exact = grid_points(GRID)
    with torch.no_grad():
        learned = net(torch.from_numpy(pts)).numpy()
    return losses, t_first, t_rest, relative_l2(learned, exact)


# --------------------------------------------------------------------------
# JAX


def jax_trainer(jax, folx, method, args, params0):
    """The jitted training step of `method`, built but not run: (step(t, pts) -> loss,
    sync, state, u_single). `step.jitted` is the jitted update and
    `step.jit_args(t, pts)` its arguments at step t, for tracing and lowering."""
    import jax.numpy as jnp

    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params0]

    def u_single(ps, p):  # p: [2] -> scalar
        h = p * 2.0 - 1.0
        for i, (w, b) in enumerate(ps):
            h = h @ w + b
            if i < len(ps) - 1:
                h = jnp.tanh(h)
        bump = p * (1.0 - p) * 4.0
        return bump[0] * bump[1] * h[0]

    if method == "jax-hessian":

        def laplacian(ps, pts):
            return jax.vmap(lambda q: jnp.trace(jax.hessian(u_single, argnums=1)(ps, q)))(pts)

    elif method == "jax-folx":

        def laplacian(ps, pts):
            one = lambda q: folx.forward_laplacian(lambda z: u_single(ps, z))(q).laplacian  # noqa: E731
            return jax.vmap(one)(pts)

    else:
        raise ValueError(method)

    def loss_fn(ps, pts):
        s = jnp.sin(jnp.pi * pts)
        f = -2.0 * jnp.pi**2 * s[:, 0] * s[:, 1]
        return jnp.mean((laplacian(ps, pts) - f) ** 2)

    @jax.jit
    def step_fn(ps, m, v, t, lr, pts):
        loss, g = jax.value_and_grad(loss_fn)(ps, pts)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: BETA1 * m + (1 - BETA1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: BETA2 * v + (1 - BETA2) * g * g, v, g)
        bc1 = 1 - BETA1**t
        bc2 = 1 - BETA2**t
        ps = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * (m / bc1) / (jnp.sqrt(v / bc2) + EPS), ps, m, v)
        return ps, m, v, t, loss

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = {"ps": params, "m": zeros, "v": zeros, "t": jnp.float32(0.0)}

    def step(t, pts):
        lr = np.float32(lr_at(t, args.steps, args.lr))
        state["ps"], state["m"], state["v"], state["t"], loss = step_fn(
            state["ps"], state["m"], state["v"], state["t"], lr, pts)
        return loss  # left on the device: no host sync per step

    def sync():
        jax.block_until_ready(state["ps"])

    step.jitted = step_fn
    step.jit_args = lambda t, pts: (state["ps"], state["m"], state["v"], state["t"],
                                    np.float32(lr_at(t, args.steps, args.lr)), pts)
    return step, sync, state, u_single


def train_jax(jax, folx, method, args, params0, points):
    import jax.numpy as jnp

    step, sync, state, u_single = jax_trainer(jax, folx, method, args, params0)
    losses, t_first, t_rest = run_loop(step, points, sync)
    losses = [float(x) for x in losses]
    pts, exact = grid_points(GRID)
    learned = jax.vmap(lambda q: u_single(state["ps"], q))(jnp.asarray(pts))
    return losses, t_first, t_rest, relative_l2(np.asarray(learned), exact)


# --------------------------------------------------------------------------


def run_loop(step, points, sync):
    """Runs every step; returns (losses, seconds of step 0, seconds of steps 1..)."""
    losses = []
    t0 = time.perf_counter()
    losses.append(step(0, points[0]))
    sync()
    t1 = time.perf_counter()
    for t in range(1, len(points)):
        losses.append(step(t, points[t]))
    sync()
    t2 = time.perf_counter()
    return losses, t1 - t0, t2 - t1


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
    lines = [f"- CPU: {cpu}, {os.cpu_count()} logical cores"]
    if torch is not None:
        lines.append(f"- torch {torch.__version__}, {torch.get_num_threads()} intra-op threads")
    if jax is not None:
        xla = os.environ.get("XLA_FLAGS", "")
        lines.append(f"- jax {jax.__version__} ({', '.join(str(d) for d in jax.devices())})"
                     f"{', XLA_FLAGS=' + xla if xla else ''}")
    if folx is not None:
        lines.append(f"- folx {getattr(folx, '__version__', '?')}")
    return "\n".join(lines)


METHODS = ["torch-loop", "jax-hessian", "jax-folx"]


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=STEPS, help="optimizer steps")
    p.add_argument("--batch", type=int, default=BATCH, help="collocation points per step")
    p.add_argument("--lr", type=float, default=LR, help="initial learning rate (decays to lr/100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and points")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads; 1 also makes XLA single-threaded")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args()
    if args.steps < 2:
        p.error("--steps must be at least 2 (the first step is not timed)")

    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        p.error(f"unknown methods: {', '.join(sorted(unknown))}")
    torch = jax = folx = None
    if "torch-loop" in methods:
        torch = ensure("torch", [["torch", "--index-url", "https://download.pytorch.org/whl/cpu"],
                                 ["torch"]])
        if torch is not None and args.threads:
            torch.set_num_threads(args.threads)
    if any(m.startswith("jax") for m in methods):
        if args.threads == 1:
            single_thread_xla()
        jax = ensure("jax", [["jax[cpu]"], ["jax"]])
        if "jax-folx" in methods:
            folx = ensure("folx", [["folx"]])

    print(f"# 2-D Poisson PINN (examples/pinn.rs): {args.steps} steps, batch {args.batch}, "
          f"2-{WIDTH}x{HIDDEN}-1 tanh, Adam lr {args.lr:g} -> {args.lr / 100:g}, f32, CPU\n")
    print(machine(torch, jax, folx) + "\n")

    params0 = init_params(args.seed, WIDTH, HIDDEN)
    points = all_points(args.seed, args.steps, args.batch)
    rows, records = [], []
    for method in methods:
        mod = torch if method.startswith("torch") else jax
        if mod is None or (method == "jax-folx" and folx is None):
            log(f"{method}: skipped: not installed")
            rows.append([method, "skipped", "—", "—", "—"])
            continue
        log(f"{method}: training {args.steps} steps")
        try:
            if method == "torch-loop":
                losses, first, rest, err = train_torch(torch, args, params0, points)
            else:
                losses, first, rest, err = train_jax(jax, folx, method, args, params0, points)
        except Exception as e:
            log(f"{method}: skipped: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            rows.append([method, "skipped", "—", "—", "—"])
            continue
        ms = rest / (args.steps - 1) * 1e3
        log(f"{method}: {ms:.3f} ms/step, first step {first:.2f} s, "
            f"final loss {losses[-1]:.3e}, relative L2 {err:.3e}")
        rows.append([method, f"{ms:.2f}", f"{first:.2f}", f"{losses[-1]:.3e}", f"{err:.3e}"])
        records.append({"framework": "torch" if method.startswith("torch") else "jax",
                        "method": method, "steps": args.steps, "batch": args.batch,
                        "width": WIDTH, "hidden": HIDDEN, "lr": args.lr, "seed": args.seed,
                        "ms_per_step": ms, "first_step_s": first, "total_s": first + rest,
                        "final_loss": losses[-1], "rel_l2": err})

    head = ["method", "ms/step (steps 2..N)", "first step (s)", "final loss",
            f"relative L2 ({GRID}x{GRID})"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)
        log(f"wrote {len(records)} records to {args.json}")


if __name__ == "__main__":
    main()
