"""Procedural oracle worlds: seed -> analytic parts with exact ground-truth labels."""
from .generator import CATEGORIES, CATEGORY_SPECS, ProceduralGenerator
from .latent import ORACLE_LATENT_DIM, oracle_latent

# Posable worlds: not in CATEGORIES (which the rigid worlds' code and tests iterate over); their
# generator is procedural.figure.FigureGenerator and their subjects carry a skeleton.Pose.
POSABLE_CATEGORIES = ("figure",)

__all__ = ["CATEGORIES", "CATEGORY_SPECS", "POSABLE_CATEGORIES", "ORACLE_LATENT_DIM", "ProceduralGenerator", "oracle_latent"]
