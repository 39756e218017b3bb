"""A real OpenFlow controller (os-ken) against pyvswitchd.

Each test starts os-ken processes (``osken_launcher.OsKen``) running the test apps in
``osken_apps/`` and a pyvswitchd whose bridge connects to them (``tcp:127.0.0.1:PORT``),
then asserts what the controller observed: features and ports, role changes with
ROLE_STATUS and their errors, reconnection after the controller restarts, and the quiet
default of service connections.  Every os-ken process is killed at the end of its test,
also on failure.
"""

from __future__ import annotations

import signal
import time

import pytest

from harness import bridge_toml, free_tcp_port
from osken_launcher import OsKen

OFPP_LOCAL = 0xFFFFFFFE
OFPET_BAD_REQUEST, OFPBRC_IS_SLAVE = 1, 10
OFPET_ROLE_REQUEST_FAILED, OFPRRFC_STALE = 11, 0
OFPCR_REASON_MASTER_REQUEST = 0
OFPPC_PORT_DOWN = 1
OFPPR_MODIFY = 2
UNDEFINED_GENERATION = 0xFFFFFFFFFFFFFFFF

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def make_osken():
    """Start os-ken processes; every one is killed (and its files removed) at the end."""
    started: list[OsKen] = []

    def start(port: int, app: str = "osken_apps.role", ofp: str = "1.3",
              connect: str = "") -> OsKen:
        ctl = OsKen(port, [app], ofp=ofp, connect=connect)
        started.append(ctl)
        return ctl.start()

    yield start
    for ctl in started:
        ctl.cleanup()


def controller(port: int, **extra) -> dict:
    return {"target": f"tcp:127.0.0.1:{port}", "max_backoff": 1000, **extra}


def test_controller_sees_datapath_id_and_ports(make_switch, make_osken):
    port = free_tcp_port()
    ctl = make_osken(port, "osken_apps.recorder", ofp="1.3")
    make_switch(bridge_toml(ports=2, datapath_id="00000000cafe0042",
                            controllers=[controller(port)]))
    features = ctl.wait_event("features")
    assert features["datapath_id"] == 0xCAFE0042
    assert features["version"] == 4
    assert features["n_tables"] == 254
    ports = ctl.wait_event("port_desc")["ports"]
    by_no = {p["port_no"]: p["name"] for p in ports}
    assert by_no == {1: "p1", 2: "p2", OFPP_LOCAL: "br0"}
    assert all(p["hw_addr"] != "00:00:00:00:00:00" for p in ports)


def _role(ctl: OsKen, role: str, gen: int = 0) -> dict:
    return ctl.request("role", role=role, gen=gen)


@pytest.mark.parametrize("ofp", ["1.3", "1.4"])
def test_two_controllers_master_election(make_switch, make_osken, ofp):
    port_a, port_b = free_tcp_port(), free_tcp_port()
    a = make_osken(port_a, ofp=ofp)
    b = make_osken(port_b, ofp=ofp)
    make_switch(bridge_toml(controllers=[controller(port_a), controller(port_b)]))
    a.wait_event("port_desc")
    b.wait_event("port_desc")

    # Both start as EQUAL, with no generation id defined yet.
    reply = _role(a, "nochange")
    assert (reply["event"], reply["role"]) == ("role_reply", "equal")
    assert reply["generation_id"] == UNDEFINED_GENERATION

    reply = _role(a, "master", 1)
    assert (reply["event"], reply["role"], reply["generation_id"]) == ("role_reply", "master", 1)
    assert not a.events("role_status")

    reply = _role(b, "master", 2)
    assert (reply["event"], reply["role"], reply["generation_id"]) == ("role_reply", "master", 2)

    # A was demoted and told so, in its version's encoding.
    status = a.wait_event("role_status")
    assert status["role"] == "slave"
    assert status["reason"] == OFPCR_REASON_MASTER_REQUEST
    assert status["generation_id"] == 2
    assert status["encoding"] == ("ONF1911" if ofp == "1.3" else "OF1.4")
    assert _role(a, "nochange")["role"] == "slave"
    assert not b.events("role_status")

    # The slave may not change the switch; the role check comes before anything else.
    for op, args in (("port_mod", {"port": 1, "config": OFPPC_PORT_DOWN,
                                   "mask": OFPPC_PORT_DOWN}),
                     ("flow_mod", {}), ("packet_out", {})):
        err = a.request(op, **args)
        assert (err["event"], err["type"], err["code"]) == \
            ("error", OFPET_BAD_REQUEST, OFPBRC_IS_SLAVE), op

    # The master's PORT_MOD is accepted: no error before the barrier reply, and the
    # slave hears about the change (slaves get PORT_STATUS by default).
    mod = b.send("port_mod", port=1, config=OFPPC_PORT_DOWN, mask=OFPPC_PORT_DOWN)
    assert b.request("barrier")["event"] == "barrier_reply"
    assert not [e for e in b.events("error") if e["cmd"] == mod]
    status = a.wait_event("port_status", lambda e: e["port_no"] == 1)
    assert status["reason"] == OFPPR_MODIFY and status["config"] & OFPPC_PORT_DOWN

    # A master (or slave) request with an older generation id is refused as stale.
    for role in ("master", "slave"):
        err = _role(a, role, 1)
        assert (err["event"], err["type"], err["code"]) == \
            ("error", OFPET_ROLE_REQUEST_FAILED, OFPRRFC_STALE), role
    assert _role(a, "nochange")["role"] == "slave"

    # An EQUAL request never looks at the generation id (and does not change it).
    reply = _role(a, "equal", 1)
    assert (reply["event"], reply["role"], reply["generation_id"]) == ("role_reply", "equal", 2)
    reply = _role(b, "nochange")
    assert (reply["role"], reply["generation_id"]) == ("master", 2)


