#!/usr/bin/env python
"""Speed and memory figures, compared side by side in one run, written as JSON.

    .venv/bin/python scripts/bench.py --out bench.json [--only oracle,cloud,...] [--quick]

Each benchmark is a function returning a dict; the machine's float32 matmul GFLOP/s is measured
in the same run as the yardstick for "fraction of peak" figures. Timings are medians of repeats.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MATMUL_SIZE = 2048


def _median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_matmul(quick: bool) -> dict:
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    b = torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    sec = _median_seconds(lambda: a @ b, 3 if quick else 10)
    return {"size": MATMUL_SIZE, "seconds": sec, "gflops": 2 * MATMUL_SIZE ** 3 / sec / 1e9}


# Plane lookups side by side at the sizes the render paths use: one surface-path block (2048 hit
# pixels x 19 samples), the default generator's planes and its branch's, EG3D size's.
LOOKUP_POINTS = 2048 * 19
LOOKUP_CASES = {"default_generator": (32, 64), "default_branch": (64, 64), "eg3d_generator": (32, 256),
                "eg3d_branch": (64, 256)}


def bench_lookup(quick: bool) -> dict:
    """Summed tri-plane lookups of LOOKUP_POINTS points: grid_sample (the volume path's, the answer
    key) vs the table's embedding bag (render/plane_taps.py: the fast and surface paths'), ms."""
    from dnerf_core.lab import channels_innermost, plane_table, plane_taps, sample_planes_summed, sample_table_summed

    gen = torch.Generator().manual_seed(0)
    pts = torch.rand(1, LOOKUP_POINTS, 3, generator=gen) * 1.8 - 0.9
    out = {"points": LOOKUP_POINTS}
    for name, (channels, res) in LOOKUP_CASES.items():
        planes = channels_innermost(torch.randn(1, 3, channels, res, res, generator=gen))
        table = plane_table(planes)
        repeats = 5 if quick else 20
        row = {"channels": channels, "resolution": res,
               "grid_sample_ms": 1e3 * _median_seconds(lambda: sample_planes_summed(planes, pts, 2.0), repeats),
               "table_ms": 1e3 * _median_seconds(lambda: sample_table_summed(table, pts, 2.0), repeats),
               "taps_only_ms": 1e3 * _median_seconds(lambda: plane_taps(table, pts, 2.0), repeats),
               "max_abs_difference": float((sample_table_summed(table, pts, 2.0)
                                            - sample_planes_summed(planes, pts, 2.0)).abs().max())}
        row["speedup"] = row["grid_sample_ms"] / row["table_ms"]
        out[name] = row
    return out


def bench_oracle(quick: bool) -> dict:
    from dnerf_core.lab import ProceduralGenerator, random_orbit_cameras

    out = {}
    for category in ("car", "face"):
        gen = ProceduralGenerator(category)
        subject = gen.sample([0])
        cams = random_orbit_cameras(4, gen.orbit, torch.Generator().manual_seed(0))
        sec = _median_seconds(lambda: gen.render(subject, cams, 128), 2 if quick else 5)
        out[category] = {"resolution": 128, "views_per_second": len(cams) / sec}
    return out


def bench_cloud(quick: bool) -> dict:
    from dnerf_core.lab import labeled_point_cloud, ProceduralGenerator, spread_orbit_cameras

    gen = ProceduralGenerator("car")
    subject = gen.sample([7])
    cams = spread_orbit_cameras(8, gen.orbit)
    n_points = []
    sec = _median_seconds(lambda: n_points.append(len(labeled_point_cloud(gen, subject, cams, 128))),
                          2 if quick else 3)
    return {"views": 8, "resolution": 128, "seconds_to_merged_cloud": sec, "points": n_points[-1]}


# --- tri-plane generators: each measurement in a child process, so its peak memory is its own ---
GENERATOR_SPECS = ("default:car", "preset:ffhq512-128")
CHILD_FLAG = "--child"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _load(spec: str):
    from dnerf_core.lab import GeneratorSpecError, load_base_generator as load_generator

    try:
        return load_generator(spec), spec
    except GeneratorSpecError:  # default weights not trained yet: same architecture, random weights
        from dnerf_core.lab import default_config, TriPlaneGAN

        category = spec.partition(":")[2]
        return TriPlaneGAN(default_config(category)).eval(), f"{spec} (random init: weights missing)"


def child_generator(task: dict) -> dict:
    """One measurement: synthesis, or N views of one subject rendered from a cached subject
    ('cached') or re-synthesized for every view as EG3D's sampling loop does ('uncached')."""
    from dnerf_core.lab import exact_resident_memory, random_orbit_cameras, retain_freed_memory

    if task.get("retain_freed_memory"):  # before anything is allocated, as the CLI does
        retain_freed_memory()
    if task.get("exact_memory"):  # resident memory follows the live tensors (allocator.exact_resident_memory)
        task["exact_memory"] = exact_resident_memory()
    if task["kind"] == "labeled_views":
        return _labeled_views(task)
    if task["kind"] == "eg3d_views":
        return child_eg3d_views(task)
    if task["kind"] in FAST_CHILDREN:
        torch.set_grad_enabled(False)
        return FAST_CHILDREN[task["kind"]](task)
    torch.manual_seed(0)
    gen, label = _load(task["spec"])
    if "chunk_rays" in task:
        gen.chunk_rays = task["chunk_rays"]
    if "superres_dtype" in task:
        gen.superres_dtype = getattr(torch, task["superres_dtype"])
    base_mb = _peak_rss_mb()
    repeats = task["repeats"]
    res = task.get("resolution")
    cams = random_orbit_cameras(task.get("views", 1), gen.orbit, torch.Generator().manual_seed(0))
    if task["kind"] == "synthesis":
        sec = _median_seconds(lambda: gen.sample([1]), repeats)
        out = {"seconds_per_subject": sec}
    elif task["kind"] == "cached":
        subject = gen.sample([1])
        sec = _median_seconds(lambda: [gen.render(subject, cams[i], res) for i in range(len(cams))], repeats)
        out = {"views_per_second": len(cams) / sec}
    elif task["kind"] == "uncached":
        sec = _median_seconds(lambda: [gen.render(gen.sample([1]), cams[i], res) for i in range(len(cams))], repeats)
        out = {"views_per_second": len(cams) / sec}
    elif task["kind"] == "semantic_cached":  # the shipped semantic branch, views of a cached subject
        from dnerf_core.lab import load_semantic, shipped_semantic

        branch, _ = load_semantic(shipped_semantic(task["spec"]), gen)
        subject = gen.sample([1])
        with torch.no_grad():
            sec = _median_seconds(lambda: branch.render(gen, subject, cams, res, chunk_rays=gen.chunk_rays), repeats)
        out = {"views_per_second": len(cams) / sec}
    elif task["kind"] in ("semantic_lazy", "semantic_materialized", "semantic_lazy_fast"):
        out = _semantic_view(gen, task, repeats)
    elif task["kind"] == "first_view":  # synthesis + one full view (super-resolution included)
        sec = _median_seconds(lambda: gen.render(gen.sample([1]), cams[0], res), repeats)
        out = {"seconds": sec, "output_resolution": gen.config.img_resolution}
    elif task["kind"] == "superres_fidelity":  # the bfloat16 super-resolution vs float32, same view
        from dnerf_core.lab import psnr

        subject = gen.sample([1])
        exact = gen.render(subject, cams[0], res).rgb
        gen.superres_dtype = torch.bfloat16
        fast = gen.render(subject, cams[0], res).rgb
        out = {"psnr_bfloat16_vs_float32": float(psnr(fast, exact)[0]),
               "max_abs_difference": float((fast - exact).abs().max())}
    else:
        raise ValueError(task["kind"])
    return {"generator": label, **out, "peak_rss_mb": _peak_rss_mb(), "model_rss_mb": base_mb}


