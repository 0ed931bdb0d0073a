#!/usr/bin/env bash
# The GPU checks of one lent-GPU session (see docs/performance.md):
#   1. environment: GPU, driver, python, torch, triton;
#   2. benchmarks/kernel.py at the size (T=64, 131072 neurons), and benchmarks/host_overhead.py;
#   3. tests/kernel with the compiled kernels on the GPU (pytest-xdist), and spikingjelly's forced CUDA backends;
#   4. the quick conformance suite on CUDA, every framework and the kernel, with sinabs-exodus when
#      its source distribution is in .whl/ and builds here (nvcc; the wheel is kept for a warm rerun);
#   5. the benchmark again with spikingjelly forced onto its torch backend;
#   6. the benchmark again with spikingjelly's native CUDA LIF kernel, built here in the background from
#      its sdist in .whl/ (scripts/build_sj_native.sh; the PyPI wheel has none) and installed before
#      step 4, whose spikingjelly column it then is (spikingjelly[triton] and [torch] beside it).
# All of it took 6.4 minutes on an H100 (2026-11-27, the 70-shape sweep): one call, timeout_s 540.
# The frameworks travel as pure-Python wheels in .whl/ (see docs/development.md: GPU sessions);
# the machine's own torch, triton and numpy are used. Logs and reports go to $OUT.
# Arguments pick steps (env bench host bench-sj-torch bench-sj-native tests conformance); none runs them all.
# At most 8 files come back from $OUT: build logs stay in /tmp/gpu-logs, their tails are printed.
# BENCH_ARGS (default: the launch-shape sweep of the spikes-only kernel, both save modes, 7 shapes x stages 4-8); BENCH_ARGS= drops the sweep.
set -u
want() { [ $# -eq 0 ] || [ -z "$STEPS" ] || [[ " $STEPS " == *" $1 "* ]]; }
STEPS="$*"
OUT=${OUT:-/tmp/gpu-checks}
conf=/tmp/gpu-conf  # packed into $OUT/conformance.tar.gz: the device tool returns at most 8 files
logs=/tmp/gpu-logs
mkdir -p "$OUT" $conf $logs
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
site=/tmp/site
step() { echo; echo "=== $1 ($(date +%T))"; }

# --upgrade: into an existing --target pip otherwise keeps the old copy (a warm machine once ran stale code).
# .whl/ carries setuptools too: pyproject's SPDX license needs setuptools >= 77, which the machine's may
# not be, and the build below (no index there, so no build isolation) imports it from PYTHONPATH.
python3 -m pip install -q --upgrade --no-index --no-deps --no-compile --no-cache-dir --target $site .whl/*.whl || exit 1
export PYTHONPATH=$site
python3 -m pip install -q --upgrade --no-index --no-deps --no-build-isolation --no-cache-dir --target $site . || exit 1

# sinabs-exodus ships as source only (a CUDAExtension, one .cu file: 2 min 22 s of nvcc 13.0 on a
# 2-core CPU): its wheel builds in the background, for sm_90, while the other steps run, once per
# machine (a call of "bench tests" leaves it built for a later "conformance" on the same machine), and is
# unpacked into sinabs's package before the conformance step.
exodus_sdist=$(ls .whl/sinabs-exodus-*.tar.gz 2>/dev/null | head -1)
exodus_wheels=/tmp/exodus-wheel
exodus_build=
if [ -n "$exodus_sdist" ] && ! ls $exodus_wheels/*.whl >/dev/null 2>&1 && [ ! -f /tmp/exodus-build-failed ]; then
  echo "building $exodus_sdist in the background (log: $logs/exodus_build.txt)"
  ( TORCH_CUDA_ARCH_LIST=9.0 timeout "${EXODUS_BUILD_S:-300}" python3 -m pip wheel -q --no-deps --no-build-isolation \
      --no-index --no-cache-dir -w $exodus_wheels "$exodus_sdist" > "$logs/exodus_build.txt" 2>&1
    rc=$?; echo "exit $rc" >> "$logs/exodus_build.txt"; [ $rc -eq 0 ] || cp "$logs/exodus_build.txt" /tmp/exodus-build-failed ) &
  exodus_build=$!
fi

# spikingjelly's native CUDA kernels of IFNode and LIFNode, likewise (two .cu files, side by side),
# staged in /tmp/sj-native and copied into spikingjelly's package before the conformance step.
sj_sdist=$(ls .whl/spikingjelly-*.tar.gz 2>/dev/null | head -1)
sj_native=/tmp/sj-native
sj_build=
if [ -n "$sj_sdist" ] && [ ! -d $sj_native/lif ] && [ ! -f /tmp/sj-native-build-failed ]; then
  echo "building spikingjelly's native CUDA operators from $sj_sdist in the background (log: $logs/sj_native_build.txt)"
  ( TORCH_CUDA_ARCH_LIST=9.0 timeout "${SJ_NATIVE_BUILD_S:-360}" bash scripts/build_sj_native.sh "$sj_sdist" $sj_native.tmp \
      > "$logs/sj_native_build.txt" 2>&1
    rc=$?; echo "exit $rc" >> "$logs/sj_native_build.txt"
    if [ $rc -eq 0 ]; then mv $sj_native.tmp $sj_native; else cp "$logs/sj_native_build.txt" /tmp/sj-native-build-failed; fi ) &
  sj_build=$!
fi
install_sj_native() {  # wait for the build, then put it where spikingjelly looks (auto runs it from the next import on)
  if [ -n "$sj_build" ]; then wait $sj_build; sj_build=; tail -4 "$logs/sj_native_build.txt"; fi
  [ -d $sj_native/lif ] || { echo "spikingjelly native CUDA: not built"; return 1; }
  for op in lif if_; do cp $sj_native/$op/* $site/spikingjelly/_ops/$op/; done
  python3 -c "from spikingjelly.activation_based.functional.neuron import neuron_implementation as f; import torch; print('spikingjelly LIFNode on cuda, auto:', f('lif', torch.device('cuda'))['implementation'])" 2>&1 | tail -1
}

step environment
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  python3 -c "import sys, torch, triton, numpy, setuptools; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, 'numpy', numpy.__version__, 'setuptools', setuptools.__version__)"
  python3 -c "import snntorch, spikingjelly, sinabs, norse, nir; print('snntorch', snntorch.__version__, 'sinabs', sinabs.__version__, 'norse', norse.__version__, 'nir', nir.__version__)" 2>&1 | tail -1
} 2>&1 | tee "$OUT/env.txt"

if want bench; then
step "benchmark (spikingjelly: auto)"
timeout 360 python3 benchmarks/kernel.py ${BENCH_ARGS---sweep --sweep-save float16 --sweep-save exact} 2>&1 | grep -v -i warn | tee "$OUT/bench.txt"
fi

if want host; then
step "host time of a forward+backward (benchmarks/host_overhead.py)"
timeout 120 python3 benchmarks/host_overhead.py 2>&1 | grep -v -i warn | tee "$OUT/host.txt"
fi

if want tests; then
step "tests/kernel, compiled"
timeout "${KERNEL_TESTS_S:-200}" python3 -m pytest tests/kernel tests/plugins/test_spikingjelly_cuda.py -q -n 16 -p no:cacheprovider -rfE 2>&1 | tail -40 | tee "$OUT/pytest_kernel.txt"
fi

if want conformance; then
if [ -n "$exodus_sdist" ]; then
  step "sinabs-exodus"
  if [ -n "$exodus_build" ]; then wait $exodus_build; tail -3 "$logs/exodus_build.txt"; fi
  for w in $exodus_wheels/*.whl; do [ -f "$w" ] && python3 -m zipfile -e "$w" $site && echo "unpacked $(basename $w)"; done
  python3 -c "import torch, exodus_cuda, sinabs.exodus; print('sinabs-exodus', sinabs.exodus.__version__, 'imports')" 2>&1 | tail -1
  timeout 120 python3 -m pytest tests/plugins/test_sinabs_exodus.py -q -p no:cacheprovider -rsfE 2>&1 | tail -25 | tee "$OUT/pytest_exodus.txt"
fi
if [ -n "$sj_sdist" ]; then step "spikingjelly native CUDA"; install_sj_native; fi
step "conformance, quick, cuda (float64, float32, float16, bfloat16; every backend: spikingjelly's native/triton/torch, sinabs[exodus] if built)"
timeout "${CONFORMANCE_S:-300}" python3 -c "from snn_interop_conformance.cli import console_main; console_main()" \
  --device cuda --quick -j 12 --out $conf --force \
  --framework snntorch --framework spikingjelly --framework sinabs --framework norse --framework kernel 2>&1 | tail -30
tar -czf "$OUT/conformance.tar.gz" -C $conf .
fi
if want bench-sj-torch; then
step "benchmark (spikingjelly: torch)"
SJ_LIF_CUDA_IMPLEMENTATION=torch timeout 60 python3 benchmarks/kernel.py --framework spikingjelly 2>&1 | grep -v -i warn | tee "$OUT/bench_sj_torch.txt"
fi
if want bench-sj-native && [ -n "$sj_sdist" ]; then
step "benchmark (spikingjelly: its native CUDA build)"
if install_sj_native; then
  SJ_LIF_CUDA_IMPLEMENTATION=cuda timeout 90 python3 benchmarks/kernel.py --framework spikingjelly 2>&1 | grep -v -i warn | tee "$OUT/bench_sj_native.txt"
fi
fi
for build in $exodus_build $sj_build; do  # a build no chosen step waited for: not left running unseen
  if kill -0 $build 2>/dev/null; then step "waiting for a background build"; wait $build; fi
done
tail -qn1 $logs/*_build.txt 2>/dev/null
step done
