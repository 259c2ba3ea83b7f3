#!/usr/bin/env python3
"""Generate signatures/hydra-targets.tsv: the `_target_` paths NeMo configurations may name.

Hydra's `_locate("a.b.C")` imports the longest importable module prefix and walks the rest as
attributes, then calls what it found with the sibling keys. The NeMo analyser accepts a target
only when this table lists it (and the pickle import policy does not deny it): every public
class that NeMo, PyTorch (torch.nn, torch.optim, torch.utils.data), Lightning, torchmetrics,
Megatron-Core and OmegaConf define, by the paths `_locate` reaches it under: its defining
module, a public package's re-export (`nemo.collections.asr.models.EncDecCTCModel`, through
`from .ctc_models import EncDecCTCModel` in the package's `__init__.py`, or `from x import *`)
and module-level aliases (`Name = OtherClass`).

The wheels are read statically (Python's `ast` over their `.py` sources; nothing is imported
or installed), so torch comes from its small macOS wheel (the Python sources are the same on
every platform). Three NeMo releases are unioned (1.x configs name the NLP collections that 2.x
and 3.x moved or dropped):

    mkdir -p /tmp/hydra-wheels && cd /tmp/hydra-wheels
    for v in 1.23.0 2.7.3 3.0.0; do pip download --no-deps nemo_toolkit==$v; done
    pip download --no-deps lightning==2.6.6 pytorch_lightning==2.6.6 torchmetrics==1.9.0 \\
        megatron-core==0.16.1 omegaconf==2.4.0
    pip download --no-deps --only-binary=:all: --platform macosx_11_0_arm64 \\
        --python-version 3.11 torch==2.11.0
    cd - && python3 scripts/hydra_targets.py /tmp/hydra-wheels

Functions: a function target is called with whatever arguments the configuration gives (or
bound by `_partial_`), and a package's public functions include ones that write files, spawn
compilers or load other checkpoints; so functions are listed only from modules reviewed as
pure computation: `torch.nn.functional` (activations a Megatron/NeMo 2 config names with
`_call_: false`), `torch.nn.init` (initialisers), and NeMo 2's step and layer-spec functions
that its GPT configurations reference. Everything else that is not a class is left out.

Columns (tab-separated, sorted): target, kind (class or function), canonical (`module:qualname`
where the class is defined; empty when it is the target itself). Rows whose path or canonical
home the pickle deny list covers, private paths and test modules are left out.
"""

from __future__ import annotations

import ast
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pickle_names import denied  # noqa: E402  (the deny list read once, the same way)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "signatures" / "hydra-targets.tsv"

NEMO_PINS = ["1.23.0", "2.7.3", "3.0.0"]
OTHER_PINS = {
    "torch": "2.11.0",
    "lightning": "2.6.6",
    "pytorch_lightning": "2.6.6",
    "torchmetrics": "1.9.0",
    "megatron_core": "0.16.1",
    "omegaconf": "2.4.0",
}
# The packages the analyser's HYDRA_PACKAGES names: only modules under these are enumerated.
PACKAGES = [
    "nemo.collections", "nemo.core", "nemo.lightning", "nemo.utils.exp_manager", "torch.nn",
    "torch.optim", "torch.utils.data", "torchmetrics", "lightning.pytorch", "pytorch_lightning",
    "megatron.core", "omegaconf",
]
# Modules whose public functions are reviewed as pure computation (see the docstring).
FUNCTION_MODULES = {"torch.nn.functional", "torch.nn.init"}
FUNCTIONS = {
    "nemo.collections.llm.gpt.model.base": {
        "gpt_data_step", "gpt_forward_step", "default_layer_spec", "local_layer_spec",
        "transformer_engine_layer_spec", "transformer_engine_full_layer_spec",
    },
}
# Tests, examples, demos (Lightning's download data) and vendored third-party code
# (OmegaConf's ANTLR runtime) are no configuration's target.
SKIP_PARTS = {"tests", "test", "testing", "examples", "conftest", "demos", "vendor"}


