class AuthConfigError(Exception):
    """The credentials configured cannot be used: the service must not start."""
