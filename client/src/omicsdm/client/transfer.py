"""Transfers: the multipart uploader (through the service's signer, upload.py) and the parallel,
resumable, verified downloader (download.py).

Both keep at most `parallel` parts (or download chunks) in flight across all files, each worker
holding one part in memory, so memory stays near parallel x part size whatever the file sizes.
"""

from __future__ import annotations

from omicsdm.client.download import Downloader, DownloadResult
from omicsdm.client.local import Source, collect_sources, parse_size
from omicsdm.client.progress import NullProgress, Progress, ProgressTask
from omicsdm.client.upload import Uploader, UploadResult

__all__ = [
    "DownloadResult",
    "Downloader",
    "NullProgress",
    "Progress",
    "ProgressTask",
    "Source",
    "UploadResult",
    "Uploader",
    "collect_sources",
    "parse_size",
]
