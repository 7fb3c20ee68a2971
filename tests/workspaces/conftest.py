"""A small world of projects, folders, images, a version and a model, for the resource API's tests."""

import pytest

from tests.factories import FolderFactory, ImageFactory, ModelFactory, ProjectFactory
from workspaces.services import version_generate


@pytest.fixture
def world(enterprise):
    retail = FolderFactory(workspace=enterprise, name="Retail")
    factory = FolderFactory(workspace=enterprise, name="Factory")
    shelf = ProjectFactory(workspace=enterprise, slug="shelf", name="Shelf", folder=retail, classes={"can": 3})
    line = ProjectFactory(workspace=enterprise, slug="line", name="Line", folder=factory)
    loose = ProjectFactory(workspace=enterprise, slug="loose", name="Loose")
    image = ImageFactory(project=shelf, tags=["a"], split="train")
    version = version_generate(project=shelf, settings={})  # version 1: this image alone
    ImageFactory(project=shelf, tags=["b"], split="valid", batch="nightly")
    model = ModelFactory(project=shelf, name="best", version=version)
    return {
        "retail": retail,
        "factory": factory,
        "shelf": shelf,
        "line": line,
        "loose": loose,
        "image": image,
        "model": model,
    }
