"""docker-compose.yml, the Dockerfiles and deploy/otel-collector.yaml agree with each other and with otel-mcp.

No container engine runs here, so these checks read the files: every service, port, volume and
healthcheck the stack needs, the collector's OTLP -> ClickHouse wiring, and otel-mcp's environment
(each variable documented, and accepted by otel_mcp.config). `docker compose config` and the
Compose JSON schema are used as well when they are available.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from otel_mcp.config import Settings
from tests.conftest import REPO

COMPOSE = REPO / "docker-compose.yml"
COLLECTOR_CONFIG = REPO / "deploy" / "otel-collector.yaml"

# What otel-mcp documents: every variable in the README's configuration table.
_TABLE_ROW = re.compile(r"^\| `((?:OTEL_MCP|OTEL_EXPORTER_OTLP)_[A-Z_]+)`", re.M)
DOCUMENTED_ENV = set(_TABLE_ROW.findall((REPO / "README.md").read_text()))

# The clickhouse exporter's configuration keys (upstream exporter/clickhouseexporter/config.schema.yaml,
# plus the exporterhelper `timeout`, `retry_on_failure` and `sending_queue` blocks); catches typos.
CLICKHOUSE_EXPORTER_KEYS = {
    "endpoint",
    "username",
    "password",
    "database",
    "connection_params",
    "tls",
    "ttl",
    "create_schema",
    "cluster_name",
    "table_engine",
    "async_insert",
    "compress",
    "json",
    "logs_table_name",
    "traces_table_name",
    "metrics_table_name",
    "metrics_tables",
    "profiles_table_name",
    "timeout",
    "retry_on_failure",
    "sending_queue",
}

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's `${VAR}` / `${VAR:-default}` with an empty environment unless given one."""
    env = env or {}
    return _INTERPOLATION.sub(lambda m: env.get(m["name"]) or (m["default"] or ""), value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def collector() -> dict[str, Any]:
    data = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    assert isinstance(data, dict)
    return data


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    services = compose["services"]
    assert name in services, f"service {name!r} missing; have {sorted(services)}"
    svc = services[name]
    assert isinstance(svc, dict)
    return svc


def published(svc: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """container port -> (host ip, host port) from short-syntax `ports`."""
    out: dict[int, tuple[str, int]] = {}
    for entry in svc.get("ports", []):
        parts = str(entry).split(":")
        assert len(parts) == 3, f"port {entry!r} should name the host address (ip:host:container)"
        out[int(parts[2])] = (parts[0], int(parts[1]))
    return out


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment", {})
    assert isinstance(env, dict), "use the mapping form of `environment`"
    return {str(k): interpolate(str(v)) for k, v in env.items()}


def healthcheck_argv(svc: dict[str, Any]) -> list[str]:
    test = svc["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] == "CMD", "healthchecks run a program directly (no shell needed)"
    return [str(part) for part in test[1:]]


def dockerfile_lines(path: Path) -> list[str]:
    text = path.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def volume_targets(svc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """container path -> (source, mode) from short-syntax `volumes`."""
    out: dict[str, tuple[str, str]] = {}
    for entry in svc.get("volumes", []):
        parts = interpolate(str(entry)).split(":")
        out[parts[1]] = (parts[0], parts[2] if len(parts) > 2 else "rw")
    return out


# --- ClickHouse --------------------------------------------------------------------------------


def test_every_published_port_is_bound_to_loopback_only(compose: dict[str, Any]) -> None:
    # A team puts a proxy in front; nothing in the stack answers on other interfaces by default.
    for name, svc in compose["services"].items():
        for container, (address, _) in published(svc).items():
            assert address == "127.0.0.1", f"{name} publishes {container} on {address}"


# --- the collector ---------------------------------------------------------------------------


def test_collector_image_is_the_pinned_contrib_image_plus_the_healthcheck_tool(compose: dict[str, Any]) -> None:
    col = service(compose, "otel-collector")
    dockerfile = REPO / col["build"]["context"] / col["build"]["dockerfile"]
    lines = dockerfile_lines(dockerfile)
    bases = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert bases[-1].startswith("otel/opentelemetry-collector-contrib:")
    assert re.fullmatch(r"\d+\.\d+\.\d+", bases[-1].split(":")[1])
    # The upstream image has no shell or wget: the healthcheck's program must be put there by us.
    probe = healthcheck_argv(col)
    assert any(line.startswith("COPY") and line.split()[-1] == probe[0] for line in lines), probe[0]
    assert "--spider" in probe and "wget" in probe


def test_collector_mounts_its_config_and_starts_after_clickhouse_is_healthy(
    compose: dict[str, Any], collector: dict[str, Any]
) -> None:
    col = service(compose, "otel-collector")
    config_flag = next(arg for arg in col["command"] if arg.startswith("--config="))
    config_path = config_flag.split("=", 1)[1]
    source, mode = volume_targets(col)[config_path]
    assert (REPO / source).resolve() == COLLECTOR_CONFIG
    assert mode == "ro"
    assert col["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    ports = published(col)
    assert ports[4317][0] == ports[4318][0] == "127.0.0.1"
    # The healthcheck probes the port the health_check extension listens on.
    probe_url = next(arg for arg in healthcheck_argv(col) if arg.startswith("http://"))
    assert urlsplit(probe_url).port == port_of(collector["extensions"]["health_check"]["endpoint"])


def test_collector_pipeline_sends_otlp_traces_to_clickhouse(compose: dict[str, Any], collector: dict[str, Any]) -> None:
    pipelines = collector["service"]["pipelines"]
    traces = [p for name, p in pipelines.items() if name == "traces" or name.startswith("traces/")]
    assert traces, "a traces pipeline is required"
    wired = [p for p in traces if "clickhouse" in p["exporters"]]
    assert wired, "the clickhouse exporter must be used in a traces pipeline"
    assert all("otlp" in p["receivers"] for p in wired)
    assert all("batch" in p.get("processors", []) for p in wired)
    # Everything a pipeline names is defined, and the extensions it needs are enabled.
    for pipeline in pipelines.values():
        for kind, section in (("receivers", "receivers"), ("processors", "processors"), ("exporters", "exporters")):
            for component in pipeline.get(kind, []):
                assert component in collector[section], f"{component} used but not defined"
    assert "health_check" in collector["service"]["extensions"]
    protocols = collector["receivers"]["otlp"]["protocols"]
    assert port_of(protocols["grpc"]["endpoint"]) == 4317
    assert port_of(protocols["http"]["endpoint"]) == 4318
    ports = published(service(compose, "otel-collector"))
    assert {4317, 4318} <= set(ports)


def test_clickhouse_exporter_points_at_the_compose_service_and_otel_mcps_table(
    compose: dict[str, Any], collector: dict[str, Any]
) -> None:
    exporter = collector["exporters"]["clickhouse"]
    assert set(exporter) <= CLICKHOUSE_EXPORTER_KEYS, set(exporter) - CLICKHOUSE_EXPORTER_KEYS
    endpoint = urlsplit(exporter["endpoint"])
    assert endpoint.scheme == "tcp"
    assert endpoint.hostname in compose["services"] and endpoint.hostname == "clickhouse"
    assert endpoint.port in published(service(compose, "clickhouse"))
    assert exporter["create_schema"] is True
    assert re.fullmatch(r"\d+[hms]", str(exporter["ttl"])), "ttl is a Go duration such as 720h"
    mcp_env = environment(service(compose, "otel-mcp"))
    defaults = Settings(agent_id="x")
    assert exporter["database"] == mcp_env.get("OTEL_MCP_CLICKHOUSE_DATABASE", defaults.clickhouse_database)
    assert exporter["database"] == defaults.clickhouse_database
    assert exporter["traces_table_name"] == mcp_env.get("OTEL_MCP_CLICKHOUSE_TABLE", defaults.clickhouse_table)
    assert exporter["traces_table_name"] == defaults.clickhouse_table
    # Credentials come from the collector's environment, which carries the same values ClickHouse gets.
    col_env, ch_env = environment(service(compose, "otel-collector")), environment(service(compose, "clickhouse"))
    for field, var in (("username", "CLICKHOUSE_USER"), ("password", "CLICKHOUSE_PASSWORD")):
        assert exporter[field] == f"${{env:{var}}}"
        assert col_env[var] == ch_env[var] != ""


# --- otel-mcp ----------------------------------------------------------------------------------


def test_otel_mcp_image_installs_the_package_and_serves_streamable_http(compose: dict[str, Any]) -> None:
    mcp = service(compose, "otel-mcp")
    build = mcp["build"]
    context = build if isinstance(build, str) else build["context"]
    lines = dockerfile_lines(REPO / context / "Dockerfile")
    # The package with the tools the shipped gates run, so checks can run in the container.
    assert any(line.startswith('RUN pip install ".[checks]"') for line in lines)
    cmd = next(line for line in lines if line.startswith("CMD "))
    argv = json.loads(cmd[4:])
    assert argv[:4] == shlex.split("otel-mcp serve --transport streamable-http")
    assert int(argv[argv.index("--port") + 1]) in published(mcp), "the port served is the port published"
    # Everything the Dockerfile copies exists in the repo (pip install . needs it all).
    for line in lines:
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (REPO / context / source).exists(), f"Dockerfile copies missing {source}"


def test_otel_mcp_health_check_probes_its_published_port_after_the_collector_is_healthy(
    compose: dict[str, Any],
) -> None:
    mcp = service(compose, "otel-mcp")
    probe = healthcheck_argv(mcp)
    assert any(str(port) in probe[-1] for port in published(mcp))
    assert mcp["depends_on"]["otel-collector"]["condition"] == "service_healthy"


def test_otel_mcp_environment_is_documented_and_wired_to_the_other_services(
    compose: dict[str, Any], collector: dict[str, Any]
) -> None:
    mcp = service(compose, "otel-mcp")
    env = environment(mcp)
    undocumented = set(env) - DOCUMENTED_ENV
    assert not undocumented, f"otel-mcp does not document {sorted(undocumented)}"
    assert env["OTEL_MCP_BACKEND"] == "clickhouse"
    assert env["OTEL_MCP_CLICKHOUSE_WRITE"] == "otlp"
    url = urlsplit(env["OTEL_MCP_CLICKHOUSE_URL"])
    assert (url.scheme, url.hostname, url.port) == ("http", "clickhouse", 8123)
    assert url.port in published(service(compose, "clickhouse"))
    otlp = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert otlp.hostname == "otel-collector" and otlp.hostname in compose["services"]
    assert otlp.port == port_of(collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"])
    ch_env = environment(service(compose, "clickhouse"))
    assert env["OTEL_MCP_CLICKHOUSE_USER"] == ch_env["CLICKHOUSE_USER"]
    assert env["OTEL_MCP_CLICKHOUSE_PASSWORD"] == ch_env["CLICKHOUSE_PASSWORD"]


def test_otel_mcp_environment_is_accepted_by_its_configuration(compose: dict[str, Any]) -> None:
    env = environment(service(compose, "otel-mcp"))
    settings = Settings.from_env(env)
    assert settings.backend == "clickhouse"
    assert settings.clickhouse_write == "otlp"
    assert settings.clickhouse_url == env["OTEL_MCP_CLICKHOUSE_URL"]
    assert (settings.clickhouse_database, settings.clickhouse_table) == ("otel", "otel_traces")
    assert settings.clickhouse_user == env["OTEL_MCP_CLICKHOUSE_USER"]
    assert settings.clickhouse_password == env["OTEL_MCP_CLICKHOUSE_PASSWORD"]
    assert settings.tokens_file == Path(env["OTEL_MCP_TOKENS_FILE"])
    assert settings.agent_id == env["OTEL_MCP_AGENT_ID"]


def test_tokens_file_is_mounted_read_only_from_a_token_to_agent_map(compose: dict[str, Any]) -> None:
    mcp = service(compose, "otel-mcp")
    target = environment(mcp)["OTEL_MCP_TOKENS_FILE"]
    source, mode = volume_targets(mcp)[target]
    assert mode == "ro"
    tokens = yaml.safe_load((REPO / source).read_text())  # JSON is YAML: either form loads
    assert isinstance(tokens, dict) and tokens
    assert all(isinstance(k, str) and len(k) >= 16 and isinstance(v, str) and v for k, v in tokens.items())


def test_the_example_tokens_file_holds_digests_the_server_accepts_even_when_readable(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    import hashlib
    import shutil

    from otel_mcp.server.auth import TokenMap

    # As a checkout leaves it: readable by everyone, which the server allows for digests only.
    source = volume_targets(service(compose, "otel-mcp"))["/run/otel-mcp/tokens.json"][0]
    copy = tmp_path / "tokens.json"
    shutil.copy(REPO / source, copy)
    copy.chmod(0o644)
    tokens = TokenMap.from_file(copy)
    assert all(key.startswith("sha256:") for key in json.loads(copy.read_text()))
    # The plain tokens the compose comment names are the ones the digests stand for.
    comment = COMPOSE.read_text()
    for token, agent in (("dev-token-agent-a-replace-me", "agent-a"), ("dev-token-agent-b-replace-me", "agent-b")):
        assert token in comment
        assert tokens.agent_for_digest(hashlib.sha256(token.encode()).hexdigest()) == agent


def test_the_published_port_is_reachable_by_loopback_names_and_nothing_else_by_default(
    compose: dict[str, Any],
) -> None:
    from otel_mcp.server.http_guard import HostPolicy

    mcp = service(compose, "otel-mcp")
    settings = Settings.from_env(environment(mcp))
    argv = json.loads(next(line for line in dockerfile_lines(REPO / "Dockerfile") if line.startswith("CMD "))[4:])
    policy = HostPolicy.for_bind(argv[argv.index("--host") + 1], settings.allowed_hosts, settings.allowed_origins)
    address, port = published(mcp)[8000]
    assert policy.allows_host(f"{address}:{port}") and policy.allows_host(f"localhost:{port}")
    assert not policy.allows_host(f"attacker.example:{port}")
    assert not policy.allows_origin("http://attacker.example")
    # Set on the command line of `docker compose up`, the variables reach the server.
    given = {"OTEL_MCP_ALLOWED_HOSTS": "mcp.example.com", "OTEL_MCP_ALLOWED_ORIGINS": "https://mcp.example.com"}
    env = {str(k): interpolate(str(v), given) for k, v in mcp["environment"].items()}
    assert Settings.from_env(env).allowed_hosts == ("mcp.example.com",)
    assert Settings.from_env(env).allowed_origins == ("https://mcp.example.com",)


def test_gates_and_state_are_mounted_where_the_environment_says(compose: dict[str, Any]) -> None:
    mcp = service(compose, "otel-mcp")
    env, mounts = environment(mcp), volume_targets(mcp)
    source, mode = mounts[env["OTEL_MCP_GATES_DIR"]]
    assert (REPO / source).resolve() == REPO / "gates" and mode == "ro"
    state_dir = str(Path(env["OTEL_MCP_DB"]).parent)
    assert mounts[state_dir][0] in compose["volumes"]


def test_every_service_has_a_healthcheck_with_durations_compose_parses(compose: dict[str, Any]) -> None:
    duration = re.compile(r"(\d+(\.\d+)?(us|ms|s|m|h))+")
    for name, svc in compose["services"].items():
        check = svc.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        for key in ("interval", "timeout", "start_period"):
            if key in check:
                assert duration.fullmatch(str(check[key])), f"{name}.healthcheck.{key} = {check[key]!r}"
        assert isinstance(check.get("retries", 3), int) and check.get("retries", 3) > 0


def test_every_named_volume_used_is_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, svc in compose["services"].items():
        for source, _ in volume_targets(svc).values():
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


# --- external validators, when present ---------------------------------------------------------


def test_compose_file_matches_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema ships the Compose JSON schema")
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
