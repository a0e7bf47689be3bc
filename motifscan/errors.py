"""The one error type of motifscan.

Everything that is the user's fault (a bad file, a bad option, a kernel that cannot be
used) raises :class:`MotifscanError` with a one-line message that names the file, line,
column or option at fault. The command line prints that message and exits with status 2;
library users catch it like any other exception.
"""


class MotifscanError(ValueError):
    """A problem with the input or the options, described in one line."""

    def __init__(self, message: str):
        # One line by contract: the CLI prints it as it is.
        super().__init__(" ".join(str(message).split()))


class SignalTooShort(MotifscanError):
    """The signal has fewer samples than the kernel spans (a growing log may not yet)."""
