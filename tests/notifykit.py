"""Real receivers for notifications, on loopback only: an SMTP server and an HTTP endpoint.

``MailReceiver`` is aiosmtpd on a free port of 127.0.0.1 receiving what
Apprise's ``mailto://`` sends; ``HookReceiver`` is a tiny ``http.server`` in a
thread receiving ``json://`` webhooks (POST) and heartbeat fetches (GET), and
answering 500 while ``failing`` is set.
"""

import email
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

LOOPBACK = "127.0.0.1"


def free_port():
    """Return a TCP port of loopback nobody listens on (now)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class MailReceiver:
    """An SMTP server on loopback; ``messages`` are (subject, text body) in arrival order."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        self.port = free_port()
        self.controller = Controller(self, hostname=LOOPBACK, port=self.port)

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        self.messages.append((str(parsed["Subject"]), body.get_content() if body else ""))
        return "250 OK"

    def url(self, to="ops@example.org"):
        """Return the Apprise URL that sends mail here (plain SMTP, no login)."""
        return f"mailto://{LOOPBACK}:{self.port}?from=backups@example.org&to={to}&mode=insecure"

    @property
    def subjects(self):
        return [subject for subject, _body in self.messages]


class HookReceiver:
    """An HTTP server on loopback: ``posts`` (JSON bodies) and ``gets`` (paths) it received."""

    def __init__(self):
        self.posts, self.gets, self.failing = [], [], False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not receiver.failing:
                    receiver.posts.append(json.loads(raw))
                self._answer()

            def do_GET(self):
                if not receiver.failing:
                    receiver.gets.append(self.path)
                self._answer()

            def _answer(self):
                self.send_response(500 if receiver.failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path="hook", auth=""):
        """Return the Apprise ``json://`` URL that posts here."""
        return f"json://{auth}{LOOPBACK}:{self.port}/{path}"

    def http_url(self, path="ping"):
        return f"http://{LOOPBACK}:{self.port}/{path}"

    @property
    def titles(self):
        return [post["title"] for post in self.posts]


@pytest.fixture
def mail():
    """A real SMTP server on a free loopback port."""
    receiver = MailReceiver()
    receiver.controller.start()
    yield receiver
    receiver.controller.stop()


@pytest.fixture
def hook():
    """A real HTTP receiver on a free loopback port."""
    receiver = HookReceiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
