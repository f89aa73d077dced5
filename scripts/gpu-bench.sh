#!/usr/bin/env bash
# Builds burn-nested's GPU measurements in release mode with the features `wgpu`
# and `cuda` and packs them into gpu/ (ignored by git): the `pinn` (also built
# with `autotune`, as `pinn_autotune`) and `poisson_highdim` examples, the
# `laplacian` and `scenarios` benches and the `wgpu_scenarios` tests, stripped and
# xz-compressed (a third smaller than gzip), with the PyTorch/JAX peers
# (benches/compare) and Debian's Vulkan loader and GL vendor libraries. The
# folder stays under 64 MiB, to carry to an NVIDIA machine that has no Rust
# toolchain and no network. There:
#
#     bash gpu/run.sh            # everything, one table at the end, within 8 minutes
#
# and here, a smoke test of run.sh through Mesa's lavapipe (no CUDA, no peers,
# a few steps each):
#
#     QUICK=1 bash gpu/run.sh
#
# Usage: scripts/gpu-bench.sh [OUT_DIR]   (default: gpu/ at the repository root)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/gpu}"
cd "$repo"
# The folder must fit what a GPU machine can be sent.
max_mib=64
# CI builds without incremental caches; so does this (they only cost disk).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# One build for every executable: the same features for all, so the
# dependencies are compiled once. `cargo build --test` builds the test harness.
targets=(--example pinn --example poisson_highdim --bench laplacian --bench scenarios
         --test wgpu_scenarios)
echo "gpu-bench: cargo build --release --features wgpu,cuda ${targets[*]}"
cargo build --release --features wgpu,cuda "${targets[@]}" --message-format=json-render-diagnostics \
  > "$repo/target/gpu-bench-build.json"

# The executables, from cargo's JSON messages: one `name path` line each.
exes="$(python3 scripts/cargo_exes.py "$repo/target/gpu-bench-build.json")"

rm -rf "$out"
mkdir -p "$out/bin" "$out/debs" "$out/benches"
for name in pinn poisson_highdim laplacian scenarios wgpu_scenarios; do
    exe="$(awk -v n="$name" '$1 == n { print $2 }' <<<"$exes" | tail -n1)"
    [ -n "$exe" ] || { echo "gpu-bench: no executable for $name" >&2; exit 1; }
    cp "$exe" "$out/bin/$name"
    strip "$out/bin/$name"
    xz -9 -T0 "$out/bin/$name"
done
# The main job once more with CubeCL's autotune (the crate builds without it;
# docs/backends.md, "Start-up"), to weigh its start-up against its steady step
# on a GPU.
echo "gpu-bench: cargo build --release --features wgpu,cuda,autotune --example pinn"
cargo build --release --features wgpu,cuda,autotune --example pinn --message-format=json-render-diagnostics \
  > "$repo/target/gpu-bench-build-autotune.json"
exe="$(python3 scripts/cargo_exes.py "$repo/target/gpu-bench-build-autotune.json" pinn)"
cp "$exe" "$out/bin/pinn_autotune"
strip "$out/bin/pinn_autotune"
xz -9 -T0 "$out/bin/pinn_autotune"
cp -r benches/compare "$out/benches/compare"
rm -rf "$out/benches/compare/__pycache__"

