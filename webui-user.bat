@echo off
rem User settings for webui.bat. Edit and uncomment.
set PYTHON=
set VENV_DIR=
set COMMANDLINE_ARGS=
call webui.bat
