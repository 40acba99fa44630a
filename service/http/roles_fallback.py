"""The one place the auditor's routes get their role check from.

``service/http/auth.py`` (issue 11) provides ``require_role(role)``; until it is
merged, every route decorated here stays open, as every route of the service was.
Delete this module and import ``from .auth import require_role`` once auth is in."""
from __future__ import annotations

import functools

try:
    from .auth import require_role  # noqa: F401  (the real check, where present)
except ImportError:
    def require_role(role: str):
        """No auth module: the route is left as it was (open)."""

        def decorate(view):
            @functools.wraps(view)
            def wrapped(*args, **kwargs):
                return view(*args, **kwargs)

            wrapped.required_role = role  # tests and the lead can see which role it wants
            return wrapped

        return decorate

AUDITOR = "auditor"