def _labeled_views(task: dict) -> dict:
    """A batch of labeled views (one subject each) after one warm-up view: CPU time split into user and
    system (page faults), minor faults, wall time, peak RSS."""
    from dnerf_core import load_generator as load_labeled_generator
    from dnerf_core.lab import random_orbit_cameras

    labeled = load_labeled_generator(task["spec"])
    cams = random_orbit_cameras(task["views"], labeled.orbit, torch.Generator().manual_seed(0))
    with torch.no_grad():
        labeled.render(labeled.sample([0]), cams[:1])
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        labeled.render(labeled.sample(list(range(len(cams)))), cams)
        wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"generator": task["spec"], "views": len(cams), "wall_seconds": wall,
            "user_seconds": r1.ru_utime - r0.ru_utime, "system_seconds": r1.ru_stime - r0.ru_stime,
            "minor_faults": r1.ru_minflt - r0.ru_minflt, "peak_rss_mb": _peak_rss_mb()}


def bench_allocator(quick: bool) -> dict:
    """dnerf_core.allocator.retain_freed_memory (what the CLI and scripts switch on) vs glibc's
    default, same labeled views in two fresh processes, one thread each."""
    out = {"threads": 1}
    for spec in ("default:car", "default:face"):
        task = {"spec": spec, "kind": "labeled_views", "views": 4 if quick else 8}
        default, retained = (_run_child({**task, "retain_freed_memory": flag}, threads=1) for flag in (False, True))
        out[spec] = {"glibc_default": default, "retain_freed_memory": retained,
                     "cpu_seconds_ratio": (default["user_seconds"] + default["system_seconds"])
                     / (retained["user_seconds"] + retained["system_seconds"]),
                     "wall_ratio": default["wall_seconds"] / retained["wall_seconds"]}
    return out


# The materialized reference samples D (~1000 at EG3D size) channels per point: small ray chunks;
# the lazy path is marched in chunks of the same size, so the two differ only in the tri-plane.
SEMANTIC_CHUNK_RAYS = 256


RSS_POLL_SECONDS = 0.002


def _rss_mb() -> float:
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _peak_rss_increase_mb(fn) -> float:
    """Peak resident memory above the level at the call, sampled by a thread while fn runs
    (ru_maxrss cannot tell: it keeps the high-water mark of everything before)."""
    import threading

    start, peak, done = _rss_mb(), [0.0], threading.Event()

    def poll():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(RSS_POLL_SECONDS)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        fn()
    finally:
        done.set()
        t.join()
    return max(peak[0], _rss_mb()) - start


def _semantic_view(gen, task: dict, repeats: int) -> dict:
    """Augmented planes + one raw semantic view of a sampled subject, lazy or materialized."""
    from dnerf_core import SemanticConfig
    from dnerf_core.lab import orbit_cameras, SemanticBranch

    branch = SemanticBranch.for_generator(gen, SemanticConfig(num_classes=9)).eval()
    subject = gen.sample([1])
    cams = orbit_cameras(0.0, 0.0, gen.orbit)
    res = task["resolution"]

    if task["kind"] == "semantic_lazy_fast":  # the grid is the subject's, built once: not this view's cost
        gen.occupancy(subject)

    def run():
        with torch.no_grad():
            if task["kind"] == "semantic_lazy":
                return branch.render(gen, subject, cams, res, chunk_rays=SEMANTIC_CHUNK_RAYS)
            if task["kind"] == "semantic_lazy_fast":
                return branch.render(gen, subject, cams, res, chunk_rays=SEMANTIC_CHUNK_RAYS, path="fast")
            field = branch.field_materialized(branch.planes_materialized(subject))
            return branch.render(gen, subject, cams, res, field=field, chunk_rays=SEMANTIC_CHUNK_RAYS)

    sec = _median_seconds(run, repeats, warmup=0)
    extra = _peak_rss_increase_mb(run)
    return {"seconds": sec, "resolution": res, "augmented_channels_per_plane": branch.layout.channels_per_plane,
            "hidden_channels": branch.config.hidden, "chunk_rays": SEMANTIC_CHUNK_RAYS, "peak_increase_mb": extra,
            "exact_memory_accounting": bool(task.get("exact_memory"))}