# Debian's Vulkan loader and the GL vendor libraries NVIDIA's Vulkan driver
# loads through, for a machine that has the driver but no loader.
(cd "$out/debs" && apt-get download -q libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 \
  libgles2 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
[ "$(ls "$out/debs"/*.deb | wc -l)" -eq 7 ] || { echo "gpu-bench: apt-get download failed" >&2; exit 1; }
# folx for the JAX peers, if a wheel was brought here
# (`pip download --no-deps folx==0.2.30 -d .whl`).
if ls "$repo"/.whl/*.whl >/dev/null 2>&1; then
    mkdir -p "$out/whl" && cp "$repo"/.whl/*.whl "$out/whl/"
fi

# The table printed at the end of run.sh, from the runs' logs.
cat > "$out/summary.py" <<'PY'
#!/usr/bin/env python3
"""One markdown table of every run of run.sh: its status and key figures.

Usage: summary.py RESULTS_DIR CRITERION_DIR"""
import glob, json, os, re, sys

res, crit = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "benches", "compare"))
try:
    from compare import read_criterion
except Exception:  # noqa: BLE001 - the summary must print whatever happens
    read_criterion = lambda root: {}  # noqa: E731


def fmt_s(t):
    return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s"


def md_table(text, after=None):
    """Rows (lists of cells) of the first markdown table in `text` (after the
    line containing `after`), header first."""
    if after and after in text:
        text = text.split(after, 1)[1]
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
        elif rows:
            break
    return rows


def figures(kind, log, arg):
    """(figure, value) pairs of one run."""
    out = []
    if kind == "tests":
        for m in re.finditer(r"test result: (\w+)\. (\d+) passed; (\d+) failed", log):
            out.append(("tests", f"{m[2]} passed, {m[3]} failed ({m[1]})"))
    elif kind == "pinn":
        if m := re.search(r"first step ([\d.]+) s; then ([\d.]+) ms per step", log):
            out += [("first step", f"{m[1]} s"), ("then, per step", f"{m[2]} ms")]
        if m := re.search(r"trained (\d+) steps in ([\d.]+) s", log):
            out.append(("total", f"{m[2]} s for {m[1]} steps"))
        if m := re.search(r"relative L2 error [^:]*: (\S+)", log):
            out.append(("relative L2 error", m[1]))
    elif kind == "poisson":  # stderr lines may come between the rows
        rows = md_table("\n".join(l for l in log.splitlines() if l.startswith("|")))
        if rows:
            head = rows[0]
            for r in rows[1:]:
                for h, c in zip(head[1:-1], r[1:-1]):
                    out.append((f"d={r[0]} {h}", c))
    elif kind == "scenarios":
        found = {k: v for k, v in read_criterion(crit).items() if k.startswith(arg + "/")}
        for k in sorted(found):
            out.append((k[len(arg) + 1:], fmt_s(found[k])))
    elif kind == "peers-scenarios":
        rows = md_table(log)
        if rows:
            head = rows[0]
            cols = [i for i, h in enumerate(head) if h.startswith(("torch (", "jax ("))]
            for r in rows[1:]:
                for i in cols:
                    out.append((f"{r[0]} {head[i]}", r[i]))
    elif kind == "peers-pinn":
        for r in md_table(log)[1:]:
            out.append((r[0], f"{r[1]} ms/step, first step {r[2]} s, L2 {r[4]}"))
    elif kind == "peers-poisson":
        rows = md_table(log, "## Median ms per step")
        if rows:
            head = rows[0]
            for r in rows[1:]:
                if r[0].startswith("burn-nested"):
                    continue
                out.append((r[0], ", ".join(f"{h} {c} ms" for h, c in zip(head[1:], r[1:]))))
    elif kind == "highdim":
        label = "?"
        for line in log.splitlines():
            if re.match(r"^(forward|stochastic) .*:$", line):
                label = line[:-1]
            elif m := re.search(r"([\d.]+) ms per step, relative L2 error (\S+)", line):
                out.append((label, f"{m[1]} ms/step, L2 {m[2]}"))
    return out


def threads(path):
    """A timed-out run's thread states just before the kill."""
    try:
        text = open(path).read()
    except OSError:
        return []
    states = re.findall(r"^thread \S+ (\S)", text, re.M)
    cpu = re.search(r"cpu ([\d.]+) s", text)
    busy = sum(s == "R" for s in states)
    what = f"{len(states)} threads, {busy} running" + (f", {cpu[1]} s CPU" if cpu else "")
    return [("threads before the kill", what)]


rows = []
for line in open(os.path.join(res, "steps.tsv")):
    name, kind, arg, status, secs, limit, kernels = line.rstrip("\n").split("\t")
    try:
        log = open(os.path.join(res, name + ".log"), errors="replace").read()
    except OSError:
        log = ""
    figs = figures(kind, log, arg)
    if status != "ok" and status != "skipped":
        figs = figs[:8]
        if kernels not in ("", "0"):
            figs.append(("kernels compiled (CubeCL log)", kernels))
        figs += threads(os.path.join(res, name + ".threads"))
        err = [l for l in log.splitlines()
               if re.search(r"error|panicked|Error", l) and "XDG_RUNTIME_DIR" not in l]
        if err:
            figs.append(("first error", err[0].strip()[:160].replace("|", "/")))
    elif status == "skipped":
        figs = [("why", log.strip().removeprefix("skipped: ") or "—")]
    state = status if status == "skipped" else f"{status}, {secs} s of {limit}"
    if not figs:
        figs = [("—", "—")]
    for i, (f, v) in enumerate(figs):
        rows.append((name if i == 0 else "", state if i == 0 else "", f, v))

print("| run | status | figure | value |")
print("|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
PY

cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# burn-nested on an NVIDIA machine without Rust or network, within 8 minutes:
# the wgpu tests, the PINN main job on wgpu and CUDA (with and without
# burn-fusion), the Poisson table (the same), the scenario benches on both,
# PyTorch (CUDA) and JAX (jit) peers, the transform sweep of the wgpu tests on
# CUDA, then, if time is left, the main job with CubeCL's autotune and the
# high-dimensional example; one table at the end.
# Every run has a time limit; a CUDA run that times out skips the later ones.
# Logs, JSON and criterion results end up in results/, tarred beside this file.
#
#   bash run.sh                 # the full run
#   QUICK=1 bash run.sh         # smoke test: lavapipe's Vulkan, no CUDA, no peers, a few steps
#
# Environment: BUDGET (seconds for all runs, default 440), WORK (where to
# unpack, default /tmp/burn-nested-gpu), SKIP_CUDA=1, SKIP_PEERS=1, and
# VK_DRIVER_FILES / CUDA_PATH / LD_LIBRARY_PATH, which are kept if set.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
QUICK="${QUICK:-0}"
BUDGET="${BUDGET:-440}"
work="${WORK:-/tmp/burn-nested-gpu}"
deadline=$((SECONDS + BUDGET))
if [ "$QUICK" = 1 ]; then SKIP_CUDA="${SKIP_CUDA:-1}"; SKIP_PEERS="${SKIP_PEERS:-1}"; fi
SKIP_CUDA="${SKIP_CUDA:-0}"
SKIP_PEERS="${SKIP_PEERS:-0}"

# --- unpack -----------------------------------------------------------------
rm -rf "$work"
mkdir -p "$work/results"
res="$work/results"
# xz where the machine has it, Python's lzma otherwise.
unxz_to() {
    if command -v xz >/dev/null; then xz -dc "$1" > "$2"
    else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1" > "$2"
    fi
}
for f in "$here"/bin/*.xz; do
    name="$(basename "$f" .xz)"
    unxz_to "$f" "$work/$name" && chmod +x "$work/$name"
done
cp -r "$here/benches" "$here/summary.py" "$work/"
cd "$work"
exec > >(tee -a "$res/run.log") 2>&1
echo "== burn-nested GPU run, $(date -u '+%Y-%m-%d %H:%M UTC'), QUICK=$QUICK, budget ${BUDGET} s"

# CubeCL (wgpu and CUDA) reads cubecl.toml from the working directory: log
# every kernel it compiles and every autotune, to see where a start-up goes.
cat > cubecl.toml <<EOF
[compilation.logger]
level = "basic"
file = "$res/cubecl-compile.log"
[autotune.logger]
level = "minimal"
file = "$res/cubecl-autotune.log"
EOF
kernels() { grep -c . "$res/cubecl-compile.log" 2>/dev/null || echo 0; }

# --- Vulkan -----------------------------------------------------------------
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    echo "no libvulkan.so.1: installing the loader debs"
    if [ "$(id -u)" = 0 ]; then
        for f in "$here"/debs/*.deb; do dpkg -x "$f" /; done
        ldconfig
    else
        for f in "$here"/debs/*.deb; do dpkg -x "$f" "$work/sysroot"; done
        export LD_LIBRARY_PATH="$work/sysroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
fi
if [ -z "${VK_DRIVER_FILES:-}" ]; then
    icd=""
    if [ "$QUICK" = 1 ]; then
        icd="$(ls /usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -n1)"
    fi
    if [ -z "$icd" ]; then
        icd="$(ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json \
            /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -n1)"
    fi
    [ -n "$icd" ] && export VK_DRIVER_FILES="$icd"
fi
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-(unset: the loader picks)}"

# --- CUDA -------------------------------------------------------------------
# burn-cuda needs NVRTC (libnvrtc) on the library path, never a toolkit's
# stubs/ folder (its libcuda is a stub), and the toolkit's headers, which
# CubeCL finds through CUDA_PATH or at /usr/local/cuda.
if [ "$SKIP_CUDA" != 1 ]; then
    nvrtc="$(ls -d /usr/local/cuda/targets/*/lib /usr/local/cuda/lib64 \
        /usr/local/cuda-*/targets/*/lib /usr/local/cuda-*/lib64 2>/dev/null \
        | grep -v stubs | while read -r d; do ls "$d"/libnvrtc.so* >/dev/null 2>&1 && echo "$d"; done \
        | head -n1)"
    if [ -z "$nvrtc" ]; then   # NVRTC from pip's nvidia-cuda-nvrtc (PyTorch's wheels)
        nvrtc="$(python3 -c 'import nvidia.cuda_nvrtc, os; print(os.path.join(list(nvidia.cuda_nvrtc.__path__)[0], "lib"))' 2>/dev/null)"
    fi
    if [ -n "$nvrtc" ] && ! ldconfig -p | grep -q libnvrtc; then
        export LD_LIBRARY_PATH="$nvrtc${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
    if [ -z "${CUDA_PATH:-}" ] && [ ! -e /usr/local/cuda/include/cuda_runtime.h ]; then
        root="$(ls -d /usr/local/cuda-* /opt/cuda 2>/dev/null | sort -V \
            | while read -r d; do [ -e "$d/include/cuda_runtime.h" ] && echo "$d"; done | tail -n1)"
        [ -n "$root" ] && export CUDA_PATH="$root"
    fi
    echo "NVRTC folder: ${nvrtc:-(none found)}; CUDA_PATH=${CUDA_PATH:-(unset)}"
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    command -v nvidia-smi >/dev/null && nvidia-smi -L
fi
cuda_dead=""   # set when a CUDA run timed out: the later ones are skipped

