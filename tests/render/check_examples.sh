#!/usr/bin/env bash
# Every example renders (exit 0) to a file that `nft -c -f -` accepts and that, once loaded,
# `nft list table ip natctl` prints exactly as rendered; invalid documents are refused with
# `path: reason` lines; usage errors exit 2.
#
# The kernel half needs root and network namespaces: it runs only inside a throwaway
# namespace made here, so the host's own ruleset is never read or written. Without them the
# offline half still runs and the test then reports a skip (77) with the reason.
set -u

bin_dir=${NATCTL_BIN_DIR:?NATCTL_BIN_DIR must name the build directory}
source_dir=${NATCTL_SOURCE_DIR:?NATCTL_SOURCE_DIR must name the source tree}
natctl="$bin_dir/cli/natctl"
[[ -x $natctl ]] || { echo "FAIL: $natctl is not built"; exit 1; }

work=$(mktemp -d)
netns=""
cleanup() {
    [[ -n $netns ]] && ip netns del "$netns" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# ---- offline: render every example ------------------------------------------------------

shopt -s nullglob
examples=("$source_dir"/examples/*.json)
((${#examples[@]} > 0)) || { echo "FAIL: no examples in $source_dir/examples"; exit 1; }

rendered=()
for example in "${examples[@]}"; do
    name=$(basename "$example" .json)
    out="$work/$name.nft"
    if ! "$natctl" render -f "$example" >"$out" 2>"$work/$name.err"; then
        fail "natctl render -f examples/$name.json exited $?:"
        sed 's/^/    /' "$work/$name.err"
        continue
    fi
    if ! grep -q '^table ip natctl {' "$out"; then
        fail "examples/$name.json: render output has no 'table ip natctl {' block"
        continue
    fi
    rendered+=("$name")
done

# `-f -` reads standard input and gives the same, deterministic output.
if [[ -f $work/quickstart.nft ]]; then
    if ! "$natctl" render -f - <"$source_dir/examples/quickstart.json" >"$work/stdin.nft"; then
        fail "natctl render -f - (quickstart on stdin) failed"
    elif ! cmp -s "$work/stdin.nft" "$work/quickstart.nft"; then
        fail "render from stdin differs from render of the file:"
        diff -u "$work/quickstart.nft" "$work/stdin.nft" | head -40
    fi
fi

# ---- offline: invalid documents are refused with `path: reason` ------------------------

# Writes a small valid document with one piece replaced; keeps the cases readable.
invalid_document() { # $1 file, $2 vswitch cidr, $3 snat eips, $4 dnat ports
    cat >"$1" <<JSON
{
  "version": 1,
  "vpcs": [{
    "name": "vpc-t", "cidr": "10.0.0.0/16", "interfaces": ["veth-vpc"],
    "vswitches": [{"name": "vsw-t", "cidr": $2, "route_table": "rt-t"}],
    "instances": [{"name": "vm-t", "vswitch": "vsw-t", "private_ips": ["10.0.1.10"]}],
    "route_tables": [{"name": "rt-t", "routes": [
      {"destination": "0.0.0.0/0", "next_hop": {"nat_gateway": "ngw-t"}}]}]
  }],
  "eips": [{"name": "eip-t", "address": "203.0.113.10"}],
  "nat_gateways": [{
    "name": "ngw-t", "vpc": "vpc-t", "outside_interface": "veth-wan",
    "upstream": "198.51.100.1", "eips": ["eip-t"],
    "snat_entries": [{"name": "snat-t", "source": {"vswitch": "vsw-t"}, "eips": $3}],
    "dnat_entries": [{"name": "dnat-t", "eip": "eip-t", "protocol": "udp",
                      "private_ip": "10.0.1.10", $4}]
  }]
}
JSON
}

# $1 label, $2 document, then one extended regex per error line that must appear.
expect_refused() {
    local label=$1 document=$2
    shift 2
    local status=0
    "$natctl" render -f "$document" >"$work/refused.out" 2>"$work/refused.err" || status=$?
    if ((status != 1)); then
        fail "$label: expected exit 1, got $status"
        sed 's/^/    /' "$work/refused.err"
        return 1
    fi
    if [[ -s $work/refused.out ]]; then
        fail "$label: a refused document must render nothing, stdout has $(wc -l <"$work/refused.out") lines"
        return 1
    fi
    if grep -Evq '^[^ :]+: .+' "$work/refused.err"; then
        fail "$label: every stderr line must read 'path: reason', got:"
        sed 's/^/    /' "$work/refused.err"
        return 1
    fi
    local pattern ok=0
    for pattern in "$@"; do
        if ! grep -Eq "$pattern" "$work/refused.err"; then
            fail "$label: no error line matches /$pattern/; stderr was:"
            sed 's/^/    /' "$work/refused.err"
            ok=1
        fi
    done
    return $ok
}

refused=0
valid_ports='"public_port": "10/20", "private_port": "80/90"'

# The control case: the template itself is valid, so each refusal below is due to its edit.
invalid_document "$work/control.json" '"10.0.1.0/24"' '["eip-t"]' "$valid_ports"
"$natctl" render -f "$work/control.json" >/dev/null 2>"$work/control.err" ||
    { fail "the unedited test document is refused:"; sed 's/^/    /' "$work/control.err"; }

invalid_document "$work/range.json" '"10.0.1.0/24"' '["eip-t"]' \
    '"public_port": "10/19", "private_port": "80/90"'
expect_refused "DNAT range length mismatch" "$work/range.json" \
    '^nat_gateways\[0\]\.dnat_entries\[0\]\.private_port: .*1[01]' && refused=$((refused + 1))

invalid_document "$work/eip.json" '"10.0.1.0/24"' '["eip-t", "eip-missing"]' "$valid_ports"
expect_refused "unknown EIP reference" "$work/eip.json" \
    '^nat_gateways\[0\]\.snat_entries\[0\]\.eips(\[1\])?: .*eip-missing' &&
    refused=$((refused + 1))

# Two bad CIDRs in one document: both are reported, not just the first.
invalid_document "$work/cidr.json" '"10.0.1.0/33"' '["eip-t"]' "$valid_ports"
sed -i 's#"cidr": "10.0.0.0/16"#"cidr": "10.0.0.1/16"#' "$work/cidr.json"
expect_refused "bad CIDRs" "$work/cidr.json" \
    '^vpcs\[0\]\.cidr: ' '^vpcs\[0\]\.vswitches\[0\]\.cidr: ' && refused=$((refused + 1))

# ---- offline: usage errors --------------------------------------------------------------

expect_exit() { # $1 expected status, $2 label, then the command line
    local expected=$1 label=$2 status=0
    shift 2
    "$@" >"$work/usage.out" 2>"$work/usage.err" || status=$?
    if ((status != expected)); then
        fail "$label: expected exit $expected, got $status"
        sed 's/^/    /' "$work/usage.err"
    fi
}
expect_exit 2 "unknown option" "$natctl" render --no-such-option -f "$source_dir/examples/quickstart.json"
expect_exit 2 "render without -f" "$natctl" render
expect_exit 2 "no command" "$natctl"
expect_exit 2 "missing file" "$natctl" render -f "$work/does-not-exist.json"
grep -q 'does-not-exist.json' "$work/usage.err" || fail "missing file: the message does not name the file"
expect_exit 2 "directory as file" "$natctl" render -f "$work"
expect_exit 2 "bad -o value" "$natctl" -o yaml render -f "$source_dir/examples/quickstart.json"
expect_exit 0 "global options accepted" "$natctl" --socket "$work/none.sock" -o json render \
    -f "$source_dir/examples/quickstart.json"
expect_exit 0 "--version" "$natctl" --version
grep -qx 'natctl 0.1.0' "$work/usage.out" || fail "--version printed '$(cat "$work/usage.out")'"
expect_exit 0 "render --help" "$natctl" render --help
grep -q 'natctl render -f' "$work/usage.out" || fail "render --help shows no example"

# ---- kernel: nft -c, then load and list, in a throwaway namespace ----------------------

skip_reason=""
if ((EUID != 0)); then
    skip_reason="not root: cannot create a network namespace to run nft in"
elif ! command -v nft >/dev/null; then
    skip_reason="nft is not installed"
else
    netns="natctl-r-$$"
    if ! ip netns add "$netns" 2>"$work/netns.err"; then
        skip_reason="cannot create a network namespace: $(cat "$work/netns.err")"
        netns=""
    fi
fi

if [[ -n $skip_reason ]]; then
    if ((failures > 0)); then
        echo "render: $failures failure(s); ${#rendered[@]}/${#examples[@]} examples rendered, $refused/3 invalid documents refused"
        exit 1
    fi
    echo "render: ${#rendered[@]} examples rendered offline, $refused invalid documents refused"
    echo "SKIP kernel part: $skip_reason"
    exit 77
fi

# The table block alone: from `table ip natctl {` to its closing brace in column 0.
table_part() {
    awk '/^table ip natctl \{/ { inside = 1 } inside { print } inside && /^\}/ { exit }' "$1"
}

kernel_ok=0
for name in "${rendered[@]}"; do
    file="$work/$name.nft"
    # A fresh namespace per example: nothing left over from the previous one can mask or
    # clash with this one.
    ip netns del "$netns" 2>/dev/null
    ip netns add "$netns" || { fail "cannot recreate namespace $netns"; break; }

    if ! ip netns exec "$netns" nft -c -f - <"$file" 2>"$work/check.err"; then
        fail "examples/$name.json: nft -c -f - rejects the render output:"
        sed 's/^/    /' "$work/check.err"
        continue
    fi
    if ! ip netns exec "$netns" nft -f - <"$file" 2>"$work/load.err"; then
        fail "examples/$name.json: nft -f - fails to load what nft -c accepted:"
        sed 's/^/    /' "$work/load.err"
        continue
    fi
    if ! ip netns exec "$netns" nft list table ip natctl >"$work/$name.listed" 2>"$work/list.err"; then
        fail "examples/$name.json: nft list table ip natctl failed after loading:"
        sed 's/^/    /' "$work/list.err"
        continue
    fi
    table_part "$file" >"$work/$name.expected"
    if ! diff -u --label "natctl render (examples/$name.json)" --label "nft list table ip natctl" \
        "$work/$name.expected" "$work/$name.listed" >"$work/$name.diff"; then
        fail "examples/$name.json: the kernel lists the table differently from the render:"
        cat "$work/$name.diff"
        continue
    fi
    kernel_ok=$((kernel_ok + 1))
done

if ((failures > 0)); then
    echo "render: $failures failure(s); $kernel_ok/${#examples[@]} examples ok, $refused/3 invalid documents refused"
    exit 1
fi
echo "render: $kernel_ok examples ok, $refused invalid documents refused"
