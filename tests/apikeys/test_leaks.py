"""Leaked-key reports as GitHub's secret scanning sends them: signed with a key pair made here,
its public half in a keys file like the one GitHub serves."""

import base64
import json
import logging
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.mail import EmailMessage
from django.test import Client
from django.utils import timezone

from apikeys import keyformat, leaks
from apikeys.authentication import authenticate_key
from apikeys.leaks import Finding, report
from apikeys.models import ApiKey, AuditAction, AuditEvent, KeyState
from apikeys.services import api_key_revoke
from core.exceptions import InvalidToken
from tests.factories import MembershipFactory, UserFactory
from tests.keys import roll_key
from workspaces.actors import Actor
from workspaces.models import Role

pytestmark = pytest.mark.django_db

URL = "/api/secret-scanning/github"
KEY_ID = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a"
FOUND_AT = "https://github.com/octocat/hello/blob/1234567/settings.py"


def pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def github_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def keys_file(settings, tmp_path, github_key):
    path = tmp_path / "secret_scanning.json"
    path.write_text(
        json.dumps({"public_keys": [{"key_identifier": KEY_ID, "key": pem(github_key), "is_current": True}]})
    )
    settings.SECRET_SCANNING_KEYS_FILE = str(path)
    return path


def sign(body: bytes, private_key) -> str:
    return base64.b64encode(private_key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()


def finding(token: str, **fields) -> dict:
    return {"token": token, "type": "scoped_api_key", "url": FOUND_AT, "source": "content"} | fields


@pytest.fixture
def send(client, keys_file, github_key, django_capture_on_commit_callbacks):
    """POST a report as GitHub would: `body` a list (made JSON) or raw bytes, signed by
    `signer` (GitHub's key by default); `headers` replace the signature headers."""

    def post(body, *, signer=None, headers=None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if headers is None:
            headers = {
                "Github-Public-Key-Identifier": KEY_ID,
                "Github-Public-Key-Signature": sign(raw, signer or github_key),
            }
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, data=raw, content_type="application/json", headers=headers)

    return post


def leak_events(key=None):
    events = AuditEvent.objects.filter(action=AuditAction.LEAK)
    return list(events.filter(api_key=key) if key is not None else events)


def state(key) -> tuple:
    key = ApiKey.objects.get(pk=key.pk)
    return (key.disabled, key.revoked_at, key.rolled_at, key.grace_until, key.protected)


class TestTruePositives:
    def test_a_live_key_is_disabled_audited_and_its_owners_told(
        self, send, settings, enterprise, owner, make_key, mailoutbox
    ):
        key, secret = make_key(enterprise, name="CI deploys")
        response = send([finding(secret)])

        assert response.status_code == 200
        assert response.json() == [{"token_raw": secret, "token_type": "scoped_api_key", "label": "true_positive"}]
        key.refresh_from_db()
        assert key.disabled and key.revoked_at is None and key.state() == KeyState.DISABLED
        with pytest.raises(InvalidToken):
            authenticate_key(secret, ip="127.0.0.1")

        [event] = leak_events(key)
        assert event.actor_label == "system (GitHub secret scanning)"
        assert event.before == {"disabled": False}
        assert event.after == {"disabled": True, "source": "content", "url": FOUND_AT}
        assert secret not in json.dumps([event.before, event.after, event.actor_label])

        [mail] = mailoutbox
        assert mail.to == ["owner@example.com"]
        assert key.prefix in mail.subject and "Acme" in mail.subject and "disabled" in mail.subject
        for text in ("CI deploys", key.prefix, FOUND_AT, "content", "We disabled the key"):
            assert text in mail.body
        assert f"{settings.SITE_URL}/app/acme/settings/api-keys" in mail.body
        secret_part = secret.removeprefix(key.prefix + "_")
        assert secret_part[:8] not in mail.body + mail.subject

    def test_the_mail_links_the_settings_page_and_goes_to_the_keys_owners_too(
        self, send, settings, enterprise, owner, member, make_key, mailoutbox
    ):
        settings.SITE_URL = "https://keys.example.com"
        MembershipFactory(user=UserFactory(email="admin@example.com"), workspace=enterprise, role=Role.ADMIN)
        _, secret = make_key(enterprise, owners=[member])
        send([finding(secret)])
        [mail] = mailoutbox
        assert mail.to == ["member@example.com", "owner@example.com"]  # not the admin: owners only
        assert "https://keys.example.com/app/acme/settings/api-keys" in mail.body
        assert "&amp;" not in mail.body and "&#x27;" not in mail.body

    def test_a_protected_key_is_disabled_all_the_same(self, send, enterprise, owner, make_key):
        key, secret = make_key(enterprise, protected=True)
        assert send([finding(secret)]).json()[0]["label"] == "true_positive"
        key.refresh_from_db()
        assert key.disabled and key.protected

    def test_a_free_workspaces_key_is_disabled(self, send, free, owner, make_key, mailoutbox):
        key, secret = make_key(free)
        assert send([finding(secret)]).json()[0]["label"] == "true_positive"
        key.refresh_from_db()
        assert key.disabled
        assert len(mailoutbox) == 1 and "Hobby" in mailoutbox[0].subject

    def test_a_disabled_key_stays_disabled(self, enterprise, owner, make_key):
        key, secret = make_key(enterprise, disabled=True)
        [outcome] = report([Finding(secret)], Actor(system="test"))
        assert (outcome.label, outcome.action, outcome.key) == ("true_positive", "already disabled", key)
        assert outcome.key.disabled
        [event] = leak_events(key)
        assert event.after == {"source": "", "url": ""}  # nothing changed but the news

    def test_a_rolled_key_in_its_grace_period_loses_the_grace_not_its_replacement(
        self, send, enterprise, owner, make_key, mailoutbox
    ):
        old, old_secret = make_key(enterprise)
        new, new_secret = roll_key(key=old, grace=timedelta(days=1))
        assert authenticate_key(old_secret, ip="127.0.0.1") == new  # the grace: the old secret works

        assert send([finding(old_secret)]).json()[0]["label"] == "true_positive"
        with pytest.raises(InvalidToken, match="rolled"):
            authenticate_key(old_secret, ip="127.0.0.1")
        assert authenticate_key(new_secret, ip="127.0.0.1") == new
        new.refresh_from_db()
        assert not new.disabled and new.state() == KeyState.ACTIVE
        old.refresh_from_db()
        assert old.grace_until <= timezone.now() and not old.disabled
        [event] = leak_events(old)
        assert set(event.after) == {"graceUntil", "source", "url"}
        assert leak_events(new) == []
        [mail] = mailoutbox
        assert old.prefix in mail.body and "grace period" in mail.body

    @pytest.mark.parametrize("death", ["revoked", "expired", "rolled"])
    def test_a_dead_key_is_a_true_positive_that_changes_nothing(self, send, enterprise, owner, make_key, death):
        key, secret = make_key(enterprise)
        if death == "revoked":
            api_key_revoke(key=key, actor=Actor())
        elif death == "expired":
            ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
        else:
            roll_key(key=key)  # no grace: the old secret died at once
        before = state(key)

        assert send([finding(secret)]).json()[0]["label"] == "true_positive"
        assert state(key) == before
        assert not ApiKey.objects.get(pk=key.pk).disabled
        [event] = leak_events(key)
        assert event.before == {} and event.after == {"source": "content", "url": FOUND_AT}

    def test_a_token_sent_twice_is_settled_once(self, send, enterprise, owner, make_key, mailoutbox):
        key, secret = make_key(enterprise)
        response = send([finding(secret), finding(secret, url="https://github.com/other")])
        assert [item["label"] for item in response.json()] == ["true_positive", "true_positive"]
        assert len(leak_events(key)) == 1 and len(mailoutbox) == 1


class TestFalsePositives:
    def test_unknown_wrong_and_malformed_tokens_change_nothing(self, send, enterprise, owner, make_key, mailoutbox):
        key, secret = make_key(enterprise)
        _, unknown = make_key(enterprise, name="other")
        ApiKey.objects.filter(key_id=unknown.split("_")[1]).delete()
        body = secret[:-6]
        wrong_secret = keyformat.new_key(key.key_id)
        malformed = [
            "sak_not_a_key",
            body + ("A" if secret[-6] != "A" else "B") + secret[-5:],  # bad checksum
            "ghp_" + "x" * 36,
            " " * 10,
        ]
        tokens = [unknown, wrong_secret, *malformed]
        response = send([finding(t) for t in tokens])

        assert response.status_code == 200
        assert response.json() == [
            {"token_raw": t, "token_type": "scoped_api_key", "label": "false_positive"} for t in tokens
        ]
        assert not ApiKey.objects.get(pk=key.pk).disabled
        assert leak_events() == [] and mailoutbox == []

    def test_a_mixed_report_is_answered_item_by_item(self, send, enterprise, owner, make_key):
        first, first_secret = make_key(enterprise, name="first")
        second, _ = make_key(enterprise, name="second")
        body = [
            finding("nope", type="other_type"),
            finding(first_secret),
            finding(keyformat.new_key(second.key_id)),
        ]
        answer = send(body).json()
        assert answer == [
            {"token_raw": "nope", "token_type": "other_type", "label": "false_positive"},
            {"token_raw": first_secret, "token_type": "scoped_api_key", "label": "true_positive"},
            {"token_raw": body[2]["token"], "token_type": "scoped_api_key", "label": "false_positive"},
        ]
        assert ApiKey.objects.get(pk=first.pk).disabled
        assert not ApiKey.objects.get(pk=second.pk).disabled

    def test_an_empty_report_is_an_empty_answer(self, send):
        response = send([])
        assert response.status_code == 200 and response.json() == []

    def test_url_and_source_may_be_left_out(self, send, enterprise, owner, make_key):
        key, secret = make_key(enterprise)
        assert send([{"token": secret, "type": "scoped_api_key"}]).json()[0]["label"] == "true_positive"
        assert leak_events(key)[0].after == {"disabled": True, "source": "", "url": ""}


class TestSignature:
    @pytest.fixture
    def victim(self, enterprise, owner, make_key):
        return make_key(enterprise)

    def assert_refused(self, response, status, type_, victim, mailoutbox):
        assert response.status_code == status, response.content
        error = response.json()["error"]
        assert error["type"] == type_ and error["message"] and error["hint"]
        assert not ApiKey.objects.get(pk=victim[0].pk).disabled
        assert leak_events() == [] and mailoutbox == []
        return error

    def test_a_bad_signature_is_refused(self, send, victim, github_key, mailoutbox):
        raw = json.dumps([finding(victim[1])]).encode()
        signed_other = sign(raw + b" ", github_key)
        headers = {"Github-Public-Key-Identifier": KEY_ID, "Github-Public-Key-Signature": signed_other}
        response = send(raw, headers=headers)
        self.assert_refused(response, 401, "invalid_signature", victim, mailoutbox)
        assert "Github-Public-Key-Signature" in response["WWW-Authenticate"]

    def test_a_signature_by_another_key_pair_is_refused(self, send, victim, mailoutbox):
        response = send([finding(victim[1])], signer=ec.generate_private_key(ec.SECP256R1()))
        error = self.assert_refused(response, 401, "invalid_signature", victim, mailoutbox)
        assert error["message"] == leaks.BAD_SIGNATURE

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Github-Public-Key-Identifier": KEY_ID},
            {"Github-Public-Key-Signature": "MEUCIQ=="},
        ],
    )
    def test_missing_headers_are_refused(self, send, victim, mailoutbox, headers):
        response = send([finding(victim[1])], headers=headers)
        error = self.assert_refused(response, 401, "invalid_signature", victim, mailoutbox)
        assert error["message"] == leaks.MISSING_HEADERS

    def test_an_unknown_key_identifier_is_refused(self, send, victim, github_key, mailoutbox):
        raw = json.dumps([finding(victim[1])]).encode()
        headers = {"Github-Public-Key-Identifier": "f" * 64, "Github-Public-Key-Signature": sign(raw, github_key)}
        error = self.assert_refused(send(raw, headers=headers), 401, "invalid_signature", victim, mailoutbox)
        assert error["message"] == leaks.UNKNOWN_KEY

    @pytest.mark.parametrize("signature", ["not base64!", "MEUCIQ", "x" * 1000, "é"])
    def test_a_signature_that_is_not_base64_is_refused(self, send, victim, mailoutbox, signature):
        headers = {"Github-Public-Key-Identifier": KEY_ID, "Github-Public-Key-Signature": signature}
        response = send([finding(victim[1])], headers=headers)
        self.assert_refused(response, 401, "invalid_signature", victim, mailoutbox)

    def test_without_a_keys_file_reports_are_refused(self, send, settings, victim, mailoutbox):
        settings.SECRET_SCANNING_KEYS_FILE = ""
        self.assert_refused(send([finding(victim[1])]), 503, "not_configured", victim, mailoutbox)

    @pytest.mark.parametrize(
        "content",
        [
            "not json",
            json.dumps({"keys": []}),
            json.dumps({"public_keys": []}),
            json.dumps({"public_keys": [{"key_identifier": KEY_ID, "key": "-----BEGIN PUBLIC KEY-----\nAAAA"}]}),
        ],
    )
    def test_an_unusable_keys_file_refuses_reports(self, send, keys_file, victim, mailoutbox, content):
        keys_file.write_text(content)
        self.assert_refused(send([finding(victim[1])]), 503, "not_configured", victim, mailoutbox)

    def test_a_missing_keys_file_refuses_reports(self, send, settings, tmp_path, victim, mailoutbox):
        settings.SECRET_SCANNING_KEYS_FILE = str(tmp_path / "absent.json")
        self.assert_refused(send([finding(victim[1])]), 503, "not_configured", victim, mailoutbox)

    def test_a_rewritten_keys_file_is_read_again(self, send, keys_file, victim, mailoutbox):
        assert send([]).status_code == 200
        rotated = ec.generate_private_key(ec.SECP256R1())
        entries = [{"key_identifier": "new", "key": pem(rotated), "is_current": True}]
        keys_file.write_text(json.dumps({"public_keys": entries}) + "\n" * 10)  # another size, whatever the clock
        assert send([]).status_code == 401  # the old key is gone
        raw = b"[]"
        headers = {"Github-Public-Key-Identifier": "new", "Github-Public-Key-Signature": sign(raw, rotated)}
        assert send(raw, headers=headers).status_code == 200

    def test_a_non_current_key_still_verifies(self, send, keys_file, github_key, victim):
        entries = [
            {"key_identifier": "current", "key": pem(ec.generate_private_key(ec.SECP256R1())), "is_current": True},
            {"key_identifier": KEY_ID, "key": pem(github_key), "is_current": False},
        ]
        keys_file.write_text(json.dumps({"public_keys": entries}))
        assert send([finding(victim[1])]).json()[0]["label"] == "true_positive"

    def test_no_csrf_token_and_no_session_are_needed(self, keys_file, github_key, victim):
        raw = json.dumps([finding(victim[1])]).encode()
        headers = {"Github-Public-Key-Identifier": KEY_ID, "Github-Public-Key-Signature": sign(raw, github_key)}
        response = Client(enforce_csrf_checks=True).post(
            URL, data=raw, content_type="application/json", headers=headers
        )
        assert response.status_code == 200
        assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies

    @pytest.mark.parametrize("method", ["get", "put", "delete"])
    def test_only_post_is_allowed(self, client, keys_file, method):
        response = getattr(client, method)(URL)
        assert response.status_code == 405
        assert response["Allow"] == "POST"
        assert response.json()["error"]["type"] == "method_not_allowed"


