"""pyvswitchd DATABASE without a usable vswitch.ovsschema: a clear message, exit status 1,
no traceback (the schema is looked up in $OVS_PKGDATADIR, as Open vSwitch does)."""

import json
import os
import subprocess
import sys

import pytest


def _start(tmp_path, schema_text: str | None) -> subprocess.CompletedProcess:
    pkgdata = tmp_path / "pkgdata"
    pkgdata.mkdir()
    if schema_text is not None:
        (pkgdata / "vswitch.ovsschema").write_text(schema_text)
    env = dict(os.environ, OVS_PKGDATADIR=str(pkgdata))
    return subprocess.run(
        [sys.executable, "-m", "pyvswitch.vswitchd.main", f"unix:{tmp_path}/db.sock",
         "--rundir", str(tmp_path / "run"), "-vconsole:off"],
        env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("schema, message", [
    (None, "vswitch.ovsschema not found in"),
    ('{"name": "Open_vSwitch", ', "not a usable database schema"),
    (json.dumps({"name": "Open_vSwitch", "version": "1.0.0",
                 "tables": {"Bridge": {"columns": {"name": {"type": "string"}}}}}),
     "no column Bridge.ports"),
    (json.dumps({"name": "OVN_Northbound", "version": "1.0.0", "tables": {}}),
     'schema of database "OVN_Northbound"'),
])
def test_an_unusable_schema_ends_with_a_message(tmp_path, schema, message):
    r = _start(tmp_path, schema)
    assert r.returncode == 1
    assert r.stderr.startswith("pyvswitchd: ") and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
