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
