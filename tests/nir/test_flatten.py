"""Flatten's dimensions through NIR, whose shapes exclude the batch: torch's dim k is NIR's k - 1
for both ends (a positive end_dim was read back one dimension short)."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from snn_interop.nir.layers import layer_from_node, node_from_layer


@pytest.mark.parametrize("dims", [(1, -1), (1, 2), (2, 3), (2, -1), (1, -2), (-3, -1)])
def test_a_flatten_reads_back_as_itself(dims):
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    layer = nn.Flatten(*dims)
    back = layer_from_node(node_from_layer(layer, (3, 4, 5)))
    assert torch.equal(back(x), layer(x)), (layer, back)


def test_a_nir_flatten_from_elsewhere_follows_nirs_dims():
    """NIR's Flatten(start_dim=0, end_dim=1) on a 3x4x5 step flattens 3x4 into 12, keeping the 5."""
    node = nir.Flatten(input_type={"input": np.array([3, 4, 5])}, start_dim=0, end_dim=1)
    assert layer_from_node(node)(torch.zeros(2, 3, 4, 5)).shape == (2, 12, 5)
