"""A stand-in OpenAI-compatible server, for the failures the real model worker cannot be made to
show on demand (a model that leaks an answer, a grade in a given form): a real HTTP server on
loopback that lists one model and answers every chat request with the given text, streamed in
pieces or whole, as the request asks."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def stand_in_model(pieces: list[str], model: str = "stand-in") -> Iterator[str]:
    """Yields the base URL (http://127.0.0.1:PORT/v1) while the server runs."""

    class Handler(BaseHTTPRequestHandler):
        def _json(self, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/v1/models":
                self.send_error(404)
                return
            entry = {"id": model, "object": "model", "created": 0, "owned_by": "eureka"}
            self._json({"object": "list", "data": [entry]})

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if not request.get("stream"):
                message = {"role": "assistant", "content": "".join(pieces)}
                choice = {"index": 0, "message": message, "finish_reason": "stop"}
                self._json(
                    {
                        "id": "c",
                        "object": "chat.completion",
                        "created": 0,
                        "model": model,
                        "choices": [choice],
                    }
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for piece in pieces:
                delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                chunk = {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [delta],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
