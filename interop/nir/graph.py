"""Whole models through NIR: a NIR graph into a framework, and a framework model into NIR.

The walk is generic; the framework knowledge comes from the plugin passed in (its
``build_neuron``, ``step`` and ``describe_neuron``). A neuron a framework cannot express
natively becomes a :class:`~snn_interop.graph.CanonicalNeuron`, exact by construction, and the
module's ``neuron_info`` says so and why, unless ``native_only`` asks for an error instead.
"""
from __future__ import annotations

import copy
import json
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import nir
import numpy as np
import torch
import torch.fx
from torch import nn

from snn_interop.graph import CanonicalNeuron, GraphModule, NeuronInfo, canonical_step
from snn_interop.nir.approximate import nearest_native
from snn_interop.nir.layers import HINTS, export_note, is_identity, layer_from_node, max_pool_nodes, node_from_layer
from snn_interop.nir.neurons import NEURON_NODES, NirDefaults, neuron_from_node, node_from_neuron, split_current
from snn_interop.plugin_api import NotExpressible, chain, parameter_dtype
from snn_interop.spec.neurons import SpikeFn
from snn_interop.spec.schema import SpecError
from snn_interop.trace import ForwardGraph, NotAGraph


def _io_names(graph: nir.NIRGraph) -> tuple[str, str]:
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    outputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise SpecError(f"a graph needs exactly one Input and one Output node, found inputs {inputs} and outputs {outputs}")
    return inputs[0], outputs[0]


def check_graph(graph: nir.NIRGraph) -> None:
    """Dangling edges, named (nested subgraphs are checked after :func:`flatten`)."""
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise SpecError(f"edge ({a!r}, {b!r}) refers to {end!r}, which is not a node of the graph")


def annotate(graph: nir.NIRGraph, defaults: NirDefaults) -> nir.NIRGraph:
    """A copy of ``graph`` whose neuron nodes all carry our metadata: nodes without it get the
    neuron ``defaults`` give them, so whoever reads the copy needs no defaults."""
    from snn_interop.nir.metadata import encode

    out = copy.deepcopy(graph)
    for node in out.nodes.values():
        if _bare(node):
            node.metadata = {**(getattr(node, "metadata", None) or {}), **encode(neuron_from_node(node, defaults))}
    for name, node in list(out.nodes.items()):
        if isinstance(node, nir.NIRGraph):
            out.nodes[name] = annotate(node, defaults)
    return out


def _bare(node: Any) -> bool:
    """A neuron node without snn-interop metadata: read with :class:`NirDefaults`."""
    from snn_interop.nir.metadata import KEY

    return isinstance(node, NEURON_NODES) and KEY not in (getattr(node, "metadata", None) or {})


def without_metadata(graph: nir.NIRGraph) -> list[str]:
    """The neuron nodes that carry no snn-interop metadata (a file from elsewhere), which are read
    with :class:`NirDefaults`; a nested subgraph's node ``k`` of ``s`` as ``"s.k"``."""
    names = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            names += [f"{name}.{inner}" for inner in without_metadata(node)]
        elif _bare(node):
            names.append(name)
    return names


def flatten(graph: nir.NIRGraph) -> nir.NIRGraph:
    """The graph with every nested subgraph inlined: node ``k`` of subgraph ``s`` becomes ``"s.k"``.

    An edge into ``s`` (or into ``"s.<its Input>"``) goes to the nodes its Input feeds; an edge out
    of ``s`` (or ``"s.<its Output>"``) comes from the nodes that feed its Output; ``"s.k"`` names an
    inner node directly. Nested levels flatten recursively ("s.t.k"). A graph without subgraphs
    is returned as it is."""
    if not any(isinstance(n, nir.NIRGraph) for n in graph.nodes.values()):
        return graph
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    feeds: dict[str, list[str]] = {}  # a name an edge may point to -> the flat nodes it means as a target
    fed_by: dict[str, list[str]] = {}  # ... as a source
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.NIRGraph):
            nodes[name] = node
            continue
        inner = flatten(node)
        check_graph(inner)
        i_name, o_name = _io_names(inner)
        if (i_name, o_name) in inner.edges:
            raise SpecError(f"subgraph {name!r} connects its Input straight to its Output; nothing to inline")
        nodes.update({f"{name}.{k}": v for k, v in inner.nodes.items() if k not in (i_name, o_name)})
        edges += [(f"{name}.{a}", f"{name}.{b}") for a, b in inner.edges if a != i_name and b != o_name]
        feeds[name] = feeds[f"{name}.{i_name}"] = [f"{name}.{b}" for a, b in inner.edges if a == i_name]
        fed_by[name] = fed_by[f"{name}.{o_name}"] = [f"{name}.{a}" for a, b in inner.edges if b == o_name]
    for a, b in graph.edges:
        for src in fed_by.get(a, [a]):
            edges += [(src, dst) for dst in feeds.get(b, [b])]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(getattr(graph, "metadata", {}) or {}))