def bench_semantic(quick: bool) -> dict:
    """Lazy vs materialized augmented tri-plane at EG3D size (ffhq512-128, random weights)."""
    spec, res = "preset:ffhq512-128", 32
    rows = {kind: _run_child({"spec": spec, "kind": kind, "resolution": res, "repeats": 1})
            for kind in ("semantic_lazy", "semantic_materialized")}
    lazy, mat = rows["semantic_lazy"], rows["semantic_materialized"]
    rows["speedup"] = mat["seconds"] / lazy["seconds"]
    # memory the semantic work adds once the subject exists (synthesis is the generator's, shared)
    rows["memory_ratio"] = mat["peak_increase_mb"] / max(lazy["peak_increase_mb"], 1.0)
    return rows


def _run_child(task: dict, threads: int | None = None) -> dict:
    env = None if threads is None else {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, __file__, CHILD_FLAG, json.dumps(task)], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child {task} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


def _bf16_superres_rows(spec: str, repeats: int) -> dict:
    """The same views with the super-resolution's convolutions in bfloat16 (superres_dtype), and
    how far its output is from float32's."""
    bf16 = {"spec": spec, "repeats": repeats, "superres_dtype": "bfloat16"}
    return {"cached_128_bf16_superres": _run_child({**bf16, "kind": "cached", "resolution": 128, "views": 4}),
            "first_view_bf16_superres": _run_child({**bf16, "kind": "first_view"}),
            "bf16_superres_fidelity": _run_child({"spec": spec, "kind": "superres_fidelity", "repeats": 1})}


def bench_generators(quick: bool) -> dict:
    repeats = 1 if quick else 3
    out = {}
    for spec in GENERATOR_SPECS:
        row = {"synthesis": _run_child({"spec": spec, "kind": "synthesis", "repeats": repeats})}
        for res in (64, 128):
            for kind in ("cached", "uncached"):
                row[f"{kind}_{res}"] = _run_child({"spec": spec, "kind": kind, "resolution": res, "views": 4,
                                                   "repeats": repeats})
            row[f"cached_over_uncached_speedup_{res}"] = (row[f"cached_{res}"]["views_per_second"]
                                                          / row[f"uncached_{res}"]["views_per_second"])
        row["first_view"] = _run_child({"spec": spec, "kind": "first_view", "repeats": repeats})
        if spec.startswith("preset:"):  # the default generators render without super-resolution
            row.update(_bf16_superres_rows(spec, repeats))
        out[spec] = row
    # The reference EG3D code with random ffhq512-128 weights on a machine of this kind
    # (shared/ENVIRONMENT.md): synthesis 1.28 s, one 512x512 view 5.65 s incl. synthesis, 1.66 GB.
    ref = {"synthesis_seconds": 1.28, "first_view_seconds": 5.65, "peak_gb": 1.66}
    ours = out["preset:ffhq512-128"]
    out["vs_reference_eg3d_ffhq512"] = {
        "reference": ref,
        "synthesis_speedup": ref["synthesis_seconds"] / ours["synthesis"]["seconds_per_subject"],
        "first_view_speedup": ref["first_view_seconds"] / ours["first_view"]["seconds"],
        "first_view_peak_gb": ours["first_view"]["peak_rss_mb"] / 1024,
        "further_view_seconds_at_128": 1 / ours["cached_128"]["views_per_second"],
        "first_view_speedup_bf16_superres": ref["first_view_seconds"] / ours["first_view_bf16_superres"]["seconds"],
        "further_view_seconds_at_128_bf16_superres": 1 / ours["cached_128_bf16_superres"]["views_per_second"],
        "bf16_superres_psnr_vs_float32": ours["bf16_superres_fidelity"]["psnr_bfloat16_vs_float32"],
    }
    return out


# The official EG3D code with the same random-weight ffhq512-128 pickle, 2 threads, on this machine
# kind (issue #20, measured side by side on 2026-12-02): first 512x512 view (mapping, synthesis,
# render, super-resolution), a further view with its cached backbone, the parts of that view.
OFFICIAL_EG3D = {"first_view_seconds": 4.6, "further_view_seconds": 3.7, "further_view_before_superres_seconds": 1.7,
                 "superres_seconds": 2.0, "peak_gb": 1.65}
EG3D_SPEC = "preset:ffhq512-128"


def superres_flops(gen) -> float:
    """Multiply-adds x 2 of one view's super-resolution convolutions (3x3 convs and to-RGB 1x1s)."""
    from dnerf_core.lab import SynthesisLayer, ToRGB

    total = 0.0
    for block in (gen.superresolution.block0, gen.superresolution.block1):
        res = block.resolution
        for m in block.modules():
            if isinstance(m, (SynthesisLayer, ToRGB)):
                o, i, kh, kw = m.weight.shape
                total += 2.0 * o * i * kh * kw * res * res
    return total


def child_eg3d_views(task: dict) -> dict:
    """First and further 512x512 views of an EG3D-size generator, the further view split into
    what comes before the super-resolution and the super-resolution itself."""
    from dnerf_core.lab import random_orbit_cameras

    torch.manual_seed(0)
    gen, label = _load(task["spec"])
    gen.superres_dtype = getattr(torch, task["superres_dtype"])
    repeats = task["repeats"]
    cams = random_orbit_cameras(2, gen.orbit, torch.Generator().manual_seed(0))
    first = _median_seconds(lambda: gen.render(gen.sample([1]), cams[0]), repeats)
    subject = gen.sample([1])
    further = _median_seconds(lambda: gen.render(subject, cams[1]), repeats)
    features = gen.render(subject, cams[1]).features
    with torch.no_grad():
        sr = _median_seconds(lambda: gen.super_resolve(subject, features), repeats)
    return {"generator": label, "superres_dtype": task["superres_dtype"], "first_view_seconds": first,
            "further_view_seconds": further, "superres_seconds": sr,
            "further_view_before_superres_seconds": further - sr, "superres_gflop": superres_flops(gen) / 1e9,
            "peak_rss_mb": _peak_rss_mb()}


