"""Leaked-key reports: GitHub's secret scanning partner protocol, and `report` for operators.

GitHub finds `sak_...` strings in public code and POSTs them to /api/secret-scanning/github
as a JSON list of `{token, type, url, source}`, signed with an ECDSA key of its own
(`Github-Public-Key-Identifier`, `Github-Public-Key-Signature`: base64 DER, SHA-256 over the
raw body). The public keys are read from SECRET_SCANNING_KEYS_FILE, a copy of what GitHub
serves at https://api.github.com/meta/public_keys/secret_scanning that the operator keeps up
to date; nothing is fetched here. Every key listed verifies, current or not, so reports still
pass while GitHub rotates its keys.

A token is a true positive when it is one of our keys, secret and all; the secret then dies
(`services.api_key_report_leak`) and the workspace's owners, and the key's, are told by mail.
Anything else is a false positive and changes nothing. The answer is GitHub's: a list of
`{token_raw, token_type, label}`. The endpoint answers:

- 200 and the labels, for a verified report;
- 401 `invalid_signature` when a header is missing, the key identifier is unknown, the
  signature is not base64 or does not verify: the body is not even parsed;
- 503 `not_configured` when there are no public keys to verify with (no file, or one with
  no usable key), whether signed or not: the fault is the server's, not the sender's;
- 400 when the verified body is not a list of at most MAX_FINDINGS objects with bounded
  strings `token`, `type` (both required), `url` and `source`, nothing else processed;
- 413 past MAX_BODY_BYTES, 405 for any method but POST.

Secrets stay out of everything written: the audit log, the mail and the log lines name a key
by its public prefix; the response echoes each token as GitHub sent it, as the protocol says.
"""

import base64
import binascii
import json
import logging
import os
from dataclasses import dataclass
from functools import partial

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt

from core.exceptions import envelope
from core.redaction import redact
from core.storable import text_problem
from workspaces.actors import Actor
from workspaces.models import Membership, Role

from . import keyformat
from .lookup import find_for_request
from .models import ApiKey
from .services import api_key_report_leak

logger = logging.getLogger(__name__)

TRUE_POSITIVE = "true_positive"
FALSE_POSITIVE = "false_positive"
GITHUB = "GitHub secret scanning"
MAX_BODY_BYTES = 1_000_000
MAX_FINDINGS = 1000
# The longest text each field may hold; `token` and `type` must be there, the others may not.
FIELD_LIMITS = {"token": 256, "type": 100, "url": 2048, "source": 100}
REQUIRED_FIELDS = ("token", "type")
MAX_HEADER = 512  # a key identifier is 64 hex digits, a P-256 signature under 100 characters
MAX_KEYS_FILE_BYTES = 1_000_000

NOT_CONFIGURED = "This server does not accept leaked-key reports: it has no GitHub public keys to verify them with."
NOT_CONFIGURED_HINT = (
    "The operator sets SECRET_SCANNING_KEYS_FILE to a copy of https://api.github.com/meta/public_keys/secret_scanning."
)
MISSING_HEADERS = "The report is not signed: send Github-Public-Key-Identifier and Github-Public-Key-Signature."
UNKNOWN_KEY = "The Github-Public-Key-Identifier names no public key this server knows."
BAD_SIGNATURE_ENCODING = "Github-Public-Key-Signature is not base64."
BAD_SIGNATURE = "The signature does not verify: the body is not what GitHub signed."
SIGNATURE_HINT = "Reports must come from GitHub secret scanning, signed over the exact body; nothing was processed."
NOT_UTF8 = "The body is not UTF-8 text."
NOT_JSON = "The body is not valid JSON."
BODY_HINT = "Send a JSON list of {token, type, url, source} objects, as GitHub does; nothing was processed."
TOO_LARGE = f"The report is over the {MAX_BODY_BYTES} bytes this endpoint accepts."
TOO_LARGE_HINT = f"Send at most {MAX_FINDINGS} findings per report."
NOT_POST = "Reports are POSTed."
SIGNATURE_CHALLENGE = 'Github-Public-Key-Signature realm="secret-scanning"'