def from_nir(graph: nir.NIRGraph, plugin: ModuleType | None, defaults: NirDefaults = NirDefaults(), dtype: torch.dtype | None = None,
             native_only: bool = False, approximate: bool = False) -> GraphModule:
    """A runnable module of ``plugin``'s framework for ``graph`` (time-major input [T, B, ...]).

    With ``plugin=None`` every neuron is a CanonicalNeuron: the graph's reference semantics.
    Nested subgraphs are inlined first (:func:`flatten`: inner nodes are named "sub.node").
    A neuron the framework cannot build exactly becomes the exact CanonicalNeuron; with
    ``native_only`` a NotExpressible naming the node instead; with ``approximate`` the
    framework's own layer for the nearest neuron it expresses (:mod:`.approximate`), the
    changes recorded in ``neuron_info``."""
    check_graph(graph)
    graph = flatten(graph)
    input_name, output_name = _io_names(graph)
    layers: dict[str, nn.Module] = {}
    neurons: dict[str, tuple[nn.Module, Any, NeuronInfo]] = {}
    for name, node in graph.nodes.items():
        if name in (input_name, output_name):
            continue
        if isinstance(node, NEURON_NODES):
            neuron = neuron_from_node(node, defaults)
            if plugin is None:
                neurons[name] = (CanonicalNeuron(neuron), canonical_step, NeuronInfo(neuron, "reference", True))
                continue
            try:
                neurons[name] = (plugin.build_neuron(neuron), plugin.step, NeuronInfo(neuron, plugin.NAME, True))
            except NotExpressible as exc:
                if approximate:
                    try:
                        module, variant, changes = nearest_native(neuron, plugin)
                    except NotExpressible as none:
                        raise NotExpressible(plugin.NAME, f"{none.semantic} (node {name!r})", none.reason) from none
                    neurons[name] = (module, plugin.step, NeuronInfo(variant, plugin.NAME, True, str(exc), tuple(map(str, changes))))
                    continue
                if native_only:
                    raise NotExpressible(plugin.NAME, f"{exc.semantic} (node {name!r})", exc.reason) from exc
                neurons[name] = (CanonicalNeuron(neuron), canonical_step, NeuronInfo(neuron, plugin.NAME, False, str(exc)))
        else:
            layers[name] = layer_from_node(node, dtype)
    return GraphModule(layers, neurons, list(graph.edges), input_name, output_name)