# GET_ASYNC masks ([master, slave]) Open vSwitch reports for a fresh session: packet-in
# NO_MATCH|ACTION (OF1.4 adds ACTION_SET|GROUP|PACKET_OUT), port-status ADD|DELETE|MODIFY
# for both roles, flow-removed IDLE|HARD|DELETE|GROUP_DELETE (OF1.4 adds METER_DELETE|
# EVICTION) for master only, nothing else.
DEFAULT_ASYNC = {
    "1.3": {"packet_in": [0x03, 0], "port_status": [0x7, 0x7], "flow_removed": [0x0F, 0]},
    "1.4": {"packet_in": [0x3B, 0], "port_status": [0x7, 0x7], "flow_removed": [0x3F, 0],
            "role_status": [0, 0], "table_status": [0, 0], "requestforward": [0, 0]},
}


def _masks(reply: dict, ofp: str) -> dict:
    return {k: reply.get(k) for k in DEFAULT_ASYNC[ofp]}


@pytest.mark.parametrize("ofp", ["1.3", "1.4"])
def test_reconnect_after_controller_restart_starts_fresh(make_switch, make_osken, ofp):
    port = free_tcp_port()
    ctl = make_osken(port, ofp=ofp)
    make_switch(bridge_toml(controllers=[controller(port, max_backoff=2000)]))
    ctl.wait_event("port_desc")
    assert _masks(ctl.request("get_async"), ofp) == DEFAULT_ASYNC[ofp]

    # Change the session's state: master, custom async masks, miss_send_len.
    assert _role(ctl, "master", 5)["role"] == "master"
    ctl.send("set_async", packet_in=[0x1, 0], port_status=[0x1, 0], flow_removed=[0, 0x1])
    ctl.send("set_config", flags=0, miss_send_len=64)
    changed = ctl.request("get_async")
    assert {k: changed[k] for k in ("packet_in", "port_status", "flow_removed")} == \
        {"packet_in": [0x1, 0], "port_status": [0x1, 0], "flow_removed": [0, 0x1]}
    assert ctl.request("get_config")["miss_send_len"] == 64

    # The controller goes away abruptly and comes back on the same port.
    ctl.stop(signal.SIGKILL)
    time.sleep(0.5)   # the switch notices and starts backing off
    ctl.start()
    features = ctl.wait_event("features", timeout=10)
    assert features["t"] - ctl.listening_at < 3.0, \
        f"reconnected {features['t'] - ctl.listening_at:.1f}s after the controller came back"
    ctl.wait_event("port_desc")

    # A new session: EQUAL, default async masks and miss_send_len; the bridge's
    # generation id survives.
    reply = _role(ctl, "nochange")
    assert (reply["role"], reply["generation_id"]) == ("equal", 5)
    assert _masks(ctl.request("get_async"), ofp) == DEFAULT_ASYNC[ofp]
    assert ctl.request("get_config")["miss_send_len"] == 128


def test_service_connection_gets_no_async_messages_by_default(make_switch, make_osken):
    ctl_port, service_port = free_tcp_port(), free_tcp_port()
    primary = make_osken(ctl_port, ofp="1.3")
    make_switch(bridge_toml(controllers=[controller(ctl_port),
                                         {"target": f"ptcp:{service_port}:127.0.0.1"}]))
    # os-ken connects out to the switch's passive (service) listener.
    service = make_osken(free_tcp_port(), ofp="1.3",
                         connect=f"127.0.0.1:{service_port}")
    primary.wait_event("port_desc")
    service.wait_event("port_desc")

    def toggle_port_1(down: bool) -> None:
        primary.send("port_mod", port=1, config=OFPPC_PORT_DOWN if down else 0,
                     mask=OFPPC_PORT_DOWN)
        assert primary.request("barrier")["event"] == "barrier_reply"

    # The change is queued to every interested session before the primary's barrier
    # reply; the service's own barrier reply comes after anything queued before it.
    toggle_port_1(down=True)
    assert service.request("barrier")["event"] == "barrier_reply"
    assert service.events("port_status") == []
    assert service.request("get_config")["miss_send_len"] == 0

    # Once the service asks for async messages (SET_ASYNC), it gets PORT_STATUS.
    service.send("set_async", packet_in=[0, 0], port_status=[0x7, 0x7], flow_removed=[0, 0])
    assert service.request("get_config")["miss_send_len"] == 128
    toggle_port_1(down=False)
    status = service.wait_event("port_status")
    assert (status["port_no"], status["reason"]) == (1, OFPPR_MODIFY)
    assert not status["config"] & OFPPC_PORT_DOWN
