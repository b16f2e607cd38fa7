"""Checkpoint archives: a checkpoint (and optionally its bundle) as a tar stream, and back.

Export with :func:`plan_export` (checks first, so that errors come before the first byte) and
:meth:`ExportPlan.chunks` (an async iterator of bytes for a streamed answer); import with
:func:`import_archive` (an async iterator of uploaded bytes in, a checked bundle out).
"""

from .export import MEDIA_TYPES, ExportOptions, ExportPlan, plan_export, rootfs_clock_ns
from .layout import BundleContent, ImageKind, Manifest
from .tarstream import Compression
from .unpack import ImportLimits, ImportResult, Placement, import_archive

__all__ = [
    "MEDIA_TYPES",
    "BundleContent",
    "Compression",
    "ExportOptions",
    "ExportPlan",
    "ImageKind",
    "ImportLimits",
    "ImportResult",
    "Manifest",
    "Placement",
    "import_archive",
    "plan_export",
    "rootfs_clock_ns",
]