def _shapes(module: GraphModule, sample: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Each node's output shape without the batch, from one step of ``sample`` [B, ...]."""
    with torch.no_grad():
        _, rec = module(sample.unsqueeze(0), record=True)
    return {name: tuple(r["out"].shape[2:]) for name, r in rec.items()} | {module.input_name: tuple(sample.shape[1:])}


def _add_neuron(nodes: dict[str, Any], split: list[str], name: str, neuron: Any, shape: tuple[int, ...]) -> None:
    """``neuron``'s NIR node as ``nodes[name]``; a current-based leaky integrator as its membrane
    there and its current as ``name + "_syn"`` (:func:`split_current`), ``name`` noted in ``split``."""
    parts = split_current(neuron)
    if parts is not None:
        nodes[f"{name}_syn"] = node_from_neuron(parts[0], shape)
        split.append(name)
    nodes[name] = node_from_neuron(parts[1] if parts else neuron, shape)


def _through_currents(edges: list[tuple[str, str]], split: list[str]) -> list[tuple[str, str]]:
    """The edges with each split neuron's input going into its current node, which feeds it."""
    return [(a, f"{b}_syn" if b in split else b) for a, b in edges] + [(f"{b}_syn", b) for b in split]


NOTES_KEY = "snn_interop.export_notes"  #: graph metadata: JSON list of {"layer", "type", "note"}, what writing a layer changed


def with_weights(graph: nir.NIRGraph, weights: dict[str, np.ndarray]) -> nir.NIRGraph:
    """A flattened copy of ``graph`` whose nodes named in ``weights`` carry those weights (each
    in its node's dtype and shape; the hardware targets' ``chip_weights``)."""
    graph = copy.deepcopy(flatten(graph))
    for key, weight in weights.items():
        old = np.asarray(graph.nodes[key].weight)
        graph.nodes[key].weight = np.asarray(weight).reshape(old.shape).astype(old.dtype)
    return graph


def export_notes(graph: nir.NIRGraph) -> list[dict[str, str]]:
    """What :func:`to_nir` noted about layers written as another module (a BatchNorm as the affine it
    computes at inference, a Dropout left out, an AdaptiveAvgPool2d as an AvgPool2d); empty for other graphs."""
    raw = (getattr(graph, "metadata", None) or {}).get(NOTES_KEY)
    return json.loads(raw) if raw else []


def note_lines(notes: list[dict[str, str]]) -> list[str]:
    """:func:`export_notes` as lines, layers of one type written alike in one line, in the order
    they first appear: ``"layers 1, 5 (BatchNorm2d): the per-channel affine ..."``."""
    groups: dict[tuple[str, str], list[str]] = {}
    for n in notes:
        groups.setdefault((n["type"], n["note"]), []).append(n["layer"])
    return [f"layer{'s' if len(layers) > 1 else ''} {', '.join(layers)} ({kind}): {note}" for (kind, note), layers in groups.items()]


def with_notes(graph: nir.NIRGraph, notes: list[dict[str, str]]) -> nir.NIRGraph:
    if notes:
        graph.metadata = {**(graph.metadata or {}), NOTES_KEY: json.dumps(notes)}
    return graph


@contextmanager
def _naming(name: str, layer: nn.Module | None = None) -> Iterator[None]:
    """A SpecError raised while writing layer ``name`` says which layer; so does a plugin's
    NotExpressible (a neuron option the spec has no form for), naming the layer's type too."""
    try:
        yield
    except SpecError as exc:
        raise SpecError(f"layer {name}: {exc}") from exc
    except NotExpressible as exc:
        where = f"layer {name}" + (f" ({type(layer).__name__})" if layer is not None else "")
        raise NotExpressible(exc.framework, f"{exc.semantic} in {where}", exc.reason) from exc


def _unsupported(name: str, layer: nn.Module, plugin: ModuleType) -> SpecError:
    """What to say of a layer with neither a neuron description nor a NIR node: a hint for a torch
    layer NIR lacks (HINTS); for a layer of the framework itself (a neuron model snn-interop does
    not describe, like snnTorch's Alpha), the neurons of that framework that it does."""
    hint = HINTS.get(type(layer).__name__)
    layers = "Linear, Conv1d, Conv2d, SumPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, Scale, BatchNorm1d/2d or Dropout"
    if hint is None and type(layer).__module__.split(".")[0] == plugin.NAME:
        neurons = ", ".join(f"{model} -> {layer_}" for model, layer_ in plugin.capabilities().neurons.items())
        hint = (f"a {plugin.NAME} layer snn-interop does not describe; its {plugin.NAME} neurons are {neurons} "
                f"(snn-interop plugins -v), its other layers {layers}")
    return SpecError(f"layer {name} ({type(layer).__module__}.{type(layer).__name__}) is not supported: "
                     + (hint or f"not a {plugin.NAME} neuron snn-interop describes, nor {layers}"))


def to_nir(module: nn.Module, plugin: ModuleType, sample: torch.Tensor) -> nir.NIRGraph:
    """The NIR graph of a framework model: an ``nn.Sequential`` of layers and ``plugin``'s
    neurons, or a :class:`GraphModule`. ``sample`` is one step of input, [B, ...] (only its
    shape matters; it is cast to the model's parameter dtype).

    Nested containers are opened (:func:`~snn_interop.plugin_api.chain`): the node of layer 0
    of block 2 is ``"2.0"``. A framework's own stateless layer is read as the torch layer
    ``plugin.describe_layer`` names (an optional hook). A layer written as another module (a BatchNorm, a
    Dropout, an AdaptiveAvgPool2d: :mod:`snn_interop.nir.layers`) is noted in the graph's metadata (:func:`export_notes`)."""
    dtype = parameter_dtype(module, sample.dtype)
    sample = sample.to(dtype)
    if isinstance(module, GraphModule):
        shapes = _shapes(module, sample)
        preds = {n: [a for a, b in module.edges if b == n] for n in module.order}
        nodes: dict[str, Any] = {module.input_name: nir.Input(input_type={"input": np.array(shapes[module.input_name])}),
                                 module.output_name: nir.Output(output_type={"output": np.array(shapes[module.output_name])})}
        for name in module.layer_names:
            layer = module.layer(name)
            in_shape = shapes[preds[name][0]] if preds[name] else None
            with _naming(name):
                node = node_from_layer(layer, in_shape)
            if node is None:
                raise SpecError(f"layer {name!r} ({type(layer).__name__}) has no NIR node")
            nodes[name] = node
        split: list[str] = []
        for name, info in module.neuron_info.items():
            _add_neuron(nodes, split, name, info.neuron, shapes[name])
        return nir.NIRGraph(nodes=nodes, edges=_through_currents(list(module.edges), split))
    writer = _Writer(plugin, sample)
    value = _Value(("input",), sample, False)
    if isinstance(module, nn.Sequential):
        for name, original in chain(module, writer.describe_layer):
            value = writer.layer(name, original, value)
    elif isinstance(module, ForwardGraph):
        value = writer.forward(module, value)
    else:
        raise SpecError(f"to_nir takes an nn.Sequential, a GraphModule or a ForwardGraph, got {type(module).__name__}; "
                        "wrap a custom model's layers in nn.Sequential")
    writer.nodes["output"] = nir.Output(output_type={"output": np.array(value.x.shape[1:])})
    writer.edges += [(p, "output") for p in value.nodes]
    return with_notes(nir.NIRGraph(nodes=writer.nodes, edges=_through_currents(writer.edges, writer.split)), writer.notes)


@dataclass(frozen=True)
class _Value:
    """What flows between layers while a model is written: the NIR nodes whose outputs sum to it
    (a NIR node sums its incoming edges), its value for one step of the sample, and whether it
    holds single spikes ({0, 1}: a neuron's output, through layers that keep it so)."""

    nodes: tuple[str, ...]
    x: torch.Tensor
    spikes: bool


class _Writer:
    """Writes a framework model's layers into NIR nodes and edges, one layer at a time."""

    def __init__(self, plugin: ModuleType, sample: torch.Tensor) -> None:
        self.plugin = plugin
        self.describe_layer = getattr(plugin, "describe_layer", None)
        self.nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(sample.shape[1:])})}
        self.edges: list[tuple[str, str]] = []
        self.split: list[str] = []
        self.notes: list[dict[str, str]] = []

    def _node(self, name: str, node: Any, value: _Value) -> None:
        """``node`` as ``name``, fed ``value``."""
        self.nodes[name] = node
        self.edges += [(p, name) for p in value.nodes]

    def layer(self, name: str, original: nn.Module, value: _Value) -> _Value:
        """Write ``original`` (a layer or a neuron of the plugin's framework) as node ``name`` fed ``value``."""
        layer = (self.describe_layer(original) if self.describe_layer is not None else None) or original
        x = value.x
        with _naming(name):
            identity = is_identity(layer)
        if identity:
            self.notes.append({"layer": name, "type": type(original).__name__, "note": export_note(layer)})
            return value
        with _naming(name, original):
            neuron = self.plugin.describe_neuron(layer)
        if neuron is None and isinstance(layer, nn.MaxPool2d):  # as a pair of nodes: name, then name_max
            if not value.spikes:
                raise SpecError(f"layer {name} ({type(original).__name__}) does not pool single spikes (its input is not the "
                                f"output of a neuron that fires at most one spike per step): {HINTS['MaxPool2d']}")
            with _naming(name):
                pooled, maximum = max_pool_nodes(layer, tuple(x.shape[1:]))
            self._node(name, pooled, value)
            self._node(f"{name}_max", maximum, _Value((name,), x, False))
            with torch.no_grad():
                return _Value((f"{name}_max",), layer(x), True)
        if neuron is not None:
            # a neuron layer that weighs its input itself (norse's recurrent cells): that layer first, as node name_in
            weighs = getattr(self.plugin, "describe_input", lambda *_: None)(layer)
            if weighs is not None:
                self._node(f"{name}_in", node_from_layer(weighs, tuple(x.shape[1:])), value)
                with torch.no_grad():
                    x = weighs(x.to(weighs.weight.dtype))
                value = _Value((f"{name}_in",), x, False)
            _add_neuron(self.nodes, self.split, name, neuron, tuple(x.shape[1:]))
            self.edges += [(p, name) for p in value.nodes]
            # a neuron layer with its own recurrence (snnTorch RLeaky): W S[t-1] into its input, as a NIR cycle
            recurrent = getattr(self.plugin, "describe_recurrent", lambda *_: None)(layer, tuple(x.shape[1:]))
            if recurrent is not None:
                self.nodes[f"{name}_rec"] = node_from_layer(recurrent, tuple(x.shape[1:]))
                self.edges += [(name, f"{name}_rec"), (f"{name}_rec", name)]
            return _Value((name,), x, neuron.spikes and neuron.spike_fn is SpikeFn.SINGLE)
        with _naming(name):
            node = node_from_layer(layer, tuple(x.shape[1:]))
        if node is None:
            raise _unsupported(name, original, self.plugin)
        if (note := export_note(layer, tuple(x.shape[1:]))) is not None:
            self.notes.append({"layer": name, "type": type(original).__name__, "note": note})
        self._node(name, node, value)
        with torch.no_grad():
            return _Value((name,), layer(x), value.spikes and isinstance(layer, nn.Flatten))

    def _is_sum(self, module: nn.Module, node: torch.fx.Node) -> bool:
        """A call of a layer the plugin's optional ``is_sum`` says adds its inputs (sinabs's Merge)."""
        return node.op == "call_module" and getattr(self.plugin, "is_sum", lambda _: False)(module.get_submodule(node.target))

    def _fresh(self, name: str) -> str:
        """``name`` for a new node (a flatten the forward computes), made unique among the nodes."""
        return name if name not in self.nodes else f"{name}_{len(self.nodes)}"

    def forward(self, traced: ForwardGraph, value: _Value) -> _Value:
        """Write a model written as a class by the graph of its forward (:func:`snn_interop.trace.read_graph`):
        each layer once, sums of their outputs (skip connections) as several edges into a node, and
        flattens after the batch dimension (``torch.flatten``, a ``view`` or ``reshape`` that flattens).
        Raises NotAGraph for any other computation, naming it."""
        module = traced.model
        what = type(module).__name__
        env: dict[torch.fx.Node, Any] = {}
        written: set[str] = set()
        for node in traced.fx_graph.nodes:
            if node.op == "placeholder":
                env[node] = value if not env else None
            elif node.op == "call_module" and len(node.args) == 1 and not node.kwargs and isinstance(env.get(node.args[0]), _Value):
                if node.target in written:
                    raise NotAGraph(f"{what}'s forward calls layer {node.target} twice: each layer is one node of the graph")
                written.add(node.target)
                layer = module.get_submodule(node.target)
                inner = self.describe_layer(layer) if self.describe_layer is not None else None
                if type(inner if inner is not None else layer) is nn.Sequential:  # a framework container: its chain
                    env[node] = env[node.args[0]]
                    for name, original in chain(layer, self.describe_layer, f"{node.target}."):
                        env[node] = self.layer(name, original, env[node])
                else:
                    env[node] = self.layer(node.target, layer, env[node.args[0]])
            elif (_is_add(node) or self._is_sum(module, node)) and len(node.args) == 2 and not node.kwargs \
                    and all(isinstance(env.get(a), _Value) for a in node.args):
                a, b = (env[arg] for arg in node.args)
                if set(a.nodes) & set(b.nodes):
                    raise NotAGraph(f"{what}'s forward adds the output of {', '.join(sorted(set(a.nodes) & set(b.nodes)))} to "
                                    "itself: a NIR edge carries an output once")
                if a.x.shape != b.x.shape:
                    raise NotAGraph(f"{what}'s forward adds values of shapes {tuple(a.x.shape[1:])} and {tuple(b.x.shape[1:])} "
                                    f"({', '.join(a.nodes + b.nodes)}): NIR sums the edges into a node, of one shape")
                env[node] = _Value(a.nodes + b.nodes, a.x + b.x, False)
            elif _is_flatten(node) and isinstance(env.get(node.args[0]), _Value):
                source = env[node.args[0]]
                ran = len(traced.shapes.get(node.args[0].name, source.x.shape))  # [T, B, ...] in a whole-sequence forward
                start, end = (d % ran - (ran - source.x.dim()) for d in _flatten_dims(node))
                if start != 1:
                    raise NotAGraph(f"{what}'s forward flattens {ran}-dimensional values from dimension {_flatten_dims(node)[0]}: "
                                    "only the dimensions after time and batch can be flattened")
                env[node] = self.layer(self._fresh(node.name), nn.Flatten(1, end - source.x.dim()), source)
            elif node.op == "call_method" and node.target in ("view", "reshape") and isinstance(env.get(node.args[0]), _Value) \
                    and _flattens(traced.shapes.get(node.args[0].name), traced.shapes.get(node.name), env[node.args[0]].x.dim()):
                env[node] = self.layer(self._fresh(node.name), nn.Flatten(1, -1), env[node.args[0]])
            elif traced.shapes and node.name not in traced.shapes and node.op in ("call_method", "call_function") \
                    and node.target in ("size", "dim", getattr, operator.getitem):
                env[node] = None  # a size, for a view: not a value of the graph (a layer that reads it is refused)
            elif node.op == "output":
                result = node.args[0][0] if isinstance(node.args[0], (tuple, list)) and node.args[0] else node.args[0]
                if not isinstance(env.get(result), _Value):
                    raise NotAGraph(f"{what}'s forward does not return the output of its layers ({result})")
                return env[result]
            else:
                raise NotAGraph(f"{what}'s forward computes {_call(node, env)}: a graph of layers has only the layers, sums "
                                "of their outputs (skip connections) and flattens (torch.flatten, a view that flattens)")
        raise NotAGraph(f"{what}'s forward returns nothing")


