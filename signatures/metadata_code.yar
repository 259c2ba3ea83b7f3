// Code-like text in weights metadata: safetensors `__metadata__`, ONNX `metadata_props` and doc
// strings, GGUF string values. No loader executes metadata, so a match is never malicious by
// itself: it is a second stage that other code is meant to run (a training script that
// `exec`s a metadata field, a web UI that renders it) or a lure for the person reading it.
// The rules apply to metadata origins only, and match nowhere else (the code rules say more
// there): `safetensors_metadata`, `onnx_metadata`, `onnx_doc_string`, `gguf_metadata`, …
// A GGUF tokenizer's vocabulary and merges (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`) are
// not text anyone reads or runs: they are fragments of text the model emits (`<script`, `eval`,
// ` os`), extracted one a line, so neighbours would read as code nobody wrote. They are left out
// here (the other signature rules and the staged-pickle check still read them).

rule python_process_or_network_code {
    meta:
        description = "Python source in metadata that imports and calls process, network or file functions (metadata is not executed by loading; it is a staged payload or a lure)"
        severity = "medium"
        verdict = "suspicious"
        origins = "metadata"
        reference = "https://attack.mitre.org/techniques/T1059/006/"
    strings:
        $import = /\b(import|from)\s+(os|subprocess|socket|pty|shutil|ctypes|urllib|urllib\.request|requests|httpx|http\.client|ftplib|paramiko|marshal|pickle|importlib)\b/
        $call = /(^|[^.\w])(os\.(system|popen|exec[lv]p?e?|spawn[lv]p?e?|remove|unlink|rmdir|removedirs|fork|kill)|subprocess\.(Popen|run|call|check_call|check_output|getoutput|getstatusoutput)|socket\.(socket|create_connection)|pty\.spawn|shutil\.(rmtree|move)|urllib\.request\.(urlopen|urlretrieve)|urlopen|requests\.(get|post|put)|httpx\.(get|post)|ctypes\.CDLL|marshal\.loads|pickle\.loads)\s*\(/
        $dunder = /__import__\s*\(\s*['"](os|subprocess|socket|pty|shutil|ctypes|urllib\.request|requests|builtins)['"]\s*\)/
        $exec = /(^|[^.\w])(exec|eval)\s*\(\s*(['"]|compile\s*\(|open\s*\()/
    condition:
        (origin contains "metadata" or origin contains "doc_string")
        and not context matches /^metadata `tokenizer\.ggml\.(tokens|merges)`$/
        and (($import and $call) or $dunder or $exec)
}

rule shell_command {
    meta:
        description = "Shell command in metadata: sh -c, output piped into a shell, rm -rf, or download then run (metadata is not executed by loading; it is a staged payload or a lure)"
        severity = "medium"
        verdict = "suspicious"
        origins = "metadata"
        reference = "https://attack.mitre.org/techniques/T1059/004/"
    strings:
        $sh_c = /(^|[\s;&|`(])(\/usr)?(\/bin\/)?(ba|z|da|k)?sh\s+-c\s+['"]/
        $pipe = /\b(curl|wget|echo|printf|cat|base64(\s+-d|\s+--decode)?)\b[^\n|]{0,256}\|\s*(sudo\s+)?(\/usr)?(\/bin\/)?(ba|z|da|k)?sh\b/
        $rm_rf = /\brm\s+(-[a-zA-Z]*(rf|fr)[a-zA-Z]*|-r\s+-f|-f\s+-r|--recursive\s+--force|--force\s+--recursive)\s+(\/|~|\$|\*|\.\.?\/)/
        $fetch_run = /\b(curl|wget)\s[^\n]{1,256}(&&|;)\s*(sudo\s+)?(chmod\s+(\+x|[0-7]{3})|\.\/[\w.-]{1,64}|(ba)?sh\s+[\w\/.-]{1,128}|python[0-9.]{0,4}\s+[\w\/.-]{1,128})/
    condition:
        (origin contains "metadata" or origin contains "doc_string")
        and not context matches /^metadata `tokenizer\.ggml\.(tokens|merges)`$/
        and any of them
}

rule html_script {
    meta:
        description = "HTML script in metadata: a <script> tag, a javascript: link or an event handler attribute (metadata is not executed by loading; a web UI that renders it unescaped would run it)"
        severity = "medium"
        verdict = "suspicious"
        origins = "metadata"
        reference = "https://attack.mitre.org/techniques/T1059/007/"
    strings:
        $script = /<script[\s>\/]/ nocase
        $js_link = /(href|src|action)\s*=\s*["']?\s*javascript:/ nocase
        $handler = /<(img|svg|body|iframe|video|audio|details|input)\b[^>]{0,256}\son(error|load|toggle|focus|mouseover)\s*=/ nocase
    condition:
        (origin contains "metadata" or origin contains "doc_string")
        and not context matches /^metadata `tokenizer\.ggml\.(tokens|merges)`$/
        and any of them
}

rule exfiltration_url {
    meta:
        description = "URL in metadata that sends data out: a bare IP address or an exfil/beacon/collect endpoint with data in its query (metadata is not executed by loading; it is a staged payload or a lure)"
        severity = "low"
        verdict = "suspicious"
        origins = "metadata"
        reference = "https://attack.mitre.org/techniques/T1041/"
    strings:
        $ip_query = /https?:\/\/[1-9][0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(:[0-9]{1,5})?\/[^\s"'<>]{0,200}[?&][a-zA-Z_]{1,20}=/
        $endpoint = /https?:\/\/[^\s\/"'<>]{1,128}\/([^\s"'<>?]{0,128}\/)?(exfil|exfiltrate|steal|beacon|collect|harvest|upload|report)\b[^\s"'<>]{0,128}[?&][a-zA-Z_]{1,20}=/ nocase
    condition:
        (origin contains "metadata" or origin contains "doc_string")
        and not context matches /^metadata `tokenizer\.ggml\.(tokens|merges)`$/
        and any of them
}
