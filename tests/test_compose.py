"""docker-compose.yml and the Dockerfile, checked as data (no Docker engine runs here): which
target each service is built from, what that target installs, and that the commands exist."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


class Dockerfile:
    """Stages of a multi-stage Dockerfile: parent, ARG defaults, RUN/COPY/ENV/CMD lines."""

    def __init__(self, text: str) -> None:
        text = re.sub(r"\\\n", " ", text)
        self.stages: dict[str, dict] = {}
        current: dict | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            word = word.upper()
            if word == "FROM":
                m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, flags=re.I)
                assert m, line
                current = {"from": m.group(1), "args": {}, "lines": []}
                self.stages[m.group(2) or f"#{len(self.stages)}"] = current
                continue
            assert current is not None, f"{line!r} before FROM"
            if word == "ARG":
                name, _, default = rest.partition("=")
                current["args"][name] = default
            current["lines"].append((word, rest))

    def chain(self, target: str) -> list[dict]:
        """The target and every stage it is built on, base first."""
        out = []
        name = target
        while name in self.stages:
            out.insert(0, self.stages[name])
            name = self.stages[name]["from"]
        return out

    def resolved(self, target: str, word: str, build_args: dict[str, str] | None = None) -> list[str]:
        """The target's `word` lines (its own and inherited) with ${ARG}s filled in."""
        out = []
        for stage in self.chain(target):
            values = {**stage["args"], **(build_args or {})}
            for w, rest in stage["lines"]:
                if w == word:
                    out.append(re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), rest))
        return out

    def copied_from(self, target: str) -> set[str]:
        """Stages whose files the target's chain copies in (COPY --from=stage)."""
        return {m.group(1) for s in self.chain(target) for w, rest in s["lines"] if w == "COPY"
                for m in [re.match(r"--from=(\S+)", rest)] if m}


def dockerfile() -> Dockerfile:
    return Dockerfile((REPO / "Dockerfile").read_text())


def torch_installs(target: str) -> list[tuple[str, str]]:
    """(index URL, requirement) of each `pip install --index-url X torch...` the target runs."""
    found = []
    for line in dockerfile().resolved(target, "RUN"):
        m = re.search(r"pip install .*--index-url\s+(\S+)\s+(torch\S*)", line)
        if m:
            found.append((m.group(1), m.group(2)))
    return found


def build_of(service: dict) -> dict:
    build = service["build"]
    return {"context": build} if isinstance(build, str) else build


def test_services_and_one_image_two_commands() -> None:
    services = compose()["services"]
    assert {"redis", "api", "worker", "worker-gpu"} <= set(services)
    api, worker = services["api"], services["worker"]
    assert api["image"] == worker["image"] and build_of(api) == build_of(worker)
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


def test_each_service_is_built_from_a_target_that_exists() -> None:
    stages = dockerfile().stages
    for name, svc in compose()["services"].items():
        if "build" in svc:
            build = build_of(svc)
            assert build["context"] == "." and build.get("target") in stages, name


def test_gpu_worker_gets_torch_with_cuda_and_the_cpu_services_do_not() -> None:
    """Issue 16: the GPU worker was built from the CPU image. Follow each service's target
    through the Dockerfile to the index its torch comes from."""
    services = compose()["services"]
    gpu = services["worker-gpu"]
    gpu_target = build_of(gpu)["target"]
    cpu_target = build_of(services["worker"])["target"]
    assert gpu["image"] != services["worker"]["image"]  # building one must not replace the other
    (gpu_index, gpu_req), = torch_installs(gpu_target)
    (cpu_index, cpu_req), = torch_installs(cpu_target)
    assert cpu_index.rstrip("/").endswith("/cpu")  # PyTorch's CPU-only index
    # The CUDA build: PyPI's Linux wheel (CUDA 13) or one of PyTorch's cuXXX indexes; never the CPU one.
    assert gpu_index.rstrip("/") == "https://pypi.org/simple" or re.search(r"/cu\d+/?$", gpu_index), gpu_index
    # Both images carry the torch the project pins (read from pyproject, not repeated here).
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = next(d for d in deps if re.match(r"torch\W", d))
    assert gpu_req == cpu_req == pinned
    # The app is the same source in both.
    assert dockerfile().copied_from(gpu_target) == dockerfile().copied_from(cpu_target) != set()


def test_gpu_worker_is_optional_reserves_a_gpu_and_checks_its_device_before_taking_jobs() -> None:
    from service.cli import main

    gpu = compose()["services"]["worker-gpu"]
    assert gpu["profiles"] == ["gpu"] and gpu["environment"]["AUTOGRADER_DEVICE"] == "cuda"
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    # The command is `autograder worker ...` (refuses to start without a usable GPU): run it dry.
    command = gpu["command"]
    assert command[:2] == ["autograder", "worker"]
    result = CliRunner().invoke(main, [*command[1:], "--dry-run"], env={"AUTOGRADER_DEVICE": "cpu"})
    assert result.exit_code == 0, result.output
    assert "worker.app" in result.output and "-Q grading" in result.output


def test_dockerfile_copies_what_exists_and_installs_bubblewrap_in_every_target() -> None:
    text = (REPO / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.M):
        assert (REPO / src).exists(), src
    packages = {p for p in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) \1$", text, flags=re.M))
    assert {p.rstrip("*") for p in packages} <= copied  # every package the wheel includes is in the image
    for target in ("cpu", "cuda"):
        assert any("bubblewrap" in line for line in dockerfile().resolved(target, "RUN")), target


