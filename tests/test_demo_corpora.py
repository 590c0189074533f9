"""The count-heavy corpora (``flask demo seed --preset``): the shape they promise, and a backup
of them that round-trips on every engine. Small scales only: the counts, never the speed."""

import pytest
import sqlalchemy as sa

from app.backup.system import create_backup, restore_backup
from app.demo import DemoError, seed_corpus
from app.demo.corpora import PRESETS
from app.exports.staticsite.imagesize import image_size
from app.extensions import db
from app.media import media_path, uploads_dir
from app.models import Block, MediaItem, Page, Site
from tests.backupkit import full_state


def count(model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def files_per_site():
    rows = db.session.execute(
        sa.select(MediaItem.site_id, sa.func.count()).group_by(MediaItem.site_id)
    ).all()
    return dict(rows)


def test_many_files_at_a_small_scale_has_its_files_in_pairs_over_20_sites(app):
    summary = seed_corpus("many-files", scale=0.004)

    assert summary.sites == count(Site) == 20
    assert summary.media == count(MediaItem) == 400
    on_disk = [p for p in uploads_dir().rglob("*") if p.is_file()]
    assert len(on_disk) == 400
    items = db.session.scalars(sa.select(MediaItem)).all()
    assert {media_path(item) for item in items} == set(on_disk)
    assert all(media_path(item).stat().st_size == item.size for item in items)
    assert summary.media_bytes == sum(item.size for item in items)
    photos = [i for i in items if not i.original_name.endswith("-thumb.jpg")]
    assert len(photos) == 200
    assert image_size(media_path(photos[0])) == (1600, 1200)
    # The sites fall off in size: the first holds the most, over a quarter.
    per_site = files_per_site()
    first = db.session.scalar(sa.select(Site.id).order_by(Site.id))
    assert per_site[first] == max(per_site.values()) > 400 / 4
    assert summary.blocks == count(Block) == PRESETS["many-files"].scaled(0.004)[2]


def test_many_rows_at_a_small_scale_has_its_blocks_evenly_over_20_sites(app):
    summary = seed_corpus("many-rows", scale=0.002)

    assert summary.sites == count(Site) == 20
    assert summary.blocks == count(Block) == 2000
    assert summary.pages == count(Page) == 20 * 2  # 50 blocks a page
    first = db.session.scalar(sa.select(Site.id).order_by(Site.id))
    on_first = count(Block, Block.page_id.in_(sa.select(Page.id).where(Page.site_id == first)))
    assert on_first == 100
    assert summary.media == count(MediaItem) == 2  # little media


def test_the_same_seed_gives_the_same_corpus_and_a_second_seed_is_refused(app):
    seed_corpus("many-rows", scale=0.001, seed=3)
    first = db.session.execute(sa.select(Block.type, Block.data).order_by(Block.id)).all()
    with pytest.raises(DemoError, match="already there"):
        seed_corpus("many-rows", scale=0.001, seed=3)
    assert db.session.execute(sa.select(Block.type, Block.data).order_by(Block.id)).all() == first


@pytest.mark.parametrize(
    ("preset", "scale"),
    [("no-such", 1.0), ("many-rows", 0), ("many-rows", -1), ("many-files", 101)],
)
def test_a_bad_preset_or_scale_is_refused_before_anything_is_written(app, preset, scale):
    with pytest.raises(DemoError):
        seed_corpus(preset, scale=scale)
    assert count(Site) == 0
    assert not uploads_dir().exists() or not any(uploads_dir().rglob("*.jpg"))


def test_the_command_seeds_a_preset_at_a_scale(app):
    result = app.test_cli_runner().invoke(
        args=["demo", "seed", "--preset", "many-files", "--scale", "0.001"]
    )
    assert result.exit_code == 0, result.output
    assert "Seeded 20 sites" in result.output
    assert count(MediaItem) == 100


@pytest.mark.integration
@pytest.mark.parametrize(("preset", "scale"), [("many-files", 0.002), ("many-rows", 0.002)])
def test_a_backup_of_a_corpus_round_trips(any_app, preset, scale):
    config = any_app.config
    seed_corpus(preset, scale=scale)
    before = full_state(config)
    outcome = create_backup(config, db.engine)
    assert outcome.files == len(before[1])

    with db.engine.begin() as conn:
        conn.execute(sa.delete(Block))
    for path in list(uploads_dir(config).rglob("*.jpg"))[:5]:
        path.unlink()
    assert full_state(config) != before

    restore_backup(config, db.engine, outcome.backup_id)
    assert full_state(config) == before
