"""The resource API's answers are rendered by the serializers the schema documents
(`web.api.base.respond`), so an answer cannot lack a documented field or carry an undocumented
one; the two serializers that build their shape by hand, for speed, are held to their fields."""

import pytest
from rest_framework import serializers

from core.responses import respond
from tests.factories import ImageFactory, ProjectFactory
from web.api.serializers import ProjectSerializer, VersionSerializer
from workspaces import services
from workspaces.selectors import counted_projects, project_versions

pytestmark = pytest.mark.django_db


class Shape(serializers.Serializer):
    id = serializers.CharField()
    count = serializers.IntegerField()
    note = serializers.CharField(required=False)


def test_an_answer_carries_exactly_its_documented_fields():
    assert respond(Shape, {"id": 7, "count": "3", "secret": "x"}).data == {"id": "7", "count": 3}
    assert respond(Shape, {"id": "a", "count": 1, "note": "n"}, status=201).status_code == 201


def test_an_answer_missing_a_documented_field_fails_loudly():
    with pytest.raises(KeyError):
        respond(Shape, {"id": "a"})


def test_the_hand_built_project_and_version_shapes_are_their_declared_fields(enterprise):
    project = ProjectFactory(workspace=enterprise)
    ImageFactory(project=project)
    version = services.version_generate(project=project, settings={})
    [counted] = counted_projects(enterprise.pk, None, project.slug)
    [listed] = project_versions(project.pk, version.number)
    listed.project = counted
    assert set(ProjectSerializer(counted).data) == set(ProjectSerializer().fields)
    assert set(VersionSerializer(listed).data) == set(VersionSerializer().fields)
