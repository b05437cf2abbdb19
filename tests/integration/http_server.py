"""A real HTTP model server for the HTTP-target tests: the standard library's
``ThreadingHTTPServer`` on 127.0.0.1 (an ephemeral port) serving a fitted scikit-learn
classifier, with switchable faults (HTTP 500, slow answers, malformed JSON, a wrong number
of classes, NaN, rows not summing to 1, dying after some requests)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


class ModelServer:
    """Serves ``model`` at ``http://127.0.0.1:<port>/predict``.

    Args:
        model: fitted classifier with ``predict_proba``.
        layout: how bodies look: "default" ({"inputs"} -> {"outputs"}), "kserve",
            "kserve_v2", "torchserve" or "custom" ({"payload": {"rows": ...}} ->
            {"result": {"items": [{"probs": ...}, ...]}}).
        output: "probabilities", "logits", "top_k" or "labels".
        k: k of the top-k answers.
        port: the port (0: an ephemeral one; a restarted server takes its predecessor's).
    Attributes:
        fault: None, "500", "401", "redirect", "slow", "malformed", "wrong_classes", "nan",
            "not_distribution";
            ``fail_first`` > 0 makes the first that many requests answer HTTP 500.
        die_after: stop serving (the port then refuses connections) after this many answers.
        requests, records: requests received and records answered (the server's hits).
    """

    def __init__(
        self,
        model: Any,
        *,
        layout: str = "default",
        output: str = "probabilities",
        k: int = 2,
        port: int = 0,
    ) -> None:
        self.model, self.layout, self.output, self.k = model, layout, output, k
        self.fault: str | None = None
        self.fail_first = 0
        self.slow_s = 1.0
        self.die_after: int | None = None
        self.requests = 0
        self.records = 0
        self.answered = 0
        self.seen: list[list[Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/predict"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        self._dead = False

    def stop(self) -> None:
        """Stop serving and close the port (later connections are refused)."""
        if not self._dead:
            self._dead = True
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the model's answers -------------------------------------------------------------
    def records_of(self, body: Any) -> np.ndarray:
        if self.layout == "default":
            rows = body["inputs"]
        elif self.layout == "kserve":
            rows = body["instances"]
        elif self.layout == "kserve_v2":
            tensor = body["inputs"][0]
            assert tensor["datatype"] in ("FP32", "FP64"), tensor["datatype"]
            rows = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
        elif self.layout == "torchserve":
            rows = body
        else:
            rows = body["payload"]["rows"]
        return np.asarray(rows, dtype=np.float64)

    def answer(self, x: np.ndarray) -> Any:
        probs = self.model.predict_proba(x)
        if self.fault == "wrong_classes":
            probs = probs[:, :-1]
        if self.fault == "nan":
            probs = probs.copy()
            probs[0, 0] = np.nan
        if self.fault == "not_distribution":
            probs = probs * 0.5
        if self.output == "logits":
            values: Any = np.log(np.maximum(probs, 1e-300)).tolist()
        elif self.output == "labels":
            values = np.argmax(probs, axis=1).tolist()
        elif self.output == "top_k":
            order = np.argsort(-probs, axis=1, kind="stable")[:, : self.k]
            values = [
                {"labels": o.tolist(), "scores": p[o].tolist()}
                for o, p in zip(order, probs, strict=True)
            ]
        else:
            values = probs.tolist()
        if self.layout == "default":
            return {"outputs": values}
        if self.layout == "kserve":
            return {"predictions": values}
        if self.layout == "kserve_v2":
            flat = np.asarray(values, dtype=np.float64)
            return {
                "model_name": "m",
                "outputs": [
                    {
                        "name": "probs",
                        "shape": list(flat.shape),
                        "datatype": "FP64",
                        "data": flat.ravel().tolist(),
                    }
                ],
            }
        if self.layout == "torchserve":
            return values
        return {"result": {"items": [{"probs": v} for v in values]}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server._lock:
                    server.requests += 1
                    server.headers_seen.append(dict(self.headers))
                    number = server.requests
                if server.fail_first >= number or server.fault == "500":
                    self._send(500, b'{"error": "internal"}')
                    return
                if server.fault == "401":
                    self._send(401, b'{"error": "bad token"}')
                    return
                if server.fault == "redirect":
                    self.send_response(307)
                    self.send_header("Location", "http://elsewhere.example/predict")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if server.fault == "slow":
                    time.sleep(server.slow_s)
                x = server.records_of(body)
                if server.fault == "malformed":
                    self._send(200, b'{"outputs": [[0.5, 0.5]')
                    return
                payload = json.dumps(server.answer(x)).encode()
                with server._lock:
                    server.records += len(x)
                    server.answered += 1
                    server.seen.extend(x.tolist())
                    dying = server.die_after is not None and server.answered >= server.die_after
                if dying:  # the port is closed before the client has this answer
                    server.stop()
                self._send(200, payload)

            def _send(self, code: int, payload: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
