import pytest
from hypothesis import given
from hypothesis import strategies as st

from apikeys import scopes
from apikeys.scopes import PRESETS, SCOPE_NAMES, UnknownScope, expand, grant_excess


def test_every_scope_of_the_spec_is_registered():
    assert set(SCOPE_NAMES) == {
        "workspace:read",
        *(f"project:{a}" for a in ["create", "read", "update"]),
        *(f"folder:{a}" for a in ["create", "read", "update", "delete"]),
        *(f"image:{a}" for a in ["create", "read", "tag", "annotate", "delete"]),
        *(f"version:{a}" for a in ["create", "read", "update"]),
        "model:deploy",
        "model:manage",
        "usage:read",  # not in SPEC 4's table: the usage report (issue 12) needed a scope of its own
        *(f"api-key:{a}" for a in ["read", "create", "update", "revoke"]),
    }
    assert all(s.label and s.description for s in scopes.SCOPES)


def test_presets_expand_to_the_leaves_of_the_spec():
    assert expand(["role:uploader"]) == ["workspace:read", "project:read", "image:create", "image:read"]
    assert expand(["role:labeler"]) == ["workspace:read", "project:read", "image:read", "image:tag", "image:annotate"]
    assert expand(["role:key-admin"]) == ["api-key:read", "api-key:create", "api-key:update", "api-key:revoke"]
    read_only = expand(["role:read-only"])
    assert "api-key:read" not in read_only
    assert all(s.endswith(":read") for s in read_only)
    assert "image:read" in read_only
    developer = expand(["role:developer"])
    assert not any(s.startswith("api-key:") for s in developer)
    assert len(developer) == len(SCOPE_NAMES) - 4


def test_a_section_name_means_all_its_scopes_and_duplicates_fold():
    assert expand(["image", "image:read"]) == [n for n in SCOPE_NAMES if n.startswith("image:")]


def test_unknown_scopes_are_named():
    with pytest.raises(UnknownScope) as exc:
        expand(["image:read", "image:fly", "role:god"])
    assert exc.value.names == ["image:fly", "role:god"]
    assert "'image:fly'" in str(exc.value)


def test_holds():
    assert scopes.holds(None, "image:delete")
    assert scopes.holds(["image:read"], "image:read")
    assert not scopes.holds(["image:read"], "image:delete")
    assert not scopes.holds([], "image:read")
    assert scopes.holds([], scopes.ANY_KEY)


def test_grant_rules():
    assert grant_excess(grantor_scopes=None, grantor_folders=None, scopes=None, folders=None) is None
    assert "full access" in grant_excess(grantor_scopes=["image:read"], grantor_folders=None, scopes=None, folders=None)
    assert "image:delete" in grant_excess(
        grantor_scopes=["image:read"], grantor_folders=None, scopes=["image:delete"], folders=None
    )
    assert "workspace-wide" in grant_excess(grantor_scopes=None, grantor_folders=[1], scopes=[], folders=None)
    assert "folder 2" in grant_excess(grantor_scopes=None, grantor_folders=[1], scopes=[], folders=[1, 2])
    assert grant_excess(grantor_scopes=None, grantor_folders=[1, 2], scopes=[], folders=[2]) is None
    # A key whose every folder was deleted is limited to nothing, and grants nothing wider.
    assert grant_excess(grantor_scopes=None, grantor_folders=[], scopes=[], folders=[]) is None
    assert grant_excess(grantor_scopes=None, grantor_folders=[], scopes=[], folders=[1]) is not None


scope_lists = st.one_of(st.none(), st.lists(st.sampled_from(SCOPE_NAMES), unique=True))
# None: workspace-wide; a set (possibly empty): limited to those folders.
folder_sets = st.one_of(st.none(), st.sets(st.integers(min_value=1, max_value=6), max_size=4))


def covers(outer_scopes, outer_folders, inner_scopes, inner_folders) -> bool:
    """Whether holding (outer) gives every ability of (inner): the definition, written independently."""
    reach = lambda folders: set(range(1, 7)) if folders is None else set(folders)  # noqa: E731
    scopes_ok = outer_scopes is None or (inner_scopes is not None and set(inner_scopes) <= set(outer_scopes))
    wide_ok = outer_folders is None or inner_folders is not None
    return scopes_ok and wide_ok and reach(inner_folders) <= reach(outer_folders)


