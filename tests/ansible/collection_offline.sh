#!/usr/bin/env bash
# The natctl.gateway collection without a natctld: ansible-test units (every module against
# an in-memory natctld), ansible-test sanity (validate-modules, ansible-doc, pylint, pep8,
# yamllint, import, compile and the other offline tests), and ansible-doc of every module.
# Needs no root and no network: sanity's Python requirements are Debian's
# (tests/ansible/ansible-test-offline).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
ansible_preconditions

work=$(mktemp -d /tmp/natctl-ansible-offline.XXXXXX)
trap 'rm -rf "$work"' EXIT
ansible_env "$work"
# ansible-test writes its results under the collection's tests/output: test a copy, so that
# the source tree stays as it is (it may be read-only) and untracked files do not count.
copy="$work/ansible_collections/natctl/gateway"
mkdir -p "$copy"
cp -a "$COLLECTION_DIR/." "$copy/"
rm -rf "$copy/tests/output"
cd "$copy"

failures=0
step() {
    local what=$1
    shift
    echo "== $what"
    if "$@"; then echo "PASS: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}

step "ansible-test units" "$ANSIBLE_PYTHON" /usr/bin/ansible-test units --python-interpreter "$ANSIBLE_PYTHON" --python 3.11 --color no
sanity() {
    "$ANSIBLE_PYTHON" "$NATCTL_SOURCE_DIR/tests/ansible/ansible-test-offline" sanity \
        --python-interpreter "$ANSIBLE_PYTHON" --python 3.11 --color no \
        --skip-test pslint --skip-test shellcheck 2>&1 | tee "$work/sanity.log"
}
step "ansible-test sanity" sanity
# the tests that matter most ran, none was skipped for a missing requirement
for test in validate-modules ansible-doc pylint pep8 yamllint import; do
    step "sanity test $test ran" grep -q "^Running sanity test \"$test\"" "$work/sanity.log"
done
step "no sanity test skipped" bash -c "! grep -i 'skipping sanity test' '$work/sanity.log'"

for module in natctl_model natctl_info natctl_dnat natctl_snat natctl_eip; do
    step "ansible-doc natctl.gateway.$module" bash -c \
        "ANSIBLE_COLLECTIONS_PATH='$work' /usr/bin/ansible-doc natctl.gateway.$module | grep -q '^EXAMPLES:'"
done
step "ansible-doc natctl.gateway.natctld (role)" bash -c \
    "ANSIBLE_COLLECTIONS_PATH='$work' /usr/bin/ansible-doc -t role natctl.gateway.natctld | grep -q 'natctld_deb'"

echo "ansible offline: $failures failed"
[ "$failures" -eq 0 ]
