"""User-facing errors. The CLI turns any DnerfError into one line on stderr and exit code 2."""


class DnerfError(Exception):
    """Bad input or an unusable file: a message meant for the person running the tool."""


class GeneratorSpecError(DnerfError, ValueError):
    """An unknown generator name, category or checkpoint spec."""


class CheckpointError(DnerfError):
    """A checkpoint that cannot be loaded safely or does not fit its target."""


class AnnotationError(DnerfError):
    """An annotation kit or mask that fails validation."""


class MissingExtraError(DnerfError, ImportError):
    """An optional dependency (bpy, open3d, pyvista, ...) is needed for this call but absent."""


def require(module: str, extra: str):
    """Import an optional dependency lazily, failing with a clear message naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised where the extra is missing
        raise MissingExtraError(
            f"this needs the optional package '{module}': pip install 'dnerf[{extra}]' ({exc})"
        ) from exc
