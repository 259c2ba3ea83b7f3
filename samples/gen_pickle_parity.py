"""Samples for issue 12: pickle verdicts that match what CPython's unpickler does.

Each malicious sample uses a trick from published pickle-scanner bypass research with a harmless
payload (`echo quarantine-sample`): operand forms `_pickle.c` accepts (base-0 INT, `L` suffix,
text cut at a NUL), memo bookkeeping (a sparse PUT re-read after the memo grows), a payload past
a layout the scanner cannot skip (salvage), private module aliases, typing forward-reference
evaluation, subinterpreters, namespace `__getitem__`, numpy's `_ufunc_reconstruct` as an import
primitive, `getattr` of file methods and `functools.partial` whose state rebinds it. The benign
samples are CPython's own reduce idioms that must stay clean. Standard library only; pickles are
written opcode by opcode and never unpickled.
"""

from __future__ import annotations

import struct

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"
CMD = "echo quarantine-sample"


def u(text: str) -> bytes:
    """SHORT_BINUNICODE (or BINUNICODE when long)."""
    raw = text.encode()
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return b"X" + struct.pack("<I", len(raw)) + raw


def sg(module: str, name: str) -> bytes:
    """STACK_GLOBAL over two strings."""
    return u(module) + u(name) + b"\x93"


def p4(body: bytes) -> bytes:
    """A protocol 4 stream with one frame around `body` (which ends in STOP)."""
    return b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body


P0_SYSTEM = b"cposix\nsystem\n(S'" + CMD.encode() + b"'\ntR."


def memo_sparse_reput() -> bytes:
    # CPython keeps one memo: PUT 2000 stores 'posix' however far the index is; a later
    # LONG_BINGET 2000 finds it even after other PUTs grow the memo past index 2000.
    body = (
        u("posix") + b"r" + struct.pack("<I", 2000) + b"0"
        + b"N" + b"r" + struct.pack("<I", 1000) + b"0"
        + b"N" + b"r" + struct.pack("<I", 2001) + b"0"
        + b"j" + struct.pack("<I", 2000) + u("system") + b"\x93"
        + u(CMD) + b"\x85R."
    )
    return p4(body)


