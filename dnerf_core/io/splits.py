"""Seed splits: training never touches the held-out range, so every quality number is measured
on subjects the model has not seen."""

# Training (generator distillation, annotation kits) draws seeds from [0, HELDOUT_SEED_START);
# every evaluation draws from [HELDOUT_SEED_START, ...).
HELDOUT_SEED_START = 1_000_000
# Poses of evaluation views come from this torch seed (training uses other streams).
EVAL_POSE_SEED = 20_241_124


def heldout_seeds(n: int, offset: int = 0) -> list[int]:
    return list(range(HELDOUT_SEED_START + offset, HELDOUT_SEED_START + offset + n))
