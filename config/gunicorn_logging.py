"""gunicorn's logger, with every access and error line redacted like the app's own."""

from gunicorn.glogging import Logger

from core.redaction import RedactSecrets, redact


class RedactingLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactSecrets) for f in log.filters):
                log.addFilter(RedactSecrets())

    def atoms(self, resp, req, environ, request_time):
        # The atoms feed any access_log_format, so redact each one, not only the path.
        return {
            k: redact(v) if isinstance(v, str) else v
            for k, v in super().atoms(resp, req, environ, request_time).items()
        }
