"""Small os-ken apps for integration tests, run by ``tests/integration/osken_launcher.py``.

* ``common``: reporting (JSON lines to ``$OSKEN_TEST_OUT``), the OpenFlow version choice
  (``$OSKEN_TEST_OFP``) and ``Observer``, the base that records what a switch sends.
* ``recorder``: records features (datapath id, n_tables) and the port list.
* ``role``: additionally executes commands the test appends to ``$OSKEN_TEST_CMD`` (role
  requests, async config, PORT_MOD/FLOW_MOD/PACKET_OUT, barriers) and records the answers.

These modules import os-ken; they are loaded only inside the launcher's process.
"""
