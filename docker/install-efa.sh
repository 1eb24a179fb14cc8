#!/bin/sh
# Installs AWS EFA into the image: libfabric, Amazon's Open MPI and the AWS OFI NCCL plugin (which
# carries NCCL's traffic between hosts over EFA). The installer runs only if AWS's key signed it:
# the key whose fingerprint AWS documents must be the signer, not merely among the keys downloaded.
# The Dockerfile then checks that the plugin is there and can load (docker/entrypoint.sh,
# ringtrain_check_ofi_plugin). Sourced with RINGTRAIN_EFA_FUNCTIONS=1, it only defines the
# functions (tests).
#
# usage: install-efa.sh VERSION        (e.g. 1.47.0; the Dockerfile's EFA_INSTALLER_VERSION)

EFA_URL=${EFA_URL:-https://efa-installer.amazonaws.com}
# AWS's EFA installer signing key, "Amazon EC2 EFA <ec2-efa-maintainers@amazon.com>"
# (docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-start.html, "verify the installer").
EFA_KEY_FINGERPRINT=${EFA_KEY_FINGERPRINT:-4E9091BCBB97A96B26B15E59A05480B1DD2D3CCC}

# The installer's flags for a container, given its --help text: no kernel module (the host's), no
# limits file, no device test (there is no device at build time). Installers from 1.48 treat an
# image built on NVIDIA's CUDA images as an NGC one and change what they install (the NCCL plugin,
# rdma-core); the flags that turn that off are passed where the installer offers them.
efa_installer_flags() {
  flags="-y --skip-kmod --skip-limit-conf --no-verify"
  for flag in --disable-ngc --disable-build-ngc; do
    if printf '%s\n' "$1" | grep -qE -- "$flag([^[:alnum:]-]|\$)"; then flags="$flags $flag"; fi
  done
  echo "$flags"
}

# Checks that SIGNATURE is a good signature of TARBALL by the key EFA_KEY_FINGERPRINT names (the
# primary key's fingerprint in GnuPG's VALIDSIG status), with the keys in KEY_FILE. GnuPG's state
# lives in a scratch directory, not the image's.
efa_verify() {
  tarball=$1 signature=$2 key_file=$3
  if ! command -v gpg > /dev/null; then
    echo "install-efa: gpg (GnuPG) is needed to check the installer's signature" >&2
    return 1
  fi
  home=$(mktemp -d)
  gpg --homedir "$home" --batch --quiet --import "$key_file" 2>/dev/null
  signer=$(gpg --homedir "$home" --batch --status-fd 1 --verify "$signature" "$tarball" 2>/dev/null |
    awk '$1 == "[GNUPG:]" && $2 == "VALIDSIG" { print $NF }')
  rm -rf "$home"
  if [ -z "$signer" ]; then
    echo "install-efa: $signature is not a good signature of $tarball by any key in $key_file" >&2
    return 1
  fi
  if [ "$signer" != "$EFA_KEY_FINGERPRINT" ]; then
    echo "install-efa: $tarball is signed by $signer, not by AWS's EFA key $EFA_KEY_FINGERPRINT" >&2
    return 1
  fi
  echo "install-efa: $tarball: good signature by AWS's EFA key $EFA_KEY_FINGERPRINT"
}

efa_install() {
  version=$1
  work=$(mktemp -d)
  cd "$work" || return 1
  for file in "aws-efa-installer-$version.tar.gz" "aws-efa-installer-$version.tar.gz.sig" aws-efa-installer.key; do
    curl -fsSL -o "$file" "$EFA_URL/$file" || return 1
  done
  efa_verify "aws-efa-installer-$version.tar.gz" "aws-efa-installer-$version.tar.gz.sig" aws-efa-installer.key ||
    return 1
  tar xf "aws-efa-installer-$version.tar.gz" && cd aws-efa-installer || return 1
  flags=$(efa_installer_flags "$(./efa_installer.sh --help 2>&1)")
  echo "install-efa: efa_installer.sh $flags"
  # shellcheck disable=SC2086 # the flags are words
  DEBIAN_FRONTEND=noninteractive ./efa_installer.sh $flags || return 1
  cd / && rm -rf "$work"
}

if [ "${RINGTRAIN_EFA_FUNCTIONS:-}" != 1 ]; then
  if [ $# -ne 1 ]; then
    echo "usage: $0 VERSION" >&2
    exit 2
  fi
  efa_install "$1" || exit 1
fi
