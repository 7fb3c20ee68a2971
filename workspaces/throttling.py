"""The account limits: failed log-ins, and mails sent to an address typed into a form."""

from django.conf import settings

from core.throttling import FixedWindow, Throttle, client_ip

LOGIN_THROTTLED = (
    "Too many failed log-in attempts for this account or from this address. Try again in {minutes} minutes."
)
ACCOUNT_MAIL_THROTTLED = "Too many requests for this email address or from yours. Try again in {minutes} minutes."


class LoginThrottle(Throttle):
    """Failed log-ins, limited per account and address together (`LOGIN_FAILURE_LIMIT`), per
    address (`LOGIN_IP_FAILURE_LIMIT`) and per account from anywhere
    (`LOGIN_ACCOUNT_FAILURE_LIMIT`, higher, so that nobody locks a user out from elsewhere
    with a handful of tries). Over any of them even the right password is refused until the
    window ends. An attempt whose password is right is taken back."""

    MESSAGE = LOGIN_THROTTLED

    def __init__(self, request, username: str | None):
        self.username = (username or "").strip().lower()
        self.ip = (client_ip(request) if request is not None else None) or "unknown"
        self.counters = [
            (FixedWindow(settings.LOGIN_FAILURE_LIMIT, "loginfail:pair"), f"{self.username}|{self.ip}"),
            (FixedWindow(settings.LOGIN_IP_FAILURE_LIMIT, "loginfail:ip"), self.ip),
            (FixedWindow(settings.LOGIN_ACCOUNT_FAILURE_LIMIT, "loginfail:account"), self.username),
        ]


class AccountMailThrottle(Throttle):
    """Requests that mail an address typed into a form (sign-up, password reset): per address
    typed (`ACCOUNT_MAIL_LIMIT`, so nobody floods an inbox) and per requesting address
    (`ACCOUNT_MAIL_IP_LIMIT`, so nobody sweeps addresses). Every request counts, whether or not
    the address has an account, so the limit itself tells nothing about accounts either."""

    MESSAGE = ACCOUNT_MAIL_THROTTLED

    def __init__(self, request, email: str | None):
        self.email = (email or "").strip().lower()
        self.ip = (client_ip(request) if request is not None else None) or "unknown"
        self.counters = [
            (FixedWindow(settings.ACCOUNT_MAIL_LIMIT, "accountmail:email"), self.email),
            (FixedWindow(settings.ACCOUNT_MAIL_IP_LIMIT, "accountmail:ip"), self.ip),
        ]
