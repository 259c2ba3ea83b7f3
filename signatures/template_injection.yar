// Jinja server-side template injection, as planted in chat templates (tokenizer_config.json,
// GGUF tokenizer.chat_template): attribute walks from a harmless object to os or builtins.
// These rules judge templates: chat templates (JSON fields, GGUF metadata, files named or
// beginning as Jinja), strings a pickle, ONNX or framework model carries, and metadata. Python
// source or other text beside a model is not a template (`self.__class__.__mro__[1]` is
// ordinary introspection there); the Python analysis judges scripts.

rule jinja_class_traversal {
    meta:
        description = "Jinja template walks __class__/__mro__/__subclasses__ to reach arbitrary classes"
        severity = "critical"
        verdict = "malicious"
        origins = "chat_template, pickle_call_arg, pickle_string, onnx_attribute, framework_string, metadata"
        reference = "https://jinja.palletsprojects.com/en/stable/sandbox/"
    strings:
        $subclasses = /__subclasses__\s*\(\s*\)/
        $mro = /__class__['"]?\s*\]?\s*(\.|\[\s*['"])\s*__(mro|base|bases)__/
    condition:
        any of them
}

rule jinja_globals_gadget {
    meta:
        description = "Jinja template reaches __globals__ through a built-in gadget (cycler, joiner, lipsum, namespace, …)"
        severity = "critical"
        verdict = "malicious"
        origins = "chat_template, pickle_call_arg, pickle_string, onnx_attribute, framework_string, metadata"
        reference = "https://jinja.palletsprojects.com/en/stable/sandbox/"
    strings:
        $gadget = /\b(cycler|joiner|lipsum|namespace|range|self|config|request|url_for|get_flashed_messages)\b[^}\n]{0,48}__globals__/
        $builtins = /__globals__\s*(\.|\[\s*['"])\s*(__builtins__|os|sys|subprocess)\b/
    condition:
        any of them
}

rule jinja_attr_filter_bypass {
    meta:
        description = "Jinja |attr() filter with an escaped dunder name, a sandbox-evasion idiom"
        severity = "high"
        verdict = "malicious"
        origins = "chat_template, pickle_call_arg, pickle_string, onnx_attribute, framework_string, metadata"
        reference = "https://jinja.palletsprojects.com/en/stable/templates/#jinja-filters.attr"
    strings:
        $attr = /\|\s*attr\s*\(\s*['"](\\x5f|\\u005f|_){2}[a-z]{2,16}(\\x5f|\\u005f|_){2}['"]/
    condition:
        $attr
}
