#!/usr/bin/env python3
"""Differential oracle for the pickle analyser (stdlib only; driven by tests/pickle_oracle.rs).

CPython's own `pickle.Unpickler` (the C `_pickle` implementation) reads each file with
`find_class` and `persistent_load` overridden: every global it asks for is recorded and answered
with an inert recorder class, so nothing the pickle names is ever imported or called. The
recorder accepts every call, attribute, item and state the stream applies to it.

    pickle_oracle.py globals FILE...          one JSON line per file: the globals requested
    pickle_oracle.py mutate SEED COUNT DIR FILE...
                                              write COUNT mutated streams of the given seed
                                              files into DIR (structure-aware: operand forms,
                                              memo and frame tricks), then print their globals

A JSON line is {"file": path, "globals": [[module, name, complete], ...]}: `complete` is true
when the stream was read to its STOP (false: CPython failed later, after requesting it).
Streams that follow a STOP are read too, as loaders of multi-stream files do.
"""

import importlib.util
import io
import json
import os
import pickle
import pickletools
import random
import resource
import struct
import sys


class Recorder:
    """Inert stand-in for anything the pickle names or builds."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return Recorder()

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Recorder()

    def append(self, item):
        pass

    def extend(self, items):
        pass

    def add(self, item):
        pass


class Oracle(pickle.Unpickler):
    def __init__(self, file, seen):
        super().__init__(file, encoding="latin1")
        self.seen = seen

    def find_class(self, module, name):
        # `__import__` refuses an empty module name or component before importing anything:
        # such a request reaches nothing, so it is not recorded.
        if not module or any(not part for part in module.split(".")):
            raise ModuleNotFoundError(module)
        self.seen.append([module, name])
        # A fresh class per request: NEWOBJ needs a type, REDUCE and INST call it.
        return type("R", (Recorder,), {})

    def persistent_load(self, pid):
        return Recorder()


MAX_STREAMS = 64


def requested(data):
    out = []
    f = io.BytesIO(data)
    for _ in range(MAX_STREAMS):
        start = f.tell()
        if start >= len(data):
            break
        seen = []
        try:
            Oracle(f, seen).load()
            ok = True
        except BaseException:  # noqa: BLE001 - any failure ends the reading, as in a loader
            ok = False
        out.extend([m, n, ok] for m, n in seen)
        if not ok or f.tell() <= start:
            break
        rest = data[f.tell():]
        if not rest.strip(b"\x00\n\r \t"):
            break
    return out


def real_module(module):
    """Whether the top-level package of `module` exists here (found, not imported)."""
    root = module.split(".")[0]
    if not root.isidentifier():
        return False
    try:
        return importlib.util.find_spec(root) is not None
    except (ImportError, ValueError):
        return False


def report(path, data):
    globs = [[m, n, ok] for m, n, ok in requested(data) if ok or real_module(m)]
    print(json.dumps({"file": path, "globals": globs}), flush=True)


# --- structure-aware mutator --------------------------------------------------------------

def ops_of(data):
    try:
        return [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    except Exception:  # noqa: BLE001
        return None


def uni(text):
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return b"X" + struct.pack("<I", len(raw)) + raw


def int_forms(n, rng):
    forms = [
        b"I%d\n" % n,
        b"I%s\n" % hex(n).encode(),
        b"I%s\n" % oct(n).replace("o", "").encode() if n > 0 else b"I0\n",
        b"I0o%o\n" % n if n >= 0 else b"I-0o%o\n" % -n,
        b"I0b%s\n" % bin(n)[2:].encode() if n >= 0 else b"I%d\n" % n,
        b"I %d\n" % n,
        b"I%d\x00junk\n" % n,
        b"L%dL\n" % n,
        b"L%s\n" % hex(n).encode(),
    ]
    if n >= 10:
        s = str(n)
        forms.append(b"I" + (s[0] + "_" + s[1:]).encode() + b"\n")
    return rng.choice(forms)


def str_forms(text, rng):
    forms = [uni(text)]
    try:
        latin = text.encode("latin-1")
        forms.append(b"V" + latin.replace(b"\\", b"\\u005c").replace(b"\n", b"\\u000a") + b"\n")
        ascii_ok = all(32 <= b < 127 and b not in b"'\\" for b in latin)
        if ascii_ok and latin:
            esc = "".join("\\x%02x" % b if rng.random() < 0.3 else chr(b) for b in latin)
            forms.append(b"S'" + esc.encode() + b"'\n")
            octal = "".join("\\%03o" % b if rng.random() < 0.3 else chr(b) for b in latin)
            forms.append(b'S"' + octal.encode() + b'"\n')
        if len(latin) < 256:
            forms.append(b"U" + bytes([len(latin)]) + latin)
        forms.append(b"\x8d" + struct.pack("<Q", len(text.encode())) + text.encode())
    except UnicodeEncodeError:
        pass
    return rng.choice(forms)


def mutate(data, rng):
    """Re-encodes the stream opcode by opcode with alternative operand forms and memo/frame
    tricks. The result need not mean the same thing: the oracle reads the mutant itself."""
    ops = ops_of(data)
    if not ops:
        return bytes(rng.getrandbits(8) for _ in range(8)) + data
    out = bytearray()
    memo_len = 0
    used = set()
    for name, arg in ops:
        r = rng.random()
        if name in ("FRAME",):
            if r < 0.5:
                continue
            out += b"\x95" + struct.pack("<Q", rng.choice([0, 1, 9, 1 << 20]))
            continue
        if name == "MEMOIZE":
            if r < 0.25:
                out += b"q" + bytes([memo_len & 0xFF]) if memo_len < 256 else b"\x94"
            elif r < 0.4:
                out += b"p%d\n" % memo_len
            elif r < 0.5:
                out += b"r" + struct.pack("<I", memo_len)
            else:
                out += b"\x94"
            used.add(memo_len)
            memo_len += 1
            if rng.random() < 0.1:
                # A far, sparse index makes the memo longer: later MEMOIZEs shift.
                far = 5000 + rng.randrange(100000)
                out += b"r" + struct.pack("<I", far)
                if far not in used:
                    used.add(far)
                    memo_len += 1
            continue
        if name in ("BINPUT", "LONG_BINPUT", "PUT"):
            idx = arg
            if r < 0.3:
                out += b"p%d\n" % idx
            elif r < 0.5:
                out += b"r" + struct.pack("<I", idx)
            elif r < 0.6 and idx < 256:
                out += b"q" + bytes([idx])
            else:
                out += {"BINPUT": b"q" + bytes([idx & 0xFF]) if idx < 256 else b"r" + struct.pack("<I", idx),
                        "LONG_BINPUT": b"r" + struct.pack("<I", idx),
                        "PUT": b"p%d\n" % idx}[name]
            if idx not in used:
                used.add(idx)
                memo_len += 1
            if rng.random() < 0.1 and used:
                # Re-PUT an existing index: an overwrite, the memo does not grow.
                again = rng.choice(sorted(used))
                out += b"r" + struct.pack("<I", again)
            continue
        if name in ("BINGET", "LONG_BINGET", "GET"):
            idx = arg
            choice = rng.random()
            if choice < 0.3:
                out += b"g%d\n" % idx
            elif choice < 0.5:
                out += b"j" + struct.pack("<I", idx)
            elif choice < 0.6:
                out += b"g%s\n" % ("0" * rng.randrange(1, 3) + str(idx)).encode()
            else:
                out += b"h" + bytes([idx]) if idx < 256 else b"j" + struct.pack("<I", idx)
            continue
        if name in ("BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1") and isinstance(arg, int) and not isinstance(arg, bool) and r < 0.6:
            out += int_forms(arg, rng)
            continue
        if name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "STRING", "SHORT_BINSTRING", "BINSTRING") and isinstance(arg, str) and r < 0.6:
            out += str_forms(arg, rng)
            continue
        if name == "GLOBAL" and r < 0.4:
            module, _, gname = arg.partition(" ")
            out += uni(module) + uni(gname) + b"\x93"
            continue
        if name == "STACK_GLOBAL" and r < 0.05:
            out += b"\x94"  # memoize the global as well
        if r > 0.97:
            out += rng.choice([b"(1", b"N0", b"\x80\x04", b"\x95" + struct.pack("<Q", 0)])
        out += encode_op(name, arg)
    if rng.random() < 0.15:
        out += rng.choice([b"cos\nsystem\n(S'echo quarantine-sample'\ntR.",
                           b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x05echo \x85R."])
    return bytes(out)


def encode_op(name, arg):
    """Writes one opcode back as pickletools decoded it."""
    code = pickletools.code2op if False else None  # noqa: F841 - keep linters quiet
    op = OPS[name]
    b = op.code.encode("latin-1")
    if arg is None:
        return b
    a = op.arg
    n = a.name
    if n == "uint1":
        return b + bytes([arg])
    if n == "uint2":
        return b + struct.pack("<H", arg)
    if n == "int4":
        return b + struct.pack("<i", arg)
    if n == "uint4":
        return b + struct.pack("<I", arg)
    if n == "uint8":
        return b + struct.pack("<Q", arg)
    if n == "float8":
        return b + struct.pack(">d", arg)
    if n in ("long1", "long4"):
        raw = pickle.encode_long(arg)
        return b + (bytes([len(raw)]) if n == "long1" else struct.pack("<i", len(raw))) + raw
    if n == "decimalnl_short":
        return b + (b"01" if arg is True else b"00" if arg is False else str(arg).encode()) + b"\n"
    if n == "decimalnl_long":
        return b + str(arg).encode() + b"L\n"
    if n == "floatnl":
        return b + repr(arg).encode() + b"\n"
    if n == "stringnl":
        return b + repr(arg).encode("latin-1", "backslashreplace") + b"\n" if isinstance(arg, str) else b + repr(arg)[1:].encode() + b"\n"
    if n == "stringnl_noescape":
        return b + arg.encode("utf-8", "surrogatepass") + b"\n"
    if n == "stringnl_noescape_pair":
        m, _, g = arg.partition(" ")
        return b + m.encode() + b"\n" + g.encode() + b"\n"
    if n == "unicodestringnl":
        return b + arg.encode("raw-unicode-escape") + b"\n"
    if n in ("string1", "bytes1"):
        raw = arg.encode("latin-1") if isinstance(arg, str) else arg
        return b + bytes([len(raw)]) + raw
    if n in ("string4",):
        raw = arg.encode("latin-1") if isinstance(arg, str) else arg
        return b + struct.pack("<i", len(raw)) + raw
    if n in ("bytes4",):
        return b + struct.pack("<I", len(arg)) + arg
    if n in ("bytes8", "bytearray8"):
        return b + struct.pack("<Q", len(arg)) + bytes(arg)
    if n == "unicodestring1":
        raw = arg.encode("utf-8", "surrogatepass")
        return b + bytes([len(raw)]) + raw
    if n == "unicodestring4":
        raw = arg.encode("utf-8", "surrogatepass")
        return b + struct.pack("<I", len(raw)) + raw
    if n == "unicodestring8":
        raw = arg.encode("utf-8", "surrogatepass")
        return b + struct.pack("<Q", len(raw)) + raw
    raise ValueError(n)


OPS = {op.name: op for op in pickletools.opcodes}


def main(argv):
    # A mutant can ask CPython's unpickler for a huge memo or string; cap the address space so
    # that it fails with MemoryError (a failed load, as in a real loader) instead of the
    # machine killing the oracle.
    limit = 3 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if len(argv) >= 2 and argv[1] == "globals":
        for path in argv[2:]:
            with open(path, "rb") as f:
                report(path, f.read())
        return 0
    if len(argv) >= 5 and argv[1] == "mutate":
        seed, count, outdir = int(argv[2]), int(argv[3]), argv[4]
        seeds = []
        for path in argv[5:]:
            with open(path, "rb") as f:
                data = f.read()
            if ops_of(data):
                seeds.append(data)
        rng = random.Random(seed)
        os.makedirs(outdir, exist_ok=True)
        for i in range(count if seeds else 0):
            data = rng.choice(seeds)
            for _ in range(rng.randrange(1, 3)):
                try:
                    data = mutate(data, rng)
                except (ValueError, TypeError, struct.error, OverflowError):
                    break
            path = os.path.join(outdir, "mutant-%05d.pkl" % i)
            with open(path, "wb") as f:
                f.write(data)
            report(path, data)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
