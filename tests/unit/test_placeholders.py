"""Placeholders in commands and env values are checked when the inventory is validated: each
refusal names host, field and value, and render fills only what validation let through."""

import pytest

from aitbc_infra.fleet import ModelError
from aitbc_infra.placeholders import Placeholder, fill, parse
from aitbc_infra.render import render_fleet


def _refused(data) -> str:
    with pytest.raises(ModelError) as info:
        data.load()
    return str(info.value)


def test_parse_types_placeholders_and_leaves_other_braces():
    assert parse("{root}/x {url:api} {} {0} {\"a\": 1}") == [Placeholder("root", None),
                                                              Placeholder("url", "api")]
    assert fill("{root}/db {url:api} {}", {"root": "/opt/a"}, url=lambda u: f"http://{u}") \
        == "/opt/a/db http://api {}"


def test_unknown_placeholder_in_env_is_refused(data):
    field, app = data.app("aitbc_container", "coordinator-api")
    app["env"]["URL"] = "sqlite:///{rooot}/data/coordinator.db"
    message = _refused(data)
    assert "host aitbc" in message and f"{field}.env.URL" in message
    assert "unknown placeholder {rooot}" in message and "{rooot}/data/coordinator.db" in message


def test_host_is_not_an_env_placeholder(data):
    # Only a command knows its own socket; in an env file {host} used to stay as written.
    field, app = data.app("aitbc_container", "wallet-daemon")
    app["env"]["BIND"] = "{host}"
    message = _refused(data)
    assert f"{field}.env.BIND" in message and "an env value takes {root}, {url:UNIT}" in message


def test_url_to_unknown_unit_in_a_command_is_refused(data):
    field, svc = data.service("incus_host", "aitbc-gpu-miner")
    svc["command"] = "miner.py --url {url:aitbc-mock} mine"
    message = _refused(data)
    assert "host at1" in message and f"{field}.command" in message
    assert "{url:aitbc-mock} names no service with a port on this host" in message


def test_url_to_unit_without_port_is_refused(data):
    field, svc = data.service("incus_host", "aitbc-gpu-miner")
    svc["command"] = "miner.py --url {url:aitbc-blockchain-node} mine"
    assert f"{field}.command" in _refused(data)


def test_url_in_an_app_env_list_item_is_checked(data):
    # Unchecked before: a list item naming no unit crashed the render with a traceback.
    field, app = data.app("aitbc_container", "exchange")
    app["env"]["UPSTREAMS"] = ["{url:coordinator-api}", "{url:nowhere}"]
    message = _refused(data)
    assert f"{field}.env.UPSTREAMS[1]" in message and "{url:nowhere}" in message
    assert f"{field}.env.UPSTREAMS[0]" not in message


def test_url_without_unit_is_refused(data):
    field, app = data.app("aitbc_container", "exchange")
    app["env"]["API"] = "{url}"
    assert f"{field}.env.API" in _refused(data)


def test_argument_on_a_plain_placeholder_is_refused(data):
    field, app = data.app("aitbc_container", "exchange")
    app["env"]["DATA"] = "{root:data}"
    assert "{root:data} takes no argument" in _refused(data)


def test_port_in_a_command_of_a_service_without_port_is_refused(data):
    # It rendered as "None" before.
    field, svc = data.service("incus_host", "aitbc-gpu-miner")
    svc["command"] = "miner.py --port {port} mine"
    message = _refused(data)
    assert f"{field}.command" in message and "aitbc-gpu-miner has no port" in message


def test_valid_placeholders_render(data):
    field, app = data.app("aitbc_container", "exchange")
    app["env"]["UPSTREAMS"] = ["{url:coordinator-api}", "{root}/x"]
    rendered = render_fleet(data.load())
    env = next(f for f in rendered["aitbc"] if f.path == "/etc/aitbc/aitbc-exchange-api.env")
    assert 'UPSTREAMS="[\\"http://127.0.0.1:8000\\", \\"/opt/exchange/x\\"]"' in env.content
