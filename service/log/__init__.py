"""Decision log: every decision answered, appended to a hash chain that
cannot be edited silently (see ``chain``), on SQLite or PostgreSQL (see ``db``)."""
from .chain import GENESIS, LogRecord, canonical, check_chain, record_hash
from .store import DEFAULT_PATH, DecisionLog, LogBusy, LogError, from_env, open_log

__all__ = ["GENESIS", "LogRecord", "canonical", "check_chain", "record_hash",
           "DEFAULT_PATH", "DecisionLog", "LogBusy", "LogError", "from_env", "open_log"]
