# Every ruleset is compiled into the engine once, in the master, before the fork.
import os

preload_app = True
bind = os.environ.get("BIND", "127.0.0.1:8080")
workers = int(os.environ.get("WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "4"))
timeout = 30
graceful_timeout = 10
max_requests = 0  # workers are stateless; no need to recycle them
accesslog = os.environ.get("ACCESS_LOG") or None
