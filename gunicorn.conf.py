# Every ruleset is compiled into the engine once, in the master, before the fork.
#
# Slow clients: gthread waits for a new connection's first bytes (5 s at most)
# before it hands the connection to a thread, and the application cuts a body that
# has not arrived in RAC_BODY_TIMEOUT seconds (service/http/deadline.py: a 408,
# the connection closed). So a client that announces a body and trickles it holds
# a thread for seconds, not for as long as it likes; threads are plenty (they wait
# on sockets, the GIL serialises the engine anyway) so that a handful of such
# clients leave the others served: 32 threads, so that even all 16 slow clients
# of the test landing on one worker leave it threads for the others. Behind a buffering proxy (nginx's default
# proxy_request_buffering on) none of this is reached.
import os

preload_app = True
bind = os.environ.get("BIND", "127.0.0.1:8080")
workers = int(os.environ.get("WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "32"))
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "256"))  # connections a worker holds at once
keepalive = 2
timeout = 30  # a worker silent this long (a request stuck in the engine) is killed and replaced
graceful_timeout = 10
# the request head: bounded before any of it reaches the application
limit_request_line = 4096
limit_request_fields = 50
limit_request_field_size = 8190
max_requests = 0  # workers are stateless; no need to recycle them
accesslog = os.environ.get("ACCESS_LOG") or None

# -- logs: every line JSON (service/jsonlog.py); the application writes one access line per
# request (route template, request id, caller), so gunicorn's own access log stays off unless
# ACCESS_LOG names a file ("-": stdout), and is JSON then too
logger_class = "service.jsonlog.GunicornLogger"


# -- metrics: prometheus_client's multiprocess mode keeps each worker's counters in files of
# PROMETHEUS_MULTIPROC_DIR, which must be set before the application (so prometheus_client) is
# imported: here, in the master, before preload_app loads it. Unset: a directory of this start's
# own, removed when the master exits. Set: one directory per instance, emptied at start, since
# files left by an earlier start would be added to this one's counts.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_STARTED_BY = "GX_RULES_METRICS_STARTED_BY"  # this master's pid: a reload (HUP) rereads this file


def _metrics_dir() -> tuple[str, bool]:
    """(the directory, whether this start made it)."""
    import tempfile

    if os.environ.get(_STARTED_BY) == str(os.getpid()):
        return os.environ[METRICS_DIR_ENV], os.environ.get(_STARTED_BY + "_MADE") == "1"
    os.environ[_STARTED_BY] = str(os.getpid())
    given = os.environ.get(METRICS_DIR_ENV)
    if not given:
        made = tempfile.mkdtemp(prefix="gx-rules-metrics-")
        os.environ[METRICS_DIR_ENV] = made
        os.environ[_STARTED_BY + "_MADE"] = "1"
        return made, True
    os.makedirs(given, exist_ok=True)
    for name in os.listdir(given):
        if name.endswith(".db"):
            os.remove(os.path.join(given, name))
    return given, False


metrics_dir, _metrics_dir_made = _metrics_dir()


def child_exit(server, worker):
    """A worker is gone: its live gauges go with it (its counters stay in the sums)."""
    from service.metrics import worker_exited

    worker_exited(worker.pid)


def on_exit(server):
    if _metrics_dir_made:
        import shutil

        shutil.rmtree(metrics_dir, ignore_errors=True)


# -- control socket (gunicorn >= 25.1, gunicornc): its default path is one per user
# ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl), and a master removes
# whatever socket is at its path when it starts and when it stops, so two instances of
# one user took each other's. One path per bound address instead (two instances cannot
# bind the same one); RAC_CONTROL_SOCKET names another path, or "off".
def _control_socket(bind_address: str) -> str | None:
    import re
    import tempfile

    named = os.environ.get("RAC_CONTROL_SOCKET", "").strip()
    if named == "off":
        return None
    if named:
        return named
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = runtime if runtime and os.path.isdir(runtime) else os.path.join(tempfile.gettempdir(), f"gx-rules-{os.getuid()}")
    return os.path.join(folder, "gx-rules-" + re.sub(r"[^A-Za-z0-9.-]", "_", bind_address) + ".ctl")


_socket = _control_socket(bind)
if _socket is None:
    control_socket_disable = True
else:
    control_socket = _socket