@given(scope_lists, folder_sets, scope_lists, folder_sets)
def test_no_grant_ever_exceeds_its_grantor(grantor_scopes, grantor_folders, requested, folders):
    allowed = (
        grant_excess(grantor_scopes=grantor_scopes, grantor_folders=grantor_folders, scopes=requested, folders=folders)
        is None
    )
    assert allowed == covers(grantor_scopes, grantor_folders, requested, folders)


@given(st.lists(st.sampled_from([*SCOPE_NAMES, *PRESETS, *scopes.SECTIONS]), max_size=8))
def test_expansion_gives_registered_leaves_only(words):
    leaves = expand(words)
    assert set(leaves) <= set(SCOPE_NAMES)
    assert len(leaves) == len(set(leaves))
    assert expand(leaves) == leaves


class TestSplittingAScope:
    """`version:export` split out of `version:read` (declared `granted_by=("version:read",)`):
    keys that held `version:read` keep exporting, with no data migration, and every rule
    counts the scope they hold."""

    @pytest.fixture
    def split(self, monkeypatch):
        from web.api.versions import VersionViewSet

        export = scopes.Scope("version:export", "Export versions", "Export dataset zips.", ("version:read",))
        registry = (*scopes.SCOPES, export)
        monkeypatch.setattr(scopes, "SCOPES", registry)
        monkeypatch.setattr(scopes, "SCOPE_NAMES", tuple(s.name for s in registry))
        monkeypatch.setattr(scopes, "BY_NAME", {s.name: s for s in registry})
        monkeypatch.setattr(scopes, "GRANTED_BY", {"version:export": ("version:read",)})
        grouped = tuple(
            (name, label, tuple(s for s in registry if s.section == name)) for name, label, _ in scopes.SECTION_SCOPES
        )
        monkeypatch.setattr(scopes, "SECTION_SCOPES", grouped)
        monkeypatch.setitem(VersionViewSet.required_scopes, "export", "version:export")
        return export

    def test_the_old_scope_still_grants_the_new_one(self, split):
        assert scopes.satisfying(["version:read"], "version:export") == "version:read"
        assert scopes.satisfying(["version:export"], "version:export") == "version:export"
        assert scopes.satisfying(None, "version:export") == "version:export"
        assert scopes.satisfying(["project:read"], "version:export") is None
        assert not scopes.holds(["version:export"], "version:read")  # it grants nothing back

    def test_a_key_may_grant_what_its_old_scope_now_implies(self, split):
        grant = {"grantor_folders": None, "folders": None, "scopes": ["version:export"]}
        assert scopes.grant_excess(grantor_scopes=["version:read"], **grant) is None
        assert "version:export" in scopes.grant_excess(grantor_scopes=["project:read"], **grant)

    def test_the_summary_says_what_the_key_can_do(self, split):
        assert scopes.summary(["version:read"]) == "Versions: read, export"

    @pytest.mark.django_db
    def test_an_existing_key_keeps_exporting_and_its_use_counts_for_what_it_holds(
        self, split, client, enterprise, make_key
    ):
        from apikeys import usage
        from apikeys.models import KeyUsage
        from tests.factories import ProjectFactory, VersionFactory

        project = ProjectFactory(workspace=enterprise, slug="shelf")
        VersionFactory(project=project, number=1)
        reader, secret = make_key(enterprise, scopes=["version:read"])
        _, other = make_key(enterprise, name="Other", scopes=["project:read"])
        path = "/acme/shelf/1/coco"
        assert client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
        refused = client.get(path, HTTP_AUTHORIZATION=f"Bearer {other}")
        assert refused.status_code == 403
        assert refused.json()["error"]["scope"] == "version:export"
        usage.flush()
        used = set(KeyUsage.objects.filter(api_key=reader).values_list("scope", flat=True))
        assert used == {usage.TOTAL, "version:read"}
