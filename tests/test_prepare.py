"""`edge-sdk prepare`: dataset layouts, identity-safe splits, crops by the runtime's detector, resume, shards, failures."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge_sdk.distill.datasets import assign_splits, identity_leaks, scan
from edge_sdk.distill.prepare import jittered_indices, parse_shard, prepare, read_index
from edge_sdk.errors import InputError
from tests.conftest import shared_path

PHOTOS = ["western_real_1.JPG", "western_real_2.JPG", "asian_real_1.JPG", "western_fake_1.JPG"]


@pytest.fixture(scope="module")
def faces():
    """Sample photos at 480 px height: what the synthetic videos are made of."""
    out = []
    for name in PHOTOS:
        bgr = cv2.imread(str(shared_path("samples", name)))
        h, w = bgr.shape[:2]
        out.append(cv2.resize(bgr, (int(w * 480 / h) // 2 * 2, 480), interpolation=cv2.INTER_AREA))
    return out


def write_video(path, bgr, n=6):
    """A short video of one photo drifting a few pixels per frame (real pixels, a face in every frame)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = bgr.shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    for i in range(n):
        vw.write(cv2.warpAffine(bgr, np.float32([[1, 0, 2 * i], [0, 1, i]]), (w, h), borderMode=cv2.BORDER_REFLECT))
    vw.release()
    return path


@pytest.fixture(scope="module")
def ffpp(tmp_path_factory, faces):
    root = tmp_path_factory.mktemp("ffpp")
    ids = ["000", "001", "002", "003", "004", "005"]
    for k, i in enumerate(ids):
        write_video(root / "original_sequences" / "youtube" / "c23" / "videos" / f"{i}.mp4", faces[k % 4])
    for target, source in (("000", "003"), ("003", "000"), ("001", "002"), ("004", "005")):
        for method in ("Deepfakes", "FaceSwap"):
            write_video(root / "manipulated_sequences" / method / "c23" / "videos" / f"{target}_{source}.mp4",
                        faces[(int(target) + 1) % 4])
    (root / "original_sequences" / "youtube" / "c23" / "videos" / "broken.mp4").write_bytes(b"\x00" * 100)
    return root


def test_ffpp_layout_labels_methods_and_identities(ffpp):
    layout, items = scan(ffpp)
    assert layout == "ffpp" and len(items) == 6 + 1 + 8
    by_id = {it.video_id: it for it in items}
    fake = by_id["ffpp__Deepfakes__c23__000_003"]
    assert fake.label == 1 and fake.method == "Deepfakes" and fake.identities == ("000", "003")
    real = by_id["ffpp__youtube__c23__001"]
    assert real.label == 0 and real.method == "real" and real.identities == ("001",)


@pytest.mark.parametrize("seed", range(6))
def test_splits_never_share_an_identity(ffpp, seed):
    _, items = scan(ffpp)
    summary = assign_splits(items, val=0.3, test=0.3, seed=seed)
    assert identity_leaks(items) == []
    groups = {}
    for it in items:  # 000 and 003 are linked by 000_003 / 003_000: one group, one split
        for i in it.identities:
            groups.setdefault(i, set()).add(it.split)
    assert groups["000"] == groups["003"] and len(groups["000"]) == 1
    assert sum(c["real"] + c["fake"] for c in summary["counts"].values()) == len(items)


def test_official_ffpp_split_is_used(ffpp, tmp_path):
    for split, pairs in (("train", [["000", "003"], ["004", "005"]]), ("val", [["001", "002"]]), ("test", [])):
        (tmp_path / f"{split}.json").write_text(json.dumps(pairs))
    _, items = scan(ffpp, split_dir=tmp_path)
    assign_splits(items)
    by_id = {it.video_id: it.split for it in items}
    assert by_id["ffpp__FaceSwap__c23__001_002"] == "val" and by_id["ffpp__youtube__c23__003"] == "train"
    assert identity_leaks(items) == []


