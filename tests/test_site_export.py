"""A site export holds exactly one site's data, checksummed, and nothing secret."""

import hashlib
import io
import json
import os
import subprocess
import tarfile

import pytest

from app.archive import extract_archive, read_manifest
from app.exports.errors import ExportError
from app.exports.export import ExportFailed, SiteNotFound, export_site, exports_dir
from app.extensions import db
from app.models import MediaTag, Site, User

OTHER = "ZZOTHERSITEZZ"


def _build_camp(make):
    """Return (site, other_site): a site with everything, and a neighbour full of markers."""
    owner = make.user(email="owner@camp.example")
    editor = make.user(email="editor@camp.example")
    stranger_admin = make.user(email="root@host.example", admin=True)
    site = make.site(
        owner=owner,
        subdomain="lakeside",
        title="Lakeside Camp ☀",
        tagline="Swim, hike, sing",
        custom_domain="lakeside.example",
        theme={"color": "teal", "fonts": ["Inter", "serif"]},
    )
    make.member(site, editor, "editor")
    make.page(
        site,
        slug="home",
        title="Home",
        blocks=[
            ("hero", {"title": "Welcome", "media_id": None}),
            ("text", {"html": "<p>Ünïcode ✓</p>"}),
            ("buttons", {"items": [{"label": "Join", "url": "/join"}]}),
        ],
    )
    make.page(site, slug="draft", title="Draft", published=False, blocks=[("text", {"html": ""})])
    make.page(site, slug="empty", title="Empty")
    make.menu_item(site, "Contact", "/contact", 2)
    make.menu_item(site, "Home", "/", 0)
    make.menu_item(site, "Program", "/program", 1)
    photo = make.media(
        site, content=bytes(range(256)) * 40, name="lake.jpg", mime="image/jpeg", uploader=editor
    )
    notes = make.media(
        site, content=b"camp notes\n" * 100, name="notes.txt", mime="text/plain",
        uploader=stranger_admin,
    )  # fmt: skip
    photo.tags.extend([MediaTag(tag="summer"), MediaTag(tag="lake")])
    db.session.commit()
    # Reorder blocks of the first page on purpose: export order follows `position`, not ids.
    home = site.pages[0]
    for block, position in zip(home.blocks, (2, 0, 1), strict=True):
        block.position = position
    db.session.commit()

    other_owner = make.user(email=f"{OTHER.lower()}@other.example")
    other = make.site(owner=other_owner, subdomain="other", title=f"{OTHER} title")
    make.page(other, slug=f"{OTHER.lower()}-page", blocks=[("text", {"html": OTHER})])
    make.menu_item(other, OTHER, "/x", 0)
    make.media(other, content=OTHER.encode() * 10, name=f"{OTHER}.png")
    return site, other, (photo, notes)


def _members(path):
    """Return {member name: bytes} of an export, read with plain tarfile."""
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _extract(result, tmp_path):
    """Extract an export with the safe reader (which verifies every checksum)."""
    dest = tmp_path / "unpacked"
    manifest = extract_archive(result.path, dest)
    return manifest, dest


def _json(dest, name):
    return json.loads((dest / name).read_text(encoding="utf-8"))


def test_export_round_trips_every_page_block_menu_item_and_media_file(any_app, make, tmp_path):
    site, _other, (photo, notes) = _build_camp(make)
    result = export_site(any_app.config, site.id)

    assert result.path.parent == exports_dir(any_app.config)
    assert result.path.name.startswith(f"site-{site.id}-")
    assert result.path.name.endswith(".tar.gz")
    assert result.size == result.path.stat().st_size
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    manifest, dest = _extract(result, tmp_path)

    db.session.expire_all()
    site = db.session.get(Site, site.id)
    assert manifest["format"] == "stinkykitty-site-export"
    assert manifest["site"] == {
        "id": site.id,
        "subdomain": "lakeside",
        "title": "Lakeside Camp ☀",
        "owner": site.owner.email,
    }
    assert manifest["counts"] == {
        "pages": 3, "blocks": 4, "menu_items": 3, "media": 2,
        "media_files": 2, "media_missing": 0, "media_bytes": photo.size + notes.size,
    }  # fmt: skip
    listed = {f["path"] for f in manifest["files"]}
    assert {"README.md", "site.json", "pages.json", "menu.json", "media.json"} <= listed

    settings = _json(dest, "site.json")
    assert (settings["subdomain"], settings["custom_domain"]) == ("lakeside", "lakeside.example")
    assert (settings["title"], settings["tagline"]) == (site.title, site.tagline)
    assert settings["theme"] == {"color": "teal", "fonts": ["Inter", "serif"]}

    pages = _json(dest, "pages.json")
    assert [p["slug"] for p in pages] == [p.slug for p in site.pages]
    for exported, page in zip(pages, site.pages, strict=True):
        assert (exported["title"], exported["published"]) == (page.title, page.published)
        assert [(b["type"], b["position"], b["data"]) for b in exported["blocks"]] == [
            (b.type, b.position, b.data) for b in sorted(page.blocks, key=lambda b: b.position)
        ]
    assert [b["type"] for b in pages[0]["blocks"]] == ["text", "buttons", "hero"]

    menu = _json(dest, "menu.json")
    assert [(m["label"], m["url"]) for m in menu] == [
        ("Home", "/"), ("Program", "/program"), ("Contact", "/contact"),
    ]  # fmt: skip

    media = {m["id"]: m for m in _json(dest, "media.json")}
    assert set(media) == {photo.id, notes.id}
    assert media[photo.id]["tags"] == ["lake", "summer"]
    assert media[photo.id]["original_name"] == "lake.jpg"
    assert media[photo.id]["mime_type"] == "image/jpeg"
    assert media[photo.id]["uploaded_by"] == "editor@camp.example"  # a member of the site
    assert media[notes.id]["uploaded_by"] is None  # a global admin is not a member
    for item in (photo, notes):
        entry = media[item.id]
        assert entry["file"] == f"media/{item.stored_name}"
        on_disk = f"{any_app.config['STINKY_DATA_DIR']}/uploads/{item.relative_path}"
        with open(on_disk, "rb") as f:
            assert (dest / entry["file"]).read_bytes() == f.read()
        assert entry["size"] == item.size