# What was done, for the mail: (subject's end, what happened, what to do now).
TOLD = {
    "disabled": (
        "it is disabled",
        "We disabled the key: every request with it is refused from now on. Nothing else about it changed.",
        "Roll the key in Settings → API Keys for a new secret (unprotect it first if it is protected), "
        "put the new secret wherever the old one was used, then enable the replacement. Do not enable "
        "this key again: its secret is public.",
    ),
    "already disabled": (
        "it stays disabled",
        "The key was already disabled, and stays so.",
        "Roll the key in Settings → API Keys for a new secret (unprotect it first if it is protected), "
        "and enable the replacement once everything uses it. Do not enable this key again: its secret is public.",
    ),
    "grace ended": (
        "its old secret no longer works",
        "The key had been rolled, and its old secret (the one found) still worked during the grace "
        "period. We ended the grace period now: the old secret no longer works. The replacement key "
        "and its secret are unchanged.",
        "Make sure everything uses the replacement's secret.",
    ),
    "already dead": (
        "it no longer worked",
        "Nothing: the key was already revoked, expired or rolled, so the secret found no longer worked.",
        "Nothing more for this key.",
    ),
}


@dataclass(frozen=True)
class Finding:
    token: str
    type: str = "scoped_api_key"
    url: str = ""
    source: str = ""


@dataclass(frozen=True)
class Outcome:
    finding: Finding
    label: str  # TRUE_POSITIVE | FALSE_POSITIVE
    key: ApiKey | None  # the key the token is, for true positives
    action: str  # "disabled", "already disabled", "grace ended", "already dead", or "" for false positives


class Refused(Exception):
    """A report this endpoint does not process; becomes the error envelope."""

    def __init__(self, status: int, type_: str, message: str, hint: str):
        super().__init__(message)
        self.status, self.type, self.message, self.hint = status, type_, message, hint

    def response(self) -> JsonResponse:
        response = JsonResponse(envelope(self.message, self.type, self.hint), status=self.status)
        if self.status == 401:
            response["WWW-Authenticate"] = SIGNATURE_CHALLENGE
        return response


# Reports ------------------------------------------------------------------------------


def report(findings: list[Finding], actor: Actor) -> list[Outcome]:
    """The outcome of each finding, in order. The secret of each true positive dies (see
    `services.api_key_report_leak`) and its owners get a mail once that is committed. A token
    found twice in one report is settled once."""
    settled: dict[str, tuple[ApiKey | None, str]] = {}
    outcomes = []
    for finding in findings:
        if finding.token not in settled:
            settled[finding.token] = _settle(finding, actor)
        key, action = settled[finding.token]
        label = FALSE_POSITIVE if key is None else TRUE_POSITIVE
        outcomes.append(Outcome(finding=finding, label=label, key=key, action=action))
    false_positives = sum(o.label == FALSE_POSITIVE for o in outcomes)
    if false_positives:
        logger.info(
            "Leak report by %s: %d of %d findings are not our keys", actor.label, false_positives, len(outcomes)
        )
    return outcomes


def identify(token: str) -> ApiKey | None:
    """The key whose secret `token` is, or None. The same work as authentication: a malformed
    token costs no query, an unknown key id costs the digest that a wrong secret costs."""
    parsed = keyformat.parse(token.strip())
    if parsed is None:
        return None
    key = find_for_request(key_id=parsed.key_id)
    if key is None:
        keyformat.digest(parsed.raw)  # same work as a wrong secret
        return None
    return key if keyformat.matches(parsed.raw, key.digest) else None


