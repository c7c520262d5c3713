#!/usr/bin/env bash
# The natctl.gateway collection against a real natctld (issue 12): the integration targets
# (ansible/ansible_collections/natctl/gateway/tests/integration/targets: natctl_model,
# natctl_info, natctl_objects) run with ansible-playbook against natctld from this build,
# started in a network namespace of its own with the quick-start topology (tests/daemon/lib.sh);
# then the natctl.gateway.natctld role.
#
# The role runs with its package and service steps off (natctld_install=false,
# natctld_manage_service=false): installing natctl on the machine that runs the tests is
# tests/packaging/deb.sh's business, and there is no systemd as PID 1 to start a unit here.
# What it does run: it writes natctld's settings (natctld reads them: this test starts natctld
# with --config pointing at that file), applies a model through natctl_model, and a second
# run with the same variables changes nothing.
set -u
# shellcheck source=../daemon/lib.sh
source "$(dirname "$0")/../daemon/lib.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
E2E_PREFIX="n12-$$"
# shellcheck disable=SC2034  # the namespace names lib.sh's helpers use
GW="$E2E_PREFIX-gw"
SW="$E2E_PREFIX-sw"
NET="$E2E_PREFIX-net"

ansible_preconditions
daemon_init
quickstart_topology
ansible_env "$E2E_TMP/home"
mkdir -p "$HOME"
export ANSIBLE_ROLES_PATH="$COLLECTION_DIR/tests/integration/targets"
HERE="$NATCTL_SOURCE_DIR/tests/ansible"

# playbook NAME LOG ARGS...: ansible-playbook; PASS/FAIL by its exit status, the log's tail
# on failure; the recap line in RECAP.
RECAP=""
playbook() {
    local what=$1 log=$2
    shift 2
    if /usr/bin/ansible-playbook -i localhost, -e ansible_python_interpreter="$ANSIBLE_PYTHON" "$@" >"$log" 2>&1; then
        pass "$what"
    else
        fail "$what"
        grep -E -B2 -A25 '^(fatal|failed):' "$log" | head -80 | sed 's/^/    /'
        tail -5 "$log" | sed 's/^/    /'
    fi
    RECAP=$(grep -E '^localhost +:' "$log" | tail -n1)
}
recap_count() { printf '%s' "$RECAP" | grep -o "$1=[0-9]*" | cut -d= -f2; }

# ---- the role writes natctld's settings; natctld starts with them --------------------------
role_vars=(-e '{"natctld_install": false, "natctld_manage_service": false}'
    -e natctld_config_path="$DAEMON_DIR/natctld.json" -e natctld_socket="$SOCK"
    -e '{"natctld_config": {"drift_debounce_ms": 100, "log_level": "debug"}}')
playbook "role writes natctld's settings" "$E2E_TMP/role1.log" "$HERE/role.yml" "${role_vars[@]}"
check_eq "the settings are the role's" 100 \
    "$("$ANSIBLE_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["drift_debounce_ms"])' "$DAEMON_DIR/natctld.json")"
start_daemon
wait_ready || { fail "natctld did not come up with the role's settings"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log" | tail -20; e2e_finish; exit 1; }
if grep -q 'debug' "$DAEMON_DIR/natctld.log"; then
    pass "natctld runs with the role's log level"
else
    fail "natctld's log shows no debug line (the role's log_level)"
fi

# ---- integration targets ------------------------------------------------------------------
write_variant_model "$E2E_TMP/variant.json"
started=$SECONDS
playbook "integration targets natctl_model, natctl_info, natctl_objects" "$E2E_TMP/integration.log" \
    "$HERE/integration.yml" -e natctl_socket="$SOCK" \
    -e natctl_quickstart_path="$NATCTL_SOURCE_DIR/examples/quickstart.json" \
    -e natctl_variant_src="$E2E_TMP/variant.json"
log "integration playbook: $((SECONDS - started)) s; $RECAP"
[ "$(recap_count failed)" = 0 ] || fail "failed tasks in the integration playbook"
kernel_matches_store "after the integration playbook"
# web-1's service through the DNAT entry the playbook left (web-http 203.0.113.11:80)
check_eq "DNAT through the model the playbook applied" "198.51.100.1 10.0.1.10 8080" \
    "$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 80)"

# ---- the role applies a model; a second run changes nothing -------------------------------
playbook "role applies the variant model" "$E2E_TMP/role2.log" "$HERE/role.yml" "${role_vars[@]}" \
    -e natctld_model_src="$E2E_TMP/variant.json"
check_eq "role's first run with a new model: changed tasks" 1 "$(recap_count changed)"
playbook "role again with the same variables" "$E2E_TMP/role3.log" "$HERE/role.yml" "${role_vars[@]}" \
    -e natctld_model_src="$E2E_TMP/variant.json"
check_eq "role's second run: changed tasks" 0 "$(recap_count changed)"
playbook "role in check mode with the quick-start model" "$E2E_TMP/role4.log" "$HERE/role.yml" "${role_vars[@]}" \
    -e '{"natctld_model": '"$(cat "$NATCTL_SOURCE_DIR/examples/quickstart.json")"'}' --check --diff
check_eq "role's check run: changed tasks (the model only)" 1 "$(recap_count changed)"
if grep -q 'eip-lab' "$E2E_TMP/role4.log"; then
    pass "check mode's diff shows the EIP the model drops"
else
    fail "no diff of the model in the check run"
fi
kernel_matches_store "after the role"
api GET /v1/config
if printf '%s' "$HTTP_BODY" | grep -q '"eip-lab"'; then
    pass "check mode left the variant in place"
else
    fail "check mode changed the model"
fi

e2e_finish
