"""The directory where a process group's workers share their Prometheus samples
(PROMETHEUS_MULTIPROC_DIR), prepared the same way by gunicorn.conf.py and `gatehouse
serve-check`. No prometheus_client here: its multi-process mode is chosen when it is imported."""
from __future__ import annotations

import os
import shutil
import tempfile


def metrics_dir_of(configured: str | None) -> str:
    """The metrics directory of this process group: the configured one (PROMETHEUS_MULTIPROC_DIR,
    `metrics_dir`), else a new one for this launcher's pid under the temp directory."""
    return configured or os.path.join(tempfile.gettempdir(), f"gatehouse-metrics-{os.getpid()}")


def prepare_metrics_dir(path: str) -> None:
    """Empty (samples of an earlier run would be added to this one's), created, and proven
    writable; OSError names what failed, for a one-line start-up error."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    probe = os.path.join(path, ".writable")
    with open(probe, "w"):
        pass
    os.remove(probe)
