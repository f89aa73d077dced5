#!/usr/bin/env bash
# Kernels launched per steady step on wgpu, after burn-fusion has merged what it
# can: the main job, the Poisson step and every scenario, the launch column of
# docs/performance.md ("The census of every workload"). Counted from CubeCL's
# profile log (one `| time | kernel | ...` line per launch): each workload runs
# twice, for N1 and N2 steps, and the difference is divided by N2 − N1, which
# leaves out the first steps' one-off work (row checks, uploads, compilation).
#
# Any Vulkan device does; on a machine without a GPU, Mesa's lavapipe. Fusion
# decides on the recorded ops, so a GPU launches nearly the same kernels; one
# known difference: without CubeCL's autotune a fused matmul needs tensor
# cores, and where the device has none its elementwise ops run as kernels of
# their own (5 more per main-job step on lavapipe). Paths chosen by the shape
# rules (tuning off), as in the op census.
#
#     scripts/launches.sh                    # builds with --features wgpu, prints one table
#     N1=5 N2=15 scripts/launches.sh         # fewer steps
#     FEATURES=wgpu,autotune scripts/launches.sh   # with CubeCL's autotune
#     DEVICE=wgpu-unfused scripts/launches.sh      # without burn-fusion
#
# Needs `export XDG_RUNTIME_DIR=/tmp` where no session sets it (wgpu warns).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
n1="${N1:-5}"
n2="${N2:-25}"
device="${DEVICE:-wgpu}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export BURN_NESTED_AD_TUNE=off

cargo build --release --features "${FEATURES:-wgpu}" --example pinn --bench scenarios --bench laplacian \
  --message-format=json-render-diagnostics > target/launches-build.json
exe() { python3 scripts/cargo_exes.py target/launches-build.json "$1"; }
pinn="$(exe pinn)"
scenarios="$(exe scenarios)"
laplacian="$(exe laplacian)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# launches LOG: the kernel name of every launch in a CubeCL profile log (its
# lines `| DURATION | NAME | ...`; the summary table at exit starts with names).
launches() {
    grep '^|' "$1" | awk -F'|' '$2 ~ /^ *[0-9.]+(ns|µs|ms|s) *$/ { gsub(/ /, "", $3); print $3 }'
}

# count NAME COMMAND_WITH_STEPS...: runs the command with {} replaced by N1,
# then by N2; prints one table row.
count() {
    local name=$1; shift
    local n log
    for n in "$n1" "$n2"; do
        log="$work/$n.log"
        rm -f "$log"
        CUBECL_DEBUG_LOG="$log" CUBECL_DEBUG_OPTION=profile "${@//\{\}/$n}" > "$work/out" 2>&1 \
            || { echo "| $name | failed: $(tail -n 1 "$work/out") | |"; return; }
        launches "$log" | sort | uniq -c > "$work/kinds-$n"
    done
    python3 - "$work/kinds-$n1" "$work/kinds-$n2" "$((n2 - n1))" "$name" <<'PY'
import sys
def read(path):
    out = {}
    for line in open(path):
        c, k = line.split()
        out[k] = int(c)
    return out
a, b, steps, name = read(sys.argv[1]), read(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
per = {k: (b.get(k, 0) - a.get(k, 0)) / steps for k in set(a) | set(b)}
per = {k: v for k, v in per.items() if abs(v) > 1e-9}
short = lambda k: k.replace("Kernel", "").replace("Entry", "")
kinds = ", ".join(f"{v:g} {short(k)}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]))
print(f"| {name} | {sum(per.values()):g} | {kinds} |")
PY
}

echo "| workload | launches per step | by kernel |"
echo "|---|---|---|"
count "main job (forward Laplacian)" "$pinn" --device "$device" --laplacian forward --steps {} \
    --out "$work/pinn"
count "Poisson step, forward Laplacian, d = 2" "$laplacian" --device "$device" \
    --step forward-laplacian 2 {}
for s in jacobian_regularization batched_jacobian pinn_gradient pinn_gradient_rowwise \
         parameter_jacobian hutchinson_vjp hutchinson_jvp; do
    count "$s" "$scenarios" "--$device" --step "$s" switched {}
done
