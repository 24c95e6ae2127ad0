"""`--pose` everywhere (issue 26, item 4): dnerf-export, dnerf dataset and label_subject pose an
articulated subject, record the resolved joint angles, and refuse bad poses (one line, exit code
2, nothing written), a pose for a rigid generator included."""
import json

import pytest

import dnerf_core as dn
from dnerf_core.cli import cli
from dnerf_core.cli.common import EXIT_USAGE, run
from dnerf_core.generators.posing import derived_pose_seed
from dnerf_core.generators.procedural.figure import make_figure, random_pose
from dnerf_core.generators.procedural.skeleton import Pose, PoseError, named_pose

TINY = ["--views", "1", "--resolution", "16", "--mesh-resolution", "16", "--quiet"]


@pytest.mark.parametrize("generator, pose, message", [
    ("procedural:car", "walk", "procedural:car is a rigid generator"),
    ("procedural:figure", "dance", "unknown pose 'dance'"),
    ("procedural:figure", "{bad", "pose JSON does not parse"),
    ("procedural:figure", '{"elbow_l": 200}', "elbow_l.flex = 200 degrees is outside its limits"),
    ("procedural:figure", '{"tail": 5}', "unknown joint(s) 'tail'"),
    ("procedural:figure", "random:-3", "random pose seed must be non-negative"),
    ("procedural:figure", "missing.json", "pose file not found"),
])
def test_bad_pose_is_one_line_exit_2_nothing_written(tmp_path, capsys, generator, pose, message):
    out = tmp_path / "out"
    code = run(cli, ["export", "-g", generator, "--pose", pose, *TINY, "-o", str(out)], "dnerf")
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USAGE and len(err.splitlines()) == 1 and message in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_dataset_refuses_a_pose_for_a_rigid_generator(tmp_path, capsys):
    out = tmp_path / "data"
    code = run(cli, ["dataset", "-g", "procedural:face", "-N", "1", "-V", "1", "-r", "16", "--pose", "sit", "-q",
                     "-o", str(out)], "dnerf")
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USAGE and "rigid generator" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_export_records_the_resolved_pose(tmp_path):
    out = tmp_path / "walk"
    assert run(cli, ["export", "-g", "procedural:figure", "-s", "4", "--pose", "walk", "--ply", *TINY,
                     "-o", str(out)], "dnerf") == 0
    recorded = json.loads((out / "export.json").read_text())["body_pose"]
    assert Pose.from_dict(recorded) == named_pose("walk")


def test_label_subject_poses_the_figure_and_random_derives_from_the_seed():
    gen = dn.load_generator("procedural:figure")
    small = dict(views=1, resolution=16, mesh=False, cloud=False)
    rest = dn.label_subject(gen, seed=3, **small)
    assert Pose.from_dict(rest.pose).is_zero  # no pose: the rest pose, recorded
    sit = dn.label_subject(gen, seed=3, pose="sit", **small)
    assert Pose.from_dict(sit.pose) == named_pose("sit")
    assert not (sit.views.labels == rest.views.labels).all()  # the labels follow the body
    rnd = dn.label_subject(gen, seed=3, pose="random", **small)
    expected = random_pose(make_figure(3), derived_pose_seed(3))
    assert Pose.from_dict(rnd.pose).angles == expected.angles
    assert dn.label_subject(gen, seed=3, pose="random", **small).pose == rnd.pose  # a pure function
    assert Pose.from_dict(dn.label_subject(gen, seed=3, pose="17", **small).pose).angles == \
        random_pose(make_figure(3), 17).angles
    with pytest.raises(PoseError, match="rigid generator"):
        dn.label_subject(dn.load_generator("procedural:car"), seed=3, pose="walk", **small)


def test_dataset_poses_each_subject_records_it_and_refuses_another_pose_on_resume(tmp_path, capsys):
    out = tmp_path / "data"
    args = ["dataset", "-g", "procedural:figure", "-N", "2", "-V", "1", "-r", "16", "-q", "-o", str(out)]
    assert run(cli, args + ["--pose", "random"], "dnerf") == 0
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    subjects = {r["seed"]: r["body_pose"] for r in rows if r.get("view") is None}
    assert sorted(subjects) == [0, 1]
    for seed, pose in subjects.items():
        assert Pose.from_dict(pose).angles == random_pose(make_figure(seed), derived_pose_seed(seed)).angles
    assert json.loads((out / "dataset.json").read_text())["arguments"]["pose"] == "random"
    capsys.readouterr()
    assert run(cli, args + ["--pose", "walk"], "dnerf") == EXIT_USAGE
    assert "pose ('random' -> 'walk')" in capsys.readouterr().err
    assert run(cli, args + ["--pose", "random"], "dnerf") == 0  # the same arguments resume
