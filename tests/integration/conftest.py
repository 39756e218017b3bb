import pytest

from harness import Switch


@pytest.fixture
def make_switch():
    """Start pyvswitchd instances from TOML text; every one is stopped at the end."""
    started: list[Switch] = []

    def start(config_text: str, bridges=("br0",)) -> Switch:
        sw = Switch(config_text)
        started.append(sw)
        return sw.start(bridges)

    yield start
    for sw in started:
        sw.cleanup()
