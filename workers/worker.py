"""arq entry point: `arq workers.worker.WorkerSettings` (or `billing worker`)."""

from billing.worker import build_worker_settings

WorkerSettings = build_worker_settings()
