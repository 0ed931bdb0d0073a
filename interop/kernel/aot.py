"""Compile the kernels for a GPU without one: Triton's frontend, its NVIDIA backend and the
``ptxas`` that ships in the Triton wheel take the same source the CPU interpreter runs down to
a cubin for a named architecture. This proves the compiled path builds (every constexpr branch
used is valid Triton, not merely valid Python) on a machine with no GPU; running it still
needs one. Each kernel is specialized as a launch with those arguments would be
(:func:`launch_specialization`), and its line names the global-memory accesses in its PTX by
bytes per thread (:func:`global_accesses`): ``--block/--warps/--stages/--neurons`` inspect a
launch shape, e.g. whether its loads are pipelined (``cp.async``) and how wide they are.

Run as ``python -m snn_interop.kernel.aot [--arch 90] [--block 128 --warps 1 --neurons 131072] [variant ...]``; it must start in a fresh process with
``TRITON_INTERPRET=0`` (an interpreting process has decorated the kernels for the interpreter).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import torch

from snn_interop.spec.neurons import Compare, Decay, Neuron, ResetMode, ResetTiming, SpikeFn, SynapseOrder
from snn_interop.spec.surrogates import SURROGATES

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


NEURONS = (131072, 1000, 1)  #: launch sizes: the benchmark's (N % 16 == 0), one that is not, and 1 (a constexpr)


def launch_specialization(fn: Any, args: dict[str, Any]) -> tuple[dict[str, str], dict[tuple[int], Any], dict[tuple[int], Any]]:
    """(signature, constexprs, attrs) of a launch of ``fn`` with these runtime arguments, derived as
    ``JITFunction.run`` derives them (Triton's own specialization with each parameter's
    ``do_not_specialize`` flags): a tensor whose address is a multiple of 16 bytes and an integer
    that is a multiple of 16 are marked so (``tt.divisibility``), an integer 1 becomes a constexpr."""
    from triton._C.libtriton import native_specialize_impl
    from triton.backends.compiler import BaseBackend

    signature, constexprs, attrs = {}, {}, {}
    for param in fn.params:
        if param.name not in args:
            continue
        kind, key = native_specialize_impl(BaseBackend, args[param.name], False, not param.do_not_specialize,
                                           not param.do_not_specialize_on_alignment)
        signature[param.name] = kind
        if kind == "constexpr":
            constexprs[(param.num,)] = key
        elif key:
            attrs[(param.num,)] = BaseBackend.parse_attr(key)
    return signature, constexprs, attrs


_ACCESS = re.compile(r"^\s*(?:@%p\d+\s+)?(cp\.async\.c[ag]\.shared\.global\s+\[[^]]*\],\s*\[[^]]*\],\s*0x([0-9a-f]+)"
                     r"|(ld|st)\.global(?:\.[a-z0-9]+)*?(?:\.v(\d))?\.[bfsu](\d+)\b)", re.M)


def global_accesses(ptx: str) -> Counter[str]:
    """The global-memory instructions in ``ptx`` by kind and bytes per thread, e.g. ``{"cp.async 16 B": 6,
    "st.global 16 B": 2}`` (static counts: each appears once per unrolled copy, not per executed step)."""
    out: Counter[str] = Counter()
    for match in _ACCESS.finditer(ptx):
        if match.group(2):
            out[f"cp.async {int(match.group(2), 16)} B"] += 1
        else:
            out[f"{match.group(3)}.global {int(match.group(4) or 1) * int(match.group(5)) // 8} B"] += 1
    return out


def compile_all(arch: int = 90, names: list[str] | None = None, neurons: tuple[int, ...] | None = None, block: int | None = None,
                warps: int | None = None, stages: int | None = None) -> list[str]:
    """Compile forward and backward of every variant to a cubin, as a launch on ``neurons`` (default:
    every size in :data:`NEURONS` for the first variant, the first size for the others) with
    16-byte-aligned tensors would; print each with its global accesses; return the failures, with why."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from snn_interop.kernel import codegen, kernels
    from snn_interop.kernel.fused import _COMMON, _tl_dtype, launch_shape, plan, spike_source

    if triton.knobs.runtime.interpret:
        raise RuntimeError("run snn_interop.kernel.aot in a fresh process with TRITON_INTERPRET=0")
    target = GPUTarget("cuda", arch, 32)
    failures = []
    for index, (name, neuron, dtype, save) in enumerate(variants()):
        if names and name not in names:
            continue
        p = plan(neuron)
        source = spike_source(p, save)
        common = dict(FIRE=kernels.fire, STATE=_tl_dtype(dtype), **p.constants(*_COMMON), SAVE_DIFF=save == "float16",
                      RECOMPUTE_S=source["RECOMPUTE_S"])
        tensor = torch.empty(16, dtype=dtype)  # 16-byte aligned, as the caching allocator's blocks are
        saved = torch.empty(16, dtype=torch.int32 if save == "float16" else torch.float64 if dtype == torch.float64 else torch.float32)
        launches = [  # (kernel, its tensors, its constants, backward)
            (kernels.neuron_forward, {"x_ptr": tensor, "s_ptr": tensor, "v_ptr": tensor, "m_ptr": saved},
             dict(common, WRITE_V=not name.endswith("spikes-only")), False),
            (kernels.neuron_backward, {"gs_ptr": tensor, "gv_ptr": tensor, "s_ptr": tensor, "m_ptr": saved, "dx_ptr": tensor},
             dict(common, SG=codegen.derivative(neuron.surrogate) if p.SPIKES else None, DETACH=p.DETACH, HAS_GS=p.SPIKES,
                  HAS_GV=not name.endswith("spikes-only"), LOAD_S=source["LOAD_S"]), True),
        ]
        for n in neurons or (NEURONS if index == 0 else NEURONS[:1]):
            for fn, tensors, constants, backward in launches:
                shape = launch_shape(n, torch.device("cuda"), backward, block, warps, stages)  # the compiled launch's defaults
                constants = dict(constants, BLOCK=shape[0], STAGES=shape[2])
                signature, constexprs, attrs = launch_specialization(fn, {**tensors, "N": n, "T": 64})
                signature.update({k: "constexpr" for k in constants})
                constexprs.update({(fn.arg_names.index(k),): v for k, v in constants.items()})
                start = time.perf_counter()
                try:
                    compiled = triton.compile(ASTSource(fn, signature, constexprs=constexprs, attrs=attrs), target=target,
                                              options={"num_warps": shape[1], "enable_fp_fusion": False})
                    assert "cubin" in compiled.asm
                except Exception as exc:  # noqa: BLE001 - reported, with the variant's name
                    failures.append(f"{name} {fn.__name__} N={n}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                    continue
                accesses = ", ".join(f"{k} x{v}" for k, v in sorted(global_accesses(compiled.asm["ptx"]).items()))
                print(f"{name:42s} {fn.__name__:16s} sm_{arch} cubin in {time.perf_counter() - start:.1f} s; "
                      f"N={n}, {'x'.join(map(str, shape))}: {accesses}", flush=True)
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snn_interop.kernel.aot", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--arch", type=int, default=90, help="CUDA compute capability x 10 (90: H100)")
    parser.add_argument("--neurons", type=int, action="append", help=f"a launch size N (repeatable; default: {', '.join(map(str, NEURONS))} "
                        "for the first variant, the first for the others)")
    parser.add_argument("--block", type=int, help="neurons per program (default: fused.BLOCK)")
    parser.add_argument("--warps", type=int, help="warps per program (default: fused.WARPS)")
    parser.add_argument("--stages", type=int, help="pipelining depth (default: fused.STAGES)")
    parser.add_argument("names", nargs="*", help="variants to compile (default: all)")
    args = parser.parse_args(argv)
    failures = compile_all(args.arch, args.names or None, tuple(args.neurons or ()) or None, args.block, args.warps, args.stages)
    for f in failures:
        print("FAILED", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("TRITON_INTERPRET", "0")
    sys.exit(main())
