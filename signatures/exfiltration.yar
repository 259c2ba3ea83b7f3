// Exfiltration endpoints: where stolen data is sent. None belongs in a model artifact.

rule chat_webhook {
    meta:
        description = "Chat webhook or bot API URL (Discord, Slack, Telegram), a common exfiltration channel"
        severity = "high"
        verdict = "suspicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1567/"
    strings:
        $discord = /discord(app)?\.com\/api\/webhooks\/\d{5,}/
        $slack = "hooks.slack.com/services/T"
        $telegram = /api\.telegram\.org\/bot\d{5,}:/
    condition:
        any of them
}

rule paste_or_drop_site {
    meta:
        description = "Paste or anonymous file-drop service URL (pastebin raw, transfer.sh, 0x0.st, termbin, …)"
        severity = "high"
        verdict = "suspicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1567/"
    strings:
        $url = /https?:\/\/(pastebin\.com\/raw|paste\.ee\/r\/|hastebin\.com\/raw|ghostbin\.\w{2,4}|transfer\.sh|0x0\.st|termbin\.com|temp\.sh|bashupload\.com|file\.io)\b/ nocase
    condition:
        $url
}

rule tunnel_or_callback_service {
    meta:
        description = "Tunnelling or out-of-band callback service (ngrok, trycloudflare, serveo, interactsh, Burp Collaborator, webhook.site, …)"
        severity = "high"
        verdict = "suspicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1572/"
    strings:
        $host = /[a-z0-9-]{1,63}\.(ngrok\.io|ngrok-free\.app|ngrok\.app|trycloudflare\.com|serveo\.net|loca\.lt|oast\.(pro|live|site|online|fun|me)|burpcollaborator\.net|oastify\.com|pipedream\.net|requestbin\.net|dnslog\.cn|ceye\.io)\b/ nocase
        $site = /https?:\/\/(webhook\.site|localhost\.run|requestbin\.com)\b/ nocase
    condition:
        any of them
}
