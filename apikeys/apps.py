from django.apps import AppConfig


class ApikeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from workspaces import audit

        from . import schema  # noqa: F401 - registers the OpenAPI authentication extension
        from .services import record_data_change

        audit.subscribe(record_data_change)  # one log: what keys did to the data, with the keys' own events
        connect_record_versions()


def connect_record_versions() -> None:
    """Every change to what a workspace's keys may do (`lookup.changed`): a key saved or
    deleted, its folders, the workspace saved or deleted (its plan, its url), a folder deleted
    (the folders that keys are limited to). Projects moved between folders are not in a key's
    record: each request reads them."""
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from workspaces.models import Folder, Workspace

    from .lookup import changed
    from .models import ApiKey

    def key_changed(sender, instance, using, **kwargs):
        changed(instance.workspace_id, using)

    def workspace_changed(sender, instance, using, **kwargs):
        changed(instance.pk, using)

    def folders_changed(sender, instance, action, using, **kwargs):
        if action in ("post_add", "post_remove", "post_clear"):
            changed(instance.workspace_id, using)

    for signal in (post_save, post_delete):
        signal.connect(key_changed, sender=ApiKey, weak=False, dispatch_uid="keyrec-key")
        signal.connect(workspace_changed, sender=Workspace, weak=False, dispatch_uid="keyrec-workspace")
    post_delete.connect(key_changed, sender=Folder, weak=False, dispatch_uid="keyrec-folder")
    m2m_changed.connect(folders_changed, sender=ApiKey.folders.through, weak=False, dispatch_uid="keyrec-folders")
