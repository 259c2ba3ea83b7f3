"""Run the quarantine scanner from Python and get its JSON report.

The wheel carries the compiled `quarantine` command; this module only runs it. Nothing here
imports, loads or unpickles the files being scanned: that is the point.

    import quarantine
    report = quarantine.scan("model.pt")
    if report["verdict"] != "clean":
        raise SystemExit(f"refusing to load model.pt: {report['verdict']}")
    model = torch.load("model.pt")

`scan(path, **options)` passes each option as the command-line flag of the same name
(`fail_on="malicious"` is `--fail-on malicious`, `probe="off"` is `--probe off`, `deep=True` is
`--deep`); see `quarantine scan --help` for the list.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from typing import Any

__all__ = ["ScanError", "binary", "scan"]

_EXE = "quarantine.exe" if sys.platform == "win32" else "quarantine"


class ScanError(RuntimeError):
    """The scanner could not deliver a report (a bad option, a path that does not exist)."""

    def __init__(self, returncode: int, stderr: str) -> None:
        super().__init__(f"quarantine exited with {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


def binary() -> str:
    """The path of the `quarantine` command this package installed (or `$QUARANTINE_BINARY`)."""
    override = os.environ.get("QUARANTINE_BINARY")
    if override:
        return override
    # pip puts the wheel's scripts in the environment's scripts directory (a venv's `bin/`,
    # or the user scheme's with `pip install --user`).
    candidates = [sysconfig.get_path("scripts")]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        candidates.append(sysconfig.get_path("scripts", scheme=user_scheme))
    for directory in candidates:
        path = os.path.join(directory, _EXE)
        if os.path.isfile(path):
            return path
    found = shutil.which(_EXE)
    if found:
        return found
    raise FileNotFoundError("the quarantine command is not installed beside this package")


def _flags(options: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, (list, tuple)):
            for item in value:
                args += [flag, os.fspath(item) if isinstance(item, os.PathLike) else str(item)]
        else:
            args += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return args


def scan(*paths: str | os.PathLike[str], **options: Any) -> dict[str, Any]:
    """Scans files or directories and returns the JSON report as a dict.

    The run's verdict is `report["verdict"]` (`clean`, `suspicious`, `malicious` or `error`);
    each artifact's findings are under `report["artifacts"]`. A verdict above `clean` is a
    result, not an exception; `ScanError` means no report was made.
    """
    if not paths:
        raise TypeError("scan() needs at least one path")
    for forbidden in ("format", "output", "o"):
        if forbidden in options:
            raise TypeError(f"scan() always reads the JSON report itself; drop {forbidden}=")
    command = [binary(), "scan", "--format", "json", *_flags(options), "--", *map(os.fspath, paths)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise ScanError(done.returncode, done.stderr)
    return json.loads(done.stdout)
