"""Every ``ovs-appctl`` command with hostile arguments: the daemon answers and stays up.

``list-commands`` gives the commands (ours and those of the ``ovs`` library); each is
called with no arguments, unknown names, huge numbers, bad flow strings, long strings and
format characters, up to three arguments.  After each call the daemon must still be
running; at the end it must still answer OpenFlow and forward.  Before
``util/unixctl_guard`` one call (``set-options br0 p1``: argparse's ``SystemExit``) ended
the daemon.
"""

from __future__ import annotations

import subprocess

import pytest

from harness import bridge_toml

pytestmark = pytest.mark.timeout(300)

SKIP = {"exit", "vlog/reopen", "vlog/close"}      # they do what they say
HOSTILE = ["br0", "nosuch", "", "p1", "1", "-1", "99999999999999999999", "in_port=1",
           "in_port=1,dl_type=0x800,nw_src=1.2.3.4", "table=300", "ANY:dbg", "x" * 300,
           "0x", "in_port=1 actions=drop", "../../etc", "br0 br0", "%s%n", "--help", "-h"]


def test_every_command_survives_hostile_arguments(make_switch):
    sw = make_switch(bridge_toml(ports=2, extra='flows = ["in_port=1,actions=output:2"]'))
    listing = sw.appctl("list-commands").stdout.splitlines()[1:]
    commands = [line.split()[0] for line in listing if line.strip()]
    assert len(commands) > 15 and "set-options" in commands
    calls, errors = 0, 0
    for command in commands:
        if command in SKIP:
            continue
        argvs = ([[]] + [[a] for a in HOSTILE] + [["br0", a] for a in HOSTILE]
                 + [["br0", a, a] for a in HOSTILE[:8]])
        for argv in argvs:
            r = subprocess.run(["ovs-appctl", "-t", "pyvswitchd", command, *argv],
                               env=sw.env, capture_output=True, text=True, timeout=30)
            calls += 1
            errors += r.returncode != 0
            assert sw.proc.poll() is None, (
                f"pyvswitchd ended after: ovs-appctl {command} {argv}\n{r.stderr}\n"
                f"{sw.log_text()[-3000:]}")
    assert calls > 500 and errors > 0
    # Still a switch: answers OpenFlow, still has its flow, still forwards.
    assert "in_port=1 actions=output:2" in sw.ofctl("dump-flows", "br0").stdout
    sw.appctl("netdev-dummy/receive", "p1", "020000000002" "020000000001" "1234" + "00" * 46)
    ports = sw.ofctl("dump-ports", "br0", "2").stdout
    assert "tx pkts=1" in ports, ports


def test_a_bad_library_command_is_an_error_reply_not_an_exit(make_switch):
    sw = make_switch(bridge_toml(ports=1))
    r = subprocess.run(["ovs-appctl", "-t", "pyvswitchd", "set-options", "--bogus"],
                       env=sw.env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "set-options: failed" in r.stderr
    assert sw.proc.poll() is None
    assert "br0" in sw.appctl("ofproto/list").stdout
    assert "unixctl_command_failed" in sw.appctl("coverage/show").stdout
