#!/usr/bin/env python3
"""Collect real, public chat templates of the popular model families as test data
(tests/data/templates/), from pinned PyPI packages that ship them. Needs PyPI, so CI does not
run it; its outputs are committed.

    python3 -m venv /tmp/venv-tpl && /tmp/venv-tpl/bin/pip install scikit-build-core cmake ninja
    PATH=/tmp/venv-tpl/bin:$PATH /tmp/venv-tpl/bin/python scripts/chat_templates.py

Sources (see tests/data/templates/README.md):
- llama-cpp-python 0.3.16 (sdist): `vendor/llama.cpp/models/templates/*.jinja`, the templates
  of Hub models copied verbatim by llama.cpp's `scripts/get_chat_template.py` (model id in the
  file name); `vendor/llama.cpp/tests/test-chat-template.cpp`, the template strings of its test
  cases (model named in each case); `llama_cpp/llama_chat_format.py`, its built-in templates.
- transformers 4.40.2 (wheel): the Llama 2 chat template (`LlamaTokenizer.default_chat_template`)
  and the ChatML default (`PreTrainedTokenizerBase.default_chat_template`).

Nothing is rendered or run: the files are only read.
"""

import ast
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "templates"
LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.16"
TRANSFORMERS = "transformers==4.40.2"


def download(spec: str, into: Path, sdist: bool) -> Path:
    args = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(into), spec]
    if sdist:
        args[4:4] = ["--no-binary", ":all:", "--no-build-isolation"]
    subprocess.run(args, check=True)
    name = spec.split("==")[0].replace("-", "_")
    return next(p for p in into.iterdir() if p.name.lower().startswith(name.lower()))


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:80]


def c_string(body: str) -> str:
    """Decodes the escapes of a C++ string literal's body (no raw strings are used there)."""
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'"}.get(n, "\\" + n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def from_llama_cpp_python(sdist: Path) -> list[tuple[str, str, str]]:
    found = []
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            path = member.name.split("/", 1)[1]
            if path.startswith("vendor/llama.cpp/models/templates/") and path.endswith(".jinja"):
                text = tar.extractfile(member).read().decode()
                found.append((f"hub/{Path(path).name}", text, f"{LLAMA_CPP_PYTHON} sdist, {path}"))
            elif path == "vendor/llama.cpp/tests/test-chat-template.cpp":
                cpp = tar.extractfile(member).read().decode()
                pattern = re.compile(
                    r'/\* \.name= \*/\s*"((?:[^"\\]|\\.)*)",\s*/\* \.template_str=? \*/\s*(?:U8C\()?"((?:[^"\\]|\\.)*)"'
                )
                for i, (name, body) in enumerate(pattern.findall(cpp)):
                    found.append((f"llama.cpp-tests/{i:02}-{slug(name)}.jinja", c_string(body),
                                  f"{LLAMA_CPP_PYTHON} sdist, {path}, test case `{name}`"))
            elif path == "llama_cpp/llama_chat_format.py":
                source = tar.extractfile(member).read().decode()
                for node in ast.parse(source).body:
                    if (isinstance(node, ast.Assign) and len(node.targets) == 1
                            and isinstance(node.targets[0], ast.Name)
                            and node.targets[0].id.endswith("_CHAT_TEMPLATE")
                            and isinstance(node.value, ast.Constant)):
                        name = node.targets[0].id
                        found.append((f"llama-cpp-python/{name.lower()}.jinja", node.value.value,
                                      f"{LLAMA_CPP_PYTHON} sdist, {path}, `{name}`"))
    return found


def python_string_after(source: str, marker: str) -> str:
    """The parenthesised string concatenation that follows `marker` in Python source."""
    start = source.index(marker) + len(marker) - 1
    depth, i = 0, start
    while True:
        if source[i] == "(":
            depth += 1
        elif source[i] == ")":
            depth -= 1
            if depth == 0:
                break
        i += 1
    return ast.literal_eval(source[start:i + 1])


def from_transformers(wheel: Path) -> list[tuple[str, str, str]]:
    found = []
    with zipfile.ZipFile(wheel) as z:
        llama = z.read("transformers/models/llama/tokenization_llama.py").decode()
        template = python_string_after(llama, "template = (")
        template = template.replace("USE_DEFAULT_PROMPT", "false")
        found.append(("transformers/llama-2-chat.jinja", template,
                      f"{TRANSFORMERS} wheel, transformers/models/llama/tokenization_llama.py, "
                      "`LlamaTokenizer.default_chat_template` (use_default_system_prompt=False)"))
        base = z.read("transformers/tokenization_utils_base.py").decode()
        chatml = python_string_after(base[base.index("def default_chat_template"):], "return (")
        found.append(("transformers/chatml-default.jinja", chatml,
                      f"{TRANSFORMERS} wheel, transformers/tokenization_utils_base.py, "
                      "`PreTrainedTokenizerBase.default_chat_template`"))
    return found


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        templates = from_llama_cpp_python(download(LLAMA_CPP_PYTHON, tmp, sdist=True))
        templates += from_transformers(download(TRANSFORMERS, tmp, sdist=False))
    rows = []
    for rel, text, source in sorted(templates):
        path = OUT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        rows.append(f"| `{rel}` | {source} |")
    readme = OUT / "README.md"
    head = readme.read_text().split("<!-- sources -->")[0] if readme.exists() else ""
    readme.write_text(head + "<!-- sources -->\n\n| file | source |\n| --- | --- |\n" + "\n".join(rows) + "\n")
    print(f"wrote {len(rows)} templates under {OUT}")


if __name__ == "__main__":
    main()
