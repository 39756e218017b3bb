"""os-ken app: a controller the test drives through a command file.

Everything ``recorder`` does, plus: commands appended (JSON lines) to
``$OSKEN_TEST_CMD`` are executed in order on the connected datapath, and the switch's
answer is recorded with the command's id (``cmd``).  See ``common.Observer.COMMANDS``
for the operations: role requests (with a generation id), GET_ASYNC/SET_ASYNC,
GET_CONFIG/SET_CONFIG, PORT_MOD, FLOW_MOD, PACKET_OUT, BARRIER.
"""

from osken_apps.common import Observer


class RoleController(Observer):
    """Executes test commands (``Observer`` spawns the command loop when asked to)."""

    RUN_COMMANDS = True