def bench_eg3d(quick: bool) -> dict:
    """EG3D-size views against the official code's figures (OFFICIAL_EG3D), float32 and with the
    bfloat16 super-resolution, plus the super-resolution's share of the measured matmul FLOP/s."""
    repeats = 1 if quick else 3
    gflops = bench_matmul(quick)["gflops"]
    out = {"official": OFFICIAL_EG3D, "matmul_gflops": gflops}
    for dtype in ("float32", "bfloat16"):
        row = _run_child({"spec": EG3D_SPEC, "kind": "eg3d_views", "superres_dtype": dtype, "repeats": repeats})
        row["superres_share_of_matmul_peak"] = row["superres_gflop"] / row["superres_seconds"] / gflops
        for key in ("first_view_seconds", "further_view_seconds", "further_view_before_superres_seconds",
                    "superres_seconds"):
            row[f"speedup_{key.removesuffix('_seconds')}_vs_official"] = OFFICIAL_EG3D[key] / row[key]
        row["peak_gb"] = row["peak_rss_mb"] / 1024
        out[dtype] = row
    out["bfloat16_superres_fidelity"] = _run_child({"spec": EG3D_SPEC, "kind": "superres_fidelity", "repeats": 1})
    return out


def bench_chunks(quick: bool) -> dict:
    """Views of a cached default:face subject, RGB and semantic, marched in chunks of 8192 rays
    (the old default), 2048, DEFAULT_CHUNK_RAYS and 128: time and peak memory side by side;
    speedup is DEFAULT_CHUNK_RAYS over 8192."""
    from dnerf_core.lab import DEFAULT_CHUNK_RAYS

    repeats = 1 if quick else 3
    out = {}
    for kind in ("cached", "semantic_cached"):
        rows = {c: _run_child({"spec": "default:face", "kind": kind, "resolution": 64, "views": 8,
                               "repeats": repeats, "chunk_rays": c})
                for c in sorted({8192, 2048, DEFAULT_CHUNK_RAYS, 128}, reverse=True)}
        out[kind] = {f"chunk_{c}": r for c, r in rows.items()}
        out[kind]["speedup"] = rows[DEFAULT_CHUNK_RAYS]["views_per_second"] / rows[8192]["views_per_second"]
    return out


def _fit_step_seconds(labeled, kind: str, grouped_weights: bool, repeats: int) -> float:
    """Median seconds of one fitting step (forward + backward + Adam) of an RGB or label objective.

    grouped_weights: the slow twin — weights left requiring gradients, so the modulated convs take
    the grouped path and compute per-sample kernel gradients; kind "labels_full": the label loss
    super-resolves the whole view instead of patches."""
    from dnerf_core import Pose
    from dnerf_core.lab import FitConfig
    from dnerf_core.inversion import fit as fit_mod
    from dnerf_core.lab import average_latent, label_term, rgb_term, ViewObjective

    gen, branch = labeled.generator, labeled.branch
    pose = Pose(0.3, 0.1, gen.orbit.radius)
    with torch.no_grad():
        out = labeled.render(gen.sample([1_000_001]), pose.cameras(gen.orbit))
    res = gen.rendering.neural_resolution
    cfg = FitConfig()
    if kind == "rgb":
        objective = ViewObjective(res, (rgb_term(out.rgb[0], res),))
    else:
        objective = ViewObjective(res, (label_term(out.labels[0]),), scale=branch.superres.scale)
        if kind == "labels_full":
            cfg = FitConfig(rays_per_step=res * res)  # one patch: the whole view
    params = fit_mod._Params(average_latent(gen), pose, cfg, gen.num_ws)
    gen_t = torch.Generator().manual_seed(0)
    step = lambda: fit_mod._step(gen, branch, params, objective, cfg, gen_t, gen.orbit)  # noqa: E731
    if grouped_weights:
        return _median_seconds(step, repeats)
    with fit_mod.frozen(gen, branch):
        return _median_seconds(step, repeats)


