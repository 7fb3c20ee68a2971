"""Every response on an API path is the JSON error envelope, DEBUG or not.

DRF's exception handler covers what the API's views raise. What happens around them does not
pass through it: a path that matches no route, a body Django refuses before a view runs
(`RequestDataTooBig`), a crash outside DRF. With DEBUG on, Django answers those with its HTML
debug pages, and its `handler400`/`handler404` are not even called. This middleware turns any
non-JSON error on an API path into the envelope; pages (`wants_page`) keep their HTML.
"""

import logging
import re
from http import HTTPStatus
from urllib.parse import unquote

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpResponseNotFound, JsonResponse
from django.http.request import RawPostDataException
from django.views import defaults

from .exceptions import HINTS, envelope
from .redaction import REDACTED, SECRET_ANYWHERE, secret_runs

# Whole path segments: `/app/...` is a page, `/applied/...` is the API of a workspace `applied`.
# Each first segment is also a reserved workspace url (workspaces.models), so none can be both.
PAGE_PREFIXES = ("app", "accounts", "admin", "settings", "static", "media", "api/docs")
PAGE_PATH = re.compile(rf"^/(?:{'|'.join(map(re.escape, PAGE_PREFIXES))})(?:/|$)")
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
ERRORS = {
    400: ("Bad request.", "bad_request", ""),
    403: ("Forbidden.", "forbidden", ""),
    404: ("Not found.", "not_found", "Check the path; API paths have no trailing slash."),
    405: ("Method not allowed.", "method_not_allowed", ""),
    413: (
        "The request body is larger than this server accepts.",
        "payload_too_large",
        HINTS["payload_too_large"],
    ),
    500: ("Something went wrong on our side.", "server_error", "Try again; it has been logged."),
}
security_log = logging.getLogger("django.security")


def wants_page(request) -> bool:
    """Whether a response to `request` is a page (HTML) rather than the API's JSON."""
    return PAGE_PATH.match(request.path) is not None or (
        "text/html" in request.META.get("HTTP_ACCEPT", "") and "api_key" not in request.GET
    )


def api_error(status: int) -> JsonResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    message, type_, hint = ERRORS.get(status, (f"{phrase}.", "error", ""))
    return JsonResponse(envelope(message, type_, hint), status=status)


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
            and not wants_page(request)
        ):
            replacement = api_error(response.status_code)
            for header in KEPT_HEADERS:
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response

    def process_exception(self, request, exception):
        if wants_page(request) or not isinstance(exception, SuspiciousOperation):
            return None  # Django's own handling (and a 500 is rewritten above)
        security_log.warning("%s: %s", type(exception).__name__, exception)
        return api_error(413 if isinstance(exception, RequestDataTooBig) else 400)


def key_shapes(text: str) -> set[str]:
    """Every key-shaped string in `text`: a key, whole or cut short, or a secret part alone."""
    return whole_keys(text) | set(secret_runs(text))


def whole_keys(text: str) -> set[str]:
    """Every key in `text`, whole or cut short, with its `sak_<keyid>_` prefix."""
    return {m[0] for m in SECRET_ANYWHERE.finditer(text)}


KEY_IN_PAGE_PATH = (
    "<!doctype html><title>Not found</title><h1>Not found</h1>"
    "<p>That address holds what looks like an API key, so it is not served. "
    "If the key was shared where others could see it, roll it.</p>"
)


def key_in_path() -> HttpResponseNotFound:
    # Answered before any other middleware runs, so it sets the headers they would have.
    response = HttpResponseNotFound(KEY_IN_PAGE_PATH)
    response["Content-Security-Policy"] = "default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Frame-Options"] = "DENY"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


class NoKeyEchoMiddleware:
    """A key pasted into a page's address or form never comes back: not in a redirect (the
    log-in's `next`, the HTTPS redirect), not in a page (a form that re-renders what was typed,
    the admin's login form). No page has a key in its path, so such a path (a whole key, or a
    secret part alone) is a 404 that quotes nothing; one in a page's query string (the log-in's
    `next`) is cut out of the answer's body and `Location`, and so is a whole key typed into a
    page's form (only whole keys there: a random-looking id someone typed is shown as typed;
    the fields themselves refuse keys). First in MIDDLEWARE, so that every redirect passes
    through it. The API's own answers never echo one (`exceptions.envelope`), and the API takes
    keys in the query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if PAGE_PATH.match(request.path) is None:
            return self.get_response(request)
        if key_shapes(request.path):
            return key_in_path()
        response = self.get_response(request)
        found = key_shapes(unquote(request.META.get("QUERY_STRING", ""), errors="replace"))
        if request.method == "POST":
            try:
                posted = [v for name, values in request.POST.lists() if name != "csrfmiddlewaretoken" for v in values]
            except RawPostDataException:
                posted = []
            found |= {shape for value in posted for shape in whole_keys(value)}
        return _cut(response, found) if found else response


def _cut(response, shapes: set[str]):
    ordered = sorted(shapes, key=len, reverse=True)  # a whole key before any part of it
    if "Location" in response:
        location = response["Location"]
        for shape in ordered:
            location = location.replace(shape, REDACTED)
        response["Location"] = location
    if not response.streaming:
        content = response.content
        for shape in ordered:
            content = content.replace(shape.encode(), REDACTED.encode())
        response.content = content
        if "Content-Length" in response:
            response["Content-Length"] = str(len(content))
    return response


# Django's error handlers (config.urls), for errors outside the middleware's reach with DEBUG off.


def bad_request(request, exception=None):
    return defaults.bad_request(request, exception) if wants_page(request) else api_error(400)


def permission_denied(request, exception=None):
    return defaults.permission_denied(request, exception) if wants_page(request) else api_error(403)


def not_found(request, exception=None):
    return defaults.page_not_found(request, exception) if wants_page(request) else api_error(404)


def server_error(request):
    return defaults.server_error(request) if wants_page(request) else api_error(500)
