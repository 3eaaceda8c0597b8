"""``sandbox up`` forgets a lane's media cache before starting it: Asterisk never evicts the
prompts it fetched over HTTP and reads every entry at start (9,000 files cost a PBX 60 s of
CPU before it answered). Files only: no Asterisk needed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ivr_agent.sim import sandbox
from ivr_agent.sim.sandbox_layout import lane_instances

CONF = """[directories]
astetcdir => /etc/asterisk-pbx-lane2
astdbdir => /var/lib/asterisk-lane2
astcachedir => /var/cache/asterisk-lane2
"""


def test_given_a_lanes_cache_and_astdb_then_both_are_forgotten_and_nothing_else(
    tmp_path: Path,
) -> None:
    pbx, _phones = lane_instances(2)
    (tmp_path / pbx.etc_dir.lstrip("/")).mkdir(parents=True)
    (tmp_path / pbx.conf.lstrip("/")).write_text(CONF)
    cache = tmp_path / "var/cache/asterisk-lane2"
    cache.mkdir(parents=True)
    for n in range(3):
        (cache / f"bucket-{n}.wav").write_bytes(b"RIFF")
    (cache / "keep.txt").write_text("not the media cache")
    db = tmp_path / "var/lib/asterisk-lane2"
    db.mkdir(parents=True)
    (db / "astdb.sqlite3").write_bytes(b"SQLite")
    other_lane = tmp_path / "var/cache/asterisk-lane3"
    other_lane.mkdir(parents=True)
    (other_lane / "bucket-9.wav").write_bytes(b"RIFF")
    box = dataclasses.replace(_any_sandbox(tmp_path), lane=2)

    assert sandbox.forget_media_cache(box, pbx) == 3
    assert sorted(p.name for p in cache.iterdir()) == ["keep.txt"]
    assert not (db / "astdb.sqlite3").exists()
    assert (other_lane / "bucket-9.wav").exists()  # another lane's cache is its own
    assert sandbox.forget_media_cache(box, pbx) == 0  # nothing left: nothing to do


def _any_sandbox(root: Path) -> sandbox.Sandbox:
    return sandbox.Sandbox(root=root, state_dir=root / "state", repo_dir=root, lane=0)
