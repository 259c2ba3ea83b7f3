// Reverse shells: a process that connects out and hands its standard streams to a shell.

rule bash_dev_tcp {
    meta:
        description = "Shell reverse connection through bash's /dev/tcp or /dev/udp redirection"
        severity = "critical"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://www.gnu.org/software/bash/manual/html_node/Redirections.html"
    strings:
        $dev = /\/dev\/(tcp|udp)\/[A-Za-z0-9.:\[\]-]{1,255}\/[0-9]{1,5}/
    condition:
        $dev
}

rule netcat_exec {
    meta:
        description = "netcat, ncat or socat handing a shell to a network connection (nc -e, mkfifo pipe, socat exec)"
        severity = "critical"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1059/004/"
    strings:
        $nc_e = /\b(nc|ncat|netcat)(\.exe)?\s[^\n;|&]{0,80}\s-[a-z]{0,3}[ec]\s*['"]?(\/usr)?(\/bin\/)?(ba|z|k|da)?sh\b/
        $nc_cmd = /\b(nc|ncat|netcat)(\.exe)?\s[^\n;|&]{0,80}\s-[a-z]{0,3}e\s*['"]?cmd(\.exe)?\b/ nocase
        $fifo = /mkfifo\s+\S{1,64}\s*;\s*(cat|nc|tail)\b[^\n]{0,160}\|\s*(\/bin\/)?(ba|z|da)?sh\s+-i/
        $socat = /socat\s[^\n]{0,120}exec:['"]?(\/usr)?(\/bin\/)?(ba|z|da)?sh/ nocase
    condition:
        any of them
}

rule python_socket_shell {
    meta:
        description = "Python reverse shell: a socket connected out, its descriptor duplicated onto stdin/stdout or a pty spawned"
        severity = "critical"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1059/006/"
    strings:
        $socket = "socket.socket("
        $connect = /\.connect\(\s*\(/
        $dup2 = /os\.dup2\(\s*\w{1,32}\.fileno\(\)/
        $pty = /pty\.spawn\(\s*['"](\/usr)?(\/bin\/)?(ba|z|da)?sh/
        $popen = /subprocess\.(call|Popen|run)\(\s*\[\s*['"](\/usr)?(\/bin\/)?(ba|z|da)?sh['"]\s*,\s*['"]-i['"]/
    condition:
        $socket and $connect and ($dup2 or $pty or $popen)
}

rule powershell_tcp_client {
    meta:
        description = "PowerShell reverse shell: a TCPClient stream whose input is run as commands"
        severity = "critical"
        verdict = "malicious"
        origins = "code, metadata, data"
        reference = "https://attack.mitre.org/techniques/T1059/001/"
    strings:
        $client = /New-Object\s+(System\.)?Net\.Sockets\.TCPClient\s*\(/ nocase
        $stream = ".GetStream()" nocase
        $iex = /\b(iex|Invoke-Expression)\b/ nocase
    condition:
        $client and $stream and $iex
}
