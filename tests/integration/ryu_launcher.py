"""Run ``ryu-manager`` from .venv-ryu (tools/ryu_venv.sh) on today's eventlet.

Ryu 4.34's app manager imports ``eventlet.wsgi.ALREADY_HANDLED``, a name eventlet dropped
in 0.30.3; Ryu only uses it for its REST (wsgi) responses, which the apps we run never
send.  This launcher supplies a placeholder under that name, then hands its arguments to
Ryu's own ``ryu-manager`` entry point unchanged::

    .venv-ryu/bin/python ryu_launcher.py --ofp-tcp-listen-port 6653 ryu.app.simple_switch_13

Runs under .venv-ryu's interpreter: imports only eventlet and ryu.
"""

import sys

import eventlet.wsgi

if not hasattr(eventlet.wsgi, "ALREADY_HANDLED"):
    eventlet.wsgi.ALREADY_HANDLED = object()

from ryu.cmd.manager import main  # noqa: E402  (after the placeholder above)

if __name__ == "__main__":
    sys.exit(main())
