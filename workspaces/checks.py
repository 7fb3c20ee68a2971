"""System checks that `manage.py check --deploy` runs."""

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import Tags, Warning, register

LOCAL_CACHE = Warning(
    "CACHE_URL is the local-memory cache: every worker process then keeps its own rate-limit and "
    "log-in counters, and evicts them when full, so the limits do not hold.",
    hint="Set CACHE_URL to a shared cache, e.g. redis://127.0.0.1:6379/0.",
    id="workspaces.W001",
)


@register(Tags.caches, deploy=True)
def shared_cache(app_configs, **kwargs):
    return [LOCAL_CACHE] if not settings.DEBUG and isinstance(caches["default"], LocMemCache) else []