def _settle(finding: Finding, actor: Actor) -> tuple[ApiKey | None, str]:
    key = identify(finding.token)
    if key is None:
        return None, ""
    url, source = redact(finding.url), redact(finding.source)  # a URL might quote the key itself
    with transaction.atomic():
        action = api_key_report_leak(key=key, actor=actor, source=source, url=url)
        transaction.on_commit(
            partial(notify, key_pk=key.pk, action=action, url=url, source=source, reporter=actor.label), robust=True
        )
    key.refresh_from_db()
    logger.warning(
        "Leaked API key %s of workspace %s reported by %s (%s): %s",
        key.prefix,
        key.workspace.url,
        actor.label,
        url,
        action,
    )
    return key, action


def recipients(key: ApiKey) -> list[str]:
    """The addresses told of a leak: the workspace's owners and the key's own owners."""
    owners = Membership.objects.filter(workspace_id=key.workspace_id, role=Role.OWNER, user__is_active=True)
    emails = [
        *owners.values_list("user__email", flat=True),
        *key.owners.filter(is_active=True, memberships__workspace_id=key.workspace_id).values_list("email", flat=True),
    ]
    return sorted({email for email in emails if email})


def notify(*, key_pk: int, action: str, url: str, source: str, reporter: str) -> None:
    """Mail the owners what was found where and what was done: the key's name and public
    prefix, never its secret."""
    key = ApiKey.objects.select_related("workspace").get(pk=key_pk)
    to = recipients(key)
    if not to:
        logger.warning("Leaked API key %s of workspace %s: nobody to tell by mail", key.prefix, key.workspace.url)
        return
    subject_end, done, next_steps = TOLD[action]
    workspace = key.workspace
    context = {
        "key": key,
        "workspace": workspace,
        "url": url,
        "source": source,
        "reporter": reporter,
        "done": done,
        "next_steps": next_steps,
        "link": f"{settings.SITE_URL}/app/{workspace.url}/settings/api-keys",
    }
    subject = " ".join(f"[{workspace.name}] API key {key.prefix} was found in public: {subject_end}".split())
    body = render_to_string("apikeys/email/leak.txt", context)
    EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=to).send()


# GitHub's endpoint --------------------------------------------------------------------


@csrf_exempt
def github_secret_scanning(request: HttpRequest) -> JsonResponse:
    """POST /api/secret-scanning/github: a machine endpoint, signed, without session or key."""
    if request.method != "POST":
        response = JsonResponse(envelope(NOT_POST, "method_not_allowed", BODY_HINT), status=405)
        response["Allow"] = "POST"
        return response
    try:
        body = _read_body(request)
        verify(
            body,
            identifier=request.headers.get("Github-Public-Key-Identifier", ""),
            signature=request.headers.get("Github-Public-Key-Signature", ""),
        )
        findings = parse_findings(body)
    except Refused as refused:
        logger.warning("Leak report refused (%d %s): %s", refused.status, refused.type, refused.message)
        return refused.response()
    outcomes = report(findings, Actor(system=GITHUB))
    answer = [{"token_raw": o.finding.token, "token_type": o.finding.type, "label": o.label} for o in outcomes]
    return JsonResponse(answer, safe=False)


def _read_body(request: HttpRequest) -> bytes:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise Refused(413, "payload_too_large", TOO_LARGE, TOO_LARGE_HINT)
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, "payload_too_large", TOO_LARGE, TOO_LARGE_HINT)
    return body


