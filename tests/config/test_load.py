"""gateway.yaml → frozen config: defaults, keys, .env and AG2API_* overrides, errors by line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ag2api.config.live import Overrides, exposure_problem, read_config
from ag2api.config.load import ConfigError, parse_config
from ag2api.config.schema import ApiKey, GatewayConfig, ModelRule, ThinkingConfig

ROOT = Path(__file__).resolve().parents[2]
P = Path("/srv/ag2api/conf/gateway.yaml")


def test_empty_file_gives_documented_defaults() -> None:
    cfg = parse_config("", path=P)
    assert cfg.server.host == "127.0.0.1" and cfg.server.port == 8000
    assert cfg.server.max_body_bytes == 20 * 1024 * 1024 and cfg.server.cors_origins == ()
    assert cfg.api_keys == () and cfg.rotation.count == 3
    assert cfg.tokens_file == Path("/srv/ag2api/data/tokens.json")  # conf/ beside data/
    assert parse_config("", path=Path("/etc/ag2api/gateway.yaml")).tokens_file == Path(
        "/etc/ag2api/tokens.json"
    )
    assert cfg.upstream.base_urls == (
        "https://daily-cloudcode-pa.googleapis.com",
        "https://cloudcode-pa.googleapis.com",
    )
    assert cfg.upstream.user_agent == "antigravity/hub/2.9.1 darwin/arm64"
    assert cfg.upstream.proxy is None and cfg.defaults.stream is False
    assert cfg.models.rule_for("gemini-3-pro-high").thinking == ThinkingConfig(True, -1)
    assert cfg.models.rule_for("claude-sonnet-4-5-thinking").thinking == ThinkingConfig(True, 1024)
    assert cfg.models.rule_for("claude-sonnet-4-5").thinking == ThinkingConfig(False, 0)
    assert cfg.models.rule_for("gpt-oss-120b-medium") is None


def test_shipped_config_matches_the_defaults() -> None:
    shipped = read_config(ROOT / "conf" / "gateway.yaml", environ={})
    defaults = GatewayConfig(path=shipped.path, tokens_file=(ROOT / "data" / "tokens.json"))
    assert replace(shipped, tokens_file=shipped.tokens_file.resolve()) == defaults


def test_every_key_is_read() -> None:
    cfg = parse_config(
        """
server: {host: 0.0.0.0, port: 9000, max_body_bytes: 4096, cors_origins: ["http://x"]}
api_keys: [sk-a, {key: sk-b, label: laptop}]
tokens_file: /var/lib/ag2api/tokens.json
rotation: {count: 5}
upstream:
  base_urls: ["http://127.0.0.1:1/"]
  user_agent: antigravity/hub/3.0.0 linux/amd64
  proxy: socks5h://127.0.0.1:1080
  timeouts: {connect: 1, first_byte: 2.5, idle: 3}
  max_connections: 50
retry: {attempts: 2, total_seconds: 5}
limits: {per_account: 3}
defaults: {stream: true}
models:
  policies:
    - {match: "gemini-3-*", thinking: {level: high}}
    - {match: "*", thinking: null}
  fallback: [m1]
  cache_ttl: 0
