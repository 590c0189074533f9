"""docker-compose.yml and the Dockerfile: valid, consistent, and wired to this code.

No Docker engine runs here, so the file is checked against the Compose
specification's schema and for the mistakes the schema cannot see.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from app.config import Config
from tests.processes import ROOT

COMPOSE = ROOT / "docker-compose.yml"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
APP_SERVICES = ("setup", "web", "worker", "beat")
DATA_VOLUME = "stinky-data:/var/lib/stinkykitty"


def validate(path):
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def compose():
    return YAML(typ="safe", pure=True).load(COMPOSE.read_text())


def interpolate(value):
    """Resolve Compose's ${NAME:-default} the way an empty .env would."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def depends_on(service):
    deps = service.get("depends_on", {})
    if isinstance(deps, list):  # the short form: started, not healthy
        return {dep: {"condition": "service_started"} for dep in deps}
    return deps


def test_compose_file_matches_the_compose_specification():
    result = validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_misspelt_key(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    stop_grace_period:", "    stop_grace:"))
    assert validate(broken).returncode != 0


def test_every_depends_on_names_a_defined_service_with_a_usable_condition(compose):
    services = compose["services"]
    for name, service in services.items():
        for dep, spec in depends_on(service).items():
            assert dep in services, f"{name} depends on undefined service {dep}"
            assert dep != name
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no health check"


def test_app_services_share_one_environment_and_the_data_volume(compose):
    shared = compose["x-app-environment"]
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["environment"] == shared, name
        assert DATA_VOLUME in service["volumes"], name
        assert service["build"] == "."
    assert "stinky-data" in compose["volumes"]
    assert shared["STINKY_DATA_DIR"] == "/var/lib/stinkykitty"


def test_shared_environment_names_the_settings_config_reads(compose, tmp_path):
    env = {k: interpolate(str(v)) for k, v in compose["x-app-environment"].items()}
    env["STINKY_DATA_DIR"] = str(tmp_path)  # the real one exists only in the container
    config = Config(environ=env)
    assert config.SQLALCHEMY_DATABASE_URI.startswith("mysql+pymysql://stinky:")
    assert config.SQLALCHEMY_DATABASE_URI.endswith("@mariadb:3306/stinkykitty?charset=utf8mb4")
    assert config.CELERY_BROKER_URL == "redis://redis:6379/0"
    assert config.CELERY_RESULT_BACKEND == "redis://redis:6379/1"
    assert config.SECRET_KEY is None  # generated once into the shared volume
    assert config.BACKUP_KEEP == 10
    assert config.BACKUP_SCHEDULE == "0 2 * * *"
    mariadb = compose["services"]["mariadb"]["environment"]
    assert f"{mariadb['MARIADB_USER']}:{interpolate(mariadb['MARIADB_PASSWORD'])}@" in (
        config.SQLALCHEMY_DATABASE_URI
    )


def test_web_worker_and_beat_start_after_setup_migrated(compose):
    services = compose["services"]
    assert services["setup"]["command"] == ["flask", "setup", "--no-demo"]
    for name in ("web", "worker", "beat"):
        deps = depends_on(services[name])
        assert deps["setup"]["condition"] == "service_completed_successfully", name
        assert deps["mariadb"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name


def test_long_running_services_have_health_checks(compose):
    for name in ("web", "worker", "redis", "mariadb"):
        assert compose["services"][name]["healthcheck"]["test"], name


def test_commands_point_at_code_that_exists(compose):
    services = compose["services"]
    assert "app:create_app()" in services["web"]["command"]
    for name in ("worker", "beat"):
        command = services[name]["command"]
        assert command[:3] == ["celery", "-A", "worker"]
    assert (ROOT / "worker.py").is_file()


def test_dockerfile_copies_files_that_exist_and_installs_pinned_requirements():
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    copies = [
        shlex.split(line)[1:-1] for line in dockerfile.splitlines() if line.startswith("COPY")
    ]
    assert copies
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
    assert "pip install -r requirements.txt" in dockerfile
    assert "STINKY_DATA_DIR=/var/lib/stinkykitty" in dockerfile


def test_the_object_store_is_optional_and_off_by_default(compose, tmp_path):
    s3 = compose["services"]["s3"]
    assert s3["profiles"] == ["s3"]  # `docker compose up` alone does not start it
    assert "s3" not in depends_on(compose["services"]["web"])
    env = {k: interpolate(str(v)) for k, v in compose["x-app-environment"].items()}
    env["STINKY_DATA_DIR"] = str(tmp_path)
    config = Config(environ=env)
    assert config.BACKUP_STORAGE_URL is None
    assert config.EXPORT_STORAGE_URL is None
    assert config.BACKUP_REMOTE_KEEP == 30
