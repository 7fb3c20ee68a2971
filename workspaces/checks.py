"""System checks that `manage.py check --deploy` runs."""

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import Error, Tags, Warning, register
from django.core.files.storage import FileSystemStorage, default_storage
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django.tasks.backends.dummy import DummyBackend
from django.tasks.backends.immediate import ImmediateBackend

LOCAL_CACHE = Warning(
    "CACHE_URL is the local-memory cache: every worker process then keeps its own rate-limit and "
    "log-in counters, and evicts them when full, so the limits do not hold.",
    hint="Set CACHE_URL to a shared cache, e.g. redis://127.0.0.1:6379/0.",
    id="workspaces.W001",
)


@register(Tags.caches, deploy=True)
def shared_cache(app_configs, **kwargs):
    return [LOCAL_CACHE] if not settings.DEBUG and isinstance(caches["default"], LocMemCache) else []


LOCAL_FILES = Error(
    "Files are stored on this machine's disk (FileSystemStorage): another app server or worker "
    "cannot read them, and they go with the machine.",
    hint="Set S3_BUCKET (and S3_ENDPOINT_URL, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY) for object storage.",
    id="workspaces.E002",
)
IN_PROCESS_TASKS = Error(
    "TASK_BACKEND runs background work inside the request (or never): generation and exports "
    "would then hold app servers for minutes, and nothing would retry them.",
    hint="Leave TASK_BACKEND unset (django_tasks_db.DatabaseBackend) and run `manage.py work`.",
    id="workspaces.E003",
)


@register(Tags.files, deploy=True)
def shared_files(app_configs, **kwargs):
    return [LOCAL_FILES] if not settings.DEBUG and isinstance(default_storage, FileSystemStorage) else []


@register(deploy=True)
def background_workers(app_configs, **kwargs):
    backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
    in_process = isinstance(backend, ImmediateBackend | DummyBackend)
    return [IN_PROCESS_TASKS] if not settings.DEBUG and in_process else []