def in_scope(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PACKAGES)


def public(path: str) -> bool:
    return not any(part.startswith("_") or part in SKIP_PARTS for part in path.split("."))


@dataclass
class Module:
    name: str
    is_package: bool
    # name -> ("class" | "function", qualname)
    defs: dict[str, str] = field(default_factory=dict)
    # name -> module imported (`import a.b as c`, `from a import b` where a.b is a module)
    # or (module, attribute) of `from a import b`
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    # name -> dotted expression it is assigned (`Alias = pkg.Class`)
    aliases: dict[str, str] = field(default_factory=dict)
    stars: list[str] = field(default_factory=list)
    all_names: list[str] | None = None


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def function_alias(node: ast.expr) -> bool:
    """torch.nn.functional's `relu_ = _add_docstr(torch.relu_, ...)` and `boolean_dispatch`."""
    return isinstance(node, ast.Call) and dotted(node.func) in {"_add_docstr", "boolean_dispatch"}


def top_statements(body: list[ast.stmt]):
    """Module-level statements, through `try`/`if` blocks (not `if TYPE_CHECKING:`)."""
    for stmt in body:
        if isinstance(stmt, ast.Try):
            yield from top_statements(stmt.body)
            for handler in stmt.handlers:
                yield from top_statements(handler.body)
            yield from top_statements(stmt.orelse)
        elif isinstance(stmt, ast.If):
            if "TYPE_CHECKING" in ast.unparse(stmt.test):
                yield from top_statements(stmt.orelse)
                continue
            yield from top_statements(stmt.body)
            yield from top_statements(stmt.orelse)
        else:
            yield stmt


def read_module(name: str, is_package: bool, source: bytes) -> Module | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    module = Module(name, is_package)
    package = name if is_package else name.rpartition(".")[0]
    for stmt in top_statements(tree.body):
        if isinstance(stmt, ast.ClassDef):
            module.defs[stmt.name] = "class"
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            module.defs[stmt.name] = "function"
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    module.imports[alias.asname] = (alias.name, None)
        elif isinstance(stmt, ast.ImportFrom):
            base = stmt.module or ""
            if stmt.level:
                parts = package.split(".")
                up = parts[: len(parts) - (stmt.level - 1)]
                base = ".".join(up + ([base] if base else []))
            for alias in stmt.names:
                if alias.name == "*":
                    module.stars.append(base)
                else:
                    module.imports[alias.asname or alias.name] = (base, alias.name)
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if not isinstance(target, ast.Name):
                continue
            if target.id == "__all__" and isinstance(stmt.value, (ast.List, ast.Tuple)):
                module.all_names = [
                    e.value for e in stmt.value.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                ]
            elif function_alias(stmt.value):
                module.defs[target.id] = "function"
            elif (value := dotted(stmt.value)) is not None:
                module.aliases[target.id] = value
    return module


