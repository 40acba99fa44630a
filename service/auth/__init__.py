"""Who may ask: bearer credentials (API keys, JWTs), the roles they carry, and
which role each request needs. Flask-free; service/http/auth.py applies it.

Configured from the environment (``Authenticator.from_env``); with nothing
configured the service is open, which ``startup.check_start`` allows only on a
loopback address unless ``RAC_ALLOW_OPEN=1``.
"""
from .config import Authenticator, Credential, Refused
from .errors import AuthConfigError
from .policy import ADMIN, AUDITOR, ROLES, SUBMITTER, required_role

__all__ = ["ADMIN", "AUDITOR", "ROLES", "SUBMITTER", "AuthConfigError", "Authenticator", "Credential", "Refused",
           "required_role"]
