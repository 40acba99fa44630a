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
