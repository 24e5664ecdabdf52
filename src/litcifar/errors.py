"""Exceptions for bad user input, which the CLI reports as one line instead of a traceback."""


class InvalidSettingError(ValueError):
    """Raised when a setting is outside its valid range; the message names the value and the range."""
