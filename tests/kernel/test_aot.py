"""The compiled path builds: the kernel source the interpreter verifies compiles, for an H100
(sm_90), down to a cubin through Triton's NVIDIA backend and bundled ptxas, on this GPU-less
machine, for variants taking every constexpr branch and every surrogate's generated derivative,
specialized as a launch would be (N a multiple of 16, N not, N = 1); and a thread owning four
neurons moves them in 16-byte accesses where N allows it."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from snn_interop.spec.surrogates import SURROGATES
from tests.conftest import ROOT


def aot(tmp_path, *args: str) -> list[str]:
    """The lines ``python -m snn_interop.kernel.aot --arch 90 ARGS`` prints for each cubin it compiled."""
    env = dict(os.environ, TRITON_INTERPRET="0", TRITON_CACHE_DIR=str(tmp_path / "triton"), SNN_INTEROP_CACHE=str(tmp_path / "gen"))
    done = subprocess.run([sys.executable, "-m", "snn_interop.kernel.aot", "--arch", "90", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return [line for line in done.stdout.splitlines() if "sm_90 cubin" in line]


def test_kernels_compile_for_an_h100_without_one(tmp_path):
    compiled = aot(tmp_path)
    # forward and backward of every variant at N = 131072, and of the first also at N = 1000 and N = 1
    assert len(compiled) == 2 * (11 + len(SURROGATES) + 2), "\n".join(compiled[-10:])
    assert sum("N=1," in line for line in compiled) == 2


@pytest.mark.parametrize("variant", ["lif-to_value-same-ge-f16-saved-spikes-only", "lif-subtract-same-f32"])
def test_four_neurons_per_thread_move_in_16_byte_accesses(tmp_path, variant):
    # 128 neurons on one warp: each thread owns 4 neighbours. Where N is a multiple of 16 the
    # launch marks it so (N is not in do_not_specialize), every row stays 16-byte aligned, and each
    # load (cp.async, software-pipelined) and store moves 16 B, like a copy kernel's; otherwise 4 B
    lines = aot(tmp_path, "--block", "128", "--warps", "1", "--stages", "6", "--neurons", "131072", "--neurons", "1000", variant)
    assert len(lines) == 4
    for line in lines:
        accesses = dict(re.findall(r"((?:cp\.async|ld\.global|st\.global) \d+ B) x(\d+)", line))
        assert accesses and any(k.startswith("cp.async") for k in accesses), line  # the pipelined loads are there
        assert {k.split()[-2] for k in accesses} == ({"16"} if "N=131072" in line else {"4"}), line