log_level: debug
""",
        path=P,
    )
    assert cfg.server.host == "0.0.0.0" and cfg.server.port == 9000
    assert cfg.server.cors_origins == ("http://x",)
    assert cfg.api_keys == (ApiKey("sk-a", "key-1"), ApiKey("sk-b", "laptop"))
    assert cfg.tokens_file == Path("/var/lib/ag2api/tokens.json")
    assert cfg.upstream.base_urls == ("http://127.0.0.1:1",)
    assert cfg.upstream.proxy == "socks5h://127.0.0.1:1080"
    assert cfg.upstream.timeouts.first_byte == 2.5 and cfg.upstream.max_connections == 50
    assert cfg.retry.attempts == 2 and cfg.retry.total_seconds == 5.0
    assert cfg.limits.per_account == 3 and cfg.defaults.stream is True
    assert cfg.models.policies == (
        ModelRule("gemini-3-*", ThinkingConfig(True, None, "high")),
        ModelRule("*", None),
    )
    assert cfg.models.rule_for("gemini-3-pro-high").thinking.to_gemini() == {
        "includeThoughts": True,
        "thinkingLevel": "high",
    }
    assert cfg.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("server:\n  port: eighty\n", 2, "server.port", "must be an integer from 0 to 65535"),
        ("server:\n  prot: 80\n", 2, "server.prot", "unknown key"),
        ("api_keys:\n  - sk-a\n  - 42\n", 3, "api_keys[1]", "must be a string or a mapping"),
        ("upstream:\n  proxy: ftp://x\n", 2, "upstream.proxy", "must start with one of"),
        ("rotation:\n  count: 0\n", 2, "rotation.count", "must be an integer from 1"),
        ("models:\n  policies:\n    - thinking: null\n", 3, "models.policies[0]", "'match'"),
        ("server: [1, 2]\n", 1, "server", "must be a mapping"),
        ("server:\n  port: 80\n   host: x\n", 3, "", "invalid YAML"),
    ],
)
def test_errors_name_the_key_and_the_line(text: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, path=P)
    err = info.value
    assert err.line == line, str(err)
    assert err.key == key
    assert reason in err.reason
    assert str(err).startswith(f"{P}:{line}: ")


def test_legacy_dotenv_beside_the_config_is_honoured() -> None:
    dotenv = 'API_KEYS=["sk-old-1", "sk-old-2"]\nHOST=0.0.0.0\nPORT=8001\nTOKEN_ROTATION_COUNT=7\n'
    cfg = parse_config("server: {port: 8000}", path=P, dotenv_text=dotenv)
    assert [k.key for k in cfg.api_keys] == ["sk-old-1", "sk-old-2"]
    assert (cfg.server.host, cfg.server.port, cfg.rotation.count) == ("0.0.0.0", 8001, 7)


def test_prefixed_environment_wins_and_bare_names_are_ignored() -> None:
    env = {
        "HOST": "0.0.0.0",
        "PORT": "1",
        "AG2API_PORT": "8123",
        "AG2API_API_KEYS": "sk-x, sk-y",
        "AG2API_UPSTREAM_PROXY": "http://proxy:3128",
    }
    cfg = parse_config("", path=P, dotenv_text="PORT=8001", environ=env)
    assert cfg.server.host == "127.0.0.1"
    assert cfg.server.port == 8123
    assert [k.key for k in cfg.api_keys] == ["sk-x", "sk-y"]
    assert cfg.upstream.proxy == "http://proxy:3128"


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"environment AG2API_PORT: server\.port"):
        parse_config("", path=P, environ={"AG2API_PORT": "http"})


def test_read_config_reads_dotenv_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text("rotation: {count: 2}\n")
    (tmp_path / ".env").write_text("TOKEN_ROTATION_COUNT=9\n")
    assert read_config(tmp_path / "gateway.yaml", environ={}).rotation.count == 9


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        read_config(tmp_path / "nope.yaml", environ={})


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        (
            "api_keys: [sk-first-0001]\nrotation: {count: 2}\napi_keys: [sk-second-0002]\n",
            "api_keys",
            (1, 3),
        ),
        ("server:\n  port: 8001\n  host: 0.0.0.0\n  port: 8002\n", "server.port", (2, 4)),
        ("api_keys:\n  - {key: sk-a-0123456, label: a, label: b}\n", "api_keys[0].label", (2, 2)),
    ],
)
def test_a_key_written_twice_is_an_error_naming_both_lines(
    text: str, key: str, lines: tuple[int, int]
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, path=P)
    err = info.value
    assert (err.key, err.line) == (key, lines[1])
    assert f"on lines {lines[0]} and {lines[1]}" in err.reason


def test_a_merge_key_may_still_be_overridden() -> None:
    cfg = parse_config(
        "upstream:\n  timeouts:\n    <<: {connect: 3, idle: 9}\n    idle: 7\n", path=P
    )
    assert (cfg.upstream.timeouts.connect, cfg.upstream.timeouts.idle) == (3.0, 7.0)


SECRET = "hunter2-s3cret"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f"upstream:\n  base_urls: ['ftp://user:{SECRET}@host/']\n", "upstream.base_urls"),
        (f"upstream:\n  proxy: 'htp://user:{SECRET}@proxy:3128'\n", "upstream.proxy"),
        (f"state:\n  redis_url: 'redis//:{SECRET}@cache:6379'\n", "state.redis_url"),
        (f"server:\n  trusted_proxies: ['10.0.0.0/8', '{SECRET}']\n", "server.trusted_proxies"),
        (f"models:\n  aliases: {{'{SECRET}': 42}}\n", "models.aliases"),
    ],
)
def test_a_refused_value_is_never_repeated(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, path=P)
    err = info.value
    assert err.key == key and err.line == 2
    assert SECRET not in str(err) and SECRET not in err.public
    # Shown to anyone (/health): the file's name, not its folder.
    assert err.public.startswith(f"gateway.yaml:2: {key}: ") and str(P.parent) not in err.public


def test_a_bad_environment_value_is_not_repeated_either() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("", path=P, environ={"AG2API_PORT": SECRET})
    assert SECRET not in str(info.value) and "server.port" in str(info.value)


def test_an_exposed_host_is_named_where_it_was_set_never_by_its_value() -> None:
    text = "rotation: {count: 2}\nserver:\n  port: 8000\n  host: user:pw@10.0.0.1\n"
    cfg = parse_config(text, path=P)
    problem = exposure_problem(cfg)
    assert problem is not None and "pw@" not in str(problem)
    assert str(problem).startswith(f"{P}:4: server.host: is an address other than loopback")
    from_flag = exposure_problem(Overrides(host="0.0.0.0").apply(parse_config("", path=P)))
    assert from_flag is not None and str(from_flag).startswith("--host: server.host: ")
    assert exposure_problem(parse_config("api_keys: [sk-a-key-0001]", path=P)) is None
