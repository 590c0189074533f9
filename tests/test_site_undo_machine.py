"""Undo is exact under any interleaving of owner edits, restores, a held lock, kills and undos.

A Hypothesis state machine, on SQLite, MariaDB and PostgreSQL. The owner edits
pages, blocks, the menu and media at any time, including while a restore job
waits for the lock and once it holds it (the guard's hooks force these
interleavings). A restore either commits, and its undo later brings back
exactly the site as it was just before that commit (every row and id, every
file's bytes, previews), or it refuses, or its worker is killed: then the job
reads what happened, and nothing changed unless it committed. Every other site
stays as it was.
"""

import os

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.coordination import lock
from app.coordination.lock import backup_lock
from app.exports import restorejobs, restorerun
from app.exports.export import export_site
from app.extensions import db
from app.media import delete_media
from app.models import Block, MediaItem, MenuItem, Page, Site
from tests.sitekit import build_camp
from tests.undokit import exact_site, hooked_guard, queue_restore, run, undo

EDITS = ("page", "page-gone", "block", "menu", "upload", "media-gone", "title")
KILL_STEPS = {  # where a worker may die, and whether its restore had committed there
    "restore-claimed": None,  # before it began: the job is still queued
    "restore-running": False,
    "restore-saved": False,
    "restore-loaded": False,
    "restore-committed": True,
    "restore-finished": "recorded",  # its last state was written: that is what happened
}
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)
edits = st.lists(st.tuples(st.sampled_from(EDITS), TEXT), max_size=2)


class Killed(BaseException):
    """The worker dies here (raised through everything, as a SIGKILL would stop it)."""


def apply_edit(make, site_id, kind, text, n):
    """Make one owner edit of kind ``kind`` to site ``site_id``."""
    site = db.session.get(Site, site_id)
    pages = db.session.scalars(sa.select(Page).where(Page.site_id == site_id).order_by(Page.id))
    page = next(iter(pages), None)
    media = db.session.scalar(
        sa.select(MediaItem).where(MediaItem.site_id == site_id).order_by(MediaItem.id.desc())
    )
    if kind == "page" or (kind == "block" and page is None):
        ref = {"media_id": media.id} if media is not None else {}
        make.page(site, slug=f"p{n}", title=text, blocks=[("hero", {"title": text, **ref})])
    elif kind == "page-gone" and page is not None:
        db.session.delete(page)
    elif kind == "block":
        block = db.session.scalar(sa.select(Block).where(Block.page_id == page.id).limit(1))
        if block is None:
            page.blocks.append(Block(type="text", position=0, data={"html": text}))
        else:
            block.data = {**block.data, "html": text, "n": n}
    elif kind == "menu":
        db.session.add(MenuItem(site_id=site_id, label=text[:100], url=f"/{n}", position=n))
    elif kind == "upload":
        make.media(site, content=os.urandom(64 + n), name=f"u{n}.jpg", preview=text.encode())
    elif kind == "media-gone" and media is not None:
        delete_media(media)
    elif kind == "title":
        site.title = text
    db.session.commit()
    db.session.remove()


