#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run the test suite.
#   ./run-tests.sh            # the CI suite (slow tests skipped)
#   ./run-tests.sh -m slow    # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")"
venv_dir="${venv_dir:-venv}"
python_cmd="${python_cmd:-python3}"
if [ ! -x "$venv_dir/bin/python" ]; then
    "$python_cmd" -m venv "$venv_dir"
fi
"$venv_dir/bin/python" -m pip install -q -r requirements.txt -r requirements-test.txt
"$venv_dir/bin/python" -m pip install -q --no-deps -r requirements-test-nodeps.txt
# Browser tests drive Debian's Chromium (never a downloaded browser build).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser tests will be skipped"
fi
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
"$venv_dir/bin/ruff" check .
exec "$venv_dir/bin/python" -m pytest "$@"
