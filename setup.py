"""Builds the one native piece: the fused CPU kernel of dnerf_core/render/plane_mlp.py.

Everything else is in pyproject.toml. The extension is optional: without a C compiler (or on a
CPU or compiler it does not support) the install still succeeds and every field runs its eager
PyTorch code, the same numbers up to float rounding, slower on a CPU."""
from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "dnerf_core.render._plane_mlp_native",
    sources=["dnerf_core/render/_plane_mlp_native.c"],
    # no -march: the kernel's functions target AVX2 + FMA themselves and plane_mlp.py asks the
    # CPU before calling them, so one build runs on any x86-64
    extra_compile_args=["-O3", "-fopenmp"],
    extra_link_args=["-fopenmp"],
    optional=True,
)])
