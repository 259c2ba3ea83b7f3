// Indicators of publicly reported malicious-model campaigns.

rule jfrog_2024_huggingface_backdoors {
    meta:
        description = "Reverse-shell address of the malicious Hugging Face models reported by JFrog in February 2024 (baller423/goober2: 210.117.212.93:4242; star23/baller13: 136.243.156.120:53252)"
        severity = "critical"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://jfrog.com/blog/data-scientists-targeted-by-malicious-hugging-face-ml-models-with-silent-backdoor/"
    strings:
        $goober2 = "210.117.212.93"
        $baller13 = "136.243.156.120"
    condition:
        any of them
}

rule reversinglabs_2025_nullifai {
    meta:
        description = "Reverse-shell address of the nullifAI models (glockr1/ballr7, who-r-u0000/…) reported by ReversingLabs in February 2025"
        severity = "critical"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face"
    strings:
        $c2 = "107.173.7.141"
    condition:
        $c2
}
