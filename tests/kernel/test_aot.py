"""The compiled path builds: the kernel source the interpreter verifies compiles, for an H100
(sm_90), down to a cubin through Triton's NVIDIA backend and bundled ptxas, on this GPU-less
machine, for variants taking every constexpr branch and every surrogate's generated derivative."""
from __future__ import annotations

import os
import subprocess
import sys

from snn_interop.spec.surrogates import SURROGATES
from tests.conftest import ROOT


def test_kernels_compile_for_an_h100_without_one(tmp_path):
    env = dict(os.environ, TRITON_INTERPRET="0", TRITON_CACHE_DIR=str(tmp_path / "triton"), SNN_INTEROP_CACHE=str(tmp_path / "gen"))
    done = subprocess.run([sys.executable, "-m", "snn_interop.kernel.aot", "--arch", "90"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    compiled = [line for line in done.stdout.splitlines() if "sm_90 cubin" in line]
    assert len(compiled) == 2 * (11 + len(SURROGATES)), done.stdout[-2000:]  # forward and backward of every variant
