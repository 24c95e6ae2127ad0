"""Generators: procedural oracle worlds, the tri-plane GAN, and EG3D checkpoints (DESIGN sec. 2)."""
from .base import Generator, RenderingConfig, RenderOutput, Subject
from .registry import load_generator
from .spec import GeneratorSpec

__all__ = ["Generator", "GeneratorSpec", "RenderOutput", "RenderingConfig", "Subject", "load_generator"]
