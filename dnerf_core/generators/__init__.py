"""Generators: procedural oracle worlds, the tri-plane GAN, and EG3D checkpoints (DESIGN sec. 2)."""
from .base import Generator, RenderingConfig, RenderOutput, Subject
from .registry import load_generator

__all__ = ["Generator", "RenderOutput", "RenderingConfig", "Subject", "load_generator"]
