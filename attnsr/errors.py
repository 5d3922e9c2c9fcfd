"""The toolkit's error types. Each message is one line naming the offending file, key or shape."""


class AttnsrError(Exception):
    """Base of every error caused by user input (bad file, bad key, bad config); the CLI prints it in one
    line and exits with status 2."""


class AttnsrWarning(UserWarning):
    """Something the user should know that does not stop the work (e.g. tiles that change a model's
    output); the command-line tools print it as one line."""


class CheckpointError(AttnsrError, ValueError):
    """A checkpoint that cannot be read safely or does not fit the network."""


class ImageError(AttnsrError, ValueError):
    """An image that cannot be read or written (missing, empty, truncated, too large, unsupported)."""


class ConfigError(AttnsrError, ValueError):
    """A configuration with an unknown key, a wrong type or an invalid value."""


class UnknownNetworkError(ConfigError, KeyError):
    """A network name the registry does not know; the message lists the known ones. Also a KeyError, as
    for any failed look-up."""

    __str__ = Exception.__str__  # the message as written (KeyError would quote it)


class UnknownKeyError(ConfigError, TypeError):
    """Config keys a config class does not have; the message lists the valid ones. Also a TypeError, as for
    an unexpected keyword argument."""


class LimitError(AttnsrError, ValueError):
    """An input over a configured limit (upload bytes, image pixels). ``limit`` names the setting and
    ``value`` is its configured number, so a server can report both."""

    def __init__(self, message: str, *, limit: str, value: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value


class ServiceError(AttnsrError):
    """A request a server cannot serve (unknown job, full queue, result not ready); ``status`` is the HTTP
    status that answers it and ``retry_after`` (seconds) is set when trying later may succeed."""

    def __init__(self, message: str, *, status: int, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
