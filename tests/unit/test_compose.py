"""The production compose file, checked structurally (Docker itself cannot run in CI)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "redis", "migrate", "worker", "beat", "dashboard", "flower"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_is_there(compose):
    assert set(compose["services"]) == SERVICES


def test_services_wait_for_healthy_dependencies(compose):
    services = compose["services"]
    for name in ("worker", "beat", "dashboard"):
        needs = services[name]["depends_on"]
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["redis"]["condition"] == "service_healthy"
        assert needs["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["command"] == ["insiders", "db", "upgrade"]


def test_healthchecks_and_volumes(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "worker", "dashboard", "flower"):
        assert services[name]["healthcheck"]["test"], name
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    assert {"postgres-data", "redis-data", "beat-data"} <= set(compose["volumes"])


def test_exactly_one_beat_and_no_eviction(compose):
    services = compose["services"]
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["beat"]["command"] == ["insiders", "beat"]
    assert "--no-beat" in services["worker"]["command"]
    command = services["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_the_worker_service_scales(compose):
    """`docker compose up --scale worker=N` needs a worker without a fixed name or host port
    (N containers would clash); each takes its process count from INSIDERS_WORKER_CONCURRENCY."""
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker.get("deploy", {}).get("replicas", 1) >= 1
    assert "--concurrency" not in worker["command"]
    assert "INSIDERS_WORKER_CONCURRENCY=" in (ROOT / ".env.example").read_text()
    assert load_settings({"INSIDERS_WORKER_CONCURRENCY": "3"}).worker_concurrency == 3
    # its healthcheck pings the container's own node, so each replica checks itself
    assert "celery@$$HOSTNAME" in " ".join(worker["healthcheck"]["test"])
    # the beat and the published dashboard and Flower stay single
    for name in ("beat", "dashboard", "flower"):
        assert compose["services"][name].get("deploy", {}).get("replicas", 1) == 1, name


def test_secrets_come_from_the_env_file(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    for name in ("beat", "dashboard", "flower", "migrate", "postgres"):
        assert compose["services"][name]["env_file"] == ".env"
    assert compose["services"]["worker"]["env_file"] == [".env", "worker.env"]
    assert "INSIDERS_ARTIFACT_KEY=" in (ROOT / "worker.env.example").read_text()
    assert "INSIDERS_ARTIFACT_KEY" not in example
    # values come from the env file: a setting is written here only as ${NAME...}
    literal = re.sub(r"\$\{[^}]*\}", "${}", text)
    assert not re.search(r"(PASSWORD|SECRET|_URL)\s*[:=][ \t]*(?=[^ \t$])", literal)
    assert "postgresql://" not in text and "redis://" not in text
    for name in ("INSIDERS_DATABASE_URL", "INSIDERS_BROKER_URL", "INSIDERS_SECRET_KEY",
                 "POSTGRES_PASSWORD"):
        assert f"{name}=" in example
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_image_builds_the_package(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert compose["services"]["worker"]["build"] == "."
    assert "pip install ." in dockerfile and "USER insiders" in dockerfile


def test_each_service_connects_with_its_own_role(compose):
    services = compose["services"]
    for name in ("worker", "beat", "flower"):
        url = services[name]["environment"]["INSIDERS_DATABASE_URL"]
        assert url.startswith("${INSIDERS_WORKER_DATABASE_URL:?"), name
    dashboard = services["dashboard"]["environment"]["INSIDERS_DATABASE_URL"]
    assert dashboard.startswith("${INSIDERS_DASHBOARD_DATABASE_URL:?")
    assert "INSIDERS_DATABASE_URL" not in services["migrate"].get("environment", {})
    init = "./deploy/postgres-roles.sh:/docker-entrypoint-initdb.d/10-roles.sh:ro"
    assert init in services["postgres"]["volumes"]
    script = (ROOT / "deploy" / "postgres-roles.sh").read_text()
    example = (ROOT / ".env.example").read_text()
    for name in ("INSIDERS_DB_WORKER_ROLE", "INSIDERS_DB_DASHBOARD_ROLE",
                 "INSIDERS_WORKER_DB_PASSWORD", "INSIDERS_DASHBOARD_DB_PASSWORD"):
        assert name in script and f"{name}=" in example


def test_flower_requires_a_login(compose):
    command = compose["services"]["flower"]["command"]
    auth = [arg for arg in command if arg.startswith("--basic-auth=")]
    assert auth == ["--basic-auth=${INSIDERS_FLOWER_USER:?set INSIDERS_FLOWER_USER in .env}:"
                    "${INSIDERS_FLOWER_PASSWORD:?set INSIDERS_FLOWER_PASSWORD in .env}"]
    example = (ROOT / ".env.example").read_text()
    assert "INSIDERS_FLOWER_USER=" in example and "INSIDERS_FLOWER_PASSWORD=" in example
    assert "FLOWER_BASIC_AUTH" not in example