class TestBody:
    @pytest.fixture
    def victim(self, enterprise, owner, make_key):
        return make_key(enterprise)

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param(b'{"token": "x"}', id="not a list"),
            pytest.param(b'["sak_x"]', id="item not an object"),
            pytest.param(b'[{"type": "scoped_api_key", "url": "u", "source": "s"}]', id="no token"),
            pytest.param(b'[{"token": "x"}]', id="no type"),
            pytest.param(b'[{"token": 1, "type": "t"}]', id="token not a string"),
            pytest.param(b'[{"token": "", "type": "t"}]', id="empty token"),
            pytest.param(b'[{"token": "x", "type": "t", "url": null}]', id="url null"),
            pytest.param(b'[{"token": "x", "type": "t", "url": "a\\u0000b"}]', id="NUL in url"),
            pytest.param(b'[{"token": "x\\u0000", "type": "t"}]', id="NUL in token"),
            pytest.param(b'[{"token": "x", "type": "t", "source": "\\ud800"}]', id="lone surrogate in source"),
            pytest.param(b'[{"token": "\\udfff", "type": "t"}]', id="lone surrogate in token"),
            pytest.param(json.dumps([{"token": "x" * 257, "type": "t"}]).encode(), id="token too long"),
            pytest.param(json.dumps([{"token": "x", "type": "t", "url": "u" * 2049}]).encode(), id="url too long"),
            pytest.param(json.dumps([{"token": "x", "type": "t"}] * 1001).encode(), id="too many findings"),
            pytest.param(b"[{", id="not JSON"),
            pytest.param(b"\xff\xfe[]", id="not UTF-8"),
            pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested too deep"),
        ],
    )
    def test_a_malformed_body_is_refused_and_nothing_processed(self, send, victim, mailoutbox, body):
        if body.startswith(b"[{"):  # a true positive first: a refused body is refused whole
            body = b'[{"token": "%s", "type": "t"}, ' % victim[1].encode() + body[1:]
        response = send(body)
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert error["type"] in {"validation_error", "parse_error"} and error["message"] and error["hint"]
        assert victim[1] not in response.content.decode()
        assert not ApiKey.objects.get(pk=victim[0].pk).disabled
        assert leak_events() == [] and mailoutbox == []

    def test_an_oversized_body_is_refused(self, send, victim, mailoutbox):
        raw = json.dumps([finding(victim[1], url="u" * 2000)] * 600).encode()
        assert len(raw) > leaks.MAX_BODY_BYTES
        response = send(raw)
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "payload_too_large"
        assert not ApiKey.objects.get(pk=victim[0].pk).disabled and mailoutbox == []

    def test_a_full_report_is_accepted(self, send, victim):
        body = [finding(victim[1])] + [finding(f"token-{n}") for n in range(leaks.MAX_FINDINGS - 1)]
        answer = send(body).json()
        assert len(answer) == leaks.MAX_FINDINGS
        assert answer[0]["label"] == "true_positive"
        assert {item["label"] for item in answer[1:]} == {"false_positive"}


