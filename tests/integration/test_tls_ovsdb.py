"""TLS configured through OVSDB with Open vSwitch's own ``ovs-vsctl set-ssl``.

The SSL row's key, certificate and CA protect a pssl: controller listener; ``--bootstrap
set-ssl`` (SSL.bootstrap_ca_cert) lets an ssl: controller connection fetch the CA.
"""

from __future__ import annotations

import ssl

from harness import free_tcp_port, wait_for
from ovsdb_harness import ovsdb, vswitchd  # noqa: F401 - fixtures
from tls_pki import controller, pki, tls_hello  # noqa: F401 - fixtures


def add_bridge(db, target):
    db.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=dummy",
             "other_config:datapath-id=0000000000000001", "--",
             "set-controller", "br0", target)


def test_set_ssl_protects_a_pssl_listener(ovsdb, vswitchd, pki):
    db = ovsdb()
    sw = vswitchd(db)
    key, crt = pki["switch"]
    db.vsctl("set-ssl", str(key), str(crt), str(pki["ca"]))
    port = free_tcp_port()
    add_bridge(db, f"pssl:{port}:127.0.0.1")
    wait_for(lambda: sw.answers("br0"), 10, what="br0")
    ckey, ccrt = pki["controller"]
    r = sw.ofctl(f"--private-key={ckey}", f"--certificate={ccrt}",
                 f"--ca-cert={pki['ca']}", "-O", "OpenFlow13", "show",
                 f"ssl:127.0.0.1:{port}")
    assert "dpid:0000000000000001" in r.stdout
    skey, scrt = pki["stranger"]
    r = sw.ofctl(f"--private-key={skey}", f"--certificate={scrt}",
                 f"--ca-cert={pki['ca']}", "-O", "OpenFlow13", "show",
                 f"ssl:127.0.0.1:{port}", check=False)
    assert r.returncode != 0
    # ovs-ofctl may give up before the switch has logged its side of the handshake
    wait_for(lambda: "peer certificate not accepted" in sw.log_text(), 10,
             what="the refusal to be logged")

    # Another SSL row (renewed certificate) is used by the next connection.
    key2, crt2 = pki["switch2"]
    db.vsctl("del-ssl", "--", "set-ssl", str(key2), str(crt2), str(pki["ca"]))
    assert tls_hello(port, ckey, ccrt, pki["ca"])[0] == "switch-renewed"


def test_bootstrap_set_ssl_fetches_the_controllers_ca(ovsdb, vswitchd, pki, controller,
                                                     tmp_path):
    db = ovsdb()
    sw = vswitchd(db)
    port = free_tcp_port()
    ckey, ccrt = pki["controller"]
    controller(port, ckey, ccrt, pki["ca"], peer_ca=pki["ca"])
    ca_file = tmp_path / "cacert.pem"
    key, crt = pki["switch"]
    db.vsctl("--", "--bootstrap", "set-ssl", str(key), str(crt), str(ca_file))
    add_bridge(db, f"ssl:127.0.0.1:{port}")
    db.vsctl("set", "Controller", "br0", "max_backoff=1000")
    wait_for(lambda: db.get("Controller", "br0", "is_connected") == "true", 20,
             what="the controller to be connected after the bootstrap")
    assert f"successfully bootstrapped CA cert to {ca_file}" in sw.log_text()
    assert ssl.PEM_cert_to_DER_cert(ca_file.read_text()) == \
        ssl.PEM_cert_to_DER_cert(pki["ca"].read_text())