def bench_inversion(quick: bool) -> dict:
    """Fitting steps, fast vs slow twin side by side, then whole inversion / edit cases on held-out
    targets (quality and seconds per case; the issue's goal: under a minute each on 2 cores)."""
    from dnerf_core import load_generator as load_labeled_generator
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "research" / "scripts"))
    from eval_inversion import evaluate

    repeats = 3 if quick else 7
    out = {}
    for category in ("car", "face"):
        labeled = load_labeled_generator(f"default:{category}")
        steps = {
            "rgb_step_frozen_weights": _fit_step_seconds(labeled, "rgb", False, repeats),
            "rgb_step_grouped_weight_grads": _fit_step_seconds(labeled, "rgb", True, repeats),
            "label_step_patches": _fit_step_seconds(labeled, "labels", False, repeats),
            "label_step_full_view": _fit_step_seconds(labeled, "labels_full", False, max(1, repeats // 2)),
        }
        steps["frozen_speedup"] = steps["rgb_step_grouped_weight_grads"] / steps["rgb_step_frozen_weights"]
        steps["patch_speedup"] = steps["label_step_full_view"] / steps["label_step_patches"]
        cases = evaluate(category, 1 if quick else 3, progress=lambda m: print(m, file=sys.stderr, flush=True))
        out[category] = {"step_seconds": steps, "cases": cases,
                         "max_case_seconds": max(cases[k]["worst"]["seconds"] for k in ("rgb", "mask", "edit"))}
    return out


def _mesh_label_scores(gen, subject, oracle, seed: int) -> dict:
    """Each face labeling of factory/mesh.py against the oracle's exact part at the face centroids
    (area-weighted accuracy, part mIoU, faces per part)."""
    import numpy as np

    from dnerf_core.lab import extract_surface, FACE_LABELINGS, face_labels, MeshConfig, segmentation_scores

    geom = extract_surface(gen, subject, MeshConfig(128))
    v, f = geom.vertices, geom.faces
    cent = torch.from_numpy(v[f].mean(1))
    truth = oracle.labels_at(oracle.sample([seed]), cent[None])[0].numpy()
    tri = v[f]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    k = len(gen.label_set)
    out = {"faces": len(f), "truth_faces_per_part": np.bincount(truth, minlength=k).tolist()}
    for labeling in FACE_LABELINGS:
        t0 = time.perf_counter()
        lab = face_labels(gen, subject, v, f, 2 * gen.bounds / 127, labeling)
        conf = np.zeros((k, k))
        np.add.at(conf, (truth, lab), area)
        sc = segmentation_scores(torch.from_numpy(conf), include_background=False)
        out[labeling] = {"area_accuracy": sc.accuracy, "part_miou": sc.miou,
                         "faces_per_part": np.bincount(lab, minlength=k).tolist(),
                         "seconds": time.perf_counter() - t0}
    return out


# The surface path's shading modes side by side (factory/surface_views.SurfaceConfig): the default
# window (19 samples per hit), a shorter one (11), one opaque point per hit; and the default with
# the native kernel off (render/plane_mlp.py: the fields' eager PyTorch code).
SURFACE_VARIANTS = {"surface": {}, "surface_11": {"samples_per_hit": 11, "tail_samples": 3},
                    "surface_point": {"samples_per_hit": 1}, "surface_eager": {}}


def _surface_variants(labeled, subject, cams, repeats: int) -> dict:
    """Each SURFACE_VARIANTS mode on labeled 128^2 views of a baked subject (8 views a batch, as
    render_views): seconds and CPU seconds per view, decoder evaluations per view (generator +
    semantic) and the GFLOP/s their MLPs reach."""
    from dnerf_core.lab import native_available, native_kernel, render_surface, SurfaceConfig

    counter = DecoderCounter(labeled.generator, labeled.branch)
    out = {}
    for name, kw in SURFACE_VARIANTS.items():
        cfg = SurfaceConfig(**kw)

        def run():
            for start in range(0, len(cams), 8):
                render_surface(labeled, subject, cams[start:start + 8], FAST_RESOLUTION, cfg)

        native = name != "surface_eager" and native_available()
        c0 = time.process_time()
        with native_kernel(native):
            sec = _median_seconds(run, repeats, warmup=1) / len(cams)
        cpu = (time.process_time() - c0) / (repeats + 1) / len(cams)
        with counter.counting():
            run()
        ev = {k: v / len(cams) for k, v in counter.counts.items()}
        macs = ev["generator"] * GEN_DECODER_MACS + ev["semantic"] * _semantic_macs(labeled.branch)
        out[name] = {"config": kw, "native_kernel": native, "seconds_per_view": sec, "views_per_second": 1 / sec,
                     "cpu_seconds_per_view": cpu, "decoder_evaluations_per_view": ev,
                     "mlp_gflops_reached": 2 * macs / 1e9 / sec}
        print(f"[bench] surface: {name}@128 {1 / sec:.2f} views/s", file=sys.stderr, flush=True)
    return out


def _surface_eg3d_agreement() -> dict:
    """The surface path vs the volume path at EG3D size (random weights, a random-init branch; one
    held-out seed and pose at 64^2): a field with no surface, so this measures how far a window
    around a mesh of a fog is from the fog's full march, not a use case."""
    from dnerf_core.lab import bake_surface, heldout_seeds, random_orbit_cameras, render_agreement, render_surface

    torch.manual_seed(0)
    gen, branch, label = _eg3d_with_branch()
    k = branch.config.num_classes
    labeled = _eg3d_labeled(gen, branch)
    seed = heldout_seeds(1, offset=700)[0]
    subject = gen.sample([seed])
    cam = random_orbit_cameras(1, gen.orbit, torch.Generator().manual_seed(100))
    t0 = time.perf_counter()
    bake = bake_surface(labeled, subject)
    bake_sec = time.perf_counter() - t0
    volume = labeled.render(subject, cam, 64)
    t0 = time.perf_counter()
    surface = render_surface(labeled, subject, cam, 64).output
    return {"generator": label, "seed": seed, "bake_seconds": bake_sec, "bake_faces": len(bake.geometry.faces),
            "surface_seconds_per_view": time.perf_counter() - t0,
            "volume_mean_opacity": volume.opacity.mean().item(),
            "surface_hit_fraction": (surface.opacity > 0).float().mean().item(),
            "labels_present_in_volume": int(volume.labels.unique().numel()),
            **render_agreement(volume, surface, 2 * gen.bounds, k).to_dict()}


SURFACE_OUT = Path(__file__).resolve().parents[1] / "research" / "results" / "bench_surface.json"


def _save_surface(out: dict) -> None:
    """research/results/bench_surface.json as far as the section got (a long run keeps what it has)."""
    from dnerf_core.lab import atomic_write_text

    SURFACE_OUT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(SURFACE_OUT, json.dumps(out, indent=2) + "\n")


def bench_surface(quick: bool) -> dict:
    """The surface render path (factory/surface_views.py): labeled views (RGB + mask + depth) of a
    cached subject at 128x128, the one-time bake, cost by resolution per path, agreement with the
    volume path on held-out seeds and poses, and the labeled mesh's face labels vs the oracle."""
    import dnerf_core as dn
    from dnerf_core.lab import (bake_surface, HELDOUT_SEED_START, random_orbit_cameras, render_agreement,
                                render_surface, render_views, spread_orbit_cameras, supports_render_path,
                                SurfaceConfig)

    repeats = 1 if quick else 3
    gen = dn.load_generator("default:car", device="cpu")
    paths = ["volume", "surface"] + (["fast"] if supports_render_path(gen) else [])
    # wall time suffers when other jobs share the cores; this process's CPU time much less so
    out = {"config": SurfaceConfig().__dict__, "paths": paths, "load_average_at_start": os.getloadavg()[0]}
    subject = gen.sample([7])
    t0, c0 = time.perf_counter(), time.process_time()
    bake_surface(gen, subject)
    out["bake_seconds"] = time.perf_counter() - t0
    out["bake_cpu_seconds"] = time.process_time() - c0
    if "fast" in paths:  # the fast path's one-time grid, like the bake, is not a view's cost
        t0 = time.perf_counter()
        gen.generator.occupancy(subject)
        out["fast_grid_build_seconds"] = time.perf_counter() - t0
    n_views = 16
    cams = spread_orbit_cameras(n_views, gen.orbit)
    table = {}
    for path in paths:
        for res in (64, 128, 256):
            if path != "surface" and res == 256 and quick:
                continue
            n = n_views if path == "surface" else ({64: 1, 128: 1} if quick else {64: 4, 128: 2, 256: 1})[res]
            c0 = time.process_time()
            sec = _median_seconds(lambda: render_views(gen, subject, cams[:n], res, render=path),
                                  repeats if path == "surface" else 1, warmup=1 if path == "surface" else 0)
            runs = (repeats + 1) if path == "surface" else 1
            cpu = (time.process_time() - c0) / runs / n
            table[f"{path}@{res}"] = {"views_per_second": n / sec, "seconds_per_view": sec / n,
                                      "cpu_seconds_per_view": cpu}
            print(f"[bench] surface: {path}@{res} {n / sec:.2f} views/s, {cpu:.3f} CPU s/view", file=sys.stderr,
                  flush=True)
    out["labeled_views_default_car"] = table
    out["surface_views_per_second_128"] = table["surface@128"]["views_per_second"]
    out["surface_speedup_vs_volume_128"] = (table["surface@128"]["views_per_second"]
                                            / table["volume@128"]["views_per_second"])
    out["surface_cpu_speedup_vs_volume_128"] = (table["volume@128"]["cpu_seconds_per_view"]
                                                / table["surface@128"]["cpu_seconds_per_view"])
    out["variants_128"] = _surface_variants(gen, subject, cams, repeats)
    _save_surface(out)
    agreement = {}
    res = FAST_RESOLUTION  # agreement at the resolution the speed is quoted at
    for category in ("car", "face"):
        g = gen if category == "car" else dn.load_generator("default:face", device="cpu")
        rows = []
        for i, seed in enumerate(range(HELDOUT_SEED_START, HELDOUT_SEED_START + (1 if quick else 2))):
            subj = g.sample([seed])
            c = random_orbit_cameras(2 if quick else 3, g.orbit, torch.Generator().manual_seed(seed))
            volume = g.render(subj, c, res)
            row = {"seed": seed}
            if "fast" in paths:
                row["fast"] = render_agreement(volume, g.render(subj, c, res, path="fast"), 2 * g.bounds,
                                               len(g.label_set)).to_dict()
            for name, kw in SURFACE_VARIANTS.items():
                row[name] = render_agreement(volume, render_surface(g, subj, c, res, SurfaceConfig(**kw)).output,
                                             2 * g.bounds, len(g.label_set)).to_dict()
            rows.append(row)
            print(f"[bench] surface: agreement {category} {seed} "
                  + " ".join(f"{k} {row[k]['miou']:.3f}" for k in row if k != "seed"), file=sys.stderr, flush=True)
        agreement[category] = rows
    out[f"agreement_vs_volume_{res}"] = agreement
    out["agreement_vs_volume_eg3d_size_64"] = _surface_eg3d_agreement()
    out[f"worst_miou_vs_volume_{res}"] = {name: min(r[name]["miou"] for rows in agreement.values() for r in rows)
                                          for name in ["fast", *SURFACE_VARIANTS] if name in agreement["car"][0]}
    _save_surface(out)
    if not quick:  # the views vote renders 16 more views and bakes again
        oracle = dn.load_generator("procedural:car", device="cpu")
        out["mesh_labels_default_car_seed7"] = _mesh_label_scores(gen, gen.sample([7]), oracle, 7)
    out["load_average_at_end"] = os.getloadavg()[0]
    _save_surface(out)
    return out


def bench_dataset(quick: bool) -> dict:
    """`dnerf dataset` (issue #24): 200 subjects at 128x128 (quick: 20), one view each, masks +
    WebDataset + PLY, with the local executor (1 and 2 workers) and Ray, side by side; subjects/s,
    views/s, peak memory of the whole process tree (scripts/bench_dataset.py does the runs)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_dataset

    args = bench_dataset.parser().parse_args(["--subjects", "20" if quick else "200", "--views", "1",
                                              "--resolution", "128", "--formats", "folders,webdataset,ply"])
    return bench_dataset.run(args)


# --- issue #23: the fast volume path (occupancy grid + early termination) vs the volume path ----
FAST_RESOLUTION = 128
# the default generator's decoder: 32 -> 64 -> 33 multiply-adds per evaluation
GEN_DECODER_MACS = 32 * 64 + 64 * 33


class DecoderCounter:
    """Counts the points every decoder MLP of a render evaluates (forward hooks on the generator's
    decoder and the semantic decoder's last layer): real counts of the path that ran. The native
    kernel (render/plane_mlp.py) runs no module, so count inside `counting()`, which runs the
    eager decoders: the same points are evaluated either way."""

    def __init__(self, gen, branch=None):
        self.counts = {"generator": 0, "semantic": 0}
        self._hooks = [gen.decoder.net.register_forward_hook(self._hook("generator"))]
        if branch is not None:
            self._hooks.append(branch.decoder.fc1.register_forward_hook(self._hook("semantic")))

    def _hook(self, name):
        def fn(module, inputs, output):
            self.counts[name] += inputs[0].shape[:-1].numel()
        return fn

    def reset(self):
        self.counts = {k: 0 for k in self.counts}

    @contextlib.contextmanager
    def counting(self):
        """Reset, then run the body with the native kernel off (its evaluations are counted)."""
        from dnerf_core.lab import native_kernel

        self.reset()
        with native_kernel(False):
            yield self.counts



def _semantic_macs(branch) -> int:
    """Multiply-adds of one lazy semantic evaluation after the projected planes (mid layers + fc1)."""
    dec = branch.decoder
    return sum(m.in_features * m.out_features for m in dec.mid) + dec.fc1.in_features * dec.fc1.out_features


def _time_views(fn, cams, repeats: int) -> float:
    """Median seconds per view of fn(camera) over the cameras (after one warm-up view)."""
    fn(cams[0])
    return _median_seconds(lambda: [fn(cams[i]) for i in range(len(cams))], repeats, warmup=0) / len(cams)


def child_fast_default(task: dict) -> dict:
    """default:<category> labeled views (RGB + mask + depth) of a cached subject at 128x128, volume
    vs fast, side by side: seconds per view, decoder evaluations per view, the one-time grid build,
    and the share of the measured matmul FLOP/s the decoder MLPs reach."""
    from dnerf_core import load_generator as load_labeled
    from dnerf_core.lab import native_available, native_kernel, random_orbit_cameras

    labeled = load_labeled(task["spec"], device="cpu")
    gen, branch = labeled.generator, labeled.branch
    subject = labeled.sample([1_000_001])
    cams = random_orbit_cameras(task["views"], labeled.orbit, torch.Generator().manual_seed(3))
    counter = DecoderCounter(gen, branch)
    with counter.counting():  # a twin subject's grid, built by the counted eager decoder
        gen.occupancy(labeled.sample([1_000_001]))
    grid_evaluations = counter.counts["generator"]
    t0 = time.perf_counter()
    grid = gen.occupancy(subject)
    build = time.perf_counter() - t0
    out = {"generator": task["spec"], "resolution": FAST_RESOLUTION, "views": len(cams),
           "native_kernel": native_available(), "grid_build_seconds": build,
           "grid_build_evaluations": grid_evaluations, "grid_occupied_fraction": grid.occupied_fraction().item()}
    # fast_eager: the fast path with the native kernel off (render/plane_mlp.py)
    for row, path in (("volume", "volume"), ("fast", "fast"), ("fast_eager", "fast")):
        with native_kernel(row != "fast_eager"):
            sec = _time_views(lambda c: labeled.render(subject, c, FAST_RESOLUTION, path=path), cams, task["repeats"])
        with counter.counting():
            labeled.render(subject, cams[0], FAST_RESOLUTION, path=path)
        ev = dict(counter.counts)
        macs = ev["generator"] * GEN_DECODER_MACS + ev["semantic"] * _semantic_macs(branch)
        out[row] = {"seconds_per_view": sec, "views_per_second": 1 / sec,
                    "decoder_evaluations_per_view": ev, "mlp_gflop_per_view": 2 * macs / 1e9,
                    "mlp_gflops_reached": 2 * macs / 1e9 / sec}
    out["speedup"] = out["volume"]["seconds_per_view"] / out["fast"]["seconds_per_view"]
    out["native_kernel_speedup_fast"] = out["fast_eager"]["seconds_per_view"] / out["fast"]["seconds_per_view"]
    out["views_to_repay_grid_build"] = build / (out["volume"]["seconds_per_view"] - out["fast"]["seconds_per_view"])
    return {**out, "peak_rss_mb": _peak_rss_mb()}


def _eg3d_with_branch():
    """The ffhq512-128-size generator (random weights) and a random-init semantic branch on it."""
    from dnerf_core import SemanticConfig
    from dnerf_core.lab import SemanticBranch

    gen, label = _load(EG3D_SPEC)
    branch = SemanticBranch.for_generator(gen, SemanticConfig(num_classes=9)).eval()
    return gen, branch, label


def _eg3d_labeled(gen, branch):
    """gen labeled by the random-init branch, its classes named part1.. after the background."""
    from dnerf_core import LabelSet
    from dnerf_core.lab import LabeledGenerator

    k = branch.config.num_classes
    parts = [f"part{i}" for i in range(1, k)]  # from_names puts the background first
    return LabeledGenerator(gen, branch, LabelSet.from_names(parts, [(0, 0, 0)] * k))


def child_fast_eg3d(task: dict) -> dict:
    """EG3D size, further views of a cached subject: everything before the super-resolution at
    128^2 (raw RGB, features, depth, semantic labels from the lazy branch) volume vs fast vs
    surface. The subject is a held-out seed whose random density crosses the bake's level (seed 1's
    does not: no mesh); the surface row's one-time bake is reported apart."""
    from dnerf_core import ray_bundle
    from dnerf_core.lab import (bake_surface, heldout_seeds, native_available, native_kernel, random_orbit_cameras,
                                render_semantic_rays, render_surface)

    torch.manual_seed(0)
    gen, branch, label = _eg3d_with_branch()
    subject = gen.sample([heldout_seeds(1, offset=700)[0]])
    cams = random_orbit_cameras(task["views"], gen.orbit, torch.Generator().manual_seed(3))
    t0 = time.perf_counter()
    planes = branch.planes(subject)
    planes_sec = time.perf_counter() - t0
    counter = DecoderCounter(gen, branch)
    t0 = time.perf_counter()
    grid = gen.occupancy(subject)
    build = time.perf_counter() - t0
    out = {"generator": label, "resolution": FAST_RESOLUTION, "views": len(cams),
           "semantic_planes_seconds_once_per_subject": planes_sec, "grid_build_seconds": build,
           "grid_occupied_fraction": grid.occupied_fraction().item(), "official_before_superres_seconds":
           OFFICIAL_EG3D["further_view_before_superres_seconds"], "native_kernel": native_available()}

    def view(cam, path):
        r = ray_bundle(cam, FAST_RESOLUTION)
        # each path's field, as branch.render builds them (the native kernel or the table lookup on the fast path)
        field = branch.field(planes, fast=path == "fast")
        return render_semantic_rays(gen, subject, field, r.origins.reshape(1, -1, 3), r.directions.reshape(1, -1, 3),
                                    branch.config.num_classes, gen.chunk_rays, path)

    for path in ("volume", "fast"):
        sec = _time_views(lambda c: view(c, path), cams, task["repeats"])
        with counter.counting():
            view(cams[0], path)
        ev = dict(counter.counts)
        macs = ev["generator"] * GEN_DECODER_MACS + ev["semantic"] * _semantic_macs(branch)
        out[path] = {"seconds_per_view": sec, "decoder_evaluations_per_view": ev,
                     "mlp_gflops_reached": 2 * macs / 1e9 / sec,
                     "speedup_vs_official": OFFICIAL_EG3D["further_view_before_superres_seconds"] / sec}
    out["speedup"] = out["volume"]["seconds_per_view"] / out["fast"]["seconds_per_view"]
    labeled = _eg3d_labeled(gen, branch)
    t0 = time.perf_counter()
    bake = bake_surface(labeled, subject)
    out["surface_bake_seconds_once_per_subject"] = time.perf_counter() - t0
    surface = lambda c: render_surface(labeled, subject, c, FAST_RESOLUTION, superres=False).output  # noqa: E731
    with counter.counting():
        hit_fraction = (surface(cams[0]).opacity > 0).float().mean().item()
    ev = dict(counter.counts)
    macs = ev["generator"] * GEN_DECODER_MACS + ev["semantic"] * _semantic_macs(branch)
    # surface_eager: the same with the native kernel off (render/plane_mlp.py)
    for row in ("surface", "surface_eager"):
        with native_kernel(row == "surface"):
            sec = _time_views(surface, cams, task["repeats"])
        out[row] = {"seconds_per_view": sec, "decoder_evaluations_per_view": ev, "hit_fraction": hit_fraction,
                    "bake_faces": len(bake.geometry.faces), "mlp_gflops_reached": 2 * macs / 1e9 / sec,
                    "speedup_vs_official": OFFICIAL_EG3D["further_view_before_superres_seconds"] / sec}
    return {**out, "peak_rss_mb": _peak_rss_mb()}


def child_fast_agreement(task: dict) -> dict:
    """Agreement of the fast path with the volume render on held-out seeds and poses (issue #23,
    item 3): default generators' labeled views; at EG3D size the raw views with the random-init
    branch's raw labels (no trained branch exists there)."""
    from dnerf_core.lab import heldout_seeds, pooled_agreement, random_orbit_cameras, render_agreement, RenderOutput

    res, seeds = task["resolution"], heldout_seeds(task["seeds"], offset=700)
    rows = []
    if task["spec"] == EG3D_SPEC:
        torch.manual_seed(0)
        gen, branch, _ = _eg3d_with_branch()
        n_classes, size = branch.config.num_classes, 2 * gen.bounds
        for i, seed in enumerate(seeds):
            subject = gen.sample([seed])
            cam = random_orbit_cameras(1, gen.orbit, torch.Generator().manual_seed(100 + i))
            outs = []
            for path in ("volume", "fast"):
                sem = branch.render(gen, subject, cam, res, chunk_rays=gen.chunk_rays, path=path)
                outs.append(RenderOutput(rgb=sem.rgb_raw, rgb_raw=sem.rgb_raw, depth=sem.depth, opacity=sem.opacity,
                                         labels=sem.probs_raw.argmax(1)))
            rows.append(render_agreement(outs[0], outs[1], size, n_classes))
    else:
        from dnerf_core import load_generator as load_labeled

        labeled = load_labeled(task["spec"], device="cpu")
        n_classes, size = len(labeled.label_set), 2 * labeled.bounds
        for i, seed in enumerate(seeds):
            subject = labeled.sample([seed])
            cam = random_orbit_cameras(1, labeled.orbit, torch.Generator().manual_seed(100 + i))
            ref = labeled.render(subject, cam, res)
            rows.append(render_agreement(ref, labeled.render(subject, cam, res, path="fast"), size, n_classes))
    return {"generator": task["spec"], "resolution": res, "seeds": seeds,
            "per_view": [r.to_dict() for r in rows], "worst": pooled_agreement(rows).to_dict()}


FAST_CHILDREN = {"fast_default": child_fast_default, "fast_eg3d": child_fast_eg3d,
                 "fast_agreement": child_fast_agreement}
FAST_OUT = Path(__file__).resolve().parents[1] / "research" / "results" / "bench_fast.json"


def bench_fast(quick: bool) -> dict:
    """Issue #23 side by side: volume vs fast path (labeled views of the default car and face at
    128^2, EG3D size before the super-resolution vs the official code, the lazy semantic tri-plane
    with the fast path vs the materialized one), decoder evaluations, FLOP/s share, agreement.
    Written to research/results/bench_fast.json after every section (a long run keeps what it has)."""
    from dnerf_core.lab import atomic_write_text

    gflops = bench_matmul(quick)["gflops"]
    out = {"matmul_gflops": gflops}

    def save(key, value):
        out[key] = value
        FAST_OUT.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(FAST_OUT, json.dumps(out, indent=2) + "\n")
        print(f"[bench] fast: {key} done", file=sys.stderr, flush=True)

    def share(row):
        for path in ("volume", "fast", "surface"):
            if path not in row:
                continue
            row[path]["share_of_matmul_peak"] = row[path]["mlp_gflops_reached"] / gflops
        return row

    save("eg3d_before_superres", share(_run_child({"kind": "fast_eg3d", "views": 1 if quick else 2, "repeats": 1})))
    sem = {kind: _run_child({"spec": EG3D_SPEC, "kind": kind, "resolution": 32, "repeats": 1, "exact_memory": True})
           for kind in ("semantic_lazy_fast", "semantic_lazy", "semantic_materialized")}
    mat = sem["semantic_materialized"]
    for kind in ("semantic_lazy_fast", "semantic_lazy"):
        sem[f"{kind}_vs_materialized"] = {"time_ratio": mat["seconds"] / sem[kind]["seconds"],
                                          "memory_ratio": mat["peak_increase_mb"] / max(sem[kind]["peak_increase_mb"], 1.0)}
    save("eg3d_semantic_lazy_vs_materialized", sem)
    agreement = {}
    for spec, res, seeds in (("default:car", 128, 2 if quick else 3), ("default:face", 128, 2 if quick else 3),
                             (EG3D_SPEC, 64, 2)):
        agreement[spec] = _run_child({"spec": spec, "kind": "fast_agreement", "resolution": res, "seeds": seeds})
        save("agreement", agreement)
    for spec in ("default:car", "default:face"):
        save(spec, share(_run_child({"spec": spec, "kind": "fast_default", "views": 1 if quick else 3, "repeats": 1})))
    return out


BENCHMARKS: dict[str, Callable[[bool], dict]] = {
    "matmul": bench_matmul,
    "lookup": bench_lookup,
    "oracle": bench_oracle,
    "cloud": bench_cloud,
    "generators": bench_generators,
    "eg3d": bench_eg3d,
    "semantic": bench_semantic,
    "chunks": bench_chunks,
    "inversion": bench_inversion,
    "allocator": bench_allocator,
    "surface": bench_surface,
    "dataset": bench_dataset,
    "fast": bench_fast,
}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == CHILD_FLAG:
        print(json.dumps(child_generator(json.loads(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: print only)")
    parser.add_argument("--only", default=None, help=f"comma list of {','.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
    report = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "processor": platform.machine()}}
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        report[name] = BENCHMARKS[name](args.quick)
    from dnerf_core.lab import emit_json

    emit_json(report, args.out)


if __name__ == "__main__":
    main()
