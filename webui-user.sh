#!/bin/bash
# User settings for webui.sh. Uncomment and edit.

# Flags passed to launch.py, e.g. "--api --listen" or "--cpu" or "--lowvram"
#export COMMANDLINE_ARGS=""

# Python used to create the venv (3.11 recommended)
#python_cmd="python3"

# Where the virtual environment lives (default: venv beside this file)
#venv_dir="venv"
