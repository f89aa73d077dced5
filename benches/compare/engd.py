"""ENGD on the main job's Poisson PINN in JAX: the peer of examples/pinn_engd.rs.

Same problem (Δu = −2π² sin(πx) sin(πy) on the unit square, u = 0 on the
boundary), same network (u = 16·x(1−x)·y(1−y)·N(2x−1, 2y−1), N a 2→32→32→32→1
tanh MLP with Burn's default initialisation U(±1/√fan_in)), same 30×30
cell-centred collocation grid, f64, and the same step: the residual Jacobian by
vmap(jacrev), δ = Jᵀ (J Jᵀ + λ·mean diag·I)⁻¹ r by Cholesky, the step size
with the lowest loss among 2⁰ … 2⁻³⁰ (here evaluated in one vmap). Prints the
same table as the Rust example: loss, relative L2 on a 101×101 grid, and each
step split into Jacobian, solve and line search.

    python3 benches/compare/engd.py --steps 400 --max-seconds 120
"""

import argparse
import subprocess
import sys
import time

try:
    import jax
except ImportError:  # installs the peer on first use, never a crate dependency
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "jax[cpu]"])
    import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from jax.scipy.linalg import cho_factor, cho_solve  # noqa: E402


def init(key, sizes):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        key, kw, kb = jax.random.split(key, 3)
        bound = 1.0 / jnp.sqrt(fan_in)
        params.append(
            (
                jax.random.uniform(kw, (fan_in, fan_out), minval=-bound, maxval=bound),
                jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound),
            )
        )
    return params


def u(params, p):
    h = 2.0 * p - 1.0
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = jnp.tanh(h)
    bump = 16.0 * p[0] * (1 - p[0]) * p[1] * (1 - p[1])
    return bump * h[0]


def residual(params, p):
    lap = jnp.trace(jax.hessian(u, argnums=1)(params, p))
    f = -2.0 * jnp.pi**2 * jnp.sin(jnp.pi * p[0]) * jnp.sin(jnp.pi * p[1])
    return lap - f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--max-seconds", type=float, default=300.0)
    ap.add_argument("--side", type=int, default=30)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=3)
    ap.add_argument("--damping", type=float, default=1e-10)
    ap.add_argument("--halvings", type=int, default=30)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    sizes = [2] + [a.width] * a.hidden + [1]
    params = init(jax.random.PRNGKey(a.seed), sizes)
    theta, unravel = ravel_pytree(params)
    c = (jnp.arange(a.side) + 0.5) / a.side
    gx, gy = jnp.meshgrid(c, c)
    points = jnp.stack([gx.ravel(), gy.ravel()], axis=1)
    g = jnp.linspace(0.0, 1.0, 101)
    ex, ey = jnp.meshgrid(g, g)
    grid = jnp.stack([ex.ravel(), ey.ravel()], axis=1)
    exact = jnp.sin(jnp.pi * grid[:, 0]) * jnp.sin(jnp.pi * grid[:, 1])

    res = jax.jit(lambda t: jax.vmap(residual, (None, 0))(unravel(t), points))
    jac = jax.jit(lambda t: jax.vmap(jax.grad(residual), (None, 0))(unravel(t), points))
    jac_flat = jax.jit(lambda t: jax.vmap(lambda g: ravel_pytree(g)[0])(jac(t)))

    @jax.jit
    def solve(j, r):
        k = j @ j.T
        k = k + a.damping * jnp.mean(jnp.diag(k)) * jnp.eye(k.shape[0])
        return j.T @ cho_solve(cho_factor(k, lower=True), r)

    etas = 0.5 ** jnp.arange(a.halvings + 1)

    @jax.jit
    def search(t, d):
        losses = jax.vmap(lambda e: jnp.mean(res(t - e * d) ** 2))(etas)
        best = jnp.argmin(losses)
        return t - etas[best] * d, losses[best], etas[best]

    error = jax.jit(
        lambda t: jnp.linalg.norm(jax.vmap(u, (None, 0))(unravel(t), grid) - exact)
        / jnp.linalg.norm(exact)
    )

    # Compile every piece once, outside the timing.
    r = res(theta)
    j = jac_flat(theta)
    d = solve(j, r)
    search(theta, d)[0].block_until_ready()
    error(theta).block_until_ready()

    print(f"ENGD (JAX {jax.__version__}, jit, f64) on {points.shape[0]} points, "
          f"network {sizes} ({theta.size} parameters)")
    print(f"{'step':>5} {'time s':>8} {'loss':>11} {'rel L2':>11} {'step size':>10} "
          f"{'jac ms':>9} {'solve ms':>9} {'search ms':>9}")
    start = time.perf_counter()
    for step in range(1, a.steps + 1):
        t0 = time.perf_counter()
        r = res(theta)
        j = jac_flat(theta).block_until_ready()
        t1 = time.perf_counter()
        d = solve(j, r).block_until_ready()
        t2 = time.perf_counter()
        theta, loss, eta = search(theta, d)
        theta.block_until_ready()
        t3 = time.perf_counter()
        elapsed = t3 - start
        last = step == a.steps or elapsed >= a.max_seconds
        if step % a.every == 0 or last:
            print(f"{step:>5} {elapsed:>8.2f} {float(loss):>11.3e} {float(error(theta)):>11.3e} "
                  f"{float(eta):>10.2e} {(t1 - t0) * 1e3:>9.1f} {(t2 - t1) * 1e3:>9.1f} "
                  f"{(t3 - t2) * 1e3:>9.1f}")
        if last:
            break


if __name__ == "__main__":
    main()
