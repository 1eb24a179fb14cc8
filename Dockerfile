# ringtrain as a SageMaker training container (sagemaker/README.md): build, then a runtime image
# with the binary, its libraries, sshd and the entrypoint. Every host of a job runs this image.
#
#   docker build --platform linux/amd64 -t ringtrain .
#   docker build --platform linux/amd64 --build-arg EFA_INSTALLER_VERSION=1.47.0 -t ringtrain:efa .
#
# The bases are pinned by digest (NVIDIA re-pushes tags, changing what is inside, and removes them
# at end of life); sagemaker/README.md says how to move to newer ones. Their release is Ubuntu
# 24.04, whose package names the stages use (libopenmpi3t64).
ARG BUILD_IMAGE=nvidia/cuda:13.0.2-devel-ubuntu24.04@sha256:5dc1bca23d05bd37b011be68ec470c03b403a5da07ec3a86e41af9470e9d0cc6
# The plain base: the CUDA runtime and the CUDA forward-compatibility driver only. cuBLAS, cuDNN,
# NCCL and the rest come once, from the torch wheel (docker/install-runtime.sh).
ARG RUNTIME_IMAGE=nvidia/cuda:13.0.2-base-ubuntu24.04@sha256:2ab6381d970b211fb93853796dc6707eb8a72575a375c422b17cf4d8b2641701

# ---- build: LibTorch, CUDA libraries and NCCL from the CUDA torch wheel; nvcc from the base ------
FROM ${BUILD_IMAGE} AS build
# Versions come with the pinned base image's distribution; pinning each package would break the
# build at every security update.
# hadolint ignore=DL3008
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build git pkg-config python3 python3-venv patchelf \
      openmpi-bin libopenmpi-dev libcxxopts-dev nlohmann-json3-dev libsentencepiece-dev \
    && rm -rf /var/lib/apt/lists/*
# The torch version is the one scripts/setup.sh installs (scripts/lib/common.sh), and must be a
# CUDA 13 build, as the base image is.
COPY scripts/lib/common.sh /tmp/common.sh
RUN torch_version=$(sed -n 's/^RINGTRAIN_TORCH_VERSION=//p' /tmp/common.sh) \
    && test -n "$torch_version" \
    && python3 -m venv /opt/torch && /opt/torch/bin/pip install --no-cache-dir "torch==${torch_version}" \
    && /opt/torch/bin/python -c "import sys, torch; sys.exit(0 if (torch.version.cuda or '').startswith('13.') else 'torch ' + torch.__version__ + ' is not a CUDA 13 build')"
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY include include
COPY kernels kernels
COPY src src
COPY sagemaker sagemaker
# Compile jobs at once: each takes up to 2 GB with LibTorch's headers. (Declared here: every RUN
# after an ARG depends on its value, and rebuilds when it changes.)
ARG BUILD_JOBS=8
# NCCL_HOME: the wheel's NCCL, which LibTorch loads, not the base image's.
RUN site=$(/opt/torch/bin/python -c "import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))") \
    && NCCL_HOME="$site/nvidia/nccl" cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DRINGTRAIN_BUILD_TESTS=OFF -DRINGTRAIN_CUDA=ON -DRINGTRAIN_PYTHON=/opt/torch/bin/python \
    && cmake --build build --parallel "${BUILD_JOBS}" --target ringtrain smhostname
COPY docker/install-runtime.sh docker/entrypoint.sh docker/
RUN site=$(/opt/torch/bin/python -c "import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))") \
    && sh docker/install-runtime.sh "$site" build /out

# ---- runtime ---------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openmpi-bin libopenmpi3t64 libsentencepiece0 openssh-server openssh-client libgomp1 \
      ca-certificates curl gnupg \
    && rm -rf /var/lib/apt/lists/*
# Optional EFA: libfabric, its Open MPI and the AWS OFI NCCL plugin under /opt/amazon, from the
# installer AWS signs (checked). Whether the plugin can load is checked below.
ARG EFA_INSTALLER_VERSION=
COPY docker/install-efa.sh /tmp/install-efa.sh
RUN if [ -n "${EFA_INSTALLER_VERSION}" ]; then \
      apt-get update && sh /tmp/install-efa.sh "${EFA_INSTALLER_VERSION}" && rm -rf /var/lib/apt/lists/*; \
    fi && rm /tmp/install-efa.sh
# SSH between the hosts of a job: every host runs this image, so one root key pair (made here)
# lets each reach the others, and each host's sshd admits root only from the job's own hosts
# (sagemaker/README.md, "The SSH key"). Host keys are made when the container starts.
RUN mkdir -p /var/run/sshd /root/.ssh && chmod 700 /root/.ssh \
    && ssh-keygen -q -t ed25519 -N "" -f /root/.ssh/id_ed25519 \
    && cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys \
    && printf 'Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n' > /root/.ssh/config \
    && sed -i 's/^session\s*required\s*pam_loginuid.so/session optional pam_loginuid.so/' /etc/pam.d/sshd \
    && rm -f /etc/ssh/ssh_host_*
# ringtrain, the entrypoint, the libraries (found by ringtrain's run path; libcudart.so, which
# others open by name, through /etc/ld.so.conf.d/ringtrain.conf).
COPY --from=build /out/usr/local/ /usr/local/
COPY --from=build /out/etc/ld.so.conf.d/ringtrain.conf /etc/ld.so.conf.d/ringtrain.conf
ENV PATH=/opt/amazon/openmpi/bin:/opt/amazon/efa/bin:${PATH} \
    LD_LIBRARY_PATH=/opt/amazon/ofi-nccl/lib:/opt/amazon/ofi-nccl/lib64:/opt/amazon/openmpi/lib:/opt/amazon/openmpi/lib64:/opt/amazon/efa/lib:/opt/amazon/efa/lib64${LD_LIBRARY_PATH:+:${LD_LIBRARY_PATH}} \
    RINGTRAIN_HOSTNAME_SHIM=/usr/local/lib/ringtrain/libsmhostname.so \
    NCCL_DEBUG=WARN \
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The build fails unless ringtrain starts both without a library path (its run path alone: the
# loader's cache holds none of its libraries) and with the image's, and, with EFA, unless the
# plugin is there and can load.
RUN ldconfig && env -u LD_LIBRARY_PATH /usr/local/bin/ringtrain info > /dev/null \
    && /usr/local/bin/ringtrain info \
    && if [ -n "${EFA_INSTALLER_VERSION}" ]; then \
      RINGTRAIN_ENTRYPOINT_FUNCTIONS=1 . /usr/local/bin/ringtrain-entrypoint && ringtrain_check_ofi_plugin; \
    fi
# Exec form, and the entrypoint execs ringtrain: ringtrain is PID 1 and gets SageMaker's SIGTERM
# itself. `docker run IMAGE train` passes "train", which ringtrain sagemaker accepts; a
# ContainerEntrypoint override passes nothing.
ENTRYPOINT ["/usr/local/bin/ringtrain-entrypoint"]
