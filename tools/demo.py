"""`make demo`: three hosts in network namespaces talk through pyvswitch under a controller.

Builds the hosts and a namespace for the switch, starts pyvswitchd from an embedded TOML
configuration (no database server) and a MAC-learning os-ken app (what simple_switch_13 was) as the
controller, pings every pair of hosts, then shows what happened: ports with counters,
flows with packet counts, packet-ins the controller received, and one ``ofproto/trace``.
Everything is torn down at the end, also on Ctrl-C or an error.  Needs root.
"""

from __future__ import annotations

import re
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

from harness import Switch, free_tcp_port, wait_for  # noqa: E402
from osken_launcher import OsKen  # noqa: E402
from topology import Hosts  # noqa: E402

N_HOSTS = 3


def config(hosts: Hosts, port: int) -> str:
    lines = ["# Written by tools/demo.py", "[[bridge]]", 'name = "br0"',
             'datapath_type = "netdev"', 'fail_mode = "secure"',
             'protocols = ["OpenFlow13"]', 'datapath_id = "0000000000000001"']
    for i in range(1, N_HOSTS + 1):
        lines += ["[[bridge.port]]", f'name = "{hosts.port(i)}"', 'type = "system"',
                  f"ofport_request = {i}"]
    lines += ["[[bridge.controller]]", f'target = "tcp:127.0.0.1:{port}"',
              'connection_mode = "out-of-band"']
    return "\n".join(lines) + "\n"


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)))


def main() -> int:
    started = time.monotonic()
    hosts = Hosts(N_HOSTS, prefix="pvdemo")
    switch = controller = None

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        section("setting up")
        hosts.up()
        print(f"namespaces: switch {hosts.switch_ns}, hosts "
              + ", ".join(f"{ns} ({hosts.ip(i)})" for i, ns in enumerate(hosts.hosts, 1)))
        port = free_tcp_port()
        controller = OsKen(port, ["osken_apps.learning_switch13"], ofp="1.3",
                           name="demo-osken", netns=hosts.switch_ns).start()
        print(f"controller: os-ken running a MAC-learning app (as simple_switch_13) on tcp:127.0.0.1:{port}")
        switch = Switch(config(hosts, port), name="demo", netns=hosts.switch_ns).start()
        print(f"switch: pyvswitchd pid {switch.proc.pid}, rundir {switch.rundir}")
        wait_for(lambda: "CONTROLLER" in switch.ofctl(
            "-O", "OpenFlow13", "dump-flows", "br0").stdout, 15,
            what="the controller's table-miss flow")

        section("ping every pair")
        ok = True
        for a in range(1, N_HOSTS + 1):
            for b in range(1, N_HOSTS + 1):
                if a != b:
                    good = hosts.ping(a, b, count=2)
                    ok &= good
                    print(f"h{a} -> h{b} ({hosts.ip(b)}): {'ok' if good else 'FAILED'}")
        # The second round takes the flows the controller installed: no packet-ins.
        pins_before = count_packet_ins(controller)
        second = all(hosts.ping(a, b, count=1) for a in range(1, N_HOSTS + 1)
                     for b in range(1, N_HOSTS + 1) if a != b)
        time.sleep(0.6)  # datapath statistics reach the flows every 500 ms

        section("ports (ovs-ofctl -O OpenFlow13 dump-ports br0)")
        print(switch.ofctl("-O", "OpenFlow13", "dump-ports", "br0").stdout.rstrip())
        section("flows (ovs-ofctl -O OpenFlow13 dump-flows br0)")
        print(switch.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout.rstrip())
        section("packet-ins")
        pins = count_packet_ins(controller)
        print(f"the controller received {pins} packet-ins; "
              f"{pins - pins_before} during the second round of pings")
        section("ofproto/trace of h1 -> h2")
        print(switch.appctl("ofproto/trace", "br0",
                            f"in_port=1,dl_src={hosts.mac(1)},dl_dst={hosts.mac(2)},"
                            f"ip,nw_src={hosts.ip(1)},nw_dst={hosts.ip(2)}").stdout.rstrip())
        section("result")
        print(f"all pairs reachable: {ok}; second round without the controller's help: "
              f"{second}; {time.monotonic() - started:.1f} s")
        return 0 if ok and second else 1
    except KeyboardInterrupt:
        print("\ninterrupted: tearing down")
        return 130
    finally:
        if switch is not None:
            switch.cleanup()
        if controller is not None:
            controller.cleanup()
        hosts.cleanup()


def count_packet_ins(controller: OsKen) -> int:
    return len(re.findall(r"packet in ", controller.log_text()))


if __name__ == "__main__":
    sys.exit(main())
