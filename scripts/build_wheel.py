#!/usr/bin/env python3
"""Builds a Python wheel that carries an already-built `quarantine` binary, the way ruff ships:
the binary goes to the wheel's scripts (pip installs it as the `quarantine` command) and the
small `python/quarantine` package runs it (`quarantine.scan(path) -> dict`). Nothing is
compiled here; the binary is stripped into the wheel when `strip` is available.

    python3 scripts/build_wheel.py --binary target/release/quarantine --out dist/

Standard library only: a wheel is a zip with a `.dist-info` (METADATA, WHEEL, RECORD).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "python" / "quarantine"


def cargo_field(name: str) -> str:
    package = ROOT.joinpath("Cargo.toml").read_text().split("[package]", 1)[1].split("\n[", 1)[0]
    match = re.search(rf'^{name}\s*=\s*"([^"]*)"', package, re.M)
    if not match:
        sys.exit(f"Cargo.toml has no package {name}")
    return match.group(1)


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def stripped(binary: Path, work: Path) -> bytes:
    """The binary without symbols (236 MiB to about 35), or as it is without `strip`."""
    strip = shutil.which("strip")
    if strip is None:
        return binary.read_bytes()
    out = work / "quarantine"
    subprocess.run([strip, "-o", str(out), str(binary)], check=True)
    return out.read_bytes()


def build(binary: Path, out: Path) -> Path:
    version = cargo_field("version")
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine())
    tag = f"py3-none-linux_{machine}"
    dist_info = f"quarantine-{version}.dist-info"
    data_scripts = f"quarantine-{version}.data/scripts"
    summary = cargo_field("description")
    metadata = (
        "Metadata-Version: 2.1\n"
        "Name: quarantine\n"
        f"Version: {version}\n"
        f"Summary: {summary}\n"
        "License: see the project's repository\n"
        "Requires-Python: >=3.8\n"
    )
    wheel = f"Wheel-Version: 1.0\nGenerator: quarantine scripts/build_wheel.py\nRoot-Is-Purelib: false\nTag: {tag}\n"
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"quarantine-{version}-{tag}.whl"
    with tempfile.TemporaryDirectory() as work:
        files: list[tuple[str, bytes, int]] = []
        for source in sorted(PACKAGE.glob("*.py")):
            files.append((f"quarantine/{source.name}", source.read_bytes(), 0o644))
        files.append((f"{data_scripts}/quarantine", stripped(binary, Path(work)), 0o755))
        files.append((f"{dist_info}/METADATA", metadata.encode(), 0o644))
        files.append((f"{dist_info}/WHEEL", wheel.encode(), 0o644))
        record = [record_line(name, data) for name, data, _ in files]
        record.append(f"{dist_info}/RECORD,,")
        files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode(), 0o644))
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data, mode in files:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", type=Path, default=ROOT / "target/release/quarantine")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    if not args.binary.is_file():
        sys.exit(f"no binary at {args.binary}: build it first (cargo build --release --locked)")
    print(build(args.binary, args.out))


if __name__ == "__main__":
    main()
