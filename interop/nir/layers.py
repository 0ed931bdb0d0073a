"""NIR's stateless nodes <-> torch modules (every framework builds its layers from torch.nn).

NIR shapes exclude the batch dimension, so NIR's ``Flatten(start_dim=0)`` is torch's
``Flatten(start_dim=1)``. Conversions copy parameters bit for bit (float64 NIR arrays keep
float64; float32 stays float32 unless a dtype is asked for).

Some torch layers have no NIR node of their own and are written as what they compute: at
inference, a BatchNorm (its running statistics) as a per-channel affine and a Dropout as nothing
(both must be in eval mode); on the model's input size, an AdaptiveAvgPool2d whose output size
divides it as the AvgPool2d with the same windows. A layer option NIR's node lacks is written
only where it changes nothing (``ceil_mode`` that adds no window, ``divisor_override`` equal to the
window size, or 1: a SumPool2d) and refused otherwise, naming it; :func:`export_note` says what
was done, for the report.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from snn_interop.spec.schema import SpecError


class SumPool2d(nn.Module):
    """Sum pooling as a depthwise convolution with ones: exact sums and a gradient everywhere.

    (sinabs' SumPool2d is LPPool2d(p=1), whose gradient is zero wherever a window sums to 0.)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = tuple(np.broadcast_to(np.asarray(kernel_size), (2,)).tolist())
        self.stride = tuple(np.broadcast_to(np.asarray(stride if stride is not None else kernel_size), (2,)).tolist())
        self.padding = tuple(np.broadcast_to(np.asarray(padding), (2,)).tolist())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[-3]
        ones = torch.ones(channels, 1, *self.kernel_size, dtype=x.dtype, device=x.device)
        return F.conv2d(x, ones, stride=self.stride, padding=self.padding, groups=channels)


class Scale(nn.Module):
    """Elementwise multiplication by a fixed vector (NIR's Scale)."""

    def __init__(self, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


LAYER_KEY = "snn_interop.layer"  #: node metadata naming the torch layer a group of NIR nodes was written for
MAX_POOL_OF_SPIKES = "max_pool2d_of_spikes"


class MaxPoolSpikes(nn.MaxPool2d):
    """A max pool of spikes read back from NIR: the SumPool2d node of the pair :func:`max_pool_nodes` writes."""


class MaxPoolSpikesEnd(nn.Identity):
    """The pair's Threshold node: the max pool already gave its output."""


def max_pool_nodes(layer: nn.MaxPool2d, input_shape: tuple[int, ...]) -> tuple[nir.SumPool2d, nir.Threshold]:
    """A max pool of spikes (input in {0, 1}) as NIR can say it: each window's spike count
    (SumPool2d, zero padding) into a Threshold at 0.5, which gives 1 exactly when the window
    holds a spike, max over {0, 1}. Both nodes carry ``LAYER_KEY``, so snn-interop reads the
    pair back as the MaxPool2d (its gradient included); any other reader gets the same forward."""
    if _ints(layer.dilation, 2) != (1, 1) or layer.ceil_mode or layer.return_indices:
        raise SpecError("MaxPool2d with dilation, ceil_mode or return_indices has no NIR form")
    k, s, p = _pool_windows(layer, input_shape)
    channels, *sizes = input_shape
    out = (channels, *(_pooled_size(n, *ksp, False) for n, ksp in zip(sizes, zip(k, s, p))))
    meta = {LAYER_KEY: MAX_POOL_OF_SPIKES}
    return (nir.SumPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p), metadata=dict(meta)),
            nir.Threshold(threshold=np.full(out, 0.5), metadata=dict(meta)))


def _max_pool_part(node: Any) -> bool:
    return (getattr(node, "metadata", None) or {}).get(LAYER_KEY) == MAX_POOL_OF_SPIKES


def _sum_pool(node: Any, dtype: torch.dtype | None) -> nn.Module:
    k, s, p = _ints(node.kernel_size, 2), _ints(node.stride, 2), _ints(node.padding, 2)
    return MaxPoolSpikes(k, s, p) if _max_pool_part(node) else SumPool2d(k, s, p)


def _threshold(node: Any, dtype: torch.dtype | None) -> nn.Module:
    if not _max_pool_part(node):
        raise SpecError("a NIR Threshold node is read only as the end of a max pool of spikes that snn-interop wrote "
                        "(a stateless Heaviside has no gradient to train with)")
    return MaxPoolSpikesEnd()


