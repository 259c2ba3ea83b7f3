#!/usr/bin/env python3
"""`quarantine verify` of a multi-GB model folder against `openssl dgst -sha256` of the same files.

Writes a folder of GIB gibibytes (FILES files of pseudo-random bytes) under DIR, admits it once
with `target/release/quarantine admit`, then times, in the same run and with the page cache warm
for both, `quarantine verify` (signature, every file hashed in parallel, attestation) and
`openssl dgst -sha256` over the same files (one process, one file after another), and prints the
ratio. Best of REPEAT runs each. Deletes the folder at the end unless --keep.

    python3 scripts/bench_verify.py [--gib 4] [--files 8] [--repeat 3] [--dir target/bench-verify]
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best_of(repeat, argv):
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gib", type=float, default=4.0)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", default=os.path.join(ROOT, "target", "bench-verify"))
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    exe = os.path.join(ROOT, "target", "release", "quarantine")
    if not os.path.exists(exe):
        sys.exit("build first: cargo build --release --locked")
    if shutil.which("openssl") is None:
        sys.exit("openssl not found")
    shutil.rmtree(args.dir, ignore_errors=True)
    model = os.path.join(args.dir, "model")
    os.makedirs(model)
    per_file = int(args.gib * (1 << 30)) // args.files
    block = os.urandom(1 << 20)
    files = []
    for i in range(args.files):
        path = os.path.join(model, f"shard-{i:03}.bin")
        with open(path, "wb") as f:
            left = per_file
            while left > 0:
                # Vary each block so no two are equal (no dedup, no compression tricks).
                chunk = (i.to_bytes(4, "little") + left.to_bytes(8, "little")) + block[12:]
                f.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
        files.append(path)
    key = os.path.join(args.dir, "bench")
    subprocess.run([exe, "keygen", "--out", key], check=True, stdout=subprocess.DEVNULL)
    # Opaque shards are not a known format (FMT001, suspicious): admit under a policy that fails
    # only on malicious, so the benchmark has a signature and an attestation to verify.
    policy = os.path.join(args.dir, "bench.toml")
    with open(policy, "w") as f:
        f.write('fail_on = "malicious"\n')
    start = time.perf_counter()
    subprocess.run(
        [exe, "admit", "--probe", "off", "-q", "--policy", policy, "--key", key + ".key", model],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    admit = time.perf_counter() - start
    gib = per_file * args.files / (1 << 30)
    # Warm the page cache for both.
    subprocess.run(["openssl", "dgst", "-sha256", *files], check=True, stdout=subprocess.DEVNULL)
    verify_argv = [exe, "verify", "--policy", policy, "--key", key + ".pub", model]
    openssl = best_of(args.repeat, ["openssl", "dgst", "-sha256", *files])
    verify = best_of(args.repeat, verify_argv)
    print(f"folder: {args.files} files, {gib:.2f} GiB; {os.cpu_count()} CPUs; best of {args.repeat}")
    print(f"admit (scan + hash + sign), once:   {admit:7.3f} s")
    print(f"quarantine verify:                  {verify:7.3f} s  ({gib / verify:6.2f} GiB/s)")
    print(f"openssl dgst -sha256 (sequential):  {openssl:7.3f} s  ({gib / openssl:6.2f} GiB/s)")
    print(f"ratio verify / openssl: {verify / openssl:.2f}")
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
