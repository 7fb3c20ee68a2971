"""Settings, all read from the environment (or a `.env` file) by django-environ.

`.env.example` lists every variable. With nothing set, the app runs on its embedded
defaults: DEBUG on, a SQLite file, the local-memory cache. A bad value stops start-up with
one `ImproperlyConfigured` line that names the variable.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from core.throttling import parse_rate

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105 - refused when DEBUG is off
DB_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "psql"}
CACHE_SCHEMES = {"locmemcache", "redis", "rediss", "dummycache"}


def _read(name, cast, default):
    try:
        return cast(name, default=default)
    except (ValueError, environ.ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(f"{name} is not valid: {exc}") from None


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def _bool(name, default: bool) -> bool:
    value = env.str(name, default=str(default)).strip().lower()
    if value not in TRUE_WORDS | FALSE_WORDS:
        raise ImproperlyConfigured(f"{name} is not valid: use true or false, not {value!r}")
    return value in TRUE_WORDS


def _url(name, default, schemes, parse):
    value = env.str(name, default=default)
    scheme = urlsplit(value).scheme
    if scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        shown = f"{scheme}://..." if scheme else "a value without a scheme"  # never a password it may hold
        raise ImproperlyConfigured(f"{name} must be a URL with one of the schemes {allowed}; got {shown}")
    return parse(value)


DEBUG = _bool("DEBUG", False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = DEV_SECRET_KEY
ALLOWED_HOSTS = _read("ALLOWED_HOSTS", env.list, ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = _read("CSRF_TRUSTED_ORIGINS", env.list, [])
for origin in CSRF_TRUSTED_ORIGINS:
    if urlsplit(origin).scheme not in {"http", "https"}:
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS entries must start with http:// or https://; got {origin!r}")

# The pepper keys the HMAC of API key digests: a database leak alone does not let anyone
# test guesses offline. Changing it invalidates every key.
API_KEY_PEPPER = env.str("API_KEY_PEPPER", default="")
if not API_KEY_PEPPER:
    if not DEBUG:
        raise ImproperlyConfigured("API_KEY_PEPPER must be set when DEBUG is off")
    API_KEY_PEPPER = "dev-only-api-key-pepper"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks_db",
    "workspaces",
    "apikeys",
    "web",
]

MIDDLEWARE = [
    "core.middleware.NoKeyEchoMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "core.middleware.ApiErrorMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspaces.context_processors.workspaces",
            ],
        },
    },
]

DATABASES = {
    "default": _url("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}", DB_SCHEMES, env.db_url_config),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Writers take the lock when their transaction begins, and wait for it rather than fail.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
# Persistent connections outside DEBUG: a new PostgreSQL connection per request costs more than
# the request itself. Each is checked before reuse, so a restarted database is survived.
DATABASES["default"]["CONN_MAX_AGE"] = _read("CONN_MAX_AGE", env.int, 0 if DEBUG else 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Values bound by the server, and psycopg preparing a query once a connection ran it five
    # times (Django turns that off unless `prepare_threshold` is set): PostgreSQL then plans
    # the hot reads once per connection, not on every request. (Behind PgBouncer in
    # transaction mode this needs PgBouncer 1.21 or later, with max_prepared_statements set.)
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
CACHES = {"default": _url("CACHE_URL", "locmemcache://", CACHE_SCHEMES, env.cache_url_config)}
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    # A Redis that stops answering must not hang requests: past this many seconds (to connect,
    # or for an answer) the limits and usage counts fail open, and keys are read from the database.
    _redis_timeout = _read("REDIS_TIMEOUT", env.float, 1.0)
    if not 0.01 <= _redis_timeout <= 60:  # (NaN fails too)
        raise ImproperlyConfigured(f"REDIS_TIMEOUT is not valid: seconds from 0.01 to 60, not {_redis_timeout}")
    for _option in ("socket_connect_timeout", "socket_timeout"):  # (unless CACHE_URL sets them)
        CACHES["default"].setdefault("OPTIONS", {}).setdefault(_option, _redis_timeout)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "workspaces:home"
# A password-reset link works once, for two hours (Django's default is three days).
PASSWORD_RESET_TIMEOUT = 2 * 3600
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# The official SDK posts to paths without a trailing slash; a redirect would drop the body.
APPEND_SLASH = False

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default="") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or BASE_DIR / "media")
# Uploaded images, version snapshots and weights: files under MEDIA_ROOT by default, or with
# S3_BUCKET set, an S3-compatible object store (django-storages): S3_ENDPOINT_URL (omit for
# AWS), S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_REGION. FILE_STORAGE_BACKEND names any
# other storage class.


def s3_storage(bucket: str, *, endpoint: str | None, access_key: str | None, secret: str | None, region: str) -> dict:
    """The default storage in an S3 bucket: private, presigned URLs (SigV4) for downloads;
    transfers one part at a time (boto3's threaded transfers read a large file ahead into
    memory: an export's upload would then need memory in proportion to the zip)."""
    from boto3.s3.transfer import TransferConfig

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "access_key": access_key,
            "secret_key": secret,
            "region_name": region,
            "file_overwrite": False,  # a name taken gets another, as on disk
            "default_acl": None,  # private: the API hands files out itself
            "querystring_expire": 300,
            "signature_version": "s3v4",  # presigned URLs that expire (X-Amz-Expires)
            "transfer_config": TransferConfig(use_threads=False),
        },
    }


