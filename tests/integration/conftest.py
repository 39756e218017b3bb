import pytest

from harness import Switch


@pytest.fixture
def make_switch():
    """Start pyvswitchd instances from TOML text; every one is stopped at the end."""
    started: list[Switch] = []

    def start(config_text: str, bridges=("br0",), netns: str | None = None) -> Switch:
        sw = Switch(config_text, netns=netns)
        started.append(sw)
        return sw.start(bridges)

    yield start
    for sw in started:
        sw.cleanup()


@pytest.fixture
def hosts():
    """Hosts in namespaces around a switch namespace; ``hosts(n)`` makes them."""
    from topology import Hosts
    made: list[Hosts] = []

    def make(n: int = 2) -> Hosts:
        h = Hosts(n)
        made.append(h)
        return h.up()

    yield make
    for h in made:
        h.cleanup()
