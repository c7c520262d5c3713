#!/usr/bin/env bash
# Installs every Debian 12 package natctl needs to build and test. Idempotent: packages
# already present are skipped, so a warm machine pays nothing.
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang-format
    libnftnl-dev libmnl-dev libnetfilter-conntrack-dev
    libboost-dev nlohmann-json3-dev catch2 libfmt-dev libspdlog-dev libcli11-dev libsystemd-dev
    prometheus-cpp-dev  # natctld's metrics: registry and text format (core library only)
    nftables iproute2 conntrack procps socat iputils-ping python3 curl
    iptables  # bench/run and its smoke test compare against iptables-nft / iptables-legacy
    # tests/packaging/deb.sh: dpkg-buildpackage, lintian, systemd-analyze security
    dpkg-dev debhelper lintian systemd
    # the natctl.gateway Ansible collection (tests/ansible): ansible-core with ansible-test,
    # pytest for its units, and what its offline sanity tests run (validate-modules: voluptuous)
    ansible-core python3-pytest python3-pytest-xdist python3-pytest-forked python3-voluptuous
    pylint python3-pycodestyle yamllint
    # the libFuzzer targets (scripts/fuzz.sh, tests/fuzz/regression.sh): clang 16 is the
    # oldest Debian 12 clang whose C++23 support compiles natctl against libstdc++ 12
    clang-16 libclang-rt-16-dev llvm-16
    keepalived conntrackd  # the HA failover test, demo and bench (docs/HA.md)
)

# promtool checks natctld's metrics in the tests. It ships only inside the Debian package
# prometheus, whose installation would also enable a Prometheus server on the machine; the
# tests take the one binary out of the package instead (tests/daemon/lib.sh finds it here).
PROMTOOL=/usr/local/libexec/natctl/promtool

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && { command -v promtool >/dev/null || [ -x "$PROMTOOL" ]; }; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}) or promtool; run as root to install them" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v promtool >/dev/null && [ ! -x "$PROMTOOL" ]; then
    echo "install-deps: fetching promtool from the Debian package prometheus (not installing it)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    chmod 0755 "$work"  # apt downloads as user _apt
    (cd "$work" && apt-get download -qq prometheus 2>/dev/null ||
        { apt-get update -qq && apt-get download -qq prometheus; })
    dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$work" ./usr/bin/promtool
    install -D -m 0755 "$work/usr/bin/promtool" "$PROMTOOL"
fi
