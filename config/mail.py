"""Mail printed on the console, for development (`make run`), as a person reads it."""

from django.core.mail.backends.console import EmailBackend


class ReadableConsoleBackend(EmailBackend):
    """Django's console backend prints a mail's MIME source, where quoted-printable folds every
    line longer than 76 characters with a trailing `=`: a sign-up or reset link cannot be
    followed as printed. This prints the headers a person reads and the text itself."""

    def write_message(self, message):
        headers = [f"Subject: {message.subject}", f"From: {message.from_email}", f"To: {', '.join(message.to)}"]
        self.stream.write("\n".join([*headers, "", message.body.rstrip("\n"), "-" * 79, ""]))
