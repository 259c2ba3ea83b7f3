#!/usr/bin/env python3
"""Writes the model-folder fixtures in tests/data/modelfolders/ with the real writers: files that
ordinary model folders contain and that matched no format before (red-team round 3, items 1, 3,
7, 8, 14, 20, 21). Every file must scan clean with no finding above `info`
(tests/model_folders.rs), and the tampered copies that test makes must not.

Pinned versions (the red team's, REPORT.md header), one venv per stack as they were written:
    tensorflow-cpu==2.21.0 keras==3.15.1 tf-keras==2.21.0         -> tf/
    torch==2.15.0 onnx==1.23.2 onnxruntime==1.32.0                -> torch/, onnx/ort/
    onnx==1.23.2 numpy==2.4.6                                     -> onnx/test_data_set_0/, onnx/subdir_location/
    jax==0.10.2 flax==0.12.8 orbax-checkpoint==0.12.8             -> orbax/, data/params.msgpack
    gensim==4.4.0 scipy spacy==3.8.18 soundfile                   -> data/
    python3 scripts/modelfolders_reference.py tests/data/modelfolders [part ...]

Parts: tf, torch, ort, onnx, orbax, data (default: all whose libraries import). The onnx part was
run with onnx 1.23.2 to write the committed files; the others were written by the same calls in
the red team's venvs and copied (small files only). The script only writes files; it never loads
a model back.
"""
import os
import shutil
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/data/modelfolders"
PARTS = set(sys.argv[2:]) or {"tf", "torch", "ort", "onnx", "orbax", "data"}


def tf_part():
    import tensorflow as tf
    import tf_keras

    class M(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.ones([4, 4]))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return tf.matmul(x, self.w)

    m = M()
    # saved_model.pb, fingerprint.pb, variables/variables.{index,data-00000-of-00001}
    tf.saved_model.save(m, f"{OUT}/tf/tf_module_savedmodel")
    # ckpt-1.index + ckpt-1.data-00000-of-00001 + checkpoint
    tf.train.Checkpoint(model=m).save(f"{OUT}/tf/tfckpt/ckpt")
    k = tf_keras.Sequential([tf_keras.layers.Dense(4, input_shape=(4,)), tf_keras.layers.Dense(2)])
    k.save_weights(f"{OUT}/tf/tfkeras_tfweights/ckpt")  # TF-format weights: ckpt.index + ckpt.data-*


def torch_part():
    import torch
    import torch.distributed.checkpoint as dcp

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.bn = torch.nn.BatchNorm2d(4)
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.bn(self.conv(x)).mean((2, 3)))

    m = Net()
    opt = torch.optim.AdamW(m.parameters())
    m(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    # __0_0.distcp: one torch.save archive per item, back to back; .metadata indexes them.
    dcp.save({"model": m.state_dict(), "optim": opt.state_dict()}, checkpoint_id=f"{OUT}/torch/dcp_ckpt")
    ep = torch.export.export(m.eval(), (torch.randn(1, 3, 8, 8),))
    os.makedirs(f"{OUT}/torch/pt2", exist_ok=True)
    torch.export.save(ep, f"{OUT}/torch/pt2/exported.pt2")


def ort_part():
    import onnxruntime as ort
    import torch

    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    m(torch.randn(1, 3, 8, 8))
    os.makedirs(f"{OUT}/onnx/ort", exist_ok=True)
    torch.onnx.export(m, (torch.randn(1, 3, 8, 8),), "/tmp/net.onnx", dynamo=False)
    so = ort.SessionOptions()
    so.optimized_model_filepath = f"{OUT}/onnx/ort/net.ort"
    so.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession("/tmp/net.onnx", so, providers=["CPUExecutionProvider"])


def onnx_part():
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    d = f"{OUT}/onnx/test_data_set_0"
    os.makedirs(d, exist_ok=True)
    # ONNX Model Zoo test data: one TensorProto per file.
    with open(f"{d}/input_0.pb", "wb") as f:
        f.write(numpy_helper.from_array(rng.standard_normal((1, 3, 8, 8)).astype(np.float32), "x").SerializeToString())
    with open(f"{d}/output_0.pb", "wb") as f:
        f.write(numpy_helper.from_array(np.array([[0.1, -0.2]], np.float32), "y").SerializeToString())
    with open(f"{d}/strings_0.pb", "wb") as f:
        f.write(numpy_helper.from_array(np.array(["a", "bc"], dtype=object), "s").SerializeToString())
    # External data written to a subdirectory (`location="weights/model.bin"`).
    w = numpy_helper.from_array(rng.standard_normal((64, 64)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 64])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    d = f"{OUT}/onnx/subdir_location"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(f"{d}/weights")
    onnx.save_model(model, f"{d}/model.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights/model.bin", size_threshold=1024)


def orbax_part():
    import jax.numpy as jnp
    import orbax.checkpoint as ocp
    from flax import serialization

    state = {"params": {"dense": {"kernel": jnp.ones((32, 32)) * 0.5, "bias": jnp.zeros(32)}}, "step": 10}
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(os.path.abspath(f"{OUT}/orbax/std_ckpt"), state)
    ckptr.wait_until_finished()
    os.makedirs(f"{OUT}/data", exist_ok=True)
    with open(f"{OUT}/data/params.msgpack", "wb") as f:
        f.write(serialization.to_bytes({"w": jnp.ones(9), "b": jnp.zeros(3)}))


def data_part():
    import numpy as np
    import scipy.io
    import soundfile
    import spacy
    from gensim.models import KeyedVectors

    d = f"{OUT}/data"
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    kv = KeyedVectors(vector_size=8)
    kv.add_vectors(["world", "learning", "model", "data", "vector"], rng.standard_normal((5, 8)).astype(np.float32))
    kv.save_word2vec_format(f"{d}/w2v.bin", binary=True)
    arrays = {"x": rng.standard_normal((10, 10)), "labels": np.arange(10)}
    scipy.io.savemat(f"{d}/data_v4.mat", arrays, format="4")
    scipy.io.savemat(f"{d}/data_v5.mat", arrays)
    scipy.io.savemat(f"{d}/data_v5_compressed.mat", {"big": rng.standard_normal((100, 100))}, do_compression=True)
    soundfile.write(f"{d}/sample.mp3", np.sin(np.linspace(0, 440 * 2 * np.pi, 8000)).astype(np.float32), 8000)
    nlp = spacy.blank("en")
    nlp.to_disk("/tmp/spacy_blank")
    os.makedirs(f"{d}/spacy_vocab", exist_ok=True)
    for name in ("key2row", "lookups.bin"):
        shutil.copy(f"/tmp/spacy_blank/vocab/{name}", f"{d}/spacy_vocab/{name}")


for part, fn in [("tf", tf_part), ("torch", torch_part), ("ort", ort_part), ("onnx", onnx_part),
                 ("orbax", orbax_part), ("data", data_part)]:
    if part in PARTS:
        try:
            fn()
            print(f"{part}: written")
        except ImportError as e:
            print(f"{part}: skipped ({e})")
