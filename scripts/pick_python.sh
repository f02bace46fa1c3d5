#!/usr/bin/env sh
# Print the interpreter `make` should use, creating a virtual environment when it must.
#
#   scripts/pick_python.sh PYTHON VENV_DIR
#
# PYTHON is used as it is when it runs inside a virtualenv or conda env, or when it may install
# packages. When it is a distribution's interpreter marked EXTERNALLY-MANAGED (PEP 668: Debian's
# and Ubuntu's /usr/bin/python3), pip would refuse to install into it, so VENV_DIR is created
# (once) with --system-site-packages, which keeps an installed torch visible, and its python is
# printed instead. Messages go to stderr; stdout is only the interpreter's path.
set -eu
python=${1:-python3}
venv=${2:-.venv}
managed=$("$python" - <<'PY'
import os, sys, sysconfig
in_env = sys.prefix != sys.base_prefix or bool(os.environ.get("CONDA_PREFIX"))
marker = os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")
print("yes" if (not in_env and os.path.exists(marker)) else "no")
PY
)
if [ "$managed" = "no" ]; then
    echo "$python"
    exit 0
fi
if [ -x "$venv/bin/python" ]; then
    echo "$venv/bin/python"
    exit 0
fi
echo "get3d: $python is an externally managed interpreter (PEP 668) outside any virtual environment;" >&2
echo "get3d: creating $venv (with --system-site-packages) and installing there" >&2
"$python" -m venv --system-site-packages "$venv" >&2
echo "$venv/bin/python"
