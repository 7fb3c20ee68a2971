import re

import pytest

from core.errors import InvalidValue
from tests.factories import ProjectFactory
from web.demo import demo_png
from workspaces.models import Image
from workspaces.services import NOT_AN_IMAGE, image_create

pytestmark = pytest.mark.django_db


def test_image_dimensions_are_read_from_the_file():
    image, created = image_create(project=ProjectFactory(), data=demo_png("a", size=(40, 30)), name="a.png")
    assert created
    assert (image.width, image.height) == (40, 30)
    with image.file.open("rb") as stored:
        assert stored.read() == demo_png("a", size=(40, 30))


def test_the_same_bytes_twice_give_back_the_first_image():
    project = ProjectFactory()
    first, _ = image_create(project=project, data=demo_png("a"), name="a.png")
    again, created = image_create(project=project, data=demo_png("a"), name="renamed.png")
    assert not created
    assert again.pk == first.pk
    assert Image.objects.count() == 1


@pytest.mark.parametrize("data", [b"", b"not an image", demo_png("a")[:40]])
def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_kept(data, settings):
    with pytest.raises(InvalidValue, match=re.escape(NOT_AN_IMAGE)):
        image_create(project=ProjectFactory(), data=data, name="bad.png")
    assert Image.objects.count() == 0
    assert not (settings.MEDIA_ROOT / "images").exists()


def test_a_bad_split_leaves_no_file_behind(settings):
    with pytest.raises(InvalidValue):
        image_create(project=ProjectFactory(), data=demo_png("a"), name="a.png", split="holdout")
    assert Image.objects.count() == 0
    assert not (settings.MEDIA_ROOT / "images").exists()
