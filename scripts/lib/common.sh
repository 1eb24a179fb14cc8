# Shared by the scripts in scripts/: paths and the Python interpreter that has the pinned torch.
# Sourced, not executed.

RINGTRAIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RINGTRAIN_TORCH_VERSION=2.11.0
# Debian's system Python refuses pip installs (PEP 668); setup.sh then makes this virtual environment.
RINGTRAIN_VENV=${RINGTRAIN_VENV:-/opt/ringtrain/venv}
# The SageMaker Python SDK (the 2.x series, which has local mode) is a test dependency only: it
# lives in an environment of its own, apart from the training path.
RINGTRAIN_SAGEMAKER_SDK_VERSION=2.257.7
RINGTRAIN_SAGEMAKER_SDK_VENV=${RINGTRAIN_SAGEMAKER_SDK_VENV:-/opt/ringtrain/sagemaker-sdk}
BUILD_DIR=${BUILD_DIR:-$RINGTRAIN_ROOT/build}

ringtrain_python() {
  if [ -n "${RINGTRAIN_PYTHON:-}" ]; then
    echo "$RINGTRAIN_PYTHON"
  elif [ -x "$RINGTRAIN_VENV/bin/python" ]; then
    echo "$RINGTRAIN_VENV/bin/python"
  else
    command -v python3
  fi
}

# Open MPI refuses to start as root without these; harmless for other users.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# Pictures (benchmarks, traces, runs) are drawn with matplotlib, which the tests do not need:
# installed into Python $1 on first use.
ensure_matplotlib() {
  "$1" -c "import matplotlib" 2>/dev/null ||
    "$1" -m pip install -q --disable-pip-version-check --root-user-action=ignore matplotlib
}

log() { printf '[ringtrain] %s\n' "$*" >&2; }
die() { printf '[ringtrain] error: %s\n' "$*" >&2; exit 1; }