def verify(body: bytes, *, identifier: str, signature: str) -> None:
    """Refused unless `signature` (base64 DER ECDSA, SHA-256) is one over `body` by the public
    key named `identifier`."""
    keys = public_keys()  # first: with nothing to verify against, the sender is not at fault
    if not identifier or not signature:
        raise Refused(401, "invalid_signature", MISSING_HEADERS, SIGNATURE_HINT)
    public_key = keys.get(identifier) if len(identifier) <= MAX_HEADER else None
    if public_key is None:
        raise Refused(401, "invalid_signature", UNKNOWN_KEY, SIGNATURE_HINT)
    try:
        if len(signature) > MAX_HEADER:
            raise ValueError
        der = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise Refused(401, "invalid_signature", BAD_SIGNATURE_ENCODING, SIGNATURE_HINT) from None
    try:
        public_key.verify(der, body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused(401, "invalid_signature", BAD_SIGNATURE, SIGNATURE_HINT) from None


_loaded: dict[str, tuple[tuple[int, int], dict[str, ec.EllipticCurvePublicKey]]] = {}


def public_keys() -> dict[str, ec.EllipticCurvePublicKey]:
    """GitHub's public keys by identifier, from SECRET_SCANNING_KEYS_FILE, read again when the
    file changes (its modification time or size). Refused (503) when there are none."""
    path = settings.SECRET_SCANNING_KEYS_FILE
    unavailable = Refused(503, "not_configured", NOT_CONFIGURED, NOT_CONFIGURED_HINT)
    if not path:
        raise unavailable
    try:
        stat = os.stat(path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = _loaded.get(path)
        if cached is not None and cached[0] == stamp:
            keys = cached[1]
        else:
            with open(path, "rb") as file:
                keys = _parse_keys_file(file.read(MAX_KEYS_FILE_BYTES + 1))
            _loaded[path] = (stamp, keys)
    except (OSError, ValueError) as error:
        logger.error("SECRET_SCANNING_KEYS_FILE %s is unusable: %s", path, error)
        raise unavailable from None
    if not keys:
        raise unavailable
    return keys


def _parse_keys_file(data: bytes) -> dict[str, ec.EllipticCurvePublicKey]:
    """The EC public keys of a file as GitHub serves them; ValueError if it is not one."""
    if len(data) > MAX_KEYS_FILE_BYTES:
        raise ValueError(f"it is over {MAX_KEYS_FILE_BYTES} bytes")
    try:
        entries = json.loads(data)["public_keys"]
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError, KeyError):
        raise ValueError('it is not JSON of the form {"public_keys": [...]}') from None
    if not isinstance(entries, list):
        raise ValueError('"public_keys" is not a list')
    keys = {}
    for position, entry in enumerate(entries):
        try:
            identifier, pem = entry["key_identifier"], entry["key"]
            if not isinstance(identifier, str) or not isinstance(pem, str) or not identifier:
                raise TypeError
            public_key = serialization.load_pem_public_key(pem.encode())
        except (TypeError, KeyError, ValueError, UnicodeEncodeError):
            logger.warning("SECRET_SCANNING_KEYS_FILE: public_keys[%d] is not a PEM public key; skipped", position)
            continue
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            logger.warning("SECRET_SCANNING_KEYS_FILE: public_keys[%d] is not an ECDSA key; skipped", position)
            continue
        keys[identifier] = public_key
    return keys


def parse_findings(body: bytes) -> list[Finding]:
    """The findings of a verified body; Refused (400) unless it is exactly what GitHub sends."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Refused(400, "parse_error", NOT_UTF8, BODY_HINT) from None
    except (json.JSONDecodeError, RecursionError):
        raise Refused(400, "parse_error", NOT_JSON, BODY_HINT) from None
    if not isinstance(data, list):
        raise _invalid("The body must be a JSON list of findings.")
    if len(data) > MAX_FINDINGS:
        raise _invalid(f"A report holds at most {MAX_FINDINGS} findings; this one holds {len(data)}.")
    findings = []
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise _invalid(f"[{position}] must be an object with token, type, url and source.")
        fields = {}
        for name, limit in FIELD_LIMITS.items():
            value = item.get(name, None if name in REQUIRED_FIELDS else "")
            if value is None:
                raise _invalid(f"[{position}].{name} is required.")
            if not isinstance(value, str) or len(value) > limit:
                raise _invalid(f"[{position}].{name} must be a string of at most {limit} characters.")
            if problem := text_problem(value):
                raise _invalid(f"[{position}].{name}: {problem}")
            fields[name] = value
        if not fields["token"]:
            raise _invalid(f"[{position}].token is empty.")
        findings.append(Finding(**fields))
    return findings


def _invalid(message: str) -> Refused:
    return Refused(400, "validation_error", message, BODY_HINT)
