"""Celery end to end: a real worker runs ``ping`` on Redis, fakeredis and the embedded broker."""

import socket
import threading
import uuid

import pytest
import redis
from fakeredis import TcpFakeServer
from kombu.transport.sqlalchemy import Transport

from app import create_app, get_celery
from app.broker import POLLING_INTERVAL, prepare_celery_storage
from app.config import Config
from app.extensions import db
from tests.workers import REDIS_URL, CeleryProcess, thread_worker, wait_result


def ping_through(celery_app, value, log_path=None):
    """Send ``ping`` to ``celery_app``'s broker and return the worker's answer."""
    return wait_result(celery_app.tasks["stinkykitty.ping"].delay(value), log_path)


@pytest.fixture(scope="session")
def redis_prefix():
    """A key prefix and queue name of this test session on the shared Redis; cleaned after."""
    prefix = f"sk-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    # kombu leaves a few binding keys outside global_keyprefix, named after our queue.
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


def isolate_on_redis(celery_app, prefix):
    """Keep this worker's queue, keys and results apart from everyone else's on Redis."""
    celery_app.conf.update(
        task_default_queue=prefix,
        broker_transport_options={
            **celery_app.conf.broker_transport_options,
            "global_keyprefix": f"{prefix}:",
        },
        result_backend_transport_options={
            **celery_app.conf.result_backend_transport_options,
            "global_keyprefix": f"{prefix}:",
        },
        result_expires=600,
        # No remote control: its pidbox binding would go into a set shared by every worker.
        worker_enable_remote_control=False,
    )


@pytest.mark.integration
def test_ping_round_trip_on_real_redis(make_app, redis_prefix):
    app = make_app(CELERY_BROKER_URL=REDIS_URL, CELERY_RESULT_BACKEND=REDIS_URL)
    celery_app = get_celery(app)
    isolate_on_redis(celery_app, redis_prefix)
    with thread_worker(celery_app, queues=[redis_prefix]):
        assert ping_through(celery_app, "over redis") == {
            "value": "over redis",
            "database": "sqlite",
        }
    client = redis.Redis.from_url(REDIS_URL)
    ours = [k.decode() for k in client.scan_iter(match=f"{redis_prefix}*")]
    client.close()
    assert any("celery-task-meta-" in key for key in ours)  # the result went where we said


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake_redis_url():
    """A fakeredis server speaking the Redis protocol on a local TCP port."""
    port = free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{port}/0"
    server.shutdown()
    server.server_close()


# fakeredis's TCP server closes the connection after answering NOSCRIPT to the
# first EVALSHA; the worker reconnects (and warns about it) and goes on.
@pytest.mark.filterwarnings("ignore::celery.exceptions.CPendingDeprecationWarning")
def test_ping_round_trip_on_fakeredis(make_app, fake_redis_url):
    app = make_app(CELERY_BROKER_URL=fake_redis_url, CELERY_RESULT_BACKEND=fake_redis_url)
    celery_app = get_celery(app)
    with thread_worker(celery_app):
        assert ping_through(celery_app, "fake") == {"value": "fake", "database": "sqlite"}
    keys = redis.Redis.from_url(fake_redis_url).keys("celery-task-meta-*")
    assert len(keys) == 1


@pytest.mark.integration
def test_ping_round_trip_on_the_embedded_broker_with_a_worker_process(make_app, tmp_path):
    data_dir = tmp_path / "data"
    app = make_app(data_dir=data_dir)
    celery_app = get_celery(app)
    assert celery_app.conf.broker_url == f"sqla+sqlite:///{data_dir / 'celery-broker.sqlite'}"
    assert celery_app.conf.result_backend.startswith("db+sqlite:///")
    prepare_celery_storage(celery_app)
    log = tmp_path / "worker.log"
    with CeleryProcess(log, {"STINKY_DATA_DIR": data_dir}, pool="prefork"):
        answers = [ping_through(celery_app, f"embedded {n}", log) for n in range(3)]
    assert answers == [{"value": f"embedded {n}", "database": "sqlite"} for n in range(3)]


@pytest.mark.integration
def test_ping_runs_in_the_app_context_of_its_own_app(any_app):
    # The task answers with its app's database dialect, so it ran inside that app.
    celery_app = get_celery(any_app)
    prepare_celery_storage(celery_app)
    with thread_worker(celery_app):
        answer = ping_through(celery_app, "context")
    assert answer == {"value": "context", "database": db.engine.dialect.name}


def production_app(tmp_path):
    environ = {
        "STINKY_DATA_DIR": str(tmp_path / "prod"),
        "CELERY_BROKER_URL": "redis://redis:6379/0",
        "CELERY_RESULT_BACKEND": "redis://redis:6379/1",
        "SECRET_KEY": "x",
    }
    return create_app(Config(environ=environ))


def test_production_settings_do_not_lose_or_duplicate_tasks(tmp_path):
    conf = get_celery(production_app(tmp_path)).conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_time_limit is not None  # no task may run unbounded


def test_visibility_timeout_outlasts_the_longest_task(tmp_path):
    celery_app = get_celery(production_app(tmp_path))
    conf = celery_app.conf
    ours = [t for name, t in celery_app.tasks.items() if name.startswith("stinkykitty.")]
    assert ours
    longest = max(t.time_limit or conf.task_time_limit for t in ours)
    assert conf.broker_transport_options["visibility_timeout"] > longest
    assert conf.result_backend_transport_options["visibility_timeout"] > longest


def test_embedded_broker_polls_quickly_and_production_leaves_it_alone(make_app, tmp_path):
    app = make_app()
    assert app.config["CELERY_BROKER_URL"].startswith("sqla+sqlite:///")
    assert Transport.polling_interval == POLLING_INTERVAL
    assert "visibility_timeout" not in get_celery(app).conf.broker_transport_options
    prod = get_celery(production_app(tmp_path)).conf
    assert prod.broker_url == "redis://redis:6379/0"
    assert prod.result_backend == "redis://redis:6379/1"
