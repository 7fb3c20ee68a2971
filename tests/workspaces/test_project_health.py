"""A project's health answers for any classes a project can hold, a count of 0 among them."""

import pytest

from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_a_class_counted_zero_has_no_imbalance_ratio(client, enterprise, make_key):
    project = ProjectFactory(workspace=enterprise, slug="cats")
    _, secret = make_key(enterprise)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.patch("/acme/cats", {"classes": {"cat": 3, "dog": 0}}, "application/json", **auth).status_code == 200

    response = client.get(f"/acme/{project.slug}/health", **auth)

    assert response.status_code == 200
    balance = response.json()["health"]["classBalance"]
    assert balance["mostCommon"] == {"label": "cat", "count": 3}
    assert balance["leastCommon"] == {"label": "dog", "count": 0}
    assert balance["imbalanceRatio"] is None
