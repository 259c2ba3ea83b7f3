// Encoded Python: code hidden behind a decoder and run with exec or eval.

rule exec_base64 {
    meta:
        description = "Python exec/eval of base64-decoded code"
        severity = "high"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1027/"
    strings:
        $direct = /\b(exec|eval)\s*\(\s*(base64\.)?(b64decode|b32decode|b16decode|a85decode|b85decode|decodebytes|urlsafe_b64decode)\s*\(/
        $import = /\b(exec|eval)\s*\(\s*__import__\(\s*['"]base64['"]\s*\)\s*\.\s*\w{1,20}decode\w{0,6}\s*\(/
    condition:
        any of them
}

rule exec_compressed_or_marshalled {
    meta:
        description = "Python exec/eval of code unpacked with zlib, bz2, lzma, marshal or codecs"
        severity = "high"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1027/"
    strings:
        $direct = /\b(exec|eval)\s*\(\s*(zlib\.decompress|bz2\.decompress|lzma\.decompress|marshal\.loads|codecs\.decode)\s*\(/
        $import = /\b(exec|eval)\s*\(\s*__import__\(\s*['"](zlib|bz2|lzma|marshal|codecs)['"]\s*\)\s*\.\s*(decompress|loads|decode)\s*\(/
    condition:
        any of them
}
