"""The one family of errors that services raise. Each carries what the API's error envelope
needs (`status`, `type`, the `field` it is about, a `hint`); the API maps them in one handler
(`core.exceptions`), the pages show their message, the commands print it."""


class ServiceError(Exception):
    status = 400
    type = "invalid_request"
    hint = ""

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if hint is not None:
            self.hint = hint

    def details(self) -> dict:
        """What the envelope carries beyond the message, type, hint and field."""
        return {}


class InvalidValue(ServiceError):
    """What was asked for cannot be: a name in a bad shape, a version that does not exist."""

    type = "validation_error"


class NotFound(ServiceError):
    status = 404
    type = "not_found"


class Conflict(ServiceError):
    """The request clashes with the current state: a name in use, a protected or rolled key."""

    status = 409
    type = "conflict"


class Forbidden(ServiceError):
    status = 403
    type = "forbidden"


class PlanRequired(Forbidden):
    type = "plan_required"
    hint = "Operators change a workspace's plan in the admin; downgraded keys keep their restrictions."


class PrivilegeExceeded(Forbidden):
    type = "privilege_exceeded"
    hint = "A key can grant only the scopes, folders, IP addresses and lifetime it holds itself."


class PolicyViolation(Forbidden):
    """The workspace's key policy forbids it; `rule` names the rule (`apikeys.policy.RULES`)."""

    type = "policy_violation"
    hint = "The workspace's owners set its key policy in Settings → API Keys → Policy."

    def __init__(self, message: str, *, rule: str):
        super().__init__(message)
        self.rule = rule

    def details(self) -> dict:
        return {"rule": self.rule}
