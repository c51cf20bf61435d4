"""Settings: defaults, file, environment, and every kind of wrong value refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.config import (
    PLACEHOLDER_ADMIN_KEY,
    PLACEHOLDER_SECRET,
    Settings,
    load_settings,
    production_problems,
    render_toml,
)
from livecart.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "livecart.toml"
    path.write_text(text)
    return path


def test_shipped_config_toml_is_exactly_the_defaults_with_a_comment_per_key() -> None:
    assert (REPO / "config.toml").read_text() == render_toml()
    assert load_settings(REPO / "config.toml", env={}) == Settings()


def test_no_file_and_no_environment_gives_the_defaults(tmp_path: Path) -> None:
    assert load_settings(env={}, cwd=tmp_path) == Settings()


def test_config_toml_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[server]\nport = 9001\n")
    assert load_settings(env={}, cwd=tmp_path).server.port == 9001


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[hub]\ntick_ms = 40\n[redis]\nappendfsync = "everysec"\n')
    settings = load_settings(path, env={"LIVECART_HUB_TICK_MS": "25"})
    assert settings.hub.tick_ms == 25
    assert settings.redis.appendfsync == "everysec"
    assert settings.server.port == 8080


def test_livecart_config_variable_picks_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 7000\n")
    assert load_settings(env={"LIVECART_CONFIG": str(path)}, cwd=tmp_path).server.port == 7000


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LIVECART_AUTH_ANONYMOUS_VIEWERS": "off"}, ("auth", "anonymous_viewers", False)),
        ({"LIVECART_AUTH_ANONYMOUS_VIEWERS": "1"}, ("auth", "anonymous_viewers", True)),
        ({"LIVECART_REDIS_SOCKET_TIMEOUT_S": "0.5"}, ("redis", "socket_timeout_s", 0.5)),
        ({"LIVECART_REDIS_URL": "redis://h:6379/2"}, ("redis", "url", "redis://h:6379/2")),
        ({"LIVECART_SERVER_HOST": "0.0.0.0"}, ("server", "host", "0.0.0.0")),
    ],
)
def test_environment_values_are_parsed_to_the_setting_type(
    env: dict[str, str], expected: tuple[str, str, object]
) -> None:
    section, key, value = expected
    assert getattr(getattr(load_settings(env=env, cwd=Path("/")), section), key) == value


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[serverr]\nport = 1\n", "[serverr] in"),
        ("[server]\nprot = 1\n", "server.prot (from"),
        ('[server]\nport = "80"\n', "server.port = '80'"),
        ("[server]\nport = 80.5\n", "expected a whole number"),
        ("[server]\nport = true\n", "expected a whole number"),
        ("[server]\nport = 70000\n", "expected at most 65535"),
        ("[server]\nport = -1\n", "expected at least 0"),
        ('[redis]\nappendfsync = "sometimes"\n', "expected one of always, everysec, no"),
        ('[auth]\nanonymous_viewers = "yes"\n', "expected true or false"),
        ("[hub]\ntick_ms = 1\n", "hub.tick_ms = 1"),
        ("[redis]\nsocket_timeout_s = nan\n", "expected a finite number"),
        ('[redis]\nurl = "localhost:6379"\n', "redis.url = 'localhost:6379'"),
        ('[auth]\nsecret = ""\n', "auth.secret"),
        ('[media]\njanus_urls = "10.0.0.7:8088"\n', "expected Janus' HTTP API URL"),
        (
            '[media]\njanus_urls = "http://a/janus http://b/janus"\njanus_rtp_hosts = "a"\n',
            "give one per URL",
        ),
        ('[media]\nviewer_path = "janus"\n', "set media.janus_urls"),
        ('[media]\nviewer_path = "hls"\n', "set media.hls = true"),
        ('[media]\nviewer_path = "dash"\n', "expected one of whep, janus, hls"),
        ("server = 3\n", "must be a [server] table"),
        ("[server\n", "is not valid TOML"),
    ],
)
def test_wrong_values_in_the_file_stop_start_up_naming_key_and_rule(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LIVECART_SERVER_PORT": "eighty"}, "server.port = 'eighty' (from LIVECART_SERVER_PORT)"),
        ({"LIVECART_SERVER_PORT": "99999"}, "expected at most 65535"),
        ({"LIVECART_AUTH_ANONYMOUS_VIEWERS": "maybe"}, "expected true or false"),
        ({"LIVECART_REDIS_SOCKET_TIMEOUT_S": "soon"}, "expected a number"),
        ({"LIVECART_HUB_TICKMS": "10"}, "hub.tickms (from LIVECART_HUB_TICKMS) is not a setting"),
        ({"LIVECART_FOO": "1"}, "LIVECART_FOO names no setting"),
        ({"LIVECART_REDIS_APPENDFSYNC": "never"}, "expected one of always, everysec, no"),
    ],
)
def test_wrong_environment_values_stop_start_up_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env, cwd=Path("/"))
    assert message in str(caught.value)


def test_a_missing_config_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml' does not exist"):
        load_settings(tmp_path / "nope.toml", env={})


def test_placeholders_are_production_problems_and_strong_values_are_not() -> None:
    problems = production_problems(Settings())
    assert any("auth.secret is the placeholder" in p for p in problems)
    assert any("auth.admin_api_key is the placeholder" in p for p in problems)
    short = Settings().with_overrides({"auth": {"secret": "short", "admin_api_key": "k" * 8}})
    assert len(production_problems(short)) == 2
    strong = Settings().with_overrides({"auth": {"secret": "s" * 32, "admin_api_key": "k" * 16}})
    assert production_problems(strong) == []
    assert PLACEHOLDER_SECRET in render_toml() and PLACEHOLDER_ADMIN_KEY in render_toml()


def test_base_url_uses_public_url_or_a_reachable_host() -> None:
    assert Settings().base_url == "http://127.0.0.1:8080"
    any_host = Settings().with_overrides({"server": {"host": "0.0.0.0", "port": 9}})
    assert any_host.base_url == "http://127.0.0.1:9"
    public = Settings().with_overrides({"server": {"public_url": "https://shop.example/"}})
    assert public.base_url == "https://shop.example"


@given(st.dictionaries(st.sampled_from(["port", "host", "log_level"]), st.text(max_size=12)))
def test_any_environment_either_loads_or_is_refused_with_a_config_error(
    values: dict[str, str],
) -> None:
    env = {f"LIVECART_SERVER_{k.upper()}": v for k, v in values.items()}
    try:
        settings = load_settings(env=env, cwd=Path("/"))
    except ConfigError as exc:
        assert "server." in str(exc)
    else:
        assert 0 <= settings.server.port <= 65535
        assert settings.server.log_level in ("critical", "error", "warning", "info", "debug")
