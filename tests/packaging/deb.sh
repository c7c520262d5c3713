#!/usr/bin/env bash
# The Debian package, as an operator gets it: `dpkg-buildpackage -us -uc -b` on a copy of
# the source, `lintian --fail-on error,warning`, the unit's `systemd-analyze security`
# exposure (at most 2.0), then `apt-get install ./natctl_*.deb` on this machine, natctl and
# natctld run from /usr, and a purge that leaves nothing behind.
#
# The package stays in $NATCTL_BIN_DIR/deb/ (natctl_<version>_<arch>.deb) for later tests.
# The build uses ccache when it is installed (CMAKE_CXX_COMPILER_LAUNCHER; the copy sits at
# a fixed path so that a second run hits the cache). Skips (77) without root, and when a
# natctl package is already installed (the test purges only what it installed itself).
set -u

bin_dir=${NATCTL_BIN_DIR:?NATCTL_BIN_DIR must name the build directory}
source_dir=${NATCTL_SOURCE_DIR:?NATCTL_SOURCE_DIR must name the source tree}
[[ $(id -u) -eq 0 ]] || { echo "skip: installing a package needs root"; exit 77; }
for tool in dpkg-buildpackage lintian systemd-analyze apt-get; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (scripts/install-deps.sh)"; exit 1; }
done
dpkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
if dpkg_installed natctl; then
    echo "skip: a natctl package is already installed here; this test installs and purges its own"
    exit 77
fi

out=$(cd "$bin_dir" && pwd)/deb
src=$out/src
installed=""
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
not() { ! "$@"; }
check() {  # check DESCRIPTION COMMAND...
    if "${@:2}" >/dev/null 2>&1; then echo "ok: $1"; else fail "$1"; fi
}
apt_get() { apt-get -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends "$@"; }
cleanup() {
    if [[ -n $installed ]] && dpkg_installed natctl; then
        DEBIAN_FRONTEND=noninteractive apt_get purge natctl >/dev/null 2>&1
    fi
}
trap cleanup EXIT

# ---- build ----------------------------------------------------------------------------------

rm -rf "$src" "$out"/natctl_* "$out"/natctl-dbgsym_*
mkdir -p "$src"
# The tracked and untracked-but-not-ignored files: what a clone plus local edits holds, never
# a build directory.
if git -C "$source_dir" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$source_dir" && git ls-files -z --cached --others --exclude-standard |
        tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$src" -xf -
else
    tar -C "$source_dir" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$src" -xf -
fi

export DEB_BUILD_OPTIONS="nocheck parallel=${NATCTL_DEB_JOBS:-$(nproc)}"
if command -v ccache >/dev/null; then
    export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
started=$(date +%s)
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
    tail -40 "$out/build.log"
    echo "FAIL: dpkg-buildpackage (log: $out/build.log)"
    exit 1
