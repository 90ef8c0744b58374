"""A gRPC proxy in front of a real server that loses replies on purpose.

It forwards every unary call upstream and, for the first ``losses`` attempts of
each method, throws the answer away and returns UNAVAILABLE instead: the server
did the work, the client never heard. That is the case a retry policy must get
right, so the proxy also counts the attempts it saw per method.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent import futures

import grpc


class LossyProxy:
    def __init__(self, upstream: str, losses: int) -> None:
        self.losses = losses
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._upstream = grpc.insecure_channel(upstream)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers([_Forward(self)])
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"
        self._server.start()

    def calls(self, method: str) -> int:
        """Attempts seen for a method, named like ``BackupService/CreateBackup``."""
        with self._lock:
            return self.attempts[f"/stowage.v1.{method}"]

    def forward(self, method: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        upstream = self._upstream.unary_unary(method)

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                self.attempts[method] += 1
                lose = self.attempts[method] <= self.losses
            try:
                reply: bytes = upstream(request, timeout=30)
            except grpc.RpcError as e:
                assert isinstance(e, grpc.Call)
                context.set_trailing_metadata(e.trailing_metadata() or ())
                context.abort(e.code(), e.details() or "")
            if lose:
                context.abort(grpc.StatusCode.UNAVAILABLE, "reply lost by the proxy")
            return reply

        return handle

    def stop(self) -> None:
        self._server.stop(0)
        self._upstream.close()


class _Forward(grpc.GenericRpcHandler):
    def __init__(self, proxy: LossyProxy) -> None:
        self.proxy = proxy

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        return grpc.unary_unary_rpc_method_handler(self.proxy.forward(method))
