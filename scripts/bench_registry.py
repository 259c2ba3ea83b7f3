#!/usr/bin/env python3
"""Batch-scan benchmark over a generated model registry (standard library only).

    cargo build --release --locked && python3 scripts/bench_registry.py [--artifacts 10000]

Writes a registry of small artifacts under a temporary directory (benign and malicious
pickles, zip checkpoints with a pickle inside, npy arrays, text configs, in nested org/model
directories like a hub mirror) and prints, each as a ratio measured in the same run:

  * speed-up of `--jobs 2` over `--jobs 1`              (target >= 1.8)
  * speed-up of a warm `--cache` over a cold one         (target >= 20)
  * peak RSS at N/10 artifacts and at N artifacts        (target: flat)

Every run writes JSONL to a file (the streaming path); times are best of `--repeat` runs (the
two `--jobs` settings in turn), after one untimed run over the freshly written registry. On a
shared machine the absolute figures move; the ratios are what to compare. A cold cache run
writes two small files per artifact, so its time follows the disk (and others' use of it).
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCALE = 1  # `--scale`: multiplies the number of objects in each pickle and array
MALICIOUS = b"cposix\nsystem\n(S'echo quarantine-sample'\ntR."


def artifact(i: int) -> tuple[str, bytes]:
    """The i-th artifact: a name and its bytes, each one distinct (so each is its own cache
    entry)."""
    kind = i % 5
    if kind == 0:
        return "model.pkl", pickle.dumps({"layer": [float(j) for j in range(i % 200, i % 200 + 300 * SCALE)], "id": i}, 4)
    if kind == 1:
        return "weights.npy", npy(i)
    if kind == 2:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            z.writestr("archive/data.pkl", pickle.dumps({"w": list(range(64)), "id": i}, 2))
            z.writestr("archive/version", b"3\n")
        return "checkpoint.pt", buf.getvalue()
    if kind == 3:
        return "config.json", b'{"hidden_size": %d, "layers": 12}\n' % i
    if i % 25 == 4:
        return "payload.pkl", MALICIOUS.replace(b"sample", b"sample-%d" % i)
    return "tokenizer.pkl", pickle.dumps([f"tok{j}" for j in range(i % 50, i % 50 + 100 * SCALE)], 3)


def npy(i: int) -> bytes:
    count = 256 * SCALE
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % count
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack(f"<{count}f", *([float(i)] * count))


def registry(root: Path, n: int) -> int:
    total = 0
    for i in range(n):
        name, data = artifact(i)
        d = root / f"org{i % 37}" / f"model-{i // 5}"
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
        total += len(data)
    return total


def run(binary: Path, args: list[str], out: Path) -> float:
    """Wall seconds of one scan."""
    start = time.perf_counter()
    proc = subprocess.run(
        [str(binary), "scan", "--no-policy", "--format", "jsonl", "-o", str(out), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"scan failed ({proc.returncode}): {proc.stderr.decode()}")
    return elapsed


def peak_rss(binary: Path, root: Path, out: Path) -> int:
    """Peak RSS (KiB) of one scan, measured by GNU time."""
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", str(binary), "scan", "--no-policy", "--jobs", "2",
         "--format", "jsonl", "-o", str(out), str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    return int(proc.stderr.strip().splitlines()[-1])


def best(binary: Path, args: list[str], out: Path, repeat: int, before=None) -> float:
    times = []
    for _ in range(repeat):
        if before:
            before()
        times.append(run(binary, args, out))
    return min(times)


def interleaved(binary: Path, variants: list[list[str]], out: Path, repeat: int) -> list[float]:
    """Best time of each variant, run in turn (a burst of load elsewhere then falls on each)."""
    times = [[] for _ in variants]
    for _ in range(repeat):
        for i, args in enumerate(variants):
            times[i].append(run(binary, args, out))
    return [min(t) for t in times]


def cold_start(cache: Path) -> None:
    shutil.rmtree(cache, ignore_errors=True)
    os.sync()  # earlier writes (the last run's cache) are not written back during this one


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=int, default=1, help="make each artifact about this many times larger")
    parser.add_argument("--binary", type=Path, default=REPO / "target/release/quarantine")
    args = parser.parse_args()
    if not args.binary.exists():
        sys.exit(f"{args.binary} is missing: cargo build --release --locked")
    n = args.artifacts
    global SCALE
    SCALE = args.scale
    with tempfile.TemporaryDirectory(prefix="quarantine-bench-") as tmp:
        tmp = Path(tmp)
        big, small, cache, out = tmp / "registry", tmp / "registry-small", tmp / "cache", tmp / "out.jsonl"
        size = registry(big, n)
        registry(small, n // 10)
        print(f"registry: {n} artifacts, {size / 1e6:.1f} MB, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
        # The registry just written is flushed and read once before anything is timed: the
        # first run would otherwise pay for its write-back.
        os.sync()
        run(args.binary, [str(big)], out)

        j1, j2 = interleaved(args.binary, [["--jobs", "1", str(big)], ["--jobs", "2", str(big)]], out, args.repeat)
        print(f"--jobs 1: {j1:.2f} s   --jobs 2: {j2:.2f} s   speed-up {j1 / j2:.2f}x (target >= 1.8)")

        cached = ["--jobs", "2", "--cache", str(cache), str(big)]
        cold = best(args.binary, cached, out, args.repeat, before=lambda: cold_start(cache))
        warm = best(args.binary, cached, out, args.repeat)
        print(f"cache cold: {cold:.2f} s   warm: {warm:.2f} s   speed-up {cold / warm:.1f}x (target >= 20)")

        rss_small = peak_rss(args.binary, small, out)
        rss_big = peak_rss(args.binary, big, out)
        print(f"peak RSS: {n // 10} artifacts {rss_small / 1024:.1f} MiB, {n} artifacts {rss_big / 1024:.1f} MiB"
              f"   ratio {rss_big / rss_small:.2f} (target: flat)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
