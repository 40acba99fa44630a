"""The hostile inputs against a real gunicorn (gunicorn.conf.py, one worker, loopback):
each answered 4xx, the chunked and over-limit bodies refused whole, and the worker's
RSS back within 10% of where it was before the inputs."""
from __future__ import annotations

import json
import socket
import time

import pytest

from service.validate import limits
from tests.hostile.figures import record
from tests.hostile.inputs import INPUTS, JSON, case, dumps

RSS_BOUND = 1.10


def exchange(port: int, head: str, chunks: list[bytes]) -> tuple[int, dict, bytes, float]:
    """Send a request (head, then the body chunks as given), read the whole answer."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head.encode("latin-1"))
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before the whole body was sent: the answer is still there to read
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
    seconds = time.perf_counter() - started
    head_bytes, _, body = answer.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body, seconds


def with_length(port: int, body: bytes, content_type: str = JSON):
    head = (f"POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return exchange(port, head, [body])


def chunked(port: int, pieces: list[bytes], extra_header: str = ""):
    head = (f"POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {JSON}\r\n"
            f"Transfer-Encoding: chunked\r\n{extra_header}Connection: close\r\n\r\n")
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces if piece] + [b"0\r\n\r\n"]
    return exchange(port, head, chunks)


def split(body: bytes, size: int = 60_000) -> list[bytes]:
    return [body[i:i + size] for i in range(0, len(body), size)]


def padded_then_garbage() -> bytes:
    """Valid JSON up to the limit (a case, then whitespace), garbage past it: invalid as a whole."""
    valid = dumps(case())
    return valid + b" " * (limits.DEFAULT_MAX_BODY - len(valid)) + b"garbage past the limit"


CHUNKED = [
    ("chunked: valid JSON, padding, garbage past the limit", split(padded_then_garbage()), 413),
    ("chunked: 3 MB", split(b'{"case_id": "' + b"x" * 3_000_000 + b'"}'), 413),
    ("chunked: one byte over the limit", split(b" " * (limits.DEFAULT_MAX_BODY + 1)), 413),
]


@pytest.fixture(scope="module")
def baseline(gunicorn):
    """The worker's RSS once it has answered a valid case and every input once (allocator warm-up)."""
    assert with_length(gunicorn.port, dumps(case()))[0] == 200
    for _, body, content_type, _ in INPUTS:
        with_length(gunicorn.port, body, content_type)
    for _, pieces, _ in CHUNKED:
        chunked(gunicorn.port, pieces)
    return gunicorn.rss_kib()


def check_rss(gunicorn, baseline: int, name: str, seconds: float, status: int) -> None:
    after = gunicorn.rss_kib()
    record("gunicorn", name, seconds, f"{status}; RSS {baseline:,} → {after:,} KiB ({after / baseline - 1:+.1%})")
    assert after <= baseline * RSS_BOUND, f"{name}: worker RSS {baseline} KiB → {after} KiB"


def test_a_valid_case_decides_with_a_length_and_chunked(gunicorn):
    body = dumps(case())
    assert with_length(gunicorn.port, body)[0] == 200
    status, headers, answer, _ = chunked(gunicorn.port, [body[:100], body[100:]])
    assert status == 200, answer
    assert json.loads(answer)["outcomes"]


def test_a_body_of_exactly_the_limit_is_read_whole(gunicorn):
    valid = dumps(case())
    body = valid + b" " * (limits.DEFAULT_MAX_BODY - len(valid))
    assert chunked(gunicorn.port, split(body))[0] == 200
    assert with_length(gunicorn.port, body)[0] == 200


@pytest.mark.parametrize("name, body, content_type, status", INPUTS, ids=[i[0] for i in INPUTS])
def test_each_hostile_input_with_a_length(gunicorn, baseline, name, body, content_type, status):
    answer_status, headers, answer, seconds = with_length(gunicorn.port, body, content_type)
    assert answer_status == status, answer[:300]
    assert headers["content-type"] == "application/problem+json"
    check_rss(gunicorn, baseline, name, seconds, answer_status)


@pytest.mark.parametrize("name, pieces, status", CHUNKED, ids=[c[0] for c in CHUNKED])
def test_each_chunked_body_over_the_limit_is_a_413(gunicorn, baseline, name, pieces, status):
    answer_status, headers, answer, seconds = chunked(gunicorn.port, pieces)
    assert answer_status == status, answer[:300]
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(answer)["type"].endswith("/too-large")
    check_rss(gunicorn, baseline, name, seconds, answer_status)


def test_chunked_hostile_inputs_are_refused_as_with_a_length(gunicorn, baseline):
    for name, body, content_type, status in INPUTS:
        if content_type != JSON:
            continue
        answer_status, headers, _, seconds = chunked(gunicorn.port, split(body))
        assert answer_status == status, name
        assert headers["content-type"] == "application/problem+json"
        check_rss(gunicorn, baseline, f"chunked: {name}", seconds, answer_status)


def test_both_a_length_and_chunked_is_refused_by_gunicorn(gunicorn):
    """Refused before the application sees it (request smuggling): gunicorn's own HTML 400 remains."""
    body = dumps(case())
    status, headers, _, seconds = chunked(gunicorn.port, [body], extra_header=f"Content-Length: {len(body)}\r\n")
    record("gunicorn", "Content-Length and chunked", seconds, f"{status} {headers.get('content-type')}")
    assert status == 400