def test_prepare_makes_crops_and_index_resumes_and_records_failures(ffpp, tmp_path):
    out = tmp_path / "out"
    report = prepare(ffpp, out, frames=3, size=128, progress=False)
    assert report["layout"] == "ffpp" and report["videos_total"] == 15 and report["complete"]
    assert report["videos_failed"] == 1 and "broken.mp4" in report["errors"][0]["video"]
    rows = read_index(out)
    assert len(rows) == report["crops"] >= 14 * 2  # >= 2 of 3 frames with a face in each good video
    r = rows[0]
    crop = cv2.imread(str(out / r["crop"]))
    assert crop.shape == (128, 128, 3) and len(json.loads(r["keypoints"])) == 6 and len(json.loads(r["box"])) == 4
    assert {x["split"] for x in rows} <= {"train", "val", "test"} and report["identity_leaks"] == []
    frames = sorted({int(x["frame"]) for x in rows if x["video_id"] == r["video_id"]})
    assert frames == sorted(frames) and len(frames) <= 3
    mtime = (out / "videos" / f"{r['video_id']}.json").stat().st_mtime_ns
    again = prepare(ffpp, out, frames=3, size=128, progress=False)
    assert again["this_run"] == {"videos": 15, "skipped_as_done": 15, "processed": 0}
    assert (out / "videos" / f"{r['video_id']}.json").stat().st_mtime_ns == mtime and len(read_index(out)) == len(rows)
    retry = prepare(ffpp, out, frames=3, size=128, progress=False, retry_failed=True)
    assert retry["this_run"]["processed"] == 1 and retry["videos_failed"] == 1


def test_shards_split_the_work_and_merge_into_one_index(ffpp, tmp_path):
    out = tmp_path / "sharded"
    first = prepare(ffpp, out, frames=2, size=96, shard="1/2", progress=False)
    assert not first["complete"] and first["this_run"]["videos"] == 8
    second = prepare(ffpp, out, frames=2, size=96, shard="2/2", progress=False)
    assert second["complete"] and second["this_run"]["videos"] == 7 and second["videos_done"] == 15
    ids = [r["video_id"] for r in read_index(out)]
    assert len(set(ids)) == 14  # every readable video, each once
    with pytest.raises(InputError, match="I/N"):
        parse_shard("3-16")


def test_celebdf_layout_test_list_and_generic_tree_and_csv(tmp_path, faces):
    cdf = tmp_path / "cdf"
    write_video(cdf / "Celeb-real" / "id0_0000.mp4", faces[0], 2)
    write_video(cdf / "Celeb-real" / "id1_0000.mp4", faces[1], 2)
    write_video(cdf / "Celeb-synthesis" / "id0_id1_0000.mp4", faces[2], 2)
    write_video(cdf / "YouTube-real" / "00000.mp4", faces[3], 2)
    (cdf / "List_of_testing_videos.txt").write_text("1 Celeb-real/id0_0000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n")
    layout, items = scan(cdf)
    assign_splits(items)
    split = {it.video_id: it.split for it in items}
    assert layout == "celebdf" and split["celebdf__Celeb-real__id0_0000"] == "test"
    assert split["celebdf__Celeb-real__id1_0000"] == "test"  # shares id1 with a test video: joins test
    assert identity_leaks(items) == []
    gen = tmp_path / "gen"
    (gen / "real").mkdir(parents=True)
    cv2.imwrite(str(gen / "real" / "a.jpg"), faces[0])
    write_video(gen / "fake" / "sbi" / "b.mp4", faces[1], 2)
    layout, items = scan(gen)
    assert layout == "generic" and [(it.label, it.method) for it in items] == [(1, "sbi"), (0, "real")]
    table = tmp_path / "list.csv"
    table.write_text("path,label,split,identity\ngen/real/a.jpg,real,train,p1\ngen/fake/sbi/b.mp4,fake,test,p2\n")
    layout, items = scan(table)
    assert layout == "csv" and [it.split for it in items] == ["test", "train"] and items[0].identities == ("p2",)
    assert [it.label for it in items] == [1, 0] and items[1].path == gen / "real" / "a.jpg"
    table.write_text("path,label\ngen/real/a.jpg,maybe\n")
    with pytest.raises(InputError, match="line 2.*maybe"):
        scan(table)
    with pytest.raises(InputError, match="not a dataset layout"):
        scan(tmp_path / "cdf" / "Celeb-real")


def test_jittered_frames_are_spread_and_reproducible():
    a = jittered_indices(300, 20, seed=7)
    assert a == jittered_indices(300, 20, seed=7) != jittered_indices(300, 20, seed=8)
    assert len(a) == 20 and all(15 * k <= v < 15 * (k + 1) for k, v in enumerate(a))
    assert jittered_indices(5, 20, seed=1) == [0, 1, 2, 3, 4] and jittered_indices(0, 4, 1) == []
