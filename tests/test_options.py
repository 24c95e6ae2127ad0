"""Options defined once on config dataclasses: validate() refuses out-of-range and non-finite
numbers everywhere, and the CLI's options are derived from the same fields."""
import math

import pytest
from click.testing import CliRunner

from dnerf_core.errors import DnerfError
from dnerf_core.factory.export_options import ExportOptions
from dnerf_core.inversion.options import EditOptions, InvertOptions
from dnerf_core.options import option_fields, validate_fields
from dnerf_core.semantic.kit_options import KitOptions
from dnerf_core.semantic.config import SemanticConfig
from dnerf_core.semantic.config import SemanticTrainConfig

CONFIGS = [ExportOptions(), KitOptions(), SemanticTrainConfig(), SemanticConfig(num_classes=3), InvertOptions(),
           EditOptions()]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_defaults_are_valid_and_every_number_refuses_nan_and_inf(config):
    from dataclasses import replace

    validate_fields(config)
    numeric = [f for f in option_fields(config) if f.type in (int, float)]
    assert numeric
    for f in numeric:
        for bad in (math.nan, math.inf, -math.inf):
            with pytest.raises(DnerfError, match=f"{f.flag_name} must be a finite number"):
                validate_fields(replace(config, **{f.name: bad}))


def test_ranges_and_messages():
    with pytest.raises(DnerfError, match="--views must be at least 1, got 0"):
        ExportOptions(views=0).validate()
    with pytest.raises(DnerfError, match="--resolution must be between 8 and 4096, got 4097"):
        ExportOptions(resolution=4097).validate()
    with pytest.raises(DnerfError, match="--seed must be a non-negative integer"):
        ExportOptions(seed=-1).validate()
    with pytest.raises(DnerfError, match="--region-weight must be positive"):
        EditOptions(region_weight=0.0).validate()
    with pytest.raises(DnerfError, match="--oracle-masks must be one of image, world"):
        KitOptions(oracle_masks="pixels").validate()
    with pytest.raises(DnerfError, match="held-out"):
        KitOptions(seed_offset=1_000_000).validate()
    assert ExportOptions().formats == ("ply", "glb", "masks") and ExportOptions(pts=True).formats == ("pts",)


def test_cli_options_come_from_the_fields():
    from dnerf_core.cli import cli

    for command, config in (("export", ExportOptions), ("annotate-kit", KitOptions), ("edit", EditOptions)):
        params = {p.name: p for p in cli.commands[command].params}
        for f in option_fields(config):
            if f.option.cli:
                assert params[f.name].default == f.default and f.option.help in params[f.name].help, (command, f.name)
    res = CliRunner().invoke(cli, ["export", "--help"])
    assert "[range: 16..512]" in res.output and "[default: 128]" in res.output
