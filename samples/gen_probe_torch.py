"""Samples for the robustness probe on PyTorch checkpoints (imported by generate.py, stdlib only):
an MLP state dict in torch.save's zip layout (the probe reads the tensors from data/<key> and runs
the MLP), the same MLP as a legacy torch.save file, and checkpoints whose declared tensors do not
fit their storages (the probe skips them with the reason)."""

from __future__ import annotations

import struct


def f32(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def mlp_tensors() -> list:
    """Two layers, 8-4-2, as gen_probe's MLP: the first passes features 0-3 through, the second
    decides on x0. (key, storage key, shape, float32 data), with the state-dict names of an
    nn.Sequential."""
    first = [1.0 if c == r else 0.0 for r in range(4) for c in range(8)]
    second = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    return [
        ("net.0.weight", "0", (4, 8), f32(*first)),
        ("net.0.bias", "1", (4,), f32(0.0, 0.0, 0.0, 0.0)),
        ("net.2.weight", "2", (2, 4), f32(*second)),
        ("net.2.bias", "3", (2,), f32(0.0, 0.5)),
    ]


def samples(register, g) -> None:
    """`g`: the generate module (its pickle encoder and torch layouts)."""
    tensors = mlp_tensors()
    register("benign/probe_mlp_torch.pt", "clean",
             desc="torch.save zip checkpoint of a two-layer MLP state dict (net.0, net.2; 8-4-2): the probe "
                  "reads the tensors from archive/data/<key> and runs the MLP",
             build=lambda: g.torch_zip(g.ok_dumps(g.state_dict(tensors), 2), tensors=tensors))
    register("benign/probe_mlp_legacy.pt", "clean",
             desc="the same MLP as a legacy (non-zip) torch.save file: the probe reads the storages after the key list",
             build=lambda: g.legacy_torch(g.ok_dumps(g.state_dict(tensors, legacy=True), 2), tensors=tensors))
    # The pickle declares net.0.weight as 4x16 over a storage of 32 floats: torch.load would
    # refuse to set it up; the probe skips it and reads the rest.
    overrun = [(n, k, (4, 16) if n == "net.0.weight" else s, d) for n, k, s, d in tensors]
    storages = tensors
    register("benign/probe_torch_overrun.pt", "clean",
             desc="torch zip checkpoint whose data.pkl declares net.0.weight as 4x16 over a 32-float storage: "
                  "the probe skips that tensor with the reason (past the end of its storage) and reads the rest",
             build=lambda: g.torch_zip(g.ok_dumps(g.state_dict(overrun), 2), tensors=storages))