class Universe:
    """The modules of one requirement set, and what their names resolve to."""

    def __init__(self, modules: dict[str, Module]):
        self.modules = modules

    def exported(self, module: Module) -> list[str]:
        if module.all_names is not None:
            return module.all_names
        names = set(module.defs) | set(module.imports) | set(module.aliases)
        for star in module.stars:
            if star in self.modules:
                names |= set(self.exported(self.modules[star]))
        return [n for n in names if not n.startswith("_")]

    def resolve(self, module_name: str, name: str, depth: int = 0) -> tuple[str, str] | None:
        """(kind, canonical `module:qualname`) of `module_name.name`, or None."""
        if depth > 24:
            return None
        module = self.modules.get(module_name)
        if module is None:
            return None
        if name in module.defs:
            return module.defs[name], f"{module_name}:{name}"
        if name in module.imports:
            source, attribute = module.imports[name]
            if attribute is None:
                return None  # a module
            if f"{source}.{attribute}" in self.modules:
                return None
            return self.resolve(source, attribute, depth + 1)
        if name in module.aliases:
            return self.resolve_expression(module_name, module.aliases[name], depth + 1)
        for star in module.stars:
            star_module = self.modules.get(star)
            if star_module is not None and name in self.exported(star_module):
                found = self.resolve(star, name, depth + 1)
                if found:
                    return found
        return None

    def resolve_expression(self, module_name: str, expression: str, depth: int):
        """`Alias = a.b.C` inside `module_name`: the first part is a local name."""
        head, _, rest = expression.partition(".")
        module = self.modules[module_name]
        if not rest:
            return self.resolve(module_name, head, depth)
        if head in module.imports:
            source, attribute = module.imports[head]
            base = source if attribute is None else f"{source}.{attribute}"
        elif head in self.modules:
            base = head
        else:
            return None
        path = f"{base}.{rest}"
        owner, _, last = path.rpartition(".")
        return self.resolve(owner, last, depth) if owner in self.modules else None

    def targets(self) -> dict[str, tuple[str, str]]:
        rows: dict[str, tuple[str, str]] = {}
        for name, module in self.modules.items():
            if not in_scope(name) or not public(name):
                continue
            names = set(module.defs) | set(module.aliases)
            if module.is_package:
                names |= set(module.imports) | set(self.exported(module))
            for attribute in names:
                path = f"{name}.{attribute}"
                if not public(path):
                    continue
                found = self.resolve(name, attribute)
                if found is None:
                    continue
                kind, canonical = found
                home_module, _, qualname = canonical.partition(":")
                if not in_scope(home_module) or denied(path) or denied(f"{home_module}.{qualname}"):
                    continue
                if kind == "function" and not (
                    home_module in FUNCTION_MODULES or qualname in FUNCTIONS.get(home_module, ())
                ):
                    continue
                rows[path] = (kind, "" if canonical == f"{name}:{attribute}" else canonical)
        return rows


def read_wheel(path: Path) -> dict[str, Module]:
    modules = {}
    with zipfile.ZipFile(path) as wheel:
        for info in wheel.infolist():
            if not info.filename.endswith(".py") or ".data/" in info.filename:
                continue
            parts = info.filename[:-3].split("/")
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join(parts)
            if not parts or not all(p.isidentifier() for p in parts):
                continue
            if not any(name == p or name.startswith(p + ".") or p.startswith(name + ".")
                       for p in PACKAGES):
                continue
            module = read_module(name, is_package, wheel.read(info))
            if module is not None:
                modules[name] = module
    return modules


def wheel(folder: Path, dist: str, version: str) -> Path:
    found = sorted(folder.glob(f"{dist}-{version}-*.whl"))
    if not found:
        sys.exit(f"missing {dist}=={version} in {folder} (see the docstring)")
    return found[0]


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/hydra-wheels")
    shared: dict[str, Module] = {}
    for dist, version in OTHER_PINS.items():
        shared.update(read_wheel(wheel(folder, dist, version)))
    rows: dict[str, tuple[str, str]] = {}
    for version in NEMO_PINS:
        modules = dict(shared)
        modules.update(read_wheel(wheel(folder, "nemo_toolkit", version)))
        for path, row in Universe(modules).targets().items():
            rows.setdefault(path, row)
    pins = ", ".join([f"nemo_toolkit {'/'.join(NEMO_PINS)}"]
                     + [f"{d} {v}" for d, v in OTHER_PINS.items()])
    with OUT.open("w") as out:
        out.write("# Generated by scripts/hydra_targets.py; do not edit by hand.\n")
        out.write(f"# {pins}\n")
        out.write("# target\tkind\tcanonical\n")
        for path in sorted(rows):
            kind, canonical = rows[path]
            out.write(f"{path}\t{kind}\t{canonical}\n")
    print(f"{len(rows)} targets -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
