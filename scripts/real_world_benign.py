#!/usr/bin/env python3
"""False-alarm check on files that real libraries wrote.

Downloads (with pip, no install) the joblib and numpy wheels whose test suites ship pickles,
joblib dumps from many versions and compressions, and object arrays from Python 2 days; extracts
their test data into target/real-world/ and scans it with the release binary. Every one of these
files is benign: the score is how many the scanner calls malicious (must be 0) or suspicious.

Usage: python3 scripts/real_world_benign.py [path/to/quarantine]
Never unpickles anything: it only copies files and reads the scanner's JSON.
"""

import collections
import json
import pathlib
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "real-world"
WHEELS = ["joblib==0.14.1", "joblib==1.2.0", "numpy==2.4.6"]
# Test data that is not a model artifact (sources, tables, configs).
SKIP_SUFFIXES = {".py", ".pyi", ".csv", ".cpp", ".txt", ".ini", ".fits", ".typed"}


def fetch() -> pathlib.Path:
    data = WORK / "data"
    if data.exists():
        return data
    wheels = WORK / "wheels"
    for spec in WHEELS:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), spec],
            check=True,
        )
    data.mkdir(parents=True)
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                path = pathlib.PurePosixPath(name)
                if "data" not in path.parts[:-1] or not {"test", "tests"} & set(path.parts):
                    continue
                if path.suffix in SKIP_SUFFIXES or name.endswith("/"):
                    continue
                target = data / (wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1]) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    return data


def main() -> int:
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "release" / "quarantine")
    data = fetch()
    out = subprocess.run([binary, "scan", "--format", "json", str(data)], capture_output=True, check=False)
    report = json.loads(out.stdout)
    verdicts = collections.Counter()
    for artifact in report["artifacts"]:
        verdicts[artifact["verdict"]] += 1
        if artifact["verdict"] != "clean":
            rules = sorted({f["rule_id"] for f in artifact["findings"]})
            detail = "; ".join(
                f"{f['rule_id']}: {f.get('evidence') or f['message']}" for f in artifact["findings"][:3]
            )
            print(f"{artifact['verdict']:<10} {pathlib.Path(artifact['path']).relative_to(data)}  {','.join(rules)}  {detail}")
    total = sum(verdicts.values())
    print(
        f"real-world benign files: {total} scanned, {verdicts['clean']} clean, "
        f"{verdicts['suspicious']} suspicious, {verdicts['malicious']} malicious, {verdicts['error']} error"
    )
    return 1 if verdicts["malicious"] else 0


if __name__ == "__main__":
    sys.exit(main())