fi
echo "ok: dpkg-buildpackage -us -uc -b took $(($(date +%s) - started)) s${CMAKE_CXX_COMPILER_LAUNCHER:+ (ccache)}"
rm -rf "$src"
shopt -s nullglob
debs=("$out"/natctl_*.deb)
changes=("$out"/natctl_*.changes)
((${#debs[@]} == 1 && ${#changes[@]} == 1)) || { echo "FAIL: expected one .deb and one .changes in $out"; exit 1; }
deb=${debs[0]}
echo "package: $deb"

# ---- lintian ----------------------------------------------------------------------------------

if lintian --fail-on error,warning --display-info "${changes[0]}" >"$out/lintian.txt" 2>&1; then
    echo "ok: lintian --fail-on error,warning ($(grep -c . "$out/lintian.txt") info lines)"
else
    cat "$out/lintian.txt"
    fail "lintian --fail-on error,warning"
fi
sed 's/^/  lintian: /' "$out/lintian.txt"

# ---- contents -----------------------------------------------------------------------------------

contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
for path in ./usr/sbin/natctld ./usr/bin/natctl ./lib/systemd/system/natctld.service \
    ./etc/natctl/natctld.json ./usr/share/man/man8/natctl.8.gz ./usr/share/man/man8/natctld.8.gz \
    ./usr/share/bash-completion/completions/natctl ./usr/lib/sysctl.d/60-natctl.conf \
    ./usr/lib/modules-load.d/natctl.conf ./usr/share/doc/natctl/copyright \
    ./usr/share/doc/natctl/changelog.gz ./usr/share/doc/natctl/examples/quickstart.json; do
    check "package holds $path" grep -qxF "$path" <<<"$contents"
done
check "no file under /usr/local" not grep -q '^./usr/local' <<<"$contents"
control=$(mktemp -d)
dpkg-deb --control "$deb" "$control"
check "/etc/natctl/natctld.json is a conffile" grep -qxF /etc/natctl/natctld.json "$control/conffiles"
# Installation enables the unit but never starts it: natctld has no model yet.
check "postinst does not start natctld on installation" \
    not grep -qE 'deb-systemd-invoke (start|restart) ' "$control/postinst"
check "postinst restarts a running natctld on upgrade" grep -q 'try-restart' "$control/postinst"
rm -rf "$control"

# ---- install, use from /usr ----------------------------------------------------------------------

installed=1
if ! DEBIAN_FRONTEND=noninteractive apt_get install "$deb" >"$out/install.log" 2>&1; then
    cat "$out/install.log"
    echo "FAIL: apt-get install $deb"
    exit 1
fi
echo "ok: apt-get install ./$(basename "$deb")"
check "natctl installed" dpkg-query -W natctl

unit=/lib/systemd/system/natctld.service
security=$(systemd-analyze security --offline=yes "$unit" 2>&1)
score=$(sed -n 's/.*Overall exposure level for natctld.service: \([0-9.]*\).*/\1/p' <<<"$security")
if [[ -n $score ]] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
    echo "ok: systemd-analyze security --offline=yes: exposure $score (at most 2.0)"
else
    grep -F '✗' <<<"$security"
    fail "systemd-analyze security exposure ${score:-unknown} is above 2.0"
fi
check "the unit runs /usr/sbin/natctld with the packaged settings" \
    grep -q '^ExecStart=/usr/sbin/natctld --config /etc/natctl/natctld.json ' "$unit"
check "the unit is enabled (multi-user.target.wants)" \
    test -L /etc/systemd/system/multi-user.target.wants/natctld.service

help=$(/usr/sbin/natctld --help 2>&1)
check "/usr/sbin/natctld --help exits 0" /usr/sbin/natctld --help
check "natctld --help lists --config" grep -q -- --config <<<"$help"
check "natctld --help lists --reload" grep -q -- --reload <<<"$help"
rendered=$(/usr/bin/natctl render -f /usr/share/doc/natctl/examples/quickstart.json 2>&1)
check "/usr/bin/natctl render of the packaged example" grep -q '^table ip natctl' <<<"$rendered"
check "/usr/bin/natctl --version" /usr/bin/natctl --version
check "natctl with no daemon exits 3" bash -c \
    '/usr/bin/natctl --socket /nonexistent/natctl.sock status; [ $? -eq 3 ]'

# ---- purge -------------------------------------------------------------------------------------------

if DEBIAN_FRONTEND=noninteractive apt_get purge natctl >"$out/purge.log" 2>&1; then
    echo "ok: apt-get purge natctl"
    installed=""
else
    cat "$out/purge.log"
    fail "apt-get purge natctl"
fi
for path in /usr/sbin/natctld /usr/bin/natctl "$unit" /etc/natctl \
    /etc/systemd/system/multi-user.target.wants/natctld.service /usr/lib/sysctl.d/60-natctl.conf; do
    check "purged: $path" test ! -e "$path"
done
check "dpkg no longer lists natctl as installed" not dpkg_installed natctl

echo "package left in $deb"
((failures == 0)) || { echo "FAIL: $failures check(s)"; exit 1; }
echo "PASS"
