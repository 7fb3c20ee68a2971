"""Who acts, for the services and the audit log: a signed-in user, an API key, or neither (an
operator's command on the shell). Every service that changes something takes one."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.throttling import client_ip

if TYPE_CHECKING:  # for the types only: the tenancy core never imports the key domain
    from django.contrib.auth.models import User  # the type of AUTH_USER_MODEL

    from apikeys.models import ApiKey


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, a key over the API, or neither (an operator's command).
    `ip` is for the audit log."""

    user: "User | None" = None
    key: "ApiKey | None" = None
    ip: str | None = None
    system: str | None = None  # neither: who runs the command (an OS user), or what did it

    @property
    def label(self) -> str:
        if self.key is not None:
            return f"API key {self.key.name} ({self.key.prefix})"
        if self.user is not None:
            return self.user.get_username()
        return f"system ({self.system})" if self.system else "system"

    @classmethod
    def operator(cls) -> "Actor":
        """An operator on the shell (a management command), named by the OS account the
        process runs as (its real user id, not $USER, which anyone can set), and by whoever
        ran sudo to get there."""
        import os
        import pwd

        try:
            name = pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            name = f"uid {os.getuid()}"
        via = os.environ.get("SUDO_USER", "")[:64]
        return cls(system=f"operator {name}{f' (sudo from {via})' if via else ''} on the shell")

    @classmethod
    def from_request(cls, request) -> "Actor":
        # A request's `auth` is the key it was made with (the key authentications are the only
        # ones that set it); a signed-in user's session sets none.
        key = getattr(request, "auth", None)
        user = request.user if key is None and request.user and request.user.is_authenticated else None
        return cls(user=user, key=key, ip=client_ip(request))
