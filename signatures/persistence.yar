// Persistence: making sure the payload runs again after the model is closed.

rule crontab_install {
    meta:
        description = "Installs a cron job (pipes into `crontab -`, or writes a cron directory)"
        severity = "high"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1053/003/"
    strings:
        $pipe = /\|\s*crontab\s+-(\s|$|['")])/
        $dir = /\/(etc\/cron\.(d|hourly|daily|weekly)|var\/spool\/cron)\//
    condition:
        any of them
}

rule shell_rc_append {
    meta:
        description = "Appends to a shell start-up file (.bashrc, .zshrc, .profile)"
        severity = "high"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1546/004/"
    strings:
        $redirect = />>\s*['"]?(~|\$HOME|\$\{HOME\}|\/root|\/home\/[A-Za-z0-9._-]{1,32})\/\.(bashrc|zshrc|bash_profile|profile)\b/
        $open = /open\(\s*[^)\n]{0,80}\.(bashrc|zshrc|bash_profile|profile)['"]\s*\)?\s*,\s*['"]a/
    condition:
        any of them
}

rule systemd_unit_install {
    meta:
        description = "Writes and enables a systemd unit"
        severity = "high"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1543/002/"
    strings:
        $system = "/etc/systemd/system/"
        $user = ".config/systemd/user/"
        $enable = /systemctl\s+(--user\s+)?(enable|start|daemon-reload)\b/
        $exec = "ExecStart="
    condition:
        ($system or $user) and ($enable or $exec)
}

rule authorized_keys_append {
    meta:
        description = "Adds an SSH key to authorized_keys"
        severity = "critical"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1098/004/"
    strings:
        $redirect = />>\s*['"]?(~|\$HOME|\$\{HOME\}|\/root|\/home\/[A-Za-z0-9._-]{1,32})\/\.ssh\/authorized_keys/
        $file = ".ssh/authorized_keys"
        $key = /(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)) AAAA[A-Za-z0-9+\/]{16}/
    condition:
        $redirect or ($file and $key)
}
