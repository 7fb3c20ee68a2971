"""The README's API snippets run as written, against a live server (the reader pastes them)."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from apikeys.models import ApiKey

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def api_snippet() -> str:
    """The shell block that starts by taking the demo's key, without that first line."""
    block = re.search(r"```sh\n(KEY=\$\(.*?\n)(.*?)```", README, re.S)
    assert block is not None, "the README's API snippet is gone"
    return block[2]


def test_the_api_snippet_creates_changes_rolls_and_revokes_the_key_it_made(live_server, enterprise, make_key):
    _, key = make_key(enterprise, name="admin")
    script = api_snippet().replace("API=http://127.0.0.1:8000", f"API={live_server.url}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**os.environ, "KEY": key},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert '"error"' not in result.stdout, result.stdout
    made = ApiKey.objects.filter(name="CI uploader").order_by("pk")
    old, replacement = list(made)
    assert old.rolled_at is not None and old.revoked_at is None  # in its grace period
    assert replacement.revoked_at is not None  # the revoke reached the key that roll answered
    assert replacement.scopes == ["image:read"]
