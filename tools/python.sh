# Sourced by the shell tools: sets PYTHON (when unset) to the repository's .venv/bin/python
# (made by tools/setup_env.sh) if it exists, else to python.
_MMEMANET_VENV_PYTHON="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin/python"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$_MMEMANET_VENV_PYTHON" ]; then
        PYTHON=$_MMEMANET_VENV_PYTHON
    else
        PYTHON=python
    fi
fi
unset _MMEMANET_VENV_PYTHON
