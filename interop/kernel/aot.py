"""Compile the kernels for a GPU without one: Triton's frontend, its NVIDIA backend and the
``ptxas`` that ships in the Triton wheel take the same source the CPU interpreter runs down to
a cubin for a named architecture. This proves the compiled path builds (every constexpr branch
used is valid Triton, not merely valid Python) on a machine with no GPU; running it still
needs one.

Run as ``python -m snn_interop.kernel.aot [--arch 90]``; it must start in a fresh process with
``TRITON_INTERPRET=0`` (an interpreting process has decorated the kernels for the interpreter).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator

import torch

from snn_interop.spec.neurons import Compare, Decay, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder
from snn_interop.spec.surrogates import SURROGATES

_PTR = {torch.float16: "*fp16", torch.bfloat16: "*bf16", torch.float32: "*fp32", torch.float64: "*fp64"}


def variants() -> Iterator[tuple[str, Neuron, torch.dtype, str]]:
    """Neurons that together take every constexpr branch of both kernels, with dtypes and save modes."""
    sg = SURROGATES["atan"].configure()
    lif = Neuron.lif(sg, Decay(0.875), threshold=1.25)
    cuba = Neuron.cuba_lif(sg, Decay(0.875), Decay(0.625), threshold=1.25)
    yield "lif-subtract-same-f32", lif, torch.float32, "exact"
    yield "lif-subtract-next-gt-f64", lif.with_(reset_timing=ResetTiming.NEXT_STEP, compare=Compare.GT), torch.float64, "exact"
    yield "lif-to_value-same-vmin-multi-f32", lif.with_(reset=ResetMode.TO_VALUE, v_min=0.0, spike_fn=SpikeFn.MULTI), torch.float32, "exact"
    yield "lif-to_value-next-max-detach-f64", lif.with_(reset=ResetMode.TO_VALUE, reset_timing=ResetTiming.NEXT_STEP,
                                                      spike_fn=SpikeFn.MAX, max_spikes=3, detach_reset=True), torch.float64, "exact"
    yield "lif-subtract-same-vmin-f16-saved", lif.with_(v_min=-1.0), torch.float32, "float16"
    yield "lif-bf16-input", lif, torch.bfloat16, "float16"
    yield "lif-to_value-same-ge-f16-saved-spikes-only", lif.with_(reset=ResetMode.TO_VALUE), torch.float32, "float16"
    yield "lif-to_value-same-gt-f16-saved-multi", lif.with_(reset=ResetMode.TO_VALUE, compare=Compare.GT, spike_fn=SpikeFn.MULTI), \
        torch.float32, "float16"
    yield "cuba-none", cuba.with_(reset=ResetMode.NONE), torch.float32, "exact"
    yield "cuba-membrane_first-to_value-next", cuba.with_(synapse_order=SynapseOrder.MEMBRANE_FIRST, reset=ResetMode.TO_VALUE,
                                                          reset_timing=ResetTiming.NEXT_STEP), torch.float16, "exact"
    yield "li", Neuron.li(Decay(0.75)), torch.float32, "exact"
    for name in sorted(SURROGATES):  # each generated derivative inside the backward, float32
        yield f"surrogate-{name}", lif.with_(surrogate=SURROGATES[name].configure()), torch.float32, "exact"


def compile_all(arch: int = 90, names: list[str] | None = None) -> list[str]:
    """Compile forward and backward of every variant to a cubin; the names that failed, with why."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from snn_interop.kernel import codegen, kernels
    from snn_interop.kernel.fused import _COMMON, BLOCK, STAGES, WARPS, _tl_dtype, plan, spike_source

    if triton.knobs.runtime.interpret:
        raise RuntimeError("run snn_interop.kernel.aot in a fresh process with TRITON_INTERPRET=0")
    target = GPUTarget("cuda", arch, 32)
    failures = []
    for name, neuron, dtype, save in variants():
        if names and name not in names:
            continue
        p = plan(neuron)
        source = spike_source(p, save)
        common = dict(FIRE=kernels.fire, STATE=_tl_dtype(dtype), **p.constants(*_COMMON), SAVE_DIFF=save == "float16",
                      RECOMPUTE_S=source["RECOMPUTE_S"], BLOCK=BLOCK, STAGES=STAGES)  # the compiled launch's defaults
        m_ptr = "*i32" if save == "float16" else _PTR[torch.float64 if dtype == torch.float64 else torch.float32]
        launches = [
            (kernels.neuron_forward, {"x_ptr": _PTR[dtype], "s_ptr": _PTR[dtype], "v_ptr": _PTR[dtype], "m_ptr": m_ptr},
             dict(common, WRITE_V=not name.endswith("spikes-only"))),
            (kernels.neuron_backward, {"gs_ptr": _PTR[dtype], "gv_ptr": _PTR[dtype], "s_ptr": _PTR[dtype], "m_ptr": m_ptr,
                                       "dx_ptr": _PTR[dtype]},
             dict(common, SG=codegen.derivative(neuron.surrogate) if p.SPIKES else None, DETACH=p.DETACH, HAS_GS=p.SPIKES,
                  HAS_GV=not name.endswith("spikes-only"), LOAD_S=source["LOAD_S"])),
        ]
        for fn, pointers, constants in launches:
            signature = {**pointers, "N": "i32", "T": "i32", **{k: "constexpr" for k in constants}}
            constexprs = {(fn.arg_names.index(k),): v for k, v in constants.items()}
            start = time.perf_counter()
            try:
                compiled = triton.compile(ASTSource(fn, signature, constexprs=constexprs), target=target,
                                          options={"num_warps": WARPS, "enable_fp_fusion": False})
                assert "cubin" in compiled.asm
            except Exception as exc:  # noqa: BLE001 - reported, with the variant's name
                failures.append(f"{name} {fn.__name__}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                continue
            print(f"{name:42s} {fn.__name__:16s} sm_{arch} cubin in {time.perf_counter() - start:.1f} s", flush=True)
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="CUDA compute capability x 10 (90: H100)")
    parser.add_argument("names", nargs="*", help="variants to compile (default: all)")
    args = parser.parse_args(argv)
    failures = compile_all(args.arch, args.names or None)
    for f in failures:
        print("FAILED", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("TRITON_INTERPRET", "0")
    sys.exit(main())
