"""The TOML configuration: what is accepted, what is fatal, what is skipped with a message."""

import pytest

from pyvswitch.config.toml_source import ConfigError, load, parse


def test_example_file_loads():
    cfg, problems = load("examples/br0.toml")
    assert problems == []
    br = cfg.bridges["br0"]
    assert br.fail_mode == "secure"
    assert br.allowed_versions == {0x01, 0x04, 0x05, 0x06}
    assert {p.name: p.interfaces[0].ofport_request for p in br.ports.values()} == {
        "p1": 1, "p2": 2}


def test_unreadable_and_unparsable_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml: cannot read"):
        load(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[[bridge]\nname=")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load(str(bad))


@pytest.mark.parametrize("text, message", [
    ('colour = "blue"', "unknown key"),
    ('[[bridge]]\nname = ""', "bridge needs a name"),
    ('[[bridge]]\nname = "br0"\nfail_mode = "open"', 'fail_mode: "open"'),
    ('[[bridge]]\nname = "br0"\nprotocols = ["OpenFlow99"]', "OpenFlow99"),
    ('[[bridge]]\nname = "br0"\ndatapath_id = "xyz"', "datapath_id"),
    ('[[bridge]]\nname = "br0"\n[[bridge]]\nname = "br0"', "duplicate bridge"),
])
def test_fatal_errors_name_the_key(text, message):
    import tomllib
    with pytest.raises(ConfigError, match=message):
        parse(tomllib.loads(text), "f.toml")


def test_bad_rows_are_skipped_and_the_rest_kept():
    import tomllib
    text = """
[[bridge]]
name = "br0"
  [[bridge.port]]
  name = "good"
  type = "dummy"
  [[bridge.port]]
  name = "bad-type"
  type = "warp-drive"
  [[bridge.port]]
  name = "bad-ofport"
  type = "dummy"
  ofport_request = 0
  [[bridge.controller]]
  target = "tcp:127.0.0.1:6653"
  [[bridge.controller]]
  target = "carrier-pigeon:1.2.3.4"
  [[bridge.controller]]
  target = "tcp:127.0.0.1:6654"
  max_backoff = 10
"""
    cfg, problems = parse(tomllib.loads(text), "f.toml")
    br = cfg.bridges["br0"]
    assert list(br.ports) == ["good"]
    assert [c.target for c in br.controllers] == ["tcp:127.0.0.1:6653"]
    text_problems = "\n".join(str(p) for p in problems)
    assert 'port[1].type: unknown interface type "warp-drive"' in text_problems
    assert "port[2].ofport_request: 0 is not an integer in 1..65279" in text_problems
    assert "unknown connection method" in text_problems
    assert "controller[2].max_backoff: 10" in text_problems
