"""The TOML file's [ssl] table."""

import pytest

from pyvswitch.config.toml_source import ConfigError, parse


def test_ssl_files_and_bootstrap_flag():
    cfg, problems = parse({"ssl": {"private_key": "/k", "certificate": "/c", "ca_cert": "/ca",
                                   "bootstrap_ca_cert": True}})
    assert problems == []
    assert cfg.ssl == {"private_key": "/k", "certificate": "/c", "ca_cert": "/ca",
                       "bootstrap_ca_cert": "true"}      # as the OVSDB source spells it


@pytest.mark.parametrize("ssl, word", [
    ({"private_key": "/k", "bootstrap_ca_cert": "yes"}, "bootstrap_ca_cert"),
    ({"certificate": 5}, "ssl.certificate"),
    ({"ca_cert": ""}, "ssl.ca_cert"),
    ({"ca-cert": "/ca"}, "expected a table with keys"),
    ("files", "expected a table"),
])
def test_bad_ssl_tables_are_refused_with_the_key_named(ssl, word):
    with pytest.raises(ConfigError) as e:
        parse({"ssl": ssl}, "sw.toml")
    assert "sw.toml: ssl" in str(e.value) and word in str(e.value)
