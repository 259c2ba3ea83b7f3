// Crypto-miners.

rule stratum_url {
    meta:
        description = "Mining pool URL (stratum+tcp://, stratum+ssl://)"
        severity = "high"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1496/"
    strings:
        $stratum = /stratum\d?\+(tcp|ssl|tls):\/\//
    condition:
        $stratum
}

rule xmrig_options {
    meta:
        description = "XMRig miner invocation or configuration"
        severity = "high"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://xmrig.com/docs/miner/command-line-options"
    strings:
        $xmrig = "xmrig" nocase
        $donate = /--donate-level[= ]\d/
        $coin = /--coin[= ]monero/ nocase
        $algo = /(-a|--algo)[= ](rx\/0|cn\/r|randomx)\b/
        $pool = /\s-o\s+[a-z0-9.-]{1,64}:\d{2,5}\b/
        $json = /"donate-level"\s*:/
    condition:
        $donate or ($xmrig and ($coin or $algo or $pool or $json))
}

rule mining_pool_host {
    meta:
        description = "Host name of a public Monero mining pool"
        severity = "high"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1496/"
    strings:
        $p1 = "minexmr.com" nocase
        $p2 = "supportxmr.com" nocase
        $p3 = "moneroocean.stream" nocase
        $p4 = "xmr.nanopool.org" nocase
        $p5 = "hashvault.pro" nocase
        $p6 = "xmrpool.eu" nocase
        $p7 = "pool.hashvault" nocase
        $p8 = "c3pool.com" nocase
    condition:
        any of them
}
