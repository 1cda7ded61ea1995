"""docker-compose.yml and the Dockerfile, checked as data (no Docker engine runs here)."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_services_and_one_image_two_commands() -> None:
    services = compose()["services"]
    assert {"redis", "api", "worker", "worker-gpu"} <= set(services)
    api, worker = services["api"], services["worker"]
    assert api["image"] == worker["image"] and api["build"] == worker["build"] == "."
    assert api["command"] != worker["command"]
    assert api["command"][:2] == ["uvicorn", "api.main:app_from_env"] and "celery" in worker["command"]
    assert "worker.app" in worker["command"] and "grading" in worker["command"]


def test_redis_persists_and_everyone_waits_for_it() -> None:
    c = compose()
    redis = c["services"]["redis"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"]) and "redis-data" in c["volumes"]
    for name in ("api", "worker", "worker-gpu"):
        svc = c["services"][name]
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
        assert svc["environment"]["AUTOGRADER_BROKER_URL"].startswith("redis://redis:6379")
        volumes = svc["volumes"]
        assert any(v.startswith("storage:") for v in volumes)
        assert any(v.endswith(":/checkpoints:ro") for v in volumes) and any(v.endswith(":/data:ro") for v in volumes)


def test_gpu_worker_is_optional_with_a_device_reservation() -> None:
    gpu = compose()["services"]["worker-gpu"]
    assert gpu["profiles"] == ["gpu"] and gpu["environment"]["AUTOGRADER_DEVICE"] == "cuda"
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]


def test_dockerfile_copies_what_exists_and_pins_torch() -> None:
    text = (REPO / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (\S+)", text, flags=re.M):
        assert (REPO / src).exists(), src
    assert "bubblewrap" in text and "torch==2.13.0" in text
