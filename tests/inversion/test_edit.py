"""3D-aware editing: the region of interest, the edit target, and a short real edit."""
import math
from dataclasses import replace

import pytest
import torch

from dnerf_core.errors import AnnotationError, DnerfError
from dnerf_core.inversion import EDIT_FIT, Pose, edit_subject, render_view, transplant_part
from dnerf_core.inversion.edit import edit_region
from dnerf_core.labels import IGNORE_ID

SEED, DONOR = 1_000_321, 1_000_654


def test_edit_region_and_transplant_values():
    before = torch.tensor([[0, 1, 1], [0, 2, 2], [0, 0, 1]])
    donor = torch.tensor([[2, 2, 1], [0, 1, 1], [0, 0, 0]])
    edited = transplant_part(before, donor, 2)
    # part 2 takes the donor's shape; where it leaves, the donor's label there
    assert edited.tolist() == [[2, 2, 1], [0, 1, 1], [0, 0, 1]]
    edited[2, 2] = IGNORE_ID
    assert edit_region(before, edited).tolist() == [[True, True, False], [False, True, True], [False, False, False]]


@pytest.mark.slow
def test_edit_errors(face):
    gen = face.generator
    subject = gen.sample([SEED])
    pose = Pose(0.1, 0.05, gen.orbit.radius)
    current = render_view(face, subject, pose).labels
    with pytest.raises(DnerfError, match="identical to the subject's current mask"):
        edit_subject(face, subject.ws, pose, current, replace(EDIT_FIT, steps=2))
    with pytest.raises(DnerfError, match=r"ws must be \[1,"):
        edit_subject(face, subject.ws[:, :, :5], pose, current, replace(EDIT_FIT, steps=2))
    with pytest.raises(AnnotationError, match="not in the label set"):
        edit_subject(face, subject.ws, pose, current + 40, replace(EDIT_FIT, steps=2))
    with pytest.raises(DnerfError, match="keep weights must be >= 0"):
        edit_subject(face, subject.ws, pose, current, replace(EDIT_FIT, steps=2), label_keep_weight=-1.0)
    with pytest.raises(DnerfError, match="region weight must be > 0"):
        edit_subject(face, subject.ws, pose, current, replace(EDIT_FIT, steps=2), region_weight=0.0)
    with pytest.raises(DnerfError, match="needs a semantic branch"):
        edit_subject(gen, subject.ws, pose, current, replace(EDIT_FIT, steps=2))


@pytest.mark.slow
def test_a_short_edit_moves_the_part_and_keeps_the_rest(face):
    gen = face.generator
    hair = face.label_set.id_of("hair")
    pose = Pose(-0.2, 0.1, gen.orbit.radius)
    subject = gen.sample([SEED])
    before = render_view(face, subject, pose)
    edited = transplant_part(before.labels, render_view(face, gen.sample([DONOR]), pose).labels, hair)
    result = edit_subject(face, subject.ws, pose, edited, replace(EDIT_FIT, steps=25))
    assert torch.equal(result.region, edited != before.labels) and result.region.sum() > 20
    after = result.after
    assert torch.equal(after.labels, render_view(face, result.fit.subject, pose).labels)
    # a "before" given by the caller is used as is (no second render)
    again = edit_subject(face, subject.ws, pose, edited, replace(EDIT_FIT, steps=1), before=before)
    assert again.before is before
    region, outside = result.region, ~result.region
    hit_before = (before.labels[region] == edited[region]).float().mean()  # 0 by construction
    hit_after = (after.labels[region] == edited[region]).float().mean()
    assert hit_before == 0 and hit_after > 0.3
    assert ((after.rgb - before.rgb) ** 2).mean(0)[outside].mean() < 10 ** -2.5  # > 25 dB outside
    assert not torch.equal(result.fit.ws, subject.ws)


@pytest.mark.slow
def test_an_edit_that_cares_only_about_its_region(face):
    # every pixel outside the region is "don't care": the outside label term has nothing to keep
    gen = face.generator
    pose = Pose(-0.2, 0.1, gen.orbit.radius)
    subject = gen.sample([SEED])
    before = render_view(face, subject, pose)
    edited = transplant_part(before.labels, render_view(face, gen.sample([DONOR]), pose).labels,
                             face.label_set.id_of("hair"))
    edited[edited == before.labels] = IGNORE_ID
    result = edit_subject(face, subject.ws, pose, edited, replace(EDIT_FIT, steps=3), before=before)
    assert all(math.isfinite(v) for v in result.fit.losses) and len(result.fit.losses) == 3
