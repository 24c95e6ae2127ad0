"""Part-labeled PLY files: point clouds and meshes, written and read by hand with numpy.

Why our own code: the format is tiny, we want exact control over property names and types
(`label` must be a 32-bit int, colors uchar) and byte-identical output, and a reader that gives
clear errors for the files people bring (binary or ascii, any extra properties).

Point cloud layout (one `vertex` element, binary little-endian):
    x y z nx ny nz : float32    red green blue : uint8    label : int32
The legend travels in header comments, one per label:
    comment label <id> <name, percent-encoded> <r> <g> <b>
e.g. `comment label 3 window 120 200 255` (a name with a space is written `front%20window`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np

from ...errors import DnerfError
from ...labels import Label, LabelSet
from ..types import LabeledMesh, LabeledPointCloud
from ...io.atomic import atomic_open

PLY_MAGIC = b"ply"
END_HEADER = b"end_header"
# Headers are a few hundred bytes; a file whose first 64 KiB hold no end_header is not a PLY.
MAX_HEADER_BYTES = 1 << 16
LEGEND_PREFIX = "label"  # header comment: `comment label <id> <name> <r> <g> <b>`
LEGEND_RE = re.compile(rf"{LEGEND_PREFIX}\s+(?P<id>\d+)\s+(?P<name>\S+)\s+(?P<r>\d+)\s+(?P<g>\d+)\s+(?P<b>\d+)")
FILE_COMMENT = "dnerf part-labeled"

# PLY scalar type names (both spellings of the standard) -> numpy little-endian type codes.
PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}

# The exact vertex layout we write for clouds (and read back with these names).
CLOUD_VERTEX_DTYPE = np.dtype([
    ("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
    ("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4"),
    ("red", "u1"), ("green", "u1"), ("blue", "u1"),
    ("label", "<i4"),
])
MESH_VERTEX_DTYPE = np.dtype([
    ("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
    ("red", "u1"), ("green", "u1"), ("blue", "u1"),
])
# Triangles only: list count (uchar, always 3), three int32 indices, the face's part label.
MESH_FACE_DTYPE = np.dtype([("count", "u1"), ("vertex_indices", "<i4", (3,)), ("label", "<i4")])

_PLY_TYPE_NAME = {"<f4": "float", "|u1": "uchar", "<i4": "int"}


# --- writing ------------------------------------------------------------------------------------
def _legend_comments(label_set: LabelSet | None) -> list[str]:
    if label_set is None:
        return []
    lines = []
    for lab in label_set.labels:
        # Percent-encoding keeps each name one ASCII token without spaces (PLY headers are ASCII).
        r, g, b = (int(c) for c in lab.color)
        lines.append(f"{LEGEND_PREFIX} {lab.id} {quote(lab.name, safe='')} {r} {g} {b}")
    return lines


def _header(comments: list[str], elements: list[tuple[str, int, list[str]]]) -> bytes:
    lines = ["ply", "format binary_little_endian 1.0", f"comment {FILE_COMMENT}"]
    lines += [f"comment {c}" for c in comments]
    for name, count, props in elements:
        lines.append(f"element {name} {count}")
        lines += [f"property {p}" for p in props]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii")


def _scalar_props(dtype: np.dtype) -> list[str]:
    return [f"{_PLY_TYPE_NAME[dtype.fields[n][0].str]} {n}" for n in dtype.names]


def _check_labels(path: Path, labels: np.ndarray, label_set: LabelSet | None, what: str) -> None:
    if label_set is None or labels.size == 0:
        return
    bad = np.unique(labels[(labels < 0) | (labels >= len(label_set))])
    if bad.size:
        raise DnerfError(f"cannot write {path}: {what} labels {bad[:8].tolist()} are not in the label set "
                         f"(ids 0..{len(label_set) - 1})")


def write_point_cloud_ply(path: str | Path, cloud: LabeledPointCloud, label_set: LabelSet | None = None) -> None:
    """Write a labeled cloud as binary little-endian PLY (x y z nx ny nz red green blue label).

    With a label set, every label must be one of its ids and the legend goes into the header.
    """
    path = Path(path)
    _check_labels(path, cloud.labels, label_set, "point")
    n = len(cloud)
    rows = np.empty(n, dtype=CLOUD_VERTEX_DTYPE)  # [N] packed records, 31 bytes each
    rows["x"], rows["y"], rows["z"] = cloud.points.T
    rows["nx"], rows["ny"], rows["nz"] = cloud.normals.T
    rows["red"], rows["green"], rows["blue"] = cloud.colors.T
    rows["label"] = cloud.labels
    header = _header(_legend_comments(label_set), [("vertex", n, _scalar_props(CLOUD_VERTEX_DTYPE))])
    with atomic_open(path, "wb") as fh:
        fh.write(header)
        fh.write(rows.tobytes())


def write_mesh_ply(path: str | Path, mesh: LabeledMesh, label_set: LabelSet | None = None) -> None:
    """Write a labeled mesh as binary PLY: vertices with colors, triangles with an int `label`."""
    path = Path(path)
    _check_labels(path, mesh.face_labels, label_set, "face")
    v, f = len(mesh.vertices), len(mesh.faces)
    if f and (mesh.faces.min() < 0 or mesh.faces.max() >= v):
        raise DnerfError(f"cannot write {path}: face indices must lie in 0..{v - 1}")
    if len(mesh.vertex_colors) not in (0, v):
        raise DnerfError(f"cannot write {path}: {len(mesh.vertex_colors)} vertex colors for {v} vertices")
    verts = np.zeros(v, dtype=MESH_VERTEX_DTYPE)  # [V] records, 15 bytes each
    verts["x"], verts["y"], verts["z"] = mesh.vertices.T
    if len(mesh.vertex_colors):
        verts["red"], verts["green"], verts["blue"] = mesh.vertex_colors.T
    faces = np.empty(f, dtype=MESH_FACE_DTYPE)  # [F] records, 17 bytes each
    faces["count"] = 3
    faces["vertex_indices"] = mesh.faces
    faces["label"] = mesh.face_labels
    header = _header(_legend_comments(label_set), [
        ("vertex", v, _scalar_props(MESH_VERTEX_DTYPE)),
        ("face", f, ["list uchar int vertex_indices", "int label"]),
    ])
    with atomic_open(path, "wb") as fh:
        fh.write(header)
        fh.write(verts.tobytes())
        fh.write(faces.tobytes())


# --- reading ------------------------------------------------------------------------------------
@dataclass
class _Property:
    name: str
    dtype: str  # numpy code without byte order, e.g. "f4"
    count_dtype: str | None = None  # set for list properties


@dataclass
class _Element:
    name: str
    count: int
    props: list[_Property]


@dataclass
class _Header:
    fmt: str  # ascii | binary_little_endian | binary_big_endian
    elements: list[_Element]
    comments: list[str]
    body_offset: int


def _ply_type(path: Path, name: str) -> str:
    try:
        return PLY_TYPES[name]
    except KeyError:
        raise DnerfError(f"{path}: unknown PLY property type {name!r}") from None


def _parse_header(path: Path, data: bytes) -> _Header:
    if not data.startswith(PLY_MAGIC) or data[3:4] not in (b"\n", b"\r"):
        raise DnerfError(f"{path} is not a PLY file (it does not start with 'ply')")
    end = re.search(rb"end_header[ \t]*\r?\n", data[:MAX_HEADER_BYTES])
    if end is None:
        raise DnerfError(f"{path} is not a valid PLY file: no 'end_header' line")
    try:
        text = data[:end.start()].decode("ascii", errors="strict")
    except UnicodeDecodeError:
        text = data[:end.start()].decode("latin-1")
    fmt, elements, comments = None, [], []
    for line_no, raw in enumerate(text.splitlines()[1:], start=2):
        tokens = raw.split()
        if not tokens or tokens[0] in ("obj_info",):
            continue
        key = tokens[0]
        try:
            if key == "format":
                fmt = tokens[1]
                if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
                    raise DnerfError(f"{path}: unsupported PLY format {fmt!r}")
            elif key == "comment":
                comments.append(raw.split(None, 1)[1] if len(tokens) > 1 else "")
            elif key == "element":
                elements.append(_Element(tokens[1], int(tokens[2]), []))
            elif key == "property":
                if not elements:
                    raise ValueError("property before any element")
                if tokens[1] == "list":
                    prop = _Property(tokens[4], _ply_type(path, tokens[3]), _ply_type(path, tokens[2]))
                else:
                    prop = _Property(tokens[2], _ply_type(path, tokens[1]))
                elements[-1].props.append(prop)
            else:
                raise ValueError(f"unknown header keyword {key!r}")
        except (IndexError, ValueError) as exc:
            raise DnerfError(f"{path}: malformed PLY header at line {line_no} ({raw.strip()!r}): {exc}") from None
    if fmt is None:
        raise DnerfError(f"{path}: PLY header has no 'format' line")
    return _Header(fmt, elements, comments, end.end())


def _binary_element(path: Path, data: bytes, offset: int, el: _Element, order: str) -> tuple[dict, int]:
    """Parse one binary element starting at `offset`; returns ({property: array}, new offset)."""
    if not any(p.count_dtype for p in el.props):
        dtype = np.dtype([(p.name, order + p.dtype) for p in el.props])
        size = dtype.itemsize * el.count
        if offset + size > len(data):
            raise DnerfError(f"{path} is truncated: element {el.name!r} needs {size} bytes at offset {offset}, "
                             f"the file has {len(data) - offset}")
        rows = np.frombuffer(data, dtype=dtype, count=el.count, offset=offset)
        return {name: rows[name] for name in dtype.names}, offset + size
    # With list properties, records may differ in length. The usual case (all triangles) has a
    # constant count: read the first record's counts, try that fixed layout, verify every count.
    if el.count == 0:
        return {p.name: np.zeros((0,), p.dtype) for p in el.props}, offset
    fields, pos = [], offset
    for p in el.props:
        if p.count_dtype:
            cdt = np.dtype(order + p.count_dtype)
            if pos + cdt.itemsize > len(data):
                raise DnerfError(f"{path} is truncated inside element {el.name!r}")
            k = int(np.frombuffer(data, cdt, 1, pos)[0])
            fields += [(f"__count_{p.name}", cdt), (p.name, order + p.dtype, (k,))]
            pos += cdt.itemsize + k * np.dtype(p.dtype).itemsize
        else:
            fields.append((p.name, order + p.dtype))
            pos += np.dtype(p.dtype).itemsize
    dtype = np.dtype(fields)
    size = dtype.itemsize * el.count
    if offset + size <= len(data):
        rows = np.frombuffer(data, dtype=dtype, count=el.count, offset=offset)
        counts_ok = all((rows[f"__count_{p.name}"] == dtype.fields[p.name][0].shape[0]).all()
                        for p in el.props if p.count_dtype)
        if counts_ok:
            return {p.name: rows[p.name] for p in el.props}, offset + size
    return _binary_element_slow(path, data, offset, el, order)


def _binary_element_slow(path: Path, data: bytes, offset: int, el: _Element, order: str) -> tuple[dict, int]:
    out: dict[str, list] = {p.name: [] for p in el.props}
    pos = offset
    try:
        for _ in range(el.count):
            for p in el.props:
                if p.count_dtype:
                    cdt = np.dtype(order + p.count_dtype)
                    k = int(np.frombuffer(data, cdt, 1, pos)[0])
                    pos += cdt.itemsize
                    vdt = np.dtype(order + p.dtype)
                    out[p.name].append(np.frombuffer(data, vdt, k, pos).copy())
                    pos += k * vdt.itemsize
                else:
                    vdt = np.dtype(order + p.dtype)
                    out[p.name].append(np.frombuffer(data, vdt, 1, pos)[0])
                    pos += vdt.itemsize
    except ValueError:
        raise DnerfError(f"{path} is truncated inside element {el.name!r}") from None
    arrays = {p.name: (np.array(out[p.name], dtype=p.dtype) if not p.count_dtype
                       else np.array(out[p.name], dtype=object)) for p in el.props}
    return arrays, pos


def _ascii_elements(path: Path, data: bytes, header: _Header, wanted: str) -> dict:
    lines = data[header.body_offset:].decode("latin-1").splitlines()
    lines = [ln for ln in lines if ln.strip()]
    row = 0
    for el in header.elements:
        chunk = lines[row:row + el.count]
        if len(chunk) < el.count:
            raise DnerfError(f"{path} is truncated: element {el.name!r} has {len(chunk)} of {el.count} lines")
        row += el.count
        if el.name != wanted:
            continue
        if any(p.count_dtype for p in el.props):
            raise DnerfError(f"{path}: list properties in ascii element {el.name!r} are not supported")
        try:
            table = np.array([ln.split() for ln in chunk], dtype=np.float64).reshape(el.count, len(el.props))
        except ValueError:
            raise DnerfError(f"{path}: element {el.name!r} has rows that are not {len(el.props)} numbers") from None
        return {p.name: table[:, i].astype(p.dtype) for i, p in enumerate(el.props)}
    raise DnerfError(f"{path} has no {wanted!r} element")


def _read_element(path: Path, wanted: str) -> tuple[dict, _Header]:
    if not path.is_file():
        raise DnerfError(f"PLY file not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DnerfError(f"cannot read {path}: {exc.strerror or exc}") from exc
    header = _parse_header(path, data)
    if header.fmt == "ascii":
        return _ascii_elements(path, data, header, wanted), header
    order = "<" if header.fmt == "binary_little_endian" else ">"
    offset = header.body_offset
    for el in header.elements:
        arrays, offset = _binary_element(path, data, offset, el, order)
        if el.name == wanted:
            return arrays, header
    raise DnerfError(f"{path} has no {wanted!r} element")


def _legend(path: Path, comments: list[str]) -> LabelSet | None:
    """The label set from `label <id> <name> <r> <g> <b>` comments (other comments are ignored)."""
    labels = []
    for c in comments:
        m = LEGEND_RE.fullmatch(c.strip())
        if m:
            labels.append(Label(int(m["id"]), unquote(m["name"]), (int(m["r"]), int(m["g"]), int(m["b"]))))
    if not labels:
        return None
    try:
        return LabelSet(tuple(sorted(labels, key=lambda lab: lab.id)))
    except DnerfError as exc:
        raise DnerfError(f"{path}: the label legend in the header is not a valid label set: {exc}") from None


def _integer_labels(path: Path, values: np.ndarray) -> np.ndarray:
    # Some tools (Blender, CloudCompare) store labels as floats; accept them when integral.
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise DnerfError(f"{path}: the 'label' property holds non-integer values")
    return values.astype(np.int32)


def _colors(props: dict, n: int) -> np.ndarray:
    for names in (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue")):
        if all(k in props for k in names):
            rgb = np.stack([props[k] for k in names], axis=1)  # [N,3]
            if rgb.dtype.kind == "f":  # float colors are 0..1
                rgb = np.clip(np.round(rgb * 255.0), 0, 255)
            return rgb.astype(np.uint8)
    return np.zeros((n, 3), np.uint8)


def read_point_cloud_ply(path: str | Path) -> tuple[LabeledPointCloud, LabelSet | None]:
    """Read the `vertex` element of a PLY (ascii or binary) as a labeled cloud.

    Needs x, y, z and an integer `label`; normals (nx ny nz) and colors (red green blue) are
    optional (zeros when absent); other properties are ignored. Returns the legend from the
    header comments when there is one.
    """
    path = Path(path)
    props, header = _read_element(path, "vertex")
    missing = [k for k in ("x", "y", "z") if k not in props]
    if missing:
        raise DnerfError(f"{path}: the vertex element has no {', '.join(missing)} property")
    if "label" not in props:
        raise DnerfError(f"{path} has no 'label' property on its vertices (found: {', '.join(props)})")
    n = len(props["x"])
    points = np.stack([props["x"], props["y"], props["z"]], axis=1)  # [N,3]
    if all(k in props for k in ("nx", "ny", "nz")):
        normals = np.stack([props["nx"], props["ny"], props["nz"]], axis=1)
    else:
        normals = np.zeros((n, 3), np.float32)
    cloud = LabeledPointCloud(points, normals, _colors(props, n), _integer_labels(path, props["label"]))
    return cloud, _legend(path, header.comments)


def read_mesh_ply(path: str | Path) -> tuple[LabeledMesh, LabelSet | None]:
    """Read a triangle mesh PLY written by `write_mesh_ply` (binary; faces need an int `label`)."""
    path = Path(path)
    verts, header = _read_element(path, "vertex")
    faces, _ = _read_element(path, "face")
    if "label" not in faces:
        raise DnerfError(f"{path} has no 'label' property on its faces")
    indices = faces.get("vertex_indices", faces.get("vertex_index"))
    if indices is None or indices.dtype == object or indices.ndim != 2 or indices.shape[1] != 3:
        raise DnerfError(f"{path}: faces must be triangles in a 'vertex_indices' list")
    n = len(verts["x"])
    mesh = LabeledMesh(np.stack([verts["x"], verts["y"], verts["z"]], axis=1), indices.astype(np.int64),
                       _integer_labels(path, faces["label"]), _colors(verts, n))
    return mesh, _legend(path, header.comments)

