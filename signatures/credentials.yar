// Credential and secret access: what a payload reads before it phones home.

rule ssh_private_keys {
    meta:
        description = "Reads SSH private keys from a home directory"
        severity = "high"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1552/004/"
    strings:
        $key = /(~|\$HOME|\$\{HOME\}|\/root|\/home\/[A-Za-z0-9._-]{1,32})\/\.ssh\/id_(rsa|dsa|ecdsa|ed25519)\b/
        $expand = /expanduser\(\s*['"]~\/\.ssh\b/
    condition:
        any of them
}

rule cloud_and_tool_credentials {
    meta:
        description = "Reads stored cloud, registry or tool credentials (~/.aws/credentials, .netrc, gcloud, docker, kube, git, PyPI, Hugging Face tokens)"
        severity = "high"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1552/001/"
    strings:
        $path = /(~|\$HOME|\$\{HOME\}|\/root|\/home\/[A-Za-z0-9._-]{1,32})\/(\.aws\/credentials|\.netrc|\.config\/gcloud\/|\.azure\/|\.docker\/config\.json|\.kube\/config|\.git-credentials|\.pypirc|\.huggingface\/token|\.cache\/huggingface\/token)/
    condition:
        $path
}

rule cloud_metadata_credentials {
    meta:
        description = "Requests instance credentials from a cloud metadata service"
        severity = "critical"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1552/005/"
    strings:
        $aws = "169.254.169.254/latest/meta-data/iam/security-credentials"
        $gcp = "computeMetadata/v1/instance/service-accounts/"
        $azure = "169.254.169.254/metadata/identity/oauth2/token"
    condition:
        any of them
}

rule cloud_metadata_endpoint {
    meta:
        description = "Names a cloud instance metadata endpoint (169.254.169.254, metadata.google.internal, 100.100.100.200)"
        severity = "high"
        verdict = "suspicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1552/005/"
    strings:
        $v4 = /\b169\.254\.169\.254\b/
        $gcp = "metadata.google.internal"
        $alibaba = /\b100\.100\.100\.200\b/
        $v6 = "fd00:ec2::254"
    condition:
        any of them
}

rule environment_dump {
    meta:
        description = "Serialises the whole process environment (API keys, tokens) next to a way to send it"
        severity = "high"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1082/"
    strings:
        $py_dump = /(json\.dumps|str|repr|dict)\s*\(\s*(dict\s*\(\s*)?os\.environ\s*\)/
        $py_copy = "os.environ.copy()"
        $py_net = /\b(requests\.(post|get|put)|urlopen|urllib\.request|socket\.socket|http\.client)\b/
        $shell = /\b(env|printenv|set)\s*\|\s*(curl|wget|nc|ncat|base64)\b/
    condition:
        $shell or (($py_dump or $py_copy) and $py_net)
}
