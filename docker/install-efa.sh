#!/bin/sh
# Installs AWS EFA into the image: libfabric, Amazon's Open MPI and the AWS OFI NCCL plugin (which
# carries NCCL's traffic between hosts over EFA). The installer is checked against the signature
# AWS publishes, by the key whose fingerprint AWS documents, before it runs; the build fails if the
# NCCL plugin did not come with it. Sourced with RINGTRAIN_EFA_FUNCTIONS=1, it only defines the
# functions (tests).
#
# usage: install-efa.sh VERSION        (e.g. 1.47.0; the Dockerfile's EFA_INSTALLER_VERSION)
# It needs docker/entrypoint.sh beside it.
set -eu
# ringtrain_ofi_plugin: where the entrypoint looks for the plugin is where the build looks.
# shellcheck disable=SC1091
RINGTRAIN_ENTRYPOINT_FUNCTIONS=1 . "${RINGTRAIN_DOCKER_DIR:-$(dirname "$0")}/entrypoint.sh"

EFA_URL=${EFA_URL:-https://efa-installer.amazonaws.com}
# AWS's EFA installer signing key, "Amazon EC2 EFA <ec2-efa-maintainers@amazon.com>"
# (docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-start.html, "verify the installer").
EFA_KEY_FINGERPRINT=${EFA_KEY_FINGERPRINT:-4E9091BCBB97A96B26B15E59A05480B1DD2D3CCC}

# Whether version A is older than version B.
efa_older() {
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]
}

# The installer's flags for a container: no kernel module (the host's), no limits file, no device
# test (there is no device at build time). From 1.48 the installer takes an image with NVIDIA's
# entrypoint for an NGC one and leaves the NCCL plugin out; --disable-ngc keeps it.
efa_installer_flags() {
  flags="-y --skip-kmod --skip-limit-conf --no-verify"
  if ! efa_older "$1" 1.48.0; then flags="$flags --disable-ngc"; fi
  echo "$flags"
}

# Checks SIGNATURE of TARBALL with KEY, and that KEY is AWS's. GnuPG's state lives in a scratch
# directory, not the image's.
efa_verify() {
  tarball=$1 signature=$2 key=$3
  home=$(mktemp -d)
  gpg --homedir "$home" --batch --quiet --import "$key" 2>/dev/null
  fingerprints=$(gpg --homedir "$home" --batch --with-colons --fingerprint | awk -F: '$1 == "fpr" { print $10 }')
  if ! echo "$fingerprints" | grep -qx "$EFA_KEY_FINGERPRINT"; then
    echo "install-efa: $key is not AWS's EFA key (fingerprints: $(echo "$fingerprints" | tr '\n' ' '))" >&2
    rm -rf "$home"
    return 1
  fi
  if ! gpg --homedir "$home" --batch --trust-model always --verify "$signature" "$tarball" 2>/dev/null; then
    echo "install-efa: the signature $signature does not match $tarball" >&2
    rm -rf "$home"
    return 1
  fi
  rm -rf "$home"
}

efa_install() {
  version=$1
  work=$(mktemp -d)
  cd "$work"
  for file in "aws-efa-installer-$version.tar.gz" "aws-efa-installer-$version.tar.gz.sig" aws-efa-installer.key; do
    curl -fsSL -o "$file" "$EFA_URL/$file"
  done
  efa_verify "aws-efa-installer-$version.tar.gz" "aws-efa-installer-$version.tar.gz.sig" aws-efa-installer.key
  tar xf "aws-efa-installer-$version.tar.gz"
  cd aws-efa-installer
  # shellcheck disable=SC2046 # the flags are words
  DEBIAN_FRONTEND=noninteractive ./efa_installer.sh $(efa_installer_flags "$version")
  cd /
  rm -rf "$work"
  if ! plugin=$(RINGTRAIN_ROOT="" ringtrain_ofi_plugin); then
    echo "install-efa: the EFA installer $version put in no AWS OFI NCCL plugin (looked in /opt/amazon/ofi-nccl" \
      "and /opt/amazon/aws-ofi-nccl): NCCL would use TCP sockets between hosts" >&2
    exit 1
  fi
  echo "install-efa: EFA installer $version, NCCL plugin $plugin"
}

if [ "${RINGTRAIN_EFA_FUNCTIONS:-}" != 1 ]; then
  [ $# -eq 1 ] || { echo "usage: $0 VERSION" >&2; exit 2; }
  efa_install "$1"
fi