def machine_for(app, make, monkeypatch):
    """Return the state machine class of ``app`` (one database engine)."""
    config = app.config
    config["RESTORE_LOCK_WAIT"] = 0
    monkeypatch.setattr(lock, "GRACE_SECONDS", 0.05)  # a held lock refuses at once
    neighbour = build_camp(make, "neighbour", files=2).id
    neighbour_export = export_site(config, neighbour).path.read_bytes()
    counter = iter(range(10**9))

    class UndoMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            n = next(counter)
            self.site_id = build_camp(make, f"camp-{n}", files=2).id
            self.owner = db.session.get(Site, self.site_id).owner_id
            self.neighbour = exact_site(config, neighbour)
            self.exports = [neighbour_export]
            self.undoable = []  # (job id, the site just before that job's commit)
            self.kill_at = None
            monkeypatch.setattr(restorerun, "reached", self.reached)

        def reached(self, step):
            if step == self.kill_at:
                raise Killed(step)

        def edit(self, kind, text):
            apply_edit(make, self.site_id, kind, text, next(counter))

        @rule(changes=edits)
        def owner_edits(self, changes):
            for kind, text in changes:
                self.edit(kind, text)

        @precondition(lambda self: len(self.exports) < 4)
        @rule()
        def download_export(self):
            self.exports.append(export_site(config, self.site_id).path.read_bytes())

        def run_job(self, job_id, waiting, inside, *, held=False, kill=None):
            """Run a job with edits in its windows; return (state, the site it last saw)."""
            seen = {"site": exact_site(config, self.site_id)}

            def at(changes):
                def hook():
                    for kind, text in changes:
                        self.edit(kind, text)
                    seen["site"] = exact_site(config, self.site_id)

                return hook

            guard = hooked_guard(config, waiting=at(waiting), inside=at(inside))
            self.kill_at = kill
            try:
                if held:
                    with backup_lock(config, "backup"):
                        state = run(config, job_id, guard=guard)
                else:
                    state = run(config, job_id, guard=guard)
            except Killed:
                state = "killed"
            finally:
                self.kill_at = None
            return state, seen["site"]

        def settle(self, job_id, state, seen, committed):
            job = restorejobs.read_job(config, job_id)
            if committed:
                assert job["state"] == "done", job
                assert restorejobs.undo_available(config, job)
                self.undoable.append((job_id, seen))
            else:
                assert job["state"] == "failed", (state, job)
                assert "the site is as it was" in job["error"].lower()
                assert not restorejobs.undo_available(config, job)
                assert exact_site(config, self.site_id) == seen  # every row and file

        @rule(which=st.integers(0, 3), waiting=edits, inside=edits, held=st.booleans())
        def restore(self, which, waiting, inside, held):
            data = self.exports[which % len(self.exports)]
            job_id = queue_restore(config, self.site_id, self.owner, data)
            state, seen = self.run_job(job_id, waiting, inside, held=held)
            if held:
                assert state == "failed"
            self.settle(job_id, state, seen, committed=state == "done")

        @rule(which=st.integers(0, 3), step=st.sampled_from(sorted(KILL_STEPS)), inside=edits)
        def killed_restore(self, which, step, inside):
            data = self.exports[which % len(self.exports)]
            job_id = queue_restore(config, self.site_id, self.owner, data)
            state, seen = self.run_job(job_id, [], inside, kill=step)
            if state != "killed":  # refused before it got there
                return self.settle(job_id, state, seen, committed=state == "done")
            if KILL_STEPS[step] is None:
                assert restorejobs.read_job(config, job_id)["state"] == "queued"
                state, seen = self.run_job(job_id, [], [])  # the task is delivered again
                return self.settle(job_id, state, seen, committed=state == "done")
            committed = KILL_STEPS[step]
            if committed == "recorded":
                committed = restorejobs.read_job(config, job_id)["state"] == "done"
            return self.settle(job_id, state, seen, committed=committed)

        @precondition(lambda self: self.undoable)
        @rule(data=st.data(), waiting=edits)
        def undo_a_restore(self, data, waiting):
            job_id, expected = data.draw(st.sampled_from(self.undoable))
            undo_id = undo(config, job_id, self.site_id, self.owner)
            state, seen = self.run_job(undo_id, waiting, [])
            assert state == "done", restorejobs.read_job(config, undo_id)
            assert exact_site(config, self.site_id) == expected  # rows, ids, files, previews
            self.undoable.append((undo_id, seen))

        @invariant()
        def other_sites_untouched(self):
            assert exact_site(config, neighbour) == self.neighbour

    return UndoMachine


@pytest.mark.integration
def test_undo_is_exact_under_any_interleaving(any_app, make, monkeypatch):
    run_state_machine_as_test(
        machine_for(any_app, make, monkeypatch),
        settings=settings(
            max_examples=10, stateful_step_count=15, deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )  # fmt: skip
