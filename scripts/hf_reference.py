#!/usr/bin/env python3
"""Write Hugging Face repository files with the real `transformers` package, for
tests/hf_reference.rs. Needs PyPI, so CI does not run it; its outputs are committed under
tests/data/hf/:

    python3 -m venv /tmp/venv-hf && /tmp/venv-hf/bin/pip install transformers==4.46.3 tokenizers==0.20.3
    /tmp/venv-hf/bin/python scripts/hf_reference.py

- `llama/`: `LlamaConfig(...).save_pretrained()`, `GenerationConfig.save_pretrained()` and a
  `PreTrainedTokenizerFast` (a tiny BPE built with `tokenizers`) saved with the Llama 3.1 chat
  template from tests/data/templates/ (`tokenizer_config.json` carries it).
- `qwen2/`: `Qwen2Config` and a tokenizer saved with `save_pretrained`, with the Qwen 2.5
  chat template (tool calls).
- `modeling/`: ordinary modelling, configuration and tokenization code copied verbatim from the
  transformers wheel (Llama, GPT-2, BERT, Mistral, Qwen2): what remote code usually looks like.
  Scanned on their own they must be clean; named by an `auto_map` they are HFR001 only.

Nothing is ever run: the files are written by the library and read by the scanner.
"""

import shutil
from pathlib import Path

import transformers
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GenerationConfig, LlamaConfig, PreTrainedTokenizerFast, Qwen2Config

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "hf"
TEMPLATES = ROOT / "tests" / "data" / "templates"


def tokenizer(template: str) -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "a", "b", "ab", "hello", "world"])}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[("a", "b")], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.chat_template = template
    return fast


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    llama = OUT / "llama"
    LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=8, max_position_embeddings=256).save_pretrained(llama)
    GenerationConfig(bos_token_id=1, eos_token_id=2, do_sample=True, temperature=0.6, top_p=0.9).save_pretrained(llama)
    tokenizer((TEMPLATES / "hub" / "meta-llama-Llama-3.1-8B-Instruct.jinja").read_text()).save_pretrained(llama)

    qwen = OUT / "qwen2"
    Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=8).save_pretrained(qwen)
    tokenizer((TEMPLATES / "hub" / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text()).save_pretrained(qwen)

    modeling = OUT / "modeling"
    modeling.mkdir(parents=True)
    src = Path(transformers.__file__).parent / "models"
    for family, names in {
        "llama": ["modeling_llama.py", "configuration_llama.py", "tokenization_llama.py"],
        "gpt2": ["modeling_gpt2.py", "configuration_gpt2.py"],
        "bert": ["modeling_bert.py"],
        "mistral": ["modeling_mistral.py"],
        "qwen2": ["modeling_qwen2.py", "tokenization_qwen2.py"],
    }.items():
        for name in names:
            shutil.copyfile(src / family / name, modeling / name)
    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            print(path.relative_to(ROOT), path.stat().st_size)


if __name__ == "__main__":
    main()
