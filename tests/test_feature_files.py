"""``hash --tmk-dir`` / ``--vpdq-dir`` when names collide or the disk says no: nothing is
silently replaced, each problem is said once, the run goes on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from samples import write_video

from hashcore.cli.main import main


@pytest.fixture
def same_stem(tmp_path: Path) -> list[Path]:
    """Two different videos both called ``clip.mp4``, in folders a and b."""
    videos = []
    for folder, frames in (("a", 30), ("b", 45)):
        (tmp_path / "made" / folder).mkdir(parents=True)
        (tmp_path / "in" / folder).mkdir(parents=True)
        made = write_video(tmp_path / "made" / folder, "mp4", frames=frames)
        videos.append(Path(shutil.copy(made, tmp_path / "in" / folder / "clip.mp4")))
    return videos


def test_videos_sharing_a_stem_get_a_file_each(
    tmp_path: Path, same_stem: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "features"
    args = ["hash", "--jobs", "1", "--tmk-dir", str(out), "--vpdq-dir", str(out)]
    assert main([*args, str(tmp_path / "in")]) == 0
    err = capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [
        "clip-2.tmk",
        "clip-2.txt",
        "clip.tmk",
        "clip.txt",
    ]
    assert (out / "clip.tmk").read_bytes() != (out / "clip-2.tmk").read_bytes()  # two videos
    assert len((out / "clip-2.txt").read_text().splitlines()) == 45  # b's frames, every one
    assert err.count("warning") == 2 and f"clip.tmk holds {same_stem[0]}" in err
    for stem, video in (("clip", same_stem[0]), ("clip-2", same_stem[1])):  # each is its video's
        alone = tmp_path / f"alone-{stem}"
        assert main(["hash", "--jobs", "1", "--tmk-dir", str(alone), str(video)]) == 0
        assert (alone / "clip.tmk").read_bytes() == (out / f"{stem}.tmk").read_bytes()


def test_a_feature_that_cannot_be_written_is_that_videos_error(
    tmp_path: Path, same_stem: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "features"
    (out / "clip.tmk").mkdir(parents=True)  # in the way of the first video's file
    code = main(["hash", "--jobs", "1", "--tmk-dir", str(out), str(tmp_path / "in")])
    captured = capsys.readouterr()
    assert code == 1 and captured.err.count("hashcore: error:") == 1
    assert f"{same_stem[0]}: cannot write {out / 'clip.tmk'}" in captured.err
    assert (out / "clip-2.tmk").stat().st_size > 0 and captured.out.count("(video)") == 2
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    code = main(["hash", "--tmk-dir", str(not_a_folder), str(same_stem[0])])
    err = capsys.readouterr().err
    assert code == 2 and f"cannot write features to {not_a_folder}" in err