def _tensor(array: Any, dtype: torch.dtype | None) -> torch.Tensor:
    t = torch.from_numpy(np.array(array, copy=True))
    return t.to(dtype) if dtype is not None else t


def _ints(value: Any, n: int) -> tuple[int, ...]:
    return tuple(int(v) for v in np.broadcast_to(np.asarray(value), (n,)))


def _linear(node: Any, dtype: torch.dtype | None) -> nn.Module:
    weight = _tensor(node.weight, dtype)
    bias = getattr(node, "bias", None)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(_tensor(bias, dtype))
    return layer


def _conv(node: Any, dtype: torch.dtype | None) -> nn.Module:
    weight = _tensor(node.weight, dtype)
    dims = weight.ndim - 2
    cls = {1: nn.Conv1d, 2: nn.Conv2d}[dims]
    padding = node.padding if isinstance(node.padding, str) else _ints(node.padding, dims)
    bias = getattr(node, "bias", None)
    has_bias = bias is not None and np.asarray(bias).size > 0
    layer = cls(weight.shape[1] * int(node.groups), weight.shape[0], tuple(weight.shape[2:]), stride=_ints(node.stride, dims),
                padding=padding, dilation=_ints(node.dilation, dims), groups=int(node.groups), bias=has_bias, dtype=weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if has_bias:
            layer.bias.copy_(_tensor(bias, dtype))
    return layer


TO_TORCH: dict[type, Callable[[Any, torch.dtype | None], nn.Module]] = {
    nir.Affine: _linear,
    nir.Linear: _linear,
    nir.Conv1d: _conv,
    nir.Conv2d: _conv,
    nir.SumPool2d: _sum_pool,
    nir.Threshold: _threshold,
    nir.AvgPool2d: lambda n, d: nn.AvgPool2d(_ints(n.kernel_size, 2), _ints(n.stride, 2), _ints(n.padding, 2)),
    nir.Flatten: lambda n, d: nn.Flatten(*(int(k) + 1 if int(k) >= 0 else int(k) for k in (n.start_dim, n.end_dim))),
    nir.Scale: lambda n, d: Scale(_tensor(n.scale, d)),
}


class UnreadNode(SpecError):
    """A node of a type NIR defines that snn-interop does not read (nir.I, nir.Delay)."""


#: NIR node types snn-interop does not read, and what they are (none of the five frameworks'
#: own NIR importers reads them either: snntorch 1.0.0, spikingjelly 2.0.0, sinabs 3.1.3, norse 1.1.0, rockpool 3.1.0)
UNREAD = {"I": "an integrator without threshold, dv/dt = r I", "Delay": "a per-neuron delay of its input by a time in seconds"}


def layer_from_node(node: Any, dtype: torch.dtype | None = None) -> nn.Module:
    """The torch module for a stateless NIR node. UnreadNode for a NIR node type snn-interop does
    not read (:data:`UNREAD`), SpecError for one that is not a layer."""
    convert = TO_TORCH.get(type(node))
    if convert is None and type(node).__name__ in UNREAD:
        raise UnreadNode(f"NIR node type {type(node).__name__} ({UNREAD[type(node).__name__]}) is not read by snn-interop, nor "
                         "by any of the frameworks' own NIR importers; its neuron nodes are LIF, IF, LI and CubaLIF")
    if convert is None:
        raise SpecError(f"NIR node type {type(node).__name__} has no torch layer; supported: {', '.join(t.__name__ for t in TO_TORCH)}")
    return convert(node, dtype)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _inference_only(layer: nn.Module, what: str) -> None:
    if layer.training:
        raise SpecError(f"{type(layer).__name__} is in training mode, where it {what}, which NIR cannot carry; "
                        "call model.eval() before converting (the model is then converted as it runs at inference)")


def is_identity(layer: nn.Module) -> bool:
    """Whether ``layer`` computes the identity at inference (a Dropout in eval mode, nn.Identity);
    such a layer has no NIR node. A Dropout in training mode raises SpecError."""
    if isinstance(layer, nn.modules.dropout._DropoutNd):
        _inference_only(layer, "zeroes random elements")
        return True
    return isinstance(layer, nn.Identity)


def _batchnorm_affine(layer: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """A BatchNorm at inference as y = a x + c per channel, with torch's own CPU arithmetic:
    a = w / sqrt(var + eps) as ``rsqrt(var + eps) * w``, c = b - mean a as ``addcmul(b, -mean, a)``.

    torch's float32 CPU kernel computes fma(x, a, c) with exactly these a and c, and so does a
    depthwise kernel-1 convolution with them (measured bit for bit): on spikes (x in {0, 1})
    every implementation agrees, on real input within one rounding (tested)."""
    _inference_only(layer, "normalises by each batch's statistics")
    if layer.running_mean is None or layer.running_var is None:
        raise SpecError(f"{type(layer).__name__} has no running statistics (track_running_stats=False): it normalises "
                        "by each batch's statistics at inference too, which NIR cannot carry")
    with torch.no_grad():
        mean, var = layer.running_mean, layer.running_var
        weight = layer.weight if layer.weight is not None else torch.ones_like(var)
        bias = layer.bias if layer.bias is not None else torch.zeros_like(mean)
        a = torch.rsqrt(var + layer.eps) * weight
        return a, torch.addcmul(bias, -mean, a)


def batchnorm_gradients(layer: nn.modules.batchnorm._BatchNorm, grad_a: torch.Tensor,
                        grad_c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradients with respect to a BatchNorm's (w, b) that the gradients with respect to its
    affine's (a, c) (:func:`_batchnorm_affine`) imply: w and b reach the loss only through
    a = w r and c = b - mean a (r = 1/sqrt(var + eps)), so dL/dw = r (dL/da - mean dL/dc) and
    dL/db = dL/dc. (This direction: where the layer's input is all zeros, dL/da is exactly 0 and
    the other direction would compare a cancellation residual with it.)"""
    r = torch.rsqrt(layer.running_var + layer.eps)
    return r * (grad_a - layer.running_mean * grad_c), grad_c


def _batchnorm_node(layer: nn.modules.batchnorm._BatchNorm, input_shape: tuple[int, ...] | None) -> Any:
    """The per-channel affine of a BatchNorm1d/2d: a NIR Affine with a diagonal weight for
    [C] input, a depthwise kernel-1 Conv1d/Conv2d with bias for [C, L] / [C, H, W]."""
    if input_shape is None:
        raise SpecError(f"{type(layer).__name__} needs its input shape to be written to NIR")
    a, c = (_np(t) for t in _batchnorm_affine(layer))
    channels = a.shape[0]
    if len(input_shape) == 1:
        return nir.Affine(weight=np.diag(a), bias=c)
    if len(input_shape) == 2:
        return nir.Conv1d(input_shape=input_shape[1], weight=a.reshape(channels, 1, 1), stride=1, padding=0, dilation=1,
                          groups=channels, bias=c)
    if len(input_shape) == 3:
        return nir.Conv2d(input_shape=tuple(input_shape[1:]), weight=a.reshape(channels, 1, 1, 1), stride=1, padding=0,
                          dilation=1, groups=channels, bias=c)
    raise SpecError(f"{type(layer).__name__} on input of shape {input_shape} has no NIR node (NIR has no Conv3d)")


def export_note(layer: nn.Module, input_shape: tuple[int, ...] | None = None) -> str | None:
    """What ``layer`` is written to NIR as, where a reader rebuilds another module (``input_shape``
    without batch, as :func:`node_from_layer` had it), or None; it reads after "written as:"."""
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        return (f"the per-channel affine of its running statistics (eps {layer.eps:g}), what it computes at inference; "
                "a reader rebuilds a fixed affine layer, not a BatchNorm that keeps learning statistics")
    if isinstance(layer, nn.modules.dropout._DropoutNd):
        return f"nothing: the identity at inference (p={layer.p:g}), left out of the graph; add it back to train with it"
    if isinstance(layer, nn.Identity):
        return "nothing: left out of the graph"
    if isinstance(layer, nn.AdaptiveAvgPool2d) and input_shape is not None:
        (kh, kw), (h, w) = _adaptive_window(layer, input_shape), input_shape[-2:]
        return (f"AvgPool2d with kernel and stride {kh}x{kw}, the same windows on its {h}x{w} input; a reader rebuilds "
                "that AvgPool2d, which does not adapt to other input sizes")
    if isinstance(layer, nn.AvgPool2d) and layer.divisor_override == 1:
        return "SumPool2d: divisor_override=1 sums each window"
    if _is_pool(layer) and getattr(layer, "ceil_mode", False) and input_shape is not None:
        return (f"itself without ceil_mode, which adds no window on its {input_shape[-2]}x{input_shape[-1]} input "
                "(on another input size it may)")
    return None


#: What to use instead of a torch layer NIR has no node for, by type name.
HINTS = {
    "MaxPool1d": "NIR has no max pooling node: AvgPool2d or SumPool2d are written to NIR",
    "MaxPool2d": ("NIR has no max pooling node: a MaxPool2d of spikes (right after a neuron that fires single spikes) "
                  "is written exactly, a max pool of real values cannot be; a model that pools after its neurons, or with "
                  "AvgPool2d or SumPool2d, converts (a different model: retrain it)"),
    "BatchNorm3d": "NIR has no 3-d convolution to write it as",
}


def _pooled_size(size: int, k: int, s: int, p: int, ceil: bool) -> int:
    """torch's pooled length: floor((size + 2p - k) / s) + 1, with ``ceil`` the ceiling, less the
    last window where it would start in the right padding."""
    out = (-(-(size + 2 * p - k) // s) if ceil else (size + 2 * p - k) // s) + 1
    return out - 1 if ceil and (out - 1) * s >= size + p else out


def _is_pool(layer: nn.Module) -> bool:
    return isinstance(layer, (nn.AvgPool2d, SumPool2d)) or (type(layer).__name__ == "SumPool2d" and isinstance(layer, nn.LPPool2d))


def _pool_windows(layer: nn.Module, input_shape: tuple[int, ...] | None) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(kernel, stride, padding) of a 2-d pooling layer; its ``ceil_mode``, which NIR's pooling nodes
    lack, only where it adds no window on ``input_shape`` (SpecError otherwise)."""
    k = _ints(layer.kernel_size, 2)
    s, p = _ints(layer.stride if layer.stride is not None else k, 2), _ints(getattr(layer, "padding", 0), 2)
    if getattr(layer, "ceil_mode", False):
        name = type(layer).__name__
        if input_shape is None:
            raise SpecError(f"{name} with ceil_mode=True needs its input shape to be written to NIR")
        if any(_pooled_size(n, *ksp, True) != _pooled_size(n, *ksp, False) for n, ksp in zip(input_shape[-2:], zip(k, s, p))):
            raise SpecError(f"{name} with ceil_mode=True adds a partial window at the edge of its {input_shape[-2]}x"
                            f"{input_shape[-1]} input, which NIR's pooling nodes do not have: ceil_mode=False converts, "
                            "or an input size its windows tile")
    return k, s, p


def _avg_pool_node(layer: nn.AvgPool2d, input_shape: tuple[int, ...] | None) -> Any:
    """NIR's AvgPool2d (each window's sum over kh kw, zero padding counted: torch's defaults), or
    its SumPool2d for ``divisor_override=1``; the options that divide otherwise are refused."""
    k, s, p = _pool_windows(layer, input_shape)
    windows = dict(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p))
    if not layer.count_include_pad and any(p):
        raise SpecError("AvgPool2d with count_include_pad=False and padding divides the windows at the edge by fewer than "
                        f"{k[0] * k[1]}; NIR's AvgPool2d divides every window by its size: count_include_pad=True (torch's "
                        "default) or padding=0 converts")
    if layer.divisor_override in (None, k[0] * k[1]):
        return nir.AvgPool2d(**windows)
    if layer.divisor_override == 1:
        return nir.SumPool2d(**windows)
    raise SpecError(f"AvgPool2d with divisor_override={layer.divisor_override} divides each window's sum by "
                    f"{layer.divisor_override}; NIR's AvgPool2d divides by the window size ({k[0] * k[1]}), its SumPool2d by "
                    "1: only those two convert")


def _adaptive_window(layer: nn.AdaptiveAvgPool2d, input_shape: tuple[int, ...] | None) -> tuple[int, int]:
    """The kernel (= stride) of the AvgPool2d that pools ``input_shape`` as ``layer`` does: the
    input size over the output size, where that divides (SpecError otherwise: unequal windows)."""
    if input_shape is None:
        raise SpecError("AdaptiveAvgPool2d needs its input shape to be written to NIR")
    size = layer.output_size if isinstance(layer.output_size, (tuple, list)) else (layer.output_size,) * 2
    (h, w), out = input_shape[-2:], tuple(n if o is None else int(o) for n, o in zip(input_shape[-2:], size))
    if h % out[0] or w % out[1]:
        raise SpecError(f"AdaptiveAvgPool2d to {out[0]}x{out[1]} on {h}x{w} input pools windows of unequal sizes, which "
                        "NIR's AvgPool2d cannot; an output size that divides the input size converts (1, the global "
                        "average, always does)")
    return h // out[0], w // out[1]


def _zero_padded(layer: nn.modules.conv._ConvNd) -> None:
    """A ``padding_mode`` other than zeros is refused where the convolution pads (NIR's convolutions pad with zeros)."""
    if layer.padding == "same":
        pads = any(d * (k - 1) for d, k in zip(layer.dilation, layer.kernel_size))
    else:
        pads = layer.padding != "valid" and any(layer.padding)
    if layer.padding_mode != "zeros" and pads:
        raise SpecError(f"{type(layer).__name__} with padding_mode={layer.padding_mode!r} pads with other values than zeros, "
                        "which NIR's convolutions cannot: padding_mode='zeros' converts, or padding=0")


def node_from_layer(layer: nn.Module, input_shape: tuple[int, ...] | None = None) -> Any | None:
    """The NIR node for a stateless torch layer (``input_shape`` without batch), or None if not a layer we know.

    Pooling is recognised by type name so that a framework's own SumPool2d (sinabs) maps too.
    A BatchNorm1d/2d in eval mode becomes its per-channel affine (:func:`_batchnorm_node`), an
    AdaptiveAvgPool2d the AvgPool2d with its windows on this input (:func:`_adaptive_window`).
    An option NIR's node lacks raises SpecError where it changes the result, naming it.
    """
    if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return _batchnorm_node(layer, input_shape)
    if isinstance(layer, MaxPoolSpikes) and input_shape is not None:
        return max_pool_nodes(layer, input_shape)[0]
    if isinstance(layer, MaxPoolSpikesEnd) and input_shape is not None:
        return nir.Threshold(threshold=np.full(input_shape, 0.5), metadata={LAYER_KEY: MAX_POOL_OF_SPIKES})
    if isinstance(layer, nn.Linear):
        if layer.bias is None:
            return nir.Linear(weight=_np(layer.weight))
        return nir.Affine(weight=_np(layer.weight), bias=_np(layer.bias))
    if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        _zero_padded(layer)
        dims = 1 if isinstance(layer, nn.Conv1d) else 2
        bias = _np(layer.bias) if layer.bias is not None else np.zeros(layer.out_channels, dtype=_np(layer.weight).dtype)
        spatial = None if input_shape is None else tuple(input_shape[-dims:])
        kwargs = dict(weight=_np(layer.weight), stride=layer.stride if dims == 2 else layer.stride[0],
                      padding=layer.padding if isinstance(layer.padding, str) else (layer.padding if dims == 2 else layer.padding[0]),
                      dilation=layer.dilation if dims == 2 else layer.dilation[0], groups=layer.groups, bias=bias)
        if dims == 1:
            return nir.Conv1d(input_shape=None if spatial is None else spatial[0], **kwargs)
        return nir.Conv2d(input_shape=spatial, **kwargs)
    if isinstance(layer, nn.AvgPool2d):
        return _avg_pool_node(layer, input_shape)
    if _is_pool(layer):
        k, s, p = _pool_windows(layer, input_shape)
        return nir.SumPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p))
    if isinstance(layer, nn.AdaptiveAvgPool2d):
        k = _adaptive_window(layer, input_shape)
        return nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(k), padding=np.array((0, 0)))
    if isinstance(layer, nn.Flatten):
        start = layer.start_dim - 1 if layer.start_dim > 0 else layer.start_dim
        return nir.Flatten(input_type={"input": np.array(input_shape)} if input_shape is not None else {"input": None},
                           start_dim=start, end_dim=layer.end_dim if layer.end_dim < 0 else layer.end_dim - 1)
    if isinstance(layer, Scale):
        return nir.Scale(scale=_np(layer.scale))
    return None