def test_sha256sums_check_with_the_standard_tool(app, make, tmp_path):
    site, _other, _media = _build_camp(make)
    result = export_site(app.config, site.id)
    with tarfile.open(result.path, "r:gz") as tar:
        tar.extractall(tmp_path / "plain", filter="data")
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "plain", capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(_members(result.path)) - 1


def test_export_holds_nothing_of_another_site_and_no_secret(app, make):
    site, _other, _media = _build_camp(make)
    result = export_site(app.config, site.id)
    members = _members(result.path)
    blob = b"".join(members.values())

    assert OTHER.encode() not in blob
    assert OTHER.lower().encode() not in blob
    assert b"test-secret" not in blob
    assert app.config["SECRET_KEY"].encode() not in blob
    for user in db.session.query(User):
        assert user.password_hash.encode() not in blob
        assert user.password_hash.split("$")[-1].encode() not in blob
    # The owner is named once, in the manifest (so an import can give the site back to them);
    # they uploaded nothing, so no other member names them.
    assert json.loads(members["manifest.json"])["site"]["owner"] == "owner@camp.example"
    assert blob.count(b"owner@camp.example") == 1
    assert b"root@host.example" not in blob
    assert b"password" not in blob.lower()


def test_readme_explains_the_files_to_a_stranger(app, make):
    site, _other, _media = _build_camp(make)
    readme = _members(export_site(app.config, site.id).path)["README.md"].decode()
    assert "Lakeside Camp ☀" in readme
    for name in ("manifest.json", "site.json", "pages.json", "menu.json", "media.json"):
        assert f"`{name}`" in readme
    assert "sha256sum -c SHA256SUMS" in readme
    assert "$" not in readme.replace("$ ", "")  # every placeholder was filled


def test_media_record_without_file_is_kept_with_null_file(app, make):
    site = make.site()
    kept = make.media(site, content=b"here", name="here.png")
    gone = make.media(site, content=b"gone", name="gone.png")
    os.remove(f"{app.config['STINKY_DATA_DIR']}/uploads/{gone.relative_path}")
    result = export_site(app.config, site.id)
    members = _members(result.path)
    media = {m["original_name"]: m for m in json.loads(members["media.json"])}
    assert media["gone.png"]["file"] is None
    assert members[media["here.png"]["file"]] == b"here"
    assert result.counts["media_missing"] == 1
    assert result.counts["media_files"] == 1
    assert kept.id in {m["id"] for m in media.values()}


def test_export_to_a_given_file_and_progress(app, make, tmp_path):
    site, _other, _media = _build_camp(make)
    seen = []
    dest = tmp_path / "mine.tar.gz"
    result = export_site(app.config, site.id, dest=dest, progress=lambda d, t: seen.append((d, t)))
    assert result.path == dest
    assert read_manifest(dest)["site"]["id"] == site.id
    total = len(read_manifest(dest)["files"]) - 1  # every member but SHA256SUMS
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == list(range(1, total + 1))


def test_media_vanishing_mid_export_fails_clearly_and_leaves_nothing(app, make):
    site = make.site()
    make.media(site, content=b"a" * 1000, name="a.png")
    last = make.media(site, content=b"b" * 1000, name="b.png")
    path = f"{app.config['STINKY_DATA_DIR']}/uploads/{last.relative_path}"

    def delete_last(done, total):
        if os.path.exists(path):
            os.remove(path)

    with pytest.raises(ExportFailed, match="was deleted while it was exported"):
        export_site(app.config, site.id, progress=delete_last)
    assert list(exports_dir(app.config).iterdir()) == []


def test_unknown_site_is_a_clear_error(app):
    with pytest.raises(SiteNotFound):
        export_site(app.config, 12345)
    assert issubclass(SiteNotFound, ExportError)


def test_flask_site_export_writes_the_file(app, make, runner, tmp_path):
    site, _other, _media = _build_camp(make)
    out = tmp_path / "lake.tar.gz"
    result = runner.invoke(args=["site", "export", "lakeside", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    assert read_manifest(out)["site"]["subdomain"] == site.subdomain

    default = runner.invoke(args=["site", "export", "lakeside"])
    assert default.exit_code == 0, default.output
    assert [p.name for p in exports_dir(app.config).glob("site-*.tar.gz")]


def test_flask_site_export_unknown_subdomain_exits_non_zero(app, runner):
    result = runner.invoke(args=["site", "export", "nowhere"])
    assert result.exit_code != 0
    assert "no site with subdomain 'nowhere'" in result.output


def test_terminal_progress_draws_a_bar_only_on_a_tty():
    from app.commands.progress import TerminalProgress

    class Stream(io.StringIO):
        def __init__(self, tty):
            super().__init__()
            self.tty = tty

        def isatty(self):
            return self.tty

    tty, pipe = Stream(True), Stream(False)
    for stream in (tty, pipe):
        with TerminalProgress("Exporting camp", stream=stream) as progress:
            for done in range(1, 5):
                progress(done, 4)
    assert "Exporting camp" in tty.getvalue()
    assert "100%" in tty.getvalue()
    assert pipe.getvalue() == ""
