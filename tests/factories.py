import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from web.demo import demo_png
from workspaces import models

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.SelfAttribute("email")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    url = factory.Sequence(lambda n: f"workspace-{n}")
    plan = models.Plan.FREE


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Membership

    user = factory.SubFactory(UserFactory)
    workspace = factory.SubFactory(WorkspaceFactory)
    role = models.Role.MEMBER


class FolderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Folder

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Folder {n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Project

    workspace = factory.SubFactory(WorkspaceFactory)
    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.Sequence(lambda n: f"Project {n}")
    type = models.ProjectType.OBJECT_DETECTION
    annotation = "things"


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Image

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"image-{n}.png")
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    width = 64
    height = 48
    file = factory.LazyAttribute(lambda o: ContentFile(demo_png(o.sha256), name=f"{o.sha256}.png"))


class VersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Version

    project = factory.SubFactory(ProjectFactory)
    number = factory.Sequence(lambda n: n + 1)
    state = models.Work.READY  # (a version of no images, made whole)
    progress = 1.0


class ModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Model

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"model-{n}")
    type = "yolov8n"
    weights = factory.LazyFunction(lambda: ContentFile(b"\x00weights", name="weights.bin"))
