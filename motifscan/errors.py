"""The one error type of motifscan.

Everything that is the user's fault (a bad file, a bad option, a kernel that cannot be
used) raises :class:`MotifscanError` with a one-line message that names the file, line,
column or parameter at fault. The command line prints that message and exits with status 2;
library users catch it like any other exception.
"""

from __future__ import annotations

import re


class MotifscanError(ValueError):
    """A problem with the input or the options, described in one line.

    Parameters
    ----------
    message : str
        What is wrong. Parameters are named as the Python API names them (``min_gap``).
    parameters : tuple of str
        The parameters the message names; the command line shows each as its option
        (``--min-gap``, see :meth:`command_line_message`).
    """

    def __init__(self, message: str, parameters: tuple[str, ...] = ()):
        # One line by contract: the CLI prints it as it is.
        super().__init__(" ".join(str(message).split()))
        self.parameters = tuple(parameters)

    def command_line_message(self) -> str:
        """The message with each named parameter spelled as its option (``--min-gap``): its
        first mention, where messages name it (later words such as "the kernel" are prose)."""
        message = str(self)
        for name in self.parameters:
            message = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", option_name(name), message, count=1)
        return message


def option_name(parameter: str) -> str:
    """The command-line option of a Python parameter: ``min_gap`` -> ``--min-gap``."""
    return "--" + parameter.replace("_", "-")


class SignalTooShort(MotifscanError):
    """The signal has fewer samples than the kernel spans (a growing log may not yet)."""
