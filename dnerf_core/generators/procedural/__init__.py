"""Procedural oracle worlds: seed -> analytic parts with exact ground-truth labels."""
from .generator import CATEGORIES, CATEGORY_SPECS, ProceduralGenerator
from .latent import ORACLE_LATENT_DIM, oracle_latent

__all__ = ["CATEGORIES", "CATEGORY_SPECS", "ORACLE_LATENT_DIM", "ProceduralGenerator", "oracle_latent"]
