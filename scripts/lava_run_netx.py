"""Run a netx HDF5 network in Lava (bit-accurate fixed point) on spikes; needs lava-dl (scripts/lava_env.sh).

    python scripts/lava_run_netx.py NETWORK.net X.npy OUT.npy

X.npy holds 0/1 spikes [T, n_in], or [T, C, H, W] for a network whose first layer is a
convolution (Lava's layout is WHC: the script transposes); OUT.npy receives Lava's output spikes [T, n_out]. Lava runs the
network with ``Loihi2SimCfg(select_tag="fixed_pt")`` (``PyLifModelBitAcc``); every netx layer adds
one step of latency.
"""
from __future__ import annotations

import sys

import numpy as np
from lava.lib.dl import netx
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc import io


def main(network: str, x_path: str, out_path: str) -> None:
    x = np.load(x_path)
    steps = x.shape[0]
    net = netx.hdf5.Network(net_config=network)
    source = io.source.RingBuffer(data=np.transpose(x, tuple(range(x.ndim - 1, -1, -1))).astype(np.int32))  # [T, C, H, W] -> WHC x T
    sink = io.sink.RingBuffer(shape=net.out.shape, buffer=steps)
    source.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    out = sink.data.get().T
    net.stop()
    np.save(out_path, out)
    print(f"{len(net)} layers, {int(out.sum())} output spikes in {steps} steps")


if __name__ == "__main__":
    main(*sys.argv[1:4])
