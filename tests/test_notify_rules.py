"""The rule of telling, over any sequence of problems appearing and clearing, checks, time passing
and deliveries failing: one message per appearance, none more on the next check, one reminder
per NOTIFY_REPEAT while it lasts, one when it clears; what reached nobody is tried again."""

import datetime as dt
import re
import shutil
import tempfile
from types import SimpleNamespace

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from app.backup.notify import run_check
from app.backup.notify.channels import Delivery
from app.backup.notify.store import FileStore
from app.backup.status import Problem
from tests.backupkit import FakeClock

REPEAT = 24 * 3600
REPEAT_DELTA = dt.timedelta(seconds=REPEAT)
CODES = ("stale", "last-run-failed", "damaged", "offsite-failed", "restore-interrupted")
LABELS = {code: f"P{n}" for n, code in enumerate(CODES)}
CODE_OF = {label: code for code, label in LABELS.items()}


def problem(code):
    # Hostile texts: newlines, colons, markup, another problem's label.
    return Problem(code, LABELS[code], f"{code} <b>went</b>\nwrong: P9 P1", f"{code}: P3")


def codes_in(body, pattern):
    """Return the problem codes a message body names, by their label, per line ``pattern``."""
    found = set()
    for line in body.splitlines():
        match = re.match(pattern, line)
        if match and match.group(1) in CODE_OF:
            found.add(CODE_OF[match.group(1)])
    return found


class Telling(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="notify-rules-")
        self.config = {
            "STINKY_DATA_DIR": self.folder,
            "NOTIFY_URLS": "json://127.0.0.1:9/a, mailto://127.0.0.1:9?to=b@example.org",
            "NOTIFY_REPEAT": REPEAT,
            "NOTIFY_CHECK_INTERVAL": 900,
        }
        self.clock = FakeClock(dt.datetime(2026, 2, 1, 3, 0))
        self.current = set()  # the problems the status model has now
        self.told = {}  # model: code -> when it was last told (reached someone)
        self.events = 0  # restores waiting to be told
        self.reaching = True
        self.inbox = []

    def teardown(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    def status_of(self, config, clock):
        problems = [problem(code) for code in CODES if code in self.current]
        return SimpleNamespace(problems=problems, newest=None)

    def deliver(self, urls, message):
        if self.reaching:
            self.inbox.append(message)
        return [Delivery(url, self.reaching, None if self.reaching else "down") for url in urls]

    @rule(code=st.sampled_from(CODES))
    def appears(self, code):
        self.current.add(code)

    @rule(code=st.sampled_from(CODES))
    def clears(self, code):
        self.current.discard(code)

    @rule(hours=st.sampled_from([0, 0.25, 1, 23.75, 24, 25, 48]))
    def time_passes(self, hours):
        self.clock.advance(hours=hours)

    @rule(reaching=st.booleans())
    def services(self, reaching):
        self.reaching = reaching

    @rule()
    def a_restore_ends(self):
        FileStore(self.config).push({"outcome": "finished", "site": "x", "backup_id": "b"})
        self.events += 1

    @rule()
    def check(self):
        now = self.clock()
        new = self.current - set(self.told)
        due = {c for c in self.current & set(self.told) if now - self.told[c] >= REPEAT_DELTA}
        gone = set(self.told) - self.current
        before = len(self.inbox)
        result = run_check(
            self.config, clock=self.clock, deliver=self.deliver, status_of=self.status_of
        )
        titles = [m.title for m, _ in result.sent]
        expected = int(bool(new)) + int(bool(due)) + int(bool(gone)) + self.events
        assert len(titles) == expected, (titles, new, due, gone)
        messages = [m for m, _ in result.sent]
        by_kind = {m.kind: m for m in messages if not m.title.startswith("StinkyKitty: restore")}
        if new:
            assert codes_in(by_kind["failure"].body, r"(P\d): ") == new
        if due:
            assert codes_in(by_kind["warning"].body, r"(P\d) since ") == due
        if gone:
            assert codes_in(by_kind["success"].body, r"cleared: (P\d) ") == gone
        assert sum("restore of site x finished" in t for t in titles) == self.events
        self.events = 0
        if self.reaching:
            assert len(self.inbox) - before == expected
            self.told.update({code: now for code in new | due})
            for code in gone:
                del self.told[code]

    @invariant()
    def the_record_is_the_model(self):
        record = FileStore(self.config).read()["open"]
        assert set(record) == set(self.told)


Telling.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_telling = Telling.TestCase
