#!/usr/bin/env bash
# Builds the scenario bench with the wgpu backend in release mode and packs it,
# with the PyTorch/JAX comparison, into gpu/ (ignored by git): a folder to carry
# to a GPU machine that has no Rust toolchain. There:
#
#     bash gpu/run.sh            # wgpu benches + PyTorch/JAX on cuda, one table
#
# Usage: scripts/gpu-bench.sh [OUT_DIR]   (default: gpu/ at the repository root)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/gpu}"
cd "$repo"

# Find the bench executable from cargo's JSON messages.
exe="$(cargo bench --no-run --features wgpu --bench scenarios --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "scenarios" \
       and m.get("executable"):
        print(m["executable"])' | tail -n1)"
[ -n "$exe" ] || { echo "gpu-bench: no bench executable found" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/benches"
cp "$exe" "$out/scenarios"
strip "$out/scenarios" 2>/dev/null || true
cp -r benches/compare "$out/benches/compare"
rm -rf "$out/benches/compare/__pycache__"

cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the wgpu benches of burn-nested and the PyTorch/JAX scenarios on cuda and
# prints one table of medians and ratios. Extra arguments go to compare.py, e.g.
#   bash run.sh --measurement-time 3 --frameworks torch
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
python3 benches/compare/compare.py --device cuda --backend wgpu \
  --bench-bin "$here/scenarios" --filter '^wgpu/' --batches 4096,16384,65536 "$@" \
  | tee "$here/results.md"
echo "wgpu pinn_gradient at batch 65536 (issue 6):"
python3 - "$here/target/criterion" <<'PY'
import sys
sys.path.insert(0, "benches/compare")
from compare import read_criterion, fmt
for k, t in sorted(read_criterion(sys.argv[1]).items()):
    if "batch65536" in k:
        print(f"  {k}: {fmt(t)}")
PY
RUN
chmod +x "$out/run.sh"

size=$(du -sm "$out" | cut -f1)
echo "gpu-bench: packed $out (${size} MiB); on the GPU machine run: bash $(basename "$out")/run.sh"
