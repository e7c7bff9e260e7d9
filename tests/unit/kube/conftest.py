"""A loopback HTTP endpoint for the transport tests: it answers as told and records what it received."""

from __future__ import annotations

import socket
import threading

import pytest


@pytest.fixture
def serve():
    """serve(answers): for each connection, None closes it unanswered, else sends (status, body[, extra header
    lines]). Returns the endpoint's URL and the requests seen as (request line, header lines)."""
    listeners = []

    def start(answers):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listeners.append(listener)
        seen = []

        def run():
            for answer in answers:
                conn, _addr = listener.accept()
                head = conn.recv(65536).split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
                seen.append((head[0], head[1:]))
                if answer is not None:
                    status, body = answer[:2]
                    extra = "".join(line + "\r\n" for line in (answer[2] if len(answer) > 2 else ())).encode()
                    conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s"
                                 b"Connection: close\r\n\r\n%s" % (status, len(body), extra, body))
                conn.close()

        threading.Thread(target=run, daemon=True).start()
        return "http://127.0.0.1:%d" % listener.getsockname()[1], seen

    yield start
    for listener in listeners:
        listener.close()
