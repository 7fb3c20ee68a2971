"""The image search language: `*` matches every image, as the roboflow client documents."""

import pytest

from tests.factories import ImageFactory, ProjectFactory
from workspaces.models import Image
from workspaces.search import QueryError, apply, parse_query

pytestmark = pytest.mark.django_db


@pytest.fixture
def images(enterprise):
    project = ProjectFactory(workspace=enterprise, slug="shelf")
    return [ImageFactory(project=project, name=f"{n}.png", tags=["night"] if n else []) for n in range(3)]


def found(query: str) -> list[str]:
    return sorted(apply(Image.objects.all(), parse_query(query)).values_list("name", flat=True))


def test_a_star_alone_matches_every_image(images):
    assert found("*") == ["0.png", "1.png", "2.png"]


def test_a_star_combines_with_other_terms(images):
    assert found("* tag:night") == ["1.png", "2.png"]
    assert found("-*") == []


def test_a_star_inside_a_word_is_a_file_name_fragment(images):
    assert found("1*") == []
    with pytest.raises(QueryError):
        parse_query("tag:")
