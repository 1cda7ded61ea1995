#!/usr/bin/env bash
# Check the project under other Pythons (requires-python says >=3.11,<3.14; CI runs 3.11).
# For each interpreter given (default: pyenv's 3.12 and 3.13), in a throwaway venv: install the
# dependencies, compile every project file, import every module, run the tests that need no
# torch. torch 2.13.0 is installed only from TORCH_FIND_LINKS (a folder holding a CPU wheel
# for that Python): PyPI's Linux wheels are the CUDA build and pull GBs of CUDA libraries.
#   scripts/check_other_pythons.sh [/path/to/python3.12 ...]
set -euo pipefail
cd "$(dirname "$0")/.."
pythons=("$@")
if [ ${#pythons[@]} -eq 0 ]; then
    for v in 3.12 3.13; do
        p=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$v.*/bin/python 2>/dev/null | tail -1 || true)
        [ -n "$p" ] && pythons+=("$p")
    done
fi
[ ${#pythons[@]} -gt 0 ] || { echo "no other Python found (give paths as arguments)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for py in "${pythons[@]}"; do
    version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    echo "== Python $version ($py)"
    "$py" -m venv "$work/$version"
    vpy="$work/$version/bin/python"
    "$vpy" - > "$work/reqs.txt" <<'EOF'
import re, tomllib
d = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(x for x in d["dependencies"] + d["optional-dependencies"]["test"]
                if not re.match(r"(torch|playwright)\W", x)))
EOF
    "$vpy" -m pip install -q -r "$work/reqs.txt"
    if [ -n "${TORCH_FIND_LINKS:-}" ]; then
        "$vpy" -m pip install -q --no-index --find-links "$TORCH_FIND_LINKS" torch==2.13.0 || echo "no torch wheel for $version in $TORCH_FIND_LINKS"
    fi
    # Attack files are fragments pasted into a skeleton, not modules: left out.
    "$vpy" -m compileall -q -x 'tests/adversarial/attacks/' grader api worker storage service bench tests reference || status=1
    "$vpy" - <<'EOF' || status=1
import importlib, pkgutil
ok, torch_missing, failed = 0, [], []
for pkg in ("grader", "api", "worker", "storage", "service"):
    for name in [pkg] + [f"{pkg}.{m.name}" for m in pkgutil.walk_packages([pkg])]:
        try:
            importlib.import_module(name)
            ok += 1
        except ModuleNotFoundError as exc:
            (torch_missing if exc.name == "torch" else failed).append(f"{name} ({exc.name})")
        except Exception as exc:
            failed.append(f"{name} ({exc!r})")
print(f"imported {ok} modules; need torch: {len(torch_missing)}; failed: {failed or 'none'}")
raise SystemExit(1 if failed else 0)
EOF
    if "$vpy" -c "import torch" 2>/dev/null; then
        "$vpy" -m pytest -q -p no:cacheprovider -m "not slow and not gpu" tests/grader tests/test_compose.py || status=1
    else
        # tests/conftest.py imports torch; these files need none of its fixtures.
        "$vpy" -m pytest -q -p no:cacheprovider --noconftest tests/test_compose.py tests/grader/test_plot.py tests/storage/test_db.py || status=1
    fi
done
exit $status
