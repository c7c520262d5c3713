#!/usr/bin/env bash
# Installs every Debian 12 package natctl needs to build and test. Idempotent: packages
# already present are skipped, so a warm machine pays nothing.
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang-format
    libnftnl-dev libmnl-dev libnetfilter-conntrack-dev
    libboost-dev nlohmann-json3-dev catch2 libfmt-dev libspdlog-dev libcli11-dev libsystemd-dev
    nftables iproute2 conntrack procps socat iputils-ping python3 curl
    iptables  # bench/run and its smoke test compare against iptables-nft / iptables-legacy
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
