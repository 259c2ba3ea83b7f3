#!/usr/bin/env bash
# End-to-end test of .pre-commit-hooks.yaml: installs pre-commit from PyPI in a virtual
# environment, makes a temporary git repository, and checks through `pre-commit try-repo` that
# a benign sample can be committed and a malicious one is blocked.
#
#   .ci/pre-commit-e2e.sh [DIR-WITH-quarantine-BINARY]   (default: target/release)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=$(cd "${1:-$repo/target/release}" && pwd)
test -x "$bin_dir/quarantine" || { echo "no quarantine binary in $bin_dir"; exit 1; }
export PATH="$bin_dir:$PATH"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check pre-commit
export PRE_COMMIT_HOME="$work/cache"

# try-repo needs the hook manifest committed; snapshot the working tree's manifest.
hooks="$work/hooks"
mkdir "$hooks"
cp "$repo/.pre-commit-hooks.yaml" "$hooks/"
git -C "$hooks" init --quiet
git -C "$hooks" add .pre-commit-hooks.yaml
git -C "$hooks" -c user.name=ci -c user.email=ci@example.invalid commit --quiet -m hooks

models="$work/models"
mkdir "$models"
git -C "$models" init --quiet
cp "$repo/samples/benign/torch_state_dict.pt" "$models/model.pt"
git -C "$models" add model.pt
try() { (cd "$models" && "$work/venv/bin/pre-commit" try-repo "$hooks" quarantine --verbose "$@"); }

if ! try; then
    echo "FAIL: the benign sample was blocked"; exit 1
fi
echo "ok: benign sample passes"

git -C "$models" -c user.name=ci -c user.email=ci@example.invalid commit --quiet -m benign
cp "$repo/samples/malicious/torch_zip_payload.pt" "$models/checkpoint.dat"
git -C "$models" add checkpoint.dat
if out=$(try 2>&1); then
    echo "$out"; echo "FAIL: the malicious sample was not blocked"; exit 1
fi
grep -q "PKL001" <<<"$out" || { echo "$out"; echo "FAIL: blocked, but not for PKL001"; exit 1; }
echo "ok: malicious sample blocked (PKL001), even under a name that is not a model extension"
