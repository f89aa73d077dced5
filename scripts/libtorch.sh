#!/usr/bin/env bash
# libtorch 2.9 (what burn-tch 0.21 / tch 0.22 link) for benches/backends, from
# pip, into DIR (default target/libtorch), and DIR/env.sh to source before
# building or running with `--features tch`.
#
# The CPU wheel from download.pytorch.org is used when that index is reachable;
# otherwise PyPI's torch 2.9.0 (a CUDA build) with the two CUDA runtime
# libraries its libtorch_cpu.so links, and an empty stub for libtorch.so (the
# wheel's one needs libtorch_cuda.so and with it all of CUDA; nothing here runs
# on a GPU). A libtorch 2.9 CPU zip from pytorch.org works as well: point
# LIBTORCH at it and add its lib/ to LD_LIBRARY_PATH.
set -euo pipefail

dir=$(realpath -m "${1:-target/libtorch}")
mkdir -p "$dir"
python3 -m venv "$dir/venv"
pip="$dir/venv/bin/pip"
site=$("$dir/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

if "$pip" install -q --retries 1 --timeout 15 --no-deps torch==2.9.0 --index-url https://download.pytorch.org/whl/cpu; then
    # A CPU-only build: its own folder is a libtorch.
    libtorch="$site/torch"
    extra=""
else
    "$pip" install -q --no-deps torch==2.9.0 \
        nvidia-cuda-runtime-cu12==12.8.90 nvidia-cuda-cupti-cu12==12.8.90
    libtorch="$dir/libtorch"
    mkdir -p "$libtorch/lib"
    ln -sfn "$site/torch/include" "$libtorch/include"
    for lib in libc10.so libtorch_cpu.so libshm.so libgomp.so.1; do
        ln -sfn "$site/torch/lib/$lib" "$libtorch/lib/$lib"
    done
    echo 'void burn_nested_libtorch_stub(void) {}' | gcc -shared -fPIC -x c -o "$libtorch/lib/libtorch.so" -
    echo 2.9.0 >"$libtorch/build-version"
    extra=":$site/nvidia/cuda_runtime/lib:$site/nvidia/cuda_cupti/lib"
fi

cat >"$dir/env.sh" <<EOF
# Source before building or running benches/backends with --features tch.
export LIBTORCH=$libtorch
export LIBTORCH_CXX11_ABI=1
export LD_LIBRARY_PATH=$libtorch/lib$extra\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
EOF
echo "libtorch 2.9 in $libtorch; now: source $dir/env.sh"
