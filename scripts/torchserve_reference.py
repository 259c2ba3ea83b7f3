#!/usr/bin/env python3
"""Writes the TorchServe reference archives in tests/data/torchserve/ with the real writer,
torch-model-archiver (issue 16).

Pinned versions (install into a venv; needs PyPI, nothing else; torch-model-archiver does not
need torch to archive):
    python3 -m venv /tmp/venv-mar
    /tmp/venv-mar/bin/pip install torch-model-archiver==0.12.0
    /tmp/venv-mar/bin/python scripts/torchserve_reference.py tests/data/torchserve

The serialized model is the spec-built torch.save checkpoint samples/benign/torch_state_dict.pt
(torch itself is not installed here); the archiver copies it as it is.

What is written, and what the scanner must say (tests/longtail_formats.rs): ordinary archives,
each `clean` with no finding above `info` and named `torchserve`:
- `builtin_image_classifier.mar`: `--handler image_classifier` (a built-in handler, left out of
  the archive) with `index_to_name.json` as an extra file, zip-deflated (the default format);
- `custom_handler.mar`: a custom handler subclassing `ImageClassifier`, a model file, extra files
  and a pinned `requirements.txt`;
- `custom_handler_store.mar`: the same with `--archive-format zip-store`;
- `custom_handler_tgz.tar.gz`: the same with `--archive-format tgz` (a gzip'd tar, every file
  under `custom_handler_tgz/`, the manifest last), named `torchserve` too;
- `../torchserve_folder/custom_handler_folder/`: the same with `--archive-format no-archive`
  (the archive's files in a folder, `MAR-INF/MANIFEST.json` beside them), each file clean.

The script only writes files; it never loads one back.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HANDLER = '''\
"""Custom handler: top class by name."""
import json
import os

import torch
from ts.torch_handler.image_classifier import ImageClassifier


class TinyClassifier(ImageClassifier):
    topk = 1

    def initialize(self, context):
        super().initialize(context)
        model_dir = context.system_properties.get("model_dir")
        with open(os.path.join(model_dir, "index_to_name.json")) as f:
            self.names = json.load(f)

    def postprocess(self, data):
        top = torch.argmax(data, dim=1)
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


def archiver() -> str:
    here = os.path.dirname(sys.executable)
    return os.path.join(here, "torch-model-archiver")


def main(out: str) -> None:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    weights = os.path.join(repo, "samples", "benign", "torch_state_dict.pt")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        def put(name: str, text: str) -> str:
            path = os.path.join(work, name)
            with open(path, "w") as f:
                f.write(text)
            return path

        names = put("index_to_name.json", '{"0": "cat", "1": "dog"}\n')
        handler = put("handler.py", HANDLER)
        model = put("model.py", MODEL)
        reqs = put("requirements.txt", "torchvision==0.20.1\npillow==11.0.0\n")
        pt = os.path.join(work, "model.pt")
        shutil.copy(weights, pt)
        runs = [
            ("builtin_image_classifier", ["--handler", "image_classifier", "--extra-files", names]),
            ("custom_handler", ["--handler", handler, "--model-file", model,
                                "--extra-files", names, "--requirements-file", reqs]),
            ("custom_handler_store", ["--handler", handler, "--model-file", model,
                                      "--extra-files", names, "--archive-format", "zip-store"]),
            ("custom_handler_tgz", ["--handler", handler, "--model-file", model,
                                    "--extra-files", names, "--requirements-file", reqs,
                                    "--archive-format", "tgz"]),
        ]
        for name, args in runs:
            subprocess.run([archiver(), "--model-name", name, "--version", "1.0",
                            "--serialized-file", pt, "--export-path", out, "--force", *args],
                           check=True)
            print("wrote", name, "in", out)
        folders = os.path.join(os.path.dirname(os.path.abspath(out)), "torchserve_folder")
        os.makedirs(folders, exist_ok=True)
        subprocess.run([archiver(), "--model-name", "custom_handler_folder", "--version", "1.0",
                        "--serialized-file", pt, "--export-path", folders, "--force",
                        "--handler", handler, "--model-file", model, "--extra-files", names,
                        "--requirements-file", reqs, "--archive-format", "no-archive"],
                       check=True)
        print("wrote custom_handler_folder in", folders)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/torchserve")