def _call(node: torch.fx.Node, env: dict[torch.fx.Node, Any]) -> str:
    """An fx node as a call on what its arguments are: ``mul(layer1.0.sn2, maxpool_max)``."""
    def operand(arg: Any) -> str:
        value = env.get(arg) if isinstance(arg, torch.fx.Node) else None
        return " + ".join(value.nodes) if isinstance(value, _Value) else str(arg)

    what = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
    args = [operand(a) for a in node.args] + [f"{k}={operand(v)}" for k, v in node.kwargs.items()]
    return f"{what}({', '.join(args)})"


def _flattens(before: tuple[int, ...] | None, after: tuple[int, ...] | None, step_dims: int) -> bool:
    """Whether a view or reshape from shape ``before`` to ``after`` (as the forward ran: with time
    first when the values hold it) flattens each step's values after the batch dimension."""
    if before is None or after is None:
        return False
    kept = len(before) - step_dims + 1  # time (when held) and batch
    return tuple(after) == (*before[:kept], int(np.prod(before[kept:])))


def _is_add(node: torch.fx.Node) -> bool:
    """``a + b``, ``a += b``, ``torch.add(a, b)`` or ``a.add(b)``."""
    return (node.op == "call_function" and node.target in (operator.add, operator.iadd, torch.add)) or \
        (node.op == "call_method" and node.target in ("add", "add_"))


def _is_flatten(node: torch.fx.Node) -> bool:
    return (node.op == "call_function" and node.target is torch.flatten) or (node.op == "call_method" and node.target == "flatten")


def _flatten_dims(node: torch.fx.Node) -> tuple[int, int]:
    """``torch.flatten``'s (start_dim, end_dim) at an fx node (defaults 0 and -1)."""
    args = list(node.args[1:]) + [None, None]
    start = node.kwargs.get("start_dim", args[0] if args[0] is not None else 0)
    end = node.kwargs.get("end_dim", args[1] if args[1] is not None else -1)
    if not (isinstance(start, int) and isinstance(end, int)):
        raise NotAGraph(f"torch.flatten with dimensions computed at run time ({node.format_node()})")
    return start, end
