#!/usr/bin/env python3
"""Writes the framework-format reference fixtures in tests/data/framework/ with the real writers.

Pinned versions (install into a venv; needs PyPI, nothing else):
    python3 -m venv /tmp/venv-fw
    /tmp/venv-fw/bin/pip install keras==3.12.0 jax==0.8.1 jaxlib==0.8.1 h5py==3.15.1 numpy==2.4.6
    KERAS_BACKEND=jax /tmp/venv-fw/bin/python scripts/framework_reference.py tests/data/framework

Every file written here is an ordinary model or data file: the scanner must call each `clean`
with no finding above `info` (tests/framework_reference.rs). The script only writes files; it
never loads one back.
"""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402


def keras_models(out):
    keras.utils.set_random_seed(0)
    seq = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)]
    )
    seq.compile(optimizer="adam", loss="mse")
    seq.save(os.path.join(out, "keras3_sequential.keras"))
    # The legacy HDF5 format, as Keras 3 still writes it.
    seq.save(os.path.join(out, "keras3_legacy.h5"))

    inp = keras.Input((6,), name="x")
    shared = keras.layers.Dense(3, name="shared")
    a = shared(inp)
    b = shared(keras.layers.Dense(6)(inp))
    merged = keras.layers.Concatenate()([a, b])
    out_t = keras.layers.Dense(1, activation="sigmoid")(merged)
    fn = keras.Model(inp, out_t, name="functional_shared")
    fn.save(os.path.join(out, "keras3_functional_shared.keras"))

    img = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, activation="relu")(img)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(img, keras.layers.Dense(2, activation="softmax")(x)).save(
        os.path.join(out, "keras3_cnn.keras")
    )


def keras_lambda(out):
    """A benign Lambda layer: ordinary, but its marshalled bytecode runs at load time, so the
    scanner calls it `suspicious` (never `malicious`); written to tests/data/framework/lambda/."""
    lam = os.path.join(out, "lambda")
    os.makedirs(lam, exist_ok=True)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2.0 + 1.0)])
    m.save(os.path.join(lam, "keras3_lambda.keras"))
    m.save(os.path.join(lam, "keras3_lambda_legacy.h5"))


def h5py_files(out):
    data = np.arange(12, dtype="float32").reshape(3, 4)
    for libver in ["earliest", "v108", "v110", "latest"]:
        path = os.path.join(out, f"h5py_{libver}.h5")
        with h5py.File(path, "w", libver=(libver, "latest") if libver != "latest" else "latest") as f:
            f.attrs["title"] = "reference"
            f.attrs["keras_version"] = b"3.12.0"
            g = f.create_group("weights/layer0")
            g.create_dataset("kernel", data=data)
            g.create_dataset("bias", data=np.zeros(4, "float32"), chunks=(4,), compression="gzip")
            g.attrs["names"] = [b"kernel", b"bias"]
            f["alias"] = h5py.SoftLink("/weights/layer0/kernel")
            many = f.create_group("many")
            for i in range(20):
                many.create_dataset(f"d{i:02d}", data=np.full(2, i, "int16"))
                many.attrs[f"a{i:02d}"] = i
    with h5py.File(os.path.join(out, "h5py_userblock.h5"), "w", userblock_size=512) as f:
        f.create_dataset("x", data=data)
    with open(os.path.join(out, "h5py_userblock.h5"), "r+b") as fh:
        fh.write(b"reference user block: plain notes\n")


def h5py_attacks(out):
    """Hostile HDF5 files written by h5py itself (tests/data/framework/attacks/): external links,
    external raw storage and virtual datasets reading files outside the model, in old-style
    (libver earliest) and new-style (libver latest) object headers. Expected `malicious`."""
    d = os.path.join(out, "attacks")
    os.makedirs(d, exist_ok=True)
    for libver in ["earliest", "latest"]:
        kw = {"libver": libver}
        with h5py.File(os.path.join(d, f"external_link_abs_{libver}.h5"), "w", **kw) as f:
            f["w"] = np.zeros(2, "float32")
            f["leak"] = h5py.ExternalLink("/etc/passwd", "/data")
        with h5py.File(os.path.join(d, f"external_storage_abs_{libver}.h5"), "w", **kw) as f:
            f.create_dataset("leak", shape=(64,), dtype="u1", external=[("/etc/passwd", 0, 64)])
        with h5py.File(os.path.join(d, f"virtual_dotdot_{libver}.h5"), "w", **kw) as f:
            layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
            layout[:] = h5py.VirtualSource("../../secret/weights.h5", "data", shape=(4,))
            f.create_virtual_dataset("v", layout, fillvalue=0)
    # Many links and attributes push new-style groups into dense (fractal heap) storage.
    with h5py.File(os.path.join(d, "external_link_dense_latest.h5"), "w", libver="latest") as f:
        g = f.create_group("g")
        for i in range(30):
            g[f"d{i:02d}"] = np.zeros(1, "int8")
        g["zz_leak"] = h5py.ExternalLink("/etc/shadow", "/x")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    keras_models(out)
    keras_lambda(out)
    h5py_files(out)
    h5py_attacks(out)


if __name__ == "__main__":
    main()