# ---------------------------------------------------------------- the `tls` profile (issue 26)

def _caddy_mounts(caddy: dict) -> dict[str, str]:
    """container path -> host path of the caddy service's bind mounts."""
    return {v.split(":")[1]: v.split(":")[0] for v in caddy["volumes"] if v.startswith("./")}


def test_tls_profile_puts_caddy_in_front_and_the_api_trusts_its_address_alone() -> None:
    import importlib
    import ipaddress

    from api.proxy import trusted_proxies
    from service.settings import ServiceSettings

    c = compose()
    caddy, api = c["services"]["caddy"], c["services"]["api"]
    assert caddy["profiles"] == ["tls"] and {"80:80", "443:443"} <= set(caddy["ports"])
    assert all("profiles" not in c["services"][s] for s in ("api", "worker", "redis"))  # the plain start is unchanged
    # The api believes forwarded headers from exactly the proxy's fixed address...
    assert "trusted_proxies" in ServiceSettings.model_fields
    proxy_ip = caddy["networks"]["default"]["ipv4_address"]
    assert trusted_proxies(api["environment"]["AUTOGRADER_TRUSTED_PROXIES"]) == [proxy_ip]
    # ...which no other container can be given: inside the subnet, outside the dynamic range.
    (pool,) = c["networks"]["default"]["ipam"]["config"]
    address = ipaddress.ip_address(proxy_ip)
    assert address in ipaddress.ip_network(pool["subnet"]) and address not in ipaddress.ip_network(pool["ip_range"])
    assert all("networks" not in svc for name, svc in c["services"].items() if name != "caddy")
    # uvicorn's own trust (127.0.0.1 by default) is off, with an option uvicorn has, in compose and the image.
    cli = importlib.import_module("uvicorn.main").main  # the click command `uvicorn`
    options = {opt for p in cli.params for opt in (*p.opts, *p.secondary_opts)}
    assert "--no-proxy-headers" in options and "--no-proxy-headers" in api["command"]
    assert any("--no-proxy-headers" in line for line in dockerfile().resolved("cpu", "CMD"))
    # Other settings are not lost by the api's own environment (a merge of the shared one).
    assert {k: v for k, v in api["environment"].items() if k != "AUTOGRADER_TRUSTED_PROXIES"} == \
        c["services"]["worker"]["environment"]


def test_caddyfile_proxies_to_the_api_and_each_tls_mode_has_its_file() -> None:
    c = compose()
    caddy, api = c["services"]["caddy"], c["services"]["api"]
    mounts = _caddy_mounts(caddy)
    caddyfile = (REPO / mounts["/etc/caddy/Caddyfile"]).read_text()
    lines = [ln.split("#")[0].strip() for ln in caddyfile.splitlines() if ln.split("#")[0].strip()]
    assert lines[0] == "{$AUTOGRADER_DOMAIN} {"  # the site: the TA's domain, with automatic HTTPS
    (target,) = [ln.split()[1] for ln in lines if ln.startswith("reverse_proxy ")]
    host, port = target.split(":")
    assert host == "api" and port == api["command"][api["command"].index("--port") + 1]
    (imported,) = [ln.split()[1] for ln in lines if ln.startswith("import ")]
    assert imported == "/etc/caddy/tls-{$AUTOGRADER_TLS:auto}.caddy"
    for mode in ("auto", "files"):  # every mode the example names is mounted where the import looks
        path = REPO / mounts[imported.replace("{$AUTOGRADER_TLS:auto}", mode)]
        assert path.is_file(), mode
    files_mode = (REPO / mounts["/etc/caddy/tls-files.caddy"]).read_text()
    (tls,) = [ln.split() for ln in files_mode.splitlines() if ln.startswith("tls ")]
    assert all(p.startswith("/certs/") for p in tls[1:]) and (REPO / mounts["/certs"]).is_dir()
    assert any(v.endswith(":/data") for v in caddy["volumes"])  # certificates survive a restart


def test_env_example_names_what_the_proxy_and_the_links_need() -> None:
    from service.settings import ServiceSettings

    c = compose()
    example = dict(line.split("=", 1) for line in (REPO / "deploy/env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert {"AUTOGRADER_DOMAIN", "AUTOGRADER_TLS", "AUTOGRADER_PUBLIC_URL", "AUTOGRADER_SECRET_KEY"} <= set(example)
    assert example["AUTOGRADER_PUBLIC_URL"] == "https://" + example["AUTOGRADER_DOMAIN"]
    assert example["AUTOGRADER_TLS"] in ("auto", "files")
    for name in ("api", "worker", "caddy"):  # one file for all of them, optional for the plain start
        assert c["services"][name]["env_file"] == [{"path": "./.env", "required": False}], name
    assert example["AUTOGRADER_API_BIND"] == "127.0.0.1" and any(  # compose reads .env for ${...} too
        p.startswith("${AUTOGRADER_API_BIND:-") for p in c["services"]["api"]["ports"])
    settings = {k for k in example if k.startswith("AUTOGRADER_")} - {"AUTOGRADER_DOMAIN", "AUTOGRADER_TLS",
                                                                        "AUTOGRADER_API_BIND"}
    assert {k.removeprefix("AUTOGRADER_").lower() for k in settings} <= set(ServiceSettings.model_fields)
    assert "/.env" in (REPO / ".gitignore").read_text().splitlines()