# --- runs -------------------------------------------------------------------
# While a run goes: every 5 s, how far the CubeCL compile log has grown
# (NAME.progress); just before its limit, its threads (NAME.threads): all of
# them running means compiling or computing, all asleep a wait that will not end.
watch_threads() {  # PID LIMIT NAME
    local pid=$1 i
    for ((i = 0; i < $2 - 2; i++)); do
        sleep 1
        kill -0 "$pid" 2>/dev/null || return 0
        [ $((i % 5)) = 4 ] && echo "$((i + 1)) s: $(kernels) lines in the compile log" >> "$res/$3.progress"
    done
    local c
    for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
        {
            echo "process $c: $(tr '\0' ' ' < /proc/"$c"/cmdline)"
            awk '{ printf "cpu %.1f s\n", ($14 + $15) / 100 }' /proc/"$c"/stat
            for t in /proc/"$c"/task/*; do
                echo "thread $(cat "$t"/comm | tr ' ' _) $(awk '{print $3}' "$t"/stat) $(cat "$t"/wchan 2>/dev/null)"
            done
        } >> "$res/$3.threads" 2>/dev/null
    done
}

# step NAME KIND ARG LIMIT COMMAND...: runs COMMAND under `timeout`, within
# LIMIT seconds and what is left of the budget; logs to results/NAME.log and
# records the outcome for summary.py.
step() {
    local name=$1 kind=$2 arg=$3 limit=$4; shift 4
    local left=$((deadline - SECONDS)) log="$res/$name.log"
    local why=""
    if [ "$left" -lt 10 ]; then why="the time budget is spent"; fi
    if [ "$arg" = cuda ] && [ -n "$cuda_dead" ]; then why="$cuda_dead timed out before"; fi
    if [ -n "$why" ]; then
        echo "skipped: $why" > "$log"
        printf '%s\t%s\t%s\tskipped\t0\t%s\t0\n' "$name" "$kind" "$arg" "$limit" >> "$res/steps.tsv"
        echo "== $name: skipped ($why)"
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== [$SECONDS s] $name (limit $limit s): $*"
    local start=$SECONDS before
    before=$(kernels)
    timeout -k 5 "$limit" "$@" > "$log" 2>&1 &
    local pid=$!
    watch_threads "$pid" "$limit" "$name" &
    local watcher=$!
    wait "$pid"
    local rc=$?
    kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null
    local status="exit $rc"
    [ "$rc" = 0 ] && status=ok
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        status=timeout
        [ "$arg" = cuda ] && cuda_dead="$name"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$arg" "$status" "$((SECONDS - start))" \
        "$limit" "$(($(kernels) - before))" >> "$res/steps.tsv"
    tail -n 3 "$log" | sed 's/^/   /'
}

devices=(wgpu)
[ "$SKIP_CUDA" != 1 ] && devices+=(cuda)
# Step counts and measuring times: the full run, or QUICK's few steps.
if [ "$QUICK" = 1 ]; then
    steps=20; batch=64; long_steps=5; long_batch=1024
    dims=2; crit_filter=pinn_gradient/seed; crit_time=0.2
    tests=(pinn_gradient_full_and_rowwise); t_tests=300; t_pinn=240; t_table=240; t_crit=300
else
    steps=1000; batch=512; long_steps=300; long_batch=16384
    dims=2,8,32; crit_filter='.*/bench/'; crit_time=0.5
    tests=(); t_tests=70; t_pinn=40; t_table=25; t_crit=45
fi

# The tests: every scenario and every transform on wgpu in f32 against the f64 reference.
# With the ignored ones but CUDA's: the transform sweep without burn-fusion.
step tests-wgpu tests wgpu "$t_tests" ./wgpu_scenarios --test-threads 1 --include-ignored --skip cuda \
    "${tests[@]}"

# The main job: the PINN, at its batch and at a long batch.
for dev in "${devices[@]}"; do
    step "pinn-$dev" pinn "$dev" "$t_pinn" ./pinn --device "$dev" --steps "$steps" --batch "$batch" \
        --out "$res/pinn-$dev"
done
for dev in "${devices[@]}"; do
    step "pinn-$dev-batch$long_batch" pinn "$dev" $((t_pinn * 2 / 3)) ./pinn --device "$dev" \
        --steps "$long_steps" --batch "$long_batch" --out "$res/pinn-$dev-long"
done
# The same without burn-fusion (every op its own kernel, where burn-fusion
# 0.21's faults cannot arise; docs/backends.md, "burn-fusion"): what fusion
# buys on a GPU. A
# third of the steps: its steady step, not the 1000-step average, is the figure.
for dev in "${devices[@]}"; do
    step "pinn-$dev-unfused" pinn "$dev" "$t_pinn" ./pinn --device "$dev-unfused" \
        --steps $((steps / 3)) --batch "$batch" --out "$res/pinn-$dev-unfused"
done

# The Poisson step across input dimensions (benches/laplacian.rs --table).
for dev in "${devices[@]}"; do
    step "poisson-$dev" poisson "$dev" "$t_table" ./laplacian --table "$dims" --device "$dev" \
        --json "$res/poisson-$dev.json"
done

# The same without burn-fusion.
for dev in "${devices[@]}"; do
    step "poisson-$dev-unfused" poisson "$dev" "$t_table" ./laplacian --table "$dims" \
        --device "$dev-unfused"
done

# The scenario steps (criterion, results under target/criterion here).
for dev in "${devices[@]}"; do
    step "scenarios-$dev" scenarios "$dev" "$t_crit" ./scenarios --bench "^$dev/$crit_filter" \
        --warm-up-time "$crit_time" --measurement-time "$crit_time"
done

# The peers: PyTorch (CUDA, eager) and JAX (jit) on the GPU; pinn.py and
# poisson.py run PyTorch on the CPU, JAX on its default device (the GPU).
if [ "$SKIP_PEERS" != 1 ]; then
    export PIP_NO_INDEX=1   # no network: a missing package fails at once
    if ls "$here"/whl/*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --target "$work/site" "$here"/whl/*.whl \
            && export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    step peers-scenarios peers-scenarios wgpu 50 python3 benches/compare/compare.py --device cuda \
        --backend wgpu --criterion "$work/target/criterion" --sizes bench --batches '' \
        --measurement-time 0.5 --min-iters 5
    step peers-pinn peers-pinn - 40 python3 benches/compare/pinn.py --steps "$steps" \
        --json "$res/pinn-peers.json"
    python3 - "$res" > "$res/poisson-burn.json" <<'PY'
import json, os, sys
found = [os.path.join(sys.argv[1], f"poisson-{d}.json") for d in ("wgpu", "cuda")]
print(json.dumps([r for f in found if os.path.exists(f) for r in json.load(open(f))]))
PY
    step peers-poisson peers-poisson - 45 python3 benches/compare/poisson.py --dims "$dims" \
        --measurement-time 0.5 --min-iters 5 --max-case-seconds 8 \
        --burn-json "$res/poisson-burn.json" --json "$res/poisson-peers.json"
fi

# Every transform in each mode inside a loss, and random views reshaped inside
# a transform, on burn-cuda against the f64 reference (ignored where there is
# no CUDA; on wgpu they ran with the tests above). After the timed runs: a
# CUDA run that times out skips later ones.
if [ "$SKIP_CUDA" != 1 ]; then
    step tests-cuda tests cuda "$t_tests" ./wgpu_scenarios --test-threads 1 --ignored cuda
fi

# If time is left: the main job with CubeCL's autotune, its first step against
# its steady step (the crate builds without it; docs/backends.md, "Start-up").
for dev in "${devices[@]}"; do
    step "pinn-$dev-autotune" pinn "$dev" "$t_pinn" ./pinn_autotune --device "$dev" --steps "$steps" \
        --batch "$batch" --out "$res/pinn-$dev-autotune"
done

# If time is left: the high-dimensional Poisson example, trained briefly.
for dev in "${devices[@]}"; do
    if [ "$QUICK" = 1 ]; then
        step "highdim-$dev" highdim "$dev" 120 ./poisson_highdim --device "$dev" --dim 4 --steps 5 \
            --batch 32 --max-error 10
    else
        step "highdim-$dev" highdim "$dev" 30 ./poisson_highdim --device "$dev" --steps 200 --max-error 10
    fi
done

# --- the table --------------------------------------------------------------
echo
python3 summary.py "$res" "$work/target/criterion" | tee "$res/summary.md"
[ -d target/criterion ] && cp -r target/criterion "$res/criterion"
cp cubecl.toml "$res/"
tar czf "$work/results.tar.gz" -C "$work" results
cp "$work/results.tar.gz" "$here/" 2>/dev/null || true
echo "results: $work/results.tar.gz ($((SECONDS)) s in all)"
RUN
chmod +x "$out/run.sh"

bytes=$(du -sb "$out" | cut -f1)
mib=$(( (bytes + 1048575) / 1048576 ))
if [ "$bytes" -gt $((max_mib * 1048576)) ]; then
    echo "gpu-bench: $out is ${mib} MiB, over the ${max_mib} MiB a GPU machine can be sent" >&2
    exit 1
fi
echo "gpu-bench: packed $out (${mib} MiB); on the GPU machine run: bash $(basename "$out")/run.sh"
