#!/usr/bin/env bash
# Build spikingjelly's native CUDA operators of IFNode and LIFNode (its ops/if_ and ops/lif) from
# its source distribution, for this machine's torch and GPU, into a staging directory:
#   scripts/build_sj_native.sh SDIST OUTDIR
# leaves OUTDIR/lif/ and OUTDIR/if_/, each holding the extension (_C*.so) and the
# _native_build.json spikingjelly checks before loading it (torch and CUDA versions, ABI, arch);
# copy them into an installed spikingjelly's _ops/lif/ and _ops/if_/ and, with
# SJ_<NEURON>_CUDA_IMPLEMENTATION auto (its default) or cuda, spikingjelly runs them.
# The PyPI wheel has no native build (auto then picks Triton). The sdist's setup.py builds all
# twelve of its operators with SJ_BUILD_NATIVE_CUDA=1, one after another; this builds the two
# the plugin can select, side by side (in two copies of the source). Needs a CUDA torch, nvcc (CUDA_HOME) and a C++ compiler;
# TORCH_CUDA_ARCH_LIST defaults to 9.0 (H100/H200). No package index is used.
set -eu
sdist=$1
out=$2
build() {  # one operator, in its own copy of the source: setup.py's ninja builds cannot share a tree
  local op=$1 src
  src=$(mktemp -d)
  tar xzf "$sdist" -C "$src" --strip-components=1
  cd "$src"
  for cu in ops/*/native.cu; do [ "$cu" = "ops/$op/native.cu" ] || rm "$cu"; done
  SJ_BUILD_NATIVE_CUDA=1 TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} python3 setup.py -q build_ext --inplace
  mkdir -p "$out/$op"
  cp ops/$op/_C*.so ops/$op/_native_build.json "$out/$op/"  # --inplace: beside the operator's Python modules
  echo "built $out/$op/$(basename ops/$op/_C*.so)"
}
case $out in /*) ;; *) out=$PWD/$out ;; esac
case $sdist in /*) ;; *) sdist=$PWD/$sdist ;; esac
build lif & lif=$!
build if_ & if_=$!
wait $lif && wait $if_