def joblib_unreadable_dtype() -> tuple[bytes, list]:
    """A joblib stream whose NumpyArrayWrapper has a dtype built by calling the DType class
    (`numpy.dtypes.Float64DType()`), which numpy accepts and the scanner cannot size; joblib
    reads the array bytes and goes on with the stream, where the payload is."""
    state = (
        b"}(" + u("subclass") + sg("numpy", "ndarray")
        + u("shape") + b"K\x01\x85"
        + u("order") + u("C")
        + u("dtype") + sg("numpy.dtypes", "Float64DType") + b")R"
        + u("allow_mmap") + b"\x89"
        + u("numpy_array_alignment_bytes") + b"N"
        + b"u"
    )
    head = b"\x80\x04" + sg("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"b"
    array = struct.pack("<d", 1.0)
    tail = sg("posix", "system") + u(CMD) + b"\x85R\x86."
    data = head + array + tail
    return data, [(len(head), len(head) + len(array))]


def forward_ref() -> bytes:
    expr = "__import__('os').system('" + CMD + "')"
    body = (
        sg("typing", "_eval_type") + sg("typing", "ForwardRef") + u(expr) + b"\x85R"
        + b"}}\x87R."
    )
    return p4(body)


def run_string() -> bytes:
    code = "import os; os.system('" + CMD + "')"
    return p4(sg("_xxsubinterpreters", "run_string") + b"K\x00" + u(code) + b"\x86R.")


def namespace_getitem() -> bytes:
    body = (
        sg("builtins", "__dict__.__getitem__") + u("exec") + b"\x85R"
        + u("import os; os.system('" + CMD + "')") + b"\x85R."
    )
    return p4(body)


def private_alias() -> bytes:
    return p4(sg("random", "_os.system") + u(CMD) + b"\x85R.")


def private_alias_module() -> bytes:
    body = (
        sg("builtins", "getattr") + sg("random", "_os") + u("system") + b"\x86R"
        + u(CMD) + b"\x85R."
    )
    return p4(body)


def ufunc_reconstruct() -> bytes:
    body = (
        sg("numpy.core", "_ufunc_reconstruct") + u("posix") + u("system") + b"\x86R"
        + u(CMD) + b"\x85R."
    )
    return p4(body)


def helper_invokes_result() -> bytes:
    body = (
        sg("numpy.random._pickle", "__randomstate_ctor") + u(CMD)
        + sg("numpy._core", "_ufunc_reconstruct") + u("posix") + u("system") + b"\x86R"
        + b"\x86R."
    )
    return p4(body)


def getattr_write_text() -> bytes:
    body = (
        sg("builtins", "getattr") + sg("pathlib", "PosixPath") + u("write_text") + b"\x86R"
        + sg("pathlib", "PosixPath") + u("/tmp/quarantine-sample") + b"\x85R"
        + u(CMD) + b"\x86R."
    )
    return p4(body)


def partial_rebound() -> bytes:
    # functools.partial(str) whose BUILD state swaps the function for posix.system.
    body = (
        sg("functools", "partial") + sg("builtins", "str") + b"\x85R"
        + b"(" + sg("posix", "system") + u(CMD) + b"\x85NNt" + b"b."
    )
    return p4(body)


# --- benign ---------------------------------------------------------------------------------


def getattr_str_lower() -> bytes:
    # CountVectorizer(preprocessor=str.lower): the method descriptor pickles as getattr.
    body = b"}" + u("preprocessor") + sg("builtins", "getattr") + sg("builtins", "str") + u("lower") + b"\x86Rs."
    return p4(body)


def partial_int() -> bytes:
    # functools.partial(int, base=2), as pickle writes it: REDUCE then BUILD with the state.
    body = (
        sg("functools", "partial") + sg("builtins", "int") + b"\x94\x85R"
        + b"(h\x00)}" + u("base") + b"K\x02sNt" + b"b."
    )
    return p4(body)


def zoneinfo_unpickle() -> bytes:
    body = (
        sg("builtins", "getattr") + sg("zoneinfo", "ZoneInfo") + u("_unpickle") + b"\x86R"
        + u("Europe/Paris") + b"K\x01\x86R."
    )
    return p4(body)


def posix_path_313() -> bytes:
    return p4(sg("pathlib._local", "PosixPath") + u("/srv") + u("models") + u("model.bin") + b"\x87R.")


def protocol0_int_forms() -> bytes:
    return b"(I0x10\nI010\nL0o17L\nI1_000\nI7\x00 ignored\nF1.5\nl."


def ufunc_numpy_add() -> bytes:
    # numpy 1.x pickles a ufunc as _ufunc_reconstruct('numpy', 'add').
    return b"\x80\x02cnumpy.core\n_ufunc_reconstruct\nX\x05\x00\x00\x00numpyX\x03\x00\x00\x00add\x86R."


def samples(register, ok):
    def add(path, expected, *findings, desc, build, valid=True):
        def made():
            data = build()
            if isinstance(data, tuple):
                data, spans = data
                return ok(data, spans)
            return ok(data) if valid else data
        register(path, expected, *findings, desc=desc, build=made)

    add("malicious/parity_int_hex_operand.pkl", MALICIOUS,
        ("PKL001", "posix.system('echo quarantine-sample')"),
        desc="protocol 0: INT 0x10 (CPython parses INT with base 0) popped, then posix.system; "
             "all ASCII, looks like text",
        build=lambda: b"I0x10\n0" + P0_SYSTEM, valid=False)
    add("malicious/parity_long_suffix_octal.pkl", MALICIOUS,
        ("PKL001", "posix.system('echo quarantine-sample')"),
        desc="protocol 0: LONG 0o17L (base 0 with the L suffix dropped) popped, then posix.system",
        build=lambda: b"L0o17L\n0" + P0_SYSTEM, valid=False)
    add("malicious/parity_int_nul_cut.pkl", MALICIOUS,
        ("PKL001", "posix.system('echo quarantine-sample')"),
        desc="protocol 0: INT operand 7 followed by a NUL and junk (C's strtol stops at the NUL), "
             "then posix.system",
        build=lambda: b"I7\x00 ignored\n0" + P0_SYSTEM, valid=False)
    add("malicious/parity_memo_sparse_reput.pkl", MALICIOUS,
        ("PKL001", "posix.system('echo quarantine-sample')"),
        desc="module name stored at memo index 2000, the memo grown past it by other PUTs, then "
             "LONG_BINGET 2000 feeds STACK_GLOBAL: posix.system",
        build=memo_sparse_reput)
    add("malicious/salvage_joblib_dtype_call.joblib", MALICIOUS,
        ("PKL001", "posix.system('echo quarantine-sample')"),
        desc="joblib NumpyArrayWrapper whose dtype is numpy.dtypes.Float64DType() (the scanner "
             "cannot size the array), array bytes, then posix.system in the same stream",
        build=joblib_unreadable_dtype)
    add("malicious/private_alias_random_os.pkl", MALICIOUS,
        ("PKL001", "random._os.system('echo quarantine-sample')"),
        desc="STACK_GLOBAL random / _os.system: a private module alias reaching os.system",
        build=private_alias)
    add("malicious/private_alias_module_object.pkl", MALICIOUS,
        ("PKL001", "random._os"),
        desc="the module object random._os (os) handed to getattr(…, 'system')",
        build=private_alias_module)
    add("malicious/typing_forward_ref_eval.pkl", MALICIOUS,
        ("PKL001", "typing._eval_type"),
        desc="typing._eval_type(ForwardRef(\"__import__('os').system(…)\"), {}, {}): forward-"
             "reference evaluation is eval",
        build=forward_ref)
    add("malicious/subinterpreter_run_string.pkl", MALICIOUS,
        ("PKL001", "_xxsubinterpreters.run_string(0,"),
        desc="_xxsubinterpreters.run_string(0, source): runs source in a subinterpreter",
        build=run_string)
    add("malicious/namespace_getitem_exec.pkl", MALICIOUS,
        ("PKL001", "builtins.__dict__.__getitem__('exec')"),
        desc="builtins.__dict__.__getitem__('exec') called with source: __getitem__ on a namespace",
        build=namespace_getitem)
    add("malicious/ufunc_reconstruct_posix_system.pkl", MALICIOUS,
        ("PKL001", "_ufunc_reconstruct('posix', 'system')"),
        desc="numpy.core._ufunc_reconstruct('posix', 'system') imports posix.system by name; "
             "its result is called",
        build=ufunc_reconstruct)
    add("malicious/helper_invokes_resolved_global.pkl", MALICIOUS,
        ("PKL001", "_ufunc_reconstruct('posix', 'system')"), ("PKL007", "__randomstate_ctor"),
        desc="numpy's __randomstate_ctor calls its second argument with its first: here "
             "_ufunc_reconstruct('posix', 'system')",
        build=helper_invokes_result)
    add("malicious/getattr_posix_path_write_text.pkl", MALICIOUS,
        ("PKL001", "getattr(pathlib.PosixPath, 'write_text')"),
        desc="getattr(PosixPath, 'write_text') called on a path: a file method is not on the "
             "list of side-effect-free methods",
        build=getattr_write_text)
    add("malicious/partial_state_rebinds.pkl", MALICIOUS,
        ("PKL001", "posix.system"),
        desc="functools.partial(str) whose BUILD state rebinds the function to posix.system",
        build=partial_rebound)

    add("benign/getattr_str_lower.pkl", CLEAN,
        desc="{'preprocessor': getattr(str, 'lower')}: how CPython pickles str.lower (scikit-learn "
             "text vectorisers)",
        build=getattr_str_lower)
    add("benign/partial_int_base2.pkl", CLEAN,
        desc="functools.partial(int, base=2) as pickle writes it (REDUCE, then BUILD with the state)",
        build=partial_int)
    add("benign/zoneinfo_unpickle.pkl", CLEAN,
        desc="getattr(zoneinfo.ZoneInfo, '_unpickle')('Europe/Paris', 1): every tz-aware pandas frame",
        build=zoneinfo_unpickle)
    add("benign/pathlib_local_posix_path_py313.pkl", CLEAN,
        desc="Python 3.13 pathlib._local.PosixPath('/srv', 'models', 'model.bin'), hand-built from "
             "the 3.13 source",
        build=posix_path_313)
    add("benign/protocol0_int_forms.pkl", CLEAN,
        desc="protocol 0 list of INT 0x10, INT 010 (C octal), LONG 0o17L, INT 1_000, INT 7 cut at "
             "a NUL, FLOAT 1.5",
        build=protocol0_int_forms, valid=False)
    add("benign/ufunc_reconstruct_numpy_add.pkl", CLEAN,
        desc="numpy 1.x ufunc pickle: numpy.core._ufunc_reconstruct('numpy', 'add')",
        build=ufunc_numpy_add)