S3_BUCKET = env.str("S3_BUCKET", default="")
if S3_BUCKET:
    _files = s3_storage(
        S3_BUCKET,
        endpoint=env.str("S3_ENDPOINT_URL", default="") or None,
        access_key=env.str("S3_ACCESS_KEY_ID", default="") or None,
        secret=env.str("S3_SECRET_ACCESS_KEY", default="") or None,
        region=env.str("S3_REGION", default="us-east-1"),
    )
else:
    _files = {"BACKEND": env.str("FILE_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")}
STORAGES = {
    "default": _files,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Background work (version generation, exports, the periodic chores) through Django's Tasks
# API on the database backend (django-tasks-db): tasks are rows of the app's own database,
# written in the same transaction as the version or export they build, claimed by workers with
# SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL. `manage.py work` runs a worker.
TASK_BACKEND = env.str("TASK_BACKEND", default="django_tasks_db.DatabaseBackend")
TASKS = {"default": {"BACKEND": TASK_BACKEND}}
# A worker renews its hold on what it builds while it works; a hold this many seconds old
# means the worker stopped (killed, machine lost), and another takes the work over.
TASK_LEASE_SECONDS = _read("TASK_LEASE_SECONDS", env.int, 60)
if TASK_LEASE_SECONDS < 2:
    raise ImproperlyConfigured("TASK_LEASE_SECONDS is not valid: at least 2 seconds")
MAX_UPLOAD_BYTES = _read("MAX_UPLOAD_BYTES", env.int, 20 * 1024 * 1024)
# Largest image accepted, in pixels (width times height); uploads are decoded in full to check them.
MAX_IMAGE_PIXELS = _read("MAX_IMAGE_PIXELS", env.int, 40_000_000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies; the upload endpoints take multipart (and form) bodies themselves.
    "DEFAULT_PARSER_CLASSES": ["core.parsers.SafeJSONParser"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apikeys.schema.ScopedAutoSchema",
    # Proxies in front of the app that append to X-Forwarded-For; 0 trusts REMOTE_ADDR alone.
    "NUM_PROXIES": _read("NUM_PROXIES", env.int, 0),
}

# Rate limits, as "<count>/<n><s|min|h|day>": per API key (or signed-in user; "off" for none),
# and per client IP for failed authentication.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="1200/min")
API_AUTH_FAILURE_LIMIT = env.str("API_AUTH_FAILURE_LIMIT", default="30/min")
# Failed log-ins on /accounts/login and /admin/login/: per account from one address, per
# address, and per account from anywhere.
LOGIN_FAILURE_LIMIT = env.str("LOGIN_FAILURE_LIMIT", default="10/15min")
LOGIN_IP_FAILURE_LIMIT = env.str("LOGIN_IP_FAILURE_LIMIT", default="50/15min")
LOGIN_ACCOUNT_FAILURE_LIMIT = env.str("LOGIN_ACCOUNT_FAILURE_LIMIT", default="100/h")
# Mails that the sign-up and password-reset forms send to an address typed into them: per
# address typed, and per requesting address. Every request counts, account or not.
ACCOUNT_MAIL_LIMIT = env.str("ACCOUNT_MAIL_LIMIT", default="5/h")
ACCOUNT_MAIL_IP_LIMIT = env.str("ACCOUNT_MAIL_IP_LIMIT", default="20/h")
for _name in (
    "API_RATE_LIMIT",
    "API_AUTH_FAILURE_LIMIT",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_IP_FAILURE_LIMIT",
    "LOGIN_ACCOUNT_FAILURE_LIMIT",
    "ACCOUNT_MAIL_LIMIT",
    "ACCOUNT_MAIL_IP_LIMIT",
):
    if _name == "API_RATE_LIMIT" and globals()[_name] == "off":
        continue  # no per-key limit (one in front of the app, say)
    try:
        parse_rate(globals()[_name])
    except ValueError:
        raise ImproperlyConfigured(f"{_name} must look like 600/min or 10/15min; got {globals()[_name]!r}") from None

# Mail (rotation reminders, leaked-key notices): the console by default; smtp://user:password@host:587
# (or smtp+tls://, smtp+ssl://) to send it. SITE_URL is the address that mails link to.
_mail = _url(
    "EMAIL_URL",
    "consolemail://",
    {"consolemail", "smtp", "smtp+tls", "smtp+ssl", "memorymail", "dummymail"},
    env.email_url_config,
)
MAILERS = {"default": {"BACKEND": _mail["EMAIL_BACKEND"], "OPTIONS": {}}}
if DEBUG and _mail["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    # Links printed whole (Django's own prints the MIME source); with DEBUG off Django's stays,
    # so that `check --deploy` still refuses mail that is never sent.
    MAILERS["default"]["BACKEND"] = "config.mail.ReadableConsoleBackend"
if _mail.get("EMAIL_HOST"):
    MAILERS["default"]["OPTIONS"] = {
        "host": _mail["EMAIL_HOST"],
        "port": _mail.get("EMAIL_PORT"),
        "username": _mail.get("EMAIL_HOST_USER") or None,
        "password": _mail.get("EMAIL_HOST_PASSWORD") or None,
        "use_tls": bool(_mail.get("EMAIL_USE_TLS")),
        "use_ssl": bool(_mail.get("EMAIL_USE_SSL")),
        "timeout": 10,
    }
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Scoped API Keys <keys@localhost>")
# `make run` passes DEFAULT_SITE_URL (the address it serves), used only where SITE_URL is unset.
SITE_URL = env.str("SITE_URL", default=env.str("DEFAULT_SITE_URL", default="http://127.0.0.1:8000")).rstrip("/")
if urlsplit(SITE_URL).scheme not in {"http", "https"}:
    raise ImproperlyConfigured(f"SITE_URL must start with http:// or https://; got {SITE_URL!r}")
try:
    _site = urlsplit(SITE_URL)
    if not _site.hostname or _site.port == 0:
        raise ValueError
except ValueError:
    raise ImproperlyConfigured(
        f"SITE_URL must be an address such as https://keys.example.com; got {SITE_URL!r}"
    ) from None

# Leaked-key reports (GitHub secret scanning): a JSON file as GitHub serves its public keys
# ({"public_keys": [{"key_identifier": ..., "key": "-----BEGIN PUBLIC KEY-----..."}]}), fetched
# by the operator (see the README); reports are verified against it, never fetched per request.
SECRET_SCANNING_KEYS_FILE = env.str("SECRET_SCANNING_KEYS_FILE", default="")

SPECTACULAR_SETTINGS = {
    "TITLE": "Scoped API Keys",
    "DESCRIPTION": (
        "Workspace API of a computer-vision data platform. Authenticate with a workspace API key: "
        "`Authorization: Bearer <key>` (preferred) or `?api_key=<key>`. Each operation names the "
        'scope it needs. Errors: `{"error": {"message", "type", "hint"}}`.'
    ),
    "VERSION": "1.0.0",
    # 3.1: JSON Schema proper, so the document can say what the server refuses in object keys
    # (`propertyNames`) and which values are null, as the fuzzing's positive_data_acceptance checks.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH bodies are documented with their real required fields (each serializer already
    # makes optional what a PATCH may leave out).
    "COMPONENT_SPLIT_PATCH": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {
        "ProjectTypeEnum": "workspaces.models.ProjectType.values",
        "TrashedTypeEnum": ["project", "version"],
        "AnnotationFormatEnum": ["coco", "voc", "yolo", "createml", "classification"],
    },
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _bool("BEHIND_TLS_PROXY", False) else None
if not DEBUG:
    SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = _read("SECURE_HSTS_SECONDS", env.int, 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Scripts and styles come from this app's own static files, or carry the response's nonce;
# nothing inline otherwise, no framing, no plugins. The API docs work under it (their start-up
# script is a file: SpectacularSwaggerSplitView).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "core.redaction.RedactSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own handlers for these would print unfiltered: route them through ours
        # (naming a logger replaces the handlers Django's default configuration gives it).
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
