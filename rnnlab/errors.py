"""Errors a user can cause: the CLI turns them into one line on stderr and exit code 2, never a traceback."""

CTRL_C = "by SIGINT (Ctrl-C)"


class UserError(Exception):
    """A mistake in what the user asked for (a flag, a file, a device); the message says what to do."""

    label = "error"  # the word after `rnnlab:`
    exit_code = 2


class Stopped(UserError):
    """The user stopped the command (Ctrl-C, SIGTERM): not an error, so it says `stopped`."""

    label = "stopped"
    exit_code = 130


class ConfigError(UserError):
    """A flag value that cannot work; the message starts with the flag's name."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"{flag}: {message}")
        self.flag = flag
