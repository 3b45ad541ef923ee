#!/usr/bin/env bash
# The package on another Python: `.ci/python_versions.sh 3.12` (or 3.13). What CI runs after the full
# suite on the default python3; `make test-versions` runs it for each version.
#   1. a fresh venv, .venv-PYVER (git-ignored), removed and made anew on each run;
#   2. a plain, non-editable `pip install` of the project, no extras, plus pytest (the dev extra's
#      range) and nothing else: what a user on that Python gets, and proof the ranges resolve there;
#   3. the fast tests (-m "not slow") against that installed copy (see below);
#   4. one default search with `hpo search`, its exit code checked;
#   5. experiments/hyperopt_script.py, when it exists (`python experiments/hyperopt_script.py`).
# Each sqlite store and artifact folder is made in a temporary folder, removed at the end.
set -euo pipefail
PYVER=${1:?usage: .ci/python_versions.sh PYVER  (e.g. 3.12)}
cd "$(dirname "$0")/.."
REPO=$PWD
VENV=$REPO/.venv-$PYVER
START=$SECONDS

# An interpreter for PYVER: pythonX.Y on PATH if it runs (a pyenv shim of a version that isn't
# active does not), else the newest pyenv install of that version.
find_python() {
    if command -v "python$PYVER" >/dev/null && "python$PYVER" -c '' 2>/dev/null; then
        "python$PYVER" -c 'import sys; print(sys.executable)'
        return
    fi
    if command -v pyenv >/dev/null; then
        local found
        found=$(ls -d "$(pyenv root)"/versions/"$PYVER".*/bin/"python$PYVER" 2>/dev/null | sort -V | tail -n 1)
        if [ -n "$found" ]; then
            echo "$found"
            return
        fi
    fi
    echo "no Python $PYVER found (neither python$PYVER on PATH nor a pyenv install)" >&2
    return 1
}
PYTHON=$(find_python)
echo "== Python $PYVER: $PYTHON ($("$PYTHON" -c 'import sys; print(sys.version.split()[0])'))"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hpo-py$PYVER.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The install is built from a copy of the checkout without its build outputs: setuptools builds in
# the source folder and a stale build/lib (a module since deleted) would end up in the wheel.
mkdir "$WORK/src"
tar -C "$REPO" -c --exclude=.git --exclude='.venv*' --exclude=build --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude=mlruns --exclude=mlartifacts --exclude='*.db' \
    pyproject.toml README.md hpo_plugin | tar -C "$WORK/src" -x

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# pytest as the dev extra pins it; the rest of that extra (pyspark, psycopg2, ruff) is for the slow
# tests and the lint, which the full suite runs on the default Python.
PYTEST_REQ=$("$VENV/bin/python" -c '
import re, sys, tomllib
dev = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["dev"]
print(next(r for r in dev if re.match(r"pytest\b", r)))')
"$VENV/bin/python" -m pip install -q "$WORK/src" "$PYTEST_REQ"
T_INSTALL=$((SECONDS - START))
"$VENV/bin/python" -m pip freeze | grep -i -E '^(hpo.plugin|mlflow|hyperopt|xgboost|scikit|pandas|numpy|scipy|lightgbm|pytest)' \
    | sed 's/^/   /'

# The tests must exercise the installed copy, not the checkout. `pytest` (the console script, not
# `python -m pytest`) does not put the working folder on sys.path; the test folders have no
# __init__.py, so pytest's rootdir-based import adds tests/ (and its subfolders), never the repo root.
# The tests are run from the repo root all the same: they read experiments/, benchmarks/ and
# MLproject through conftest's REPO, and each one chdirs into its own tmp_path.
# The same sys.path without the working folder (-P), from the repo root: where hpo_plugin comes from.
WHERE=$("$VENV/bin/python" -P -c 'import hpo_plugin; print(hpo_plugin.__file__)')
case "$WHERE" in
    "$VENV"/lib/*/site-packages/*) echo "   hpo_plugin imported from $WHERE" ;;
    *) echo "hpo_plugin imported from $WHERE, not from $VENV" >&2; exit 1 ;;
esac

# HPO_VERSIONS_PYTEST_ARGS: more pytest arguments, split on spaces (e.g. --ignore=PATH to save time).
T0=$SECONDS
# shellcheck disable=SC2086
"$VENV/bin/pytest" -q -p no:cacheprovider -m "not slow" ${HPO_VERSIONS_PYTEST_ARGS:-}
T_TESTS=$((SECONDS - T0))

# One default search, from the temporary folder (MLflow's artifacts go under the working folder).
T0=$SECONDS
(
    cd "$WORK"
    "$VENV/bin/hpo" search "$REPO/experiments/xgboost_breast_cancer.yaml" --max-evals 5 \
        --tracking-uri "sqlite:///$WORK/search.db"
) || { echo "hpo search failed on Python $PYVER (exit $?)" >&2; exit 1; }
T_SEARCH=$((SECONDS - T0))

T_SCRIPT=-
if [ -f experiments/hyperopt_script.py ]; then
    T0=$SECONDS
    # `python experiments/hyperopt_script.py` as its users run it, but from the temporary folder
    # (MLflow puts the artifacts of a sqlite store under the working folder); the script reads no
    # file. sys.path[0] is experiments/ either way, so the installed hpo_plugin is the one imported.
    (
        cd "$WORK"
        MLFLOW_TRACKING_URI="sqlite:///$WORK/script.db" "$VENV/bin/python" "$REPO/experiments/hyperopt_script.py"
    ) || { echo "experiments/hyperopt_script.py failed on Python $PYVER (exit $?)" >&2; exit 1; }
    T_SCRIPT=$((SECONDS - T0))s
fi

echo "== Python $PYVER passed: install ${T_INSTALL}s, fast tests ${T_TESTS}s, search ${T_SEARCH}s," \
    "hyperopt_script ${T_SCRIPT}, total $((SECONDS - START))s"
