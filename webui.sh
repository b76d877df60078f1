#!/usr/bin/env bash
# Create the virtual environment if missing, then start the web UI (launch.py installs the
# pinned requirements on first run and whenever requirements.txt changes).
set -e
cd "$(dirname "$0")"
[ -f webui-user.sh ] && source ./webui-user.sh
python_cmd="${python_cmd:-python3}"
venv_dir="${venv_dir:-venv}"
if [ ! -x "$venv_dir/bin/python" ]; then
    echo "Creating virtual environment in $venv_dir"
    "$python_cmd" -m venv "$venv_dir"
fi
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
exec "$venv_dir/bin/python" launch.py "$@"
