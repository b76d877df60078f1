@echo off
rem Create the virtual environment if missing, then start the web UI.
cd /d "%~dp0"
if not defined PYTHON (set PYTHON=python)
if not defined VENV_DIR (set "VENV_DIR=%~dp0venv")
if not exist "%VENV_DIR%\Scripts\python.exe" (
    echo Creating virtual environment in %VENV_DIR%
    %PYTHON% -m venv "%VENV_DIR%" || goto :error
)
set HF_HUB_OFFLINE=1
set GRADIO_ANALYTICS_ENABLED=False
"%VENV_DIR%\Scripts\python.exe" launch.py %*
exit /b %ERRORLEVEL%
:error
echo Could not create the virtual environment with %PYTHON%.
exit /b 1
