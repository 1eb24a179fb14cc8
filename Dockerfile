# ringtrain as a SageMaker training container (sagemaker/README.md): build, then a runtime image
# with the binary, its libraries, sshd and the entrypoint. Every host of a job runs this image.
#
#   docker build --platform linux/amd64 -t ringtrain .
#   docker build --platform linux/amd64 --build-arg EFA_INSTALLER_VERSION=1.47.0 -t ringtrain:efa .
#
# The runtime stage's package names are Ubuntu 24.04's (libopenmpi3t64), so the release is fixed.

ARG CUDA_IMAGE=13.0.2-cudnn

# ---- build: LibTorch from the CUDA torch wheel, Open MPI, NCCL (the wheel's) ------------------
FROM nvidia/cuda:${CUDA_IMAGE}-devel-ubuntu24.04 AS build
# Compile jobs at once: each takes up to 2 GB with LibTorch's headers.
ARG BUILD_JOBS=8
# Versions come with the pinned base image's distribution; pinning each package would break the
# build at every security update.
# hadolint ignore=DL3008
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build git pkg-config python3 python3-venv \
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
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_BUILD_TESTS=OFF \
      -DRINGTRAIN_CUDA=ON -DRINGTRAIN_PYTHON=/opt/torch/bin/python \
    && cmake --build build --parallel "${BUILD_JOBS}" --target ringtrain smhostname
# The libraries ringtrain loads at run time: LibTorch and the NVIDIA wheels it depends on (NCCL,
# cuDNN, cuBLAS ...), gathered in one directory.
RUN mkdir -p /out/lib \
    && cp -a /opt/torch/lib/python3*/site-packages/torch/lib/. /out/lib/ \
    && find /opt/torch/lib/python3*/site-packages/nvidia -name 'lib*.so*' -exec cp -a {} /out/lib/ \; \
    && cp build/ringtrain /out/ && cp build/sagemaker/libsmhostname.so /out/lib/

# ---- runtime ---------------------------------------------------------------------------------
FROM nvidia/cuda:${CUDA_IMAGE}-runtime-ubuntu24.04
ARG EFA_INSTALLER_VERSION=
# hadolint ignore=DL3008
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openmpi-bin libopenmpi3t64 libsentencepiece0 openssh-server openssh-client libgomp1 \
      ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# Optional EFA: libfabric, its Open MPI and the aws-ofi-nccl plugin under /opt/amazon. The
# installer must run from its own directory, and only when asked for.
# hadolint ignore=DL3003
RUN if [ -n "${EFA_INSTALLER_VERSION}" ]; then \
      apt-get update && cd /tmp && curl -fsSL -O "https://efa-installer.amazonaws.com/aws-efa-installer-${EFA_INSTALLER_VERSION}.tar.gz" \
      && tar xf aws-efa-installer-*.tar.gz && cd aws-efa-installer \
      && DEBIAN_FRONTEND=noninteractive ./efa_installer.sh -y --skip-kmod --skip-limit-conf --no-verify \
      && cd / && rm -rf /tmp/aws-efa-installer* /var/lib/apt/lists/*; \
    fi
# SSH between the hosts of a job: every host runs this image, so one root key pair (made here)
# lets each reach the others. Host keys are made when the container starts (the entrypoint).
RUN mkdir -p /var/run/sshd /root/.ssh && chmod 700 /root/.ssh \
    && ssh-keygen -q -t ed25519 -N "" -f /root/.ssh/id_ed25519 \
    && cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys \
    && printf 'Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n' > /root/.ssh/config \
    && sed -i 's/^session\s*required\s*pam_loginuid.so/session optional pam_loginuid.so/' /etc/pam.d/sshd \
    && rm -f /etc/ssh/ssh_host_*
COPY --from=build /out/lib /usr/local/lib/ringtrain
COPY --from=build /out/ringtrain /usr/local/bin/ringtrain
ENV LD_LIBRARY_PATH=/usr/local/lib/ringtrain:/opt/amazon/ofi-nccl/lib:/opt/amazon/ofi-nccl/lib64:/opt/amazon/openmpi/lib:/opt/amazon/openmpi/lib64:/opt/amazon/efa/lib:/opt/amazon/efa/lib64:${LD_LIBRARY_PATH} \
    PATH=/opt/amazon/openmpi/bin:/opt/amazon/efa/bin:${PATH} \
    RINGTRAIN_HOSTNAME_SHIM=/usr/local/lib/ringtrain/libsmhostname.so \
    NCCL_DEBUG=WARN \
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Exec form: ringtrain is PID 1 and gets SageMaker's SIGTERM itself. `docker run IMAGE train`
# passes "train", which the entrypoint accepts; a ContainerEntrypoint override passes nothing.
ENTRYPOINT ["/usr/local/bin/ringtrain", "sagemaker"]
