"""QA viewers for dnerf's part-labeled point clouds and meshes (`dnerf view`).

Rendering-independent logic (loading, legend colors, per-part counts, label diff, the scene to
draw) lives in geometry, legend, diff, scene and image, which import neither open3d nor pyvista;
open3d_backend and pyvista_backend draw a scene; app ties them together for the CLI.
"""
