# Sourced by the shell tools: sets PYTHON (when unset) to the repository's .venv/bin/python
# (made by tools/setup_env.sh) if it exists, else to python; hides the pinned stack's pkg_resources
# deprecation warnings (mmengine's import; nothing a user can act on).
_MMEMANET_VENV_PYTHON="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin/python"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$_MMEMANET_VENV_PYTHON" ]; then
        PYTHON=$_MMEMANET_VENV_PYTHON
    else
        PYTHON=python
    fi
fi
unset _MMEMANET_VENV_PYTHON
export PYTHONWARNINGS="ignore:pkg_resources is deprecated:UserWarning${PYTHONWARNINGS:+,$PYTHONWARNINGS}"
