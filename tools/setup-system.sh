#!/usr/bin/env bash
# Installs the Debian packages pyvswitch's tests, demo and benchmarks need, when missing.
# Open vSwitch's packages are installed for their tools (ovs-vsctl, ovs-ofctl, ovs-appctl,
# ovsdb-server, the vswitch schema) and as the reference switch in benchmarks; the system
# Open vSwitch service is never left running: a policy-rc.d denies service starts while the
# packages install, and any daemon already running from the system unit is stopped.
set -euo pipefail

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v ovs-vsctl >/dev/null || need+=(openvswitch-common openvswitch-switch)
command -v ovs-testcontroller >/dev/null || need+=(openvswitch-testcontroller)
command -v mn >/dev/null || need+=(mininet)
command -v trafgen >/dev/null || need+=(netsniff-ng)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v openssl >/dev/null || need+=(openssl)
command -v pypy3 >/dev/null || need+=(pypy3 pypy3-venv)

if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup-system: need root to install: ${need[*]}" >&2
        exit 1
    fi
    policy=/usr/sbin/policy-rc.d
    had_policy=0
    [ -e "$policy" ] && had_policy=1
    if [ $had_policy = 0 ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod +x "$policy"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    [ $had_policy = 0 ] && rm -f "$policy"
fi

# Never leave the system Open vSwitch running: it would own the default rundir.
if [ -r /var/run/openvswitch/ovs-vswitchd.pid ] || [ -r /var/run/openvswitch/ovsdb-server.pid ]; then
    /usr/share/openvswitch/scripts/ovs-ctl stop >/dev/null 2>&1 || true
fi
exit 0
