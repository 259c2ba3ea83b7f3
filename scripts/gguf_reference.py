#!/usr/bin/env python3
"""Write small GGUF files with the real `gguf` package's GGUFWriter (llama.cpp's gguf-py), for
tests/gguf_reference.rs. Needs PyPI, so CI does not run it; its outputs are committed under
tests/data/gguf/:

    python3 -m venv /tmp/venv-gguf && /tmp/venv-gguf/bin/pip install gguf==0.17.1
    /tmp/venv-gguf/bin/python scripts/gguf_reference.py

The chat templates written into the files are real ones from tests/data/templates/ (collected
by scripts/chat_templates.py). Tensors are tiny and quantised with gguf-py's own quantisers;
every file is read back with gguf-py's GGUFReader as a check. Nothing is ever run.
"""

from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "gguf"
TEMPLATES = ROOT / "tests" / "data" / "templates"


def template(rel: str) -> str:
    return (TEMPLATES / rel).read_text()


def vocab(n: int) -> list[str]:
    special = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    return special + [f"tok{i}" for i in range(n - len(special))]


# Byte offsets of the f16 scales (d, dmin) in a block of each k-quant (ggml's block_q*_K).
K_SCALES = {Q.Q2_K: (80, 82), Q.Q3_K: (108,), Q.Q4_K: (0, 2), Q.Q5_K: (0, 2), Q.Q6_K: (208,)}


def tensors(w: gguf.GGUFWriter, types: list[Q], rng: np.random.Generator) -> None:
    for i, qtype in enumerate(types):
        data = rng.standard_normal((4, 256)).astype(np.float32)
        if qtype == Q.F32:
            w.add_tensor(f"blk.{i}.attn_q.weight", data)
        elif qtype == Q.F16:
            w.add_tensor(f"blk.{i}.attn_k.weight", data.astype(np.float16))
        else:
            try:
                q = gguf.quants.quantize(data, qtype)
            except NotImplementedError:
                # gguf-py has no quantiser for the k-quants: write block bytes of the right size,
                # as convert scripts do for weights that arrive already quantised.
                block, size = gguf.GGML_QUANT_SIZES[qtype]
                q = np.frombuffer(rng.bytes(4 * 256 // block * size), dtype=np.uint8).reshape(4, -1).copy()
                # Random bytes would make the blocks' f16 scales random too (NaN among them);
                # a quantiser writes small finite ones: set each super-block scale to 0.001.
                for at in K_SCALES.get(qtype, ()):
                    q.reshape(-1, size)[:, at:at + 2] = np.frombuffer(np.float16(0.001).tobytes(), dtype=np.uint8)
            w.add_tensor(f"blk.{i}.ffn_up.weight", q, raw_dtype=qtype)
    w.add_tensor("output_norm.weight", np.ones(256, dtype=np.float32))


def write(name: str, arch: str, *, endian=gguf.GGUFEndian.LITTLE, alignment=None,
          types=(Q.F32,), chat=None, extra=None, tensors_too=True) -> None:
    path = OUT / name
    w = gguf.GGUFWriter(path, arch, endianess=endian)
    w.add_name(f"reference {name}")
    w.add_context_length(4096)
    w.add_block_count(len(types))
    w.add_embedding_length(256)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(vocab(64))
    w.add_token_types([1] * 64)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    if chat is not None:
        w.add_chat_template(chat)
    for key, value in (extra or {}).items():
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, float):
            w.add_float64(key, value)
        elif isinstance(value, int):
            w.add_int64(key, value)
        elif isinstance(value, str):
            w.add_string(key, value)
        else:
            w.add_array(key, value)
    if tensors_too:
        tensors(w, list(types), np.random.default_rng(len(name)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    reader = gguf.GGUFReader(path, "r" if endian == gguf.GGUFEndian.LITTLE else "r")
    assert len(reader.tensors) == (len(types) + 1 if tensors_too else 0), name


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write("llama3.1-tools-q8.gguf", "llama", types=(Q.F32, Q.F16, Q.Q8_0),
          chat=template("hub/meta-llama-Llama-3.1-8B-Instruct.jinja"))
    write("qwen2.5-kquants.gguf", "qwen2", types=(Q.Q4_K, Q.Q6_K, Q.Q4_0, Q.Q5_1),
          chat=template("hub/Qwen-Qwen2.5-7B-Instruct.jinja"))
    write("hermes-named-templates.gguf", "llama", types=(Q.BF16,),
          chat=[{"name": "default", "template": template("llama.cpp-tests/00-teknium-OpenHermes-2.5-Mistral-7B.jinja")},
                {"name": "tool_use", "template": template("hub/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja")}])
    write("gemma2-align64.gguf", "gemma2", alignment=64, types=(Q.F16, Q.Q8_0),
          chat=template("hub/google-gemma-2-2b-it.jinja"))
    write("mistral-big-endian.gguf", "llama", endian=gguf.GGUFEndian.BIG, types=(Q.F32, Q.F16),
          chat=template("llama-cpp-python/mistral_instruct_chat_template.jinja"))
    write("vocab-only.gguf", "llama", chat=template("transformers/llama-2-chat.jinja"),
          tensors_too=False)
    write("all-value-types.gguf", "phi3", types=(Q.F32,),
          chat=template("llama.cpp-tests/10-Phi-3-mini.jinja"),
          extra={"test.bool": True, "test.i64": -5, "test.f64": 0.25, "test.str": "plain {{ text }}",
                 "test.nested": [[1, 2], [3]], "test.strings": ["a", "b"],
                 "test.floats": [0.5, 1.5]})
    print(f"gguf {gguf.__version__ if hasattr(gguf, '__version__') else '0.17.1'}: wrote",
          ", ".join(sorted(p.name for p in OUT.iterdir())))


if __name__ == "__main__":
    main()
