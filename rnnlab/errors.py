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


def flag_name(field: str) -> str:
    """The flag that sets a config field: ``final_lr_ratio`` -> ``--final-lr-ratio``."""
    return "--" + field.replace("_", "-")


class ConfigError(UserError):
    """A value that cannot work; the message starts with the flag of the field that holds it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{flag_name(field)}: {reason}")
        self.field = field  # readers of config.json name the field instead of the flag
        self.reason = reason
