"""Remote retention and the store's leftovers: the off-site copies never get worse.

A copy is **verified-good** when its description says the local archive passed
its full verification on the very bytes that were sent (``verified_at`` and
``archive_sha256``, see ``app.backup.offsite.upload.upload_backup``), the store still
holds its archive with the size and checksum recorded at upload (one HEAD),
and the last check of the copies (``flask backup verify-remote``) did not fail
it. Copies uploaded by earlier versions carry no such proof and never count.

``prune_remote`` keeps the verified-good copies that the rules keep (the
newest ``BACKUP_REMOTE_KEEP``, and with ``BACKUP_REMOTE_KEEP_DAILY`` ...
``_YEARLY`` the tiers of ``app.backup.tiers``) and every copy newer than the
oldest of them that is not verified-good (it does not count yet and stays for
a person to look at); it deletes the verified-good copies the rules leave out
and every copy older than the oldest kept, and never deletes anything while
fewer than ``BACKUP_REMOTE_KEEP`` verified-good copies exist. Then, and only
then, archive objects older than those kept that have no description (an
upload whose description could not be written) go too. A store that fails
while it looks deletes nothing. A pruned copy whose archive is not here
either takes its site index (``catalog.index_path``) with it: Site history
no longer offers that version.

``abort_leftovers`` aborts every unfinished multipart upload under the prefix
(an upload cut with the store gone could not abort itself). Only one off-site
run works on a data dir at a time (``offsite_store.offsite_lock``), so none of
them is still being sent.
"""

import logging

from app.backup import catalog, tiers
from app.backup.offsite.store import (
    NAME_START,
    OffsiteError,
    description_name,
    note,
    read_record,
    remote_copies,
    remote_store,
)
from app.storage import StorageError, same_checksum

log = logging.getLogger(__name__)

ABORT_ROUNDS = 3  # list and abort again: a store that flickers mid-way gets another try


def proven(description):
    """Whether a description carries the proof that its archive was verified before upload."""
    return bool(description.get("verified_at") and description.get("archive_sha256"))


def good_copies(config, copies, *, store):
    """Return the verified-good copies among ``copies`` (descriptions), in their order.

    One HEAD per proven copy; raises OffsiteError when the store fails.
    """
    verified = read_record(config).get("verified") or {}
    bad = set(verified.get("bad", []))
    good = []
    for description in copies:
        if not proven(description) or description["backup_id"] in bad:
            continue
        try:
            head = store.head(description["object"])
        except StorageError as exc:
            raise OffsiteError(str(exc)) from exc
        if (
            head is not None
            and head.size == description.get("size")
            and same_checksum(description.get("checksum") or "", head.checksum or "")
        ):
            good.append(description)
    return good


def remote_plan(config, keep, *, store):
    """Return (descriptions to delete, verified-good ones kept, every description), newest first.

    The rules (``app.backup.tiers``: the newest ``keep`` and BACKUP_REMOTE_KEEP_*'s
    tiers) pick the verified-good copies kept; other copies newer than the oldest
    of those stay too.
    """
    policy = tiers.policy_from_config(config, keep, prefix="BACKUP_REMOTE_KEEP")
    copies = remote_copies(config, store=store)
    good = good_copies(config, copies, store=store)
    if len(good) < policy.last:
        return [], good, copies
    rules = tiers.kept_by([(d["backup_id"], catalog.id_time(d["backup_id"])) for d in good], policy)
    oldest_kept, proven_ids = min(rules), {d["backup_id"] for d in good}
    doomed = [
        d
        for d in copies
        if d["backup_id"] not in rules
        and (d["backup_id"] in proven_ids or d["backup_id"] < oldest_kept)
    ]
    return doomed, [d for d in good if d["backup_id"] in rules], copies


def orphans(store, described, before):
    """Return our archive objects without a description, older than ``before`` (an id).

    An upload whose description could not be written leaves one; it is no copy.
    """
    try:
        objects = store.list(NAME_START)
    except StorageError as exc:
        raise OffsiteError(str(exc)) from exc
    found = []
    for obj in objects:
        backup_id = _archive_id(obj.name)
        if backup_id and backup_id < before and backup_id not in described:
            found.append(obj.name)
    return found


def prune_remote(config, keep=None, *, store=None):
    """Delete the remote copies the rules do not keep (see above); return their ids.

    ``keep`` defaults to BACKUP_REMOTE_KEEP (at least 1). Nothing is deleted
    while fewer than ``keep`` verified-good copies exist. Raises OffsiteError when
    the store cannot be read; a failed deletion is logged and retried next time.
    """
    store = store or remote_store(config)
    keep = config.get("BACKUP_REMOTE_KEEP", 30) if keep is None else keep
    doomed, kept, copies = remote_plan(config, keep, store=store)
    deleted = []
    if len(kept) >= max(1, int(keep)):  # enough verified-good copies: leftovers may go too
        described = {d["backup_id"] for d in copies}
        for name in orphans(store, described, kept[-1]["backup_id"]):
            try:
                store.delete(name)
            except StorageError as exc:
                log.warning("remote retention: %s", exc)
    for description in doomed:
        backup_id = description["backup_id"]
        note(config, forget=[backup_id])  # no longer offered as a way back, whatever follows
        _drop_index(config, backup_id)
        try:
            store.delete(description["object"])
            store.delete(description_name(backup_id))
        except StorageError as exc:
            log.warning("remote retention: %s", exc)
            continue
        deleted.append(backup_id)
    if deleted:
        log.info("remote retention deleted %s", ", ".join(deleted))
    return deleted


def _drop_index(config, backup_id):
    """Delete the site index of ``backup_id`` unless its archive is here."""
    if not (catalog.backups_dir(config) / (backup_id + catalog.SUFFIX)).exists():
        catalog.index_path(config, backup_id).unlink(missing_ok=True)


def _archive_id(name):
    """Return the backup id of an archive object's name, or None for any other name."""
    base = name.removesuffix(".age")
    if not base.endswith(catalog.SUFFIX):
        return None
    base = base.removesuffix(catalog.SUFFIX)
    return base if catalog.ID_PATTERN.match(base) else None


def _ours(name):
    return _archive_id(name) is not None


def abort_leftovers(store):
    """Abort every unfinished multipart upload of ours under the prefix; return how many.

    Never raises: a store that cannot be reached keeps its leftovers until a
    later run, which tries again.
    """
    aborted = 0
    for _ in range(ABORT_ROUNDS):
        try:
            leftovers = [(n, u) for n, u in store.uploads(NAME_START) if _ours(n)]
        except StorageError as exc:
            log.warning("unfinished uploads not cleaned up (the next run tries again): %s", exc)
            return aborted
        if not leftovers:
            break
        for name, upload_id in leftovers:
            try:
                store.abort_upload(name, upload_id)
                aborted += 1
            except StorageError as exc:
                log.warning("could not abort an unfinished upload: %s", exc)
    if aborted:
        log.info("aborted %d unfinished upload(s) in %s", aborted, store.where())
    return aborted
