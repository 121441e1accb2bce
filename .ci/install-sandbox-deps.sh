#!/bin/sh
# Install what `aitbc-infra sandbox` needs on a fresh Debian 12 machine. Idempotent: installs
# only missing packages and runs `apt-get update` only when there is something to install.
set -eu

PACKAGES="
debootstrap
debian-archive-keyring
systemd-container
pebble
openssh-client
openssl
iproute2
procps
curl
ca-certificates
"

if [ "$(id -u)" -ne 0 ]; then
    echo "install-sandbox-deps: run as root" >&2
    exit 2
fi

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    echo "install-sandbox-deps: all present"
    exit 0
fi

echo "install-sandbox-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing
