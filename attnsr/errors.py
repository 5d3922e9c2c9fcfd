"""The toolkit's error types. Each message is one line naming the offending file, key or shape."""


class AttnsrError(Exception):
    """Base of every error caused by user input (bad file, bad key, bad config); the CLI prints it in one
    line and exits with status 2."""


class CheckpointError(AttnsrError, ValueError):
    """A checkpoint that cannot be read safely or does not fit the network."""


class ImageError(AttnsrError, ValueError):
    """An image that cannot be read or written (missing, empty, truncated, too large, unsupported)."""


class ConfigError(AttnsrError, ValueError):
    """A configuration with an unknown key, a wrong type or an invalid value."""