def test_no_secret_reaches_the_logs(send, enterprise, owner, make_key, caplog):
    key, secret = make_key(enterprise)
    _, other = make_key(enterprise, name="other")
    wrong = keyformat.new_key(key.key_id)
    with caplog.at_level(logging.DEBUG):
        send([finding(secret), finding(wrong), finding(other, url=f"https://example.com/?k={other}")])
        send([finding(secret)], signer=ec.generate_private_key(ec.SECP256R1()))
        send(json.dumps([{"token": secret, "type": 1}]).encode())
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert key.prefix in logged  # the reports were logged, by the public prefix
    for token in (secret, wrong, other):
        assert token not in logged
        assert token.split("_")[2][:10] not in logged
    [event] = leak_events(ApiKey.objects.get(key_id=other.split("_")[1]))
    assert event.after["url"] == f"https://example.com/?k={other.rsplit('_', 1)[0]}_[redacted]"


class TestReportDirectly:
    def test_an_operator_reports_a_key(
        self, enterprise, owner, make_key, mailoutbox, django_capture_on_commit_callbacks
    ):
        key, secret = make_key(enterprise)
        with django_capture_on_commit_callbacks(execute=True):
            outcomes = report([Finding(secret, url="slack #general", source="chat"), Finding("nope")], Actor.operator())
        assert [(o.label, o.action) for o in outcomes] == [("true_positive", "disabled"), ("false_positive", "")]
        assert outcomes[0].key == key and outcomes[0].key.disabled and outcomes[1].key is None
        assert outcomes[0].finding.url == "slack #general"
        [event] = leak_events(key)
        assert "operator" in event.actor_label
        assert event.after == {"disabled": True, "source": "chat", "url": "slack #general"}
        [mail] = mailoutbox
        assert "slack #general" in mail.body and "operator" in mail.body

    def test_no_mail_before_the_commit(
        self, enterprise, owner, make_key, mailoutbox, django_capture_on_commit_callbacks
    ):
        _, secret = make_key(enterprise)
        with django_capture_on_commit_callbacks() as callbacks:
            report([Finding(secret)], Actor.operator())
            assert mailoutbox == []
        assert len([c for c in callbacks if getattr(c, "func", None) is leaks.notify]) == 1 and mailoutbox == []

    def test_a_failing_mail_does_not_undo_the_disabling(
        self, enterprise, owner, make_key, monkeypatch, django_capture_on_commit_callbacks, caplog
    ):
        def no_mail_server(message, fail_silently=False):
            raise ConnectionRefusedError("no mail server")

        monkeypatch.setattr(EmailMessage, "send", no_mail_server)
        key, secret = make_key(enterprise)
        with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
            [outcome] = report([Finding(secret)], Actor.operator())
        assert outcome.action == "disabled" and ApiKey.objects.get(pk=key.pk).disabled
        assert any("on_commit" in r.getMessage() for r in caplog.records)

    def test_a_workspace_without_addresses_gets_no_mail(self, enterprise, make_key, mailoutbox, caplog):
        key, _ = make_key(enterprise)
        leaks.notify(key_pk=key.pk, action="disabled", url="", source="", reporter="test")
        assert mailoutbox == []
        assert "nobody to tell" in caplog.text
