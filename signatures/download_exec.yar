// Download and run: fetch code from the network and execute it in one step.
// Every code origin but `notebook`: a notebook's setup cell (`!curl -fsSL …/install.sh | sh`)
// is run by a person who reads it, as a README's install line is; no model loader runs it.
// There a match is an info note. Scripts, configs, templates and pickled strings stay strict.

rule curl_pipe_shell {
    meta:
        description = "curl or wget output piped straight into a shell or interpreter"
        severity = "critical"
        verdict = "malicious"
        origins = "pickle_call_arg, pickle_string, onnx_attribute, framework_string, text_member, chat_template, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1105/"
    strings:
        $pipe = /\b(curl|wget)\s[^\n|;]{1,256}\|\s*(sudo\s+)?(\/usr)?(\/bin\/)?((ba|z|da|k)?sh|python[0-9.]{0,4}|perl)\b/
    condition:
        $pipe
}

rule powershell_download_iex {
    meta:
        description = "PowerShell downloading a script and running it with Invoke-Expression (IEX)"
        severity = "critical"
        verdict = "malicious"
        origins = "pickle_call_arg, pickle_string, onnx_attribute, framework_string, text_member, chat_template, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1059/001/"
    strings:
        $iex = /\b(iex|Invoke-Expression)\b/ nocase
        $download = /\.Download(String|Data|File)\s*\(/ nocase
        $iwr = /\b(Invoke-WebRequest|Invoke-RestMethod|iwr|irm)\s+(-Uri\s+)?['"]?https?:\/\// nocase
    condition:
        $iex and ($download or $iwr)
}

rule python_download_exec {
    meta:
        description = "Python executing code fetched from a URL (exec of urlopen/requests output)"
        severity = "critical"
        verdict = "malicious"
        origins = "pickle_call_arg, pickle_string, onnx_attribute, framework_string, text_member, chat_template, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1105/"
    strings:
        $exec = /\b(exec|eval)\s*\(\s*(urllib\.request\.|urllib2\.)?(urlopen|requests\.get|requests\.post|httpx\.get)\s*\(/
    condition:
        $exec
}
