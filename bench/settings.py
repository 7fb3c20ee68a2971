"""Settings of the benchmark only (`make bench`): the app's own, plus the two libraries it is
compared with and the bench-only routes. Never used by the product."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS, REST_FRAMEWORK

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework.authtoken", "rest_framework_api_key"]
ROOT_URLCONF = "bench.urls"
REST_FRAMEWORK = {**REST_FRAMEWORK}
# The benchmark measures authentication, not the limits: they are set high (but still
# counted), except where a run turns them off on purpose (BENCH_RATE_LIMIT=off).
SECURE_SSL_REDIRECT = False
