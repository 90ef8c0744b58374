"""Random requests to every RPC of stowage.v1, sent to a real `stowage serve`.

The services are walked through their descriptors (EnvironmentService,
BackupService, OperationService, RepositoryService, BlobService), so a new RPC
is fuzzed without an edit here. Requests are built by hypothesis from the
message descriptors, with strings drawn from real names of the server's state
and hostile variants of them. Client streams send up to three messages.

Bytes that are no message at all (random, or a real message cut short) are
sent too. What must hold: no answer is UNKNOWN or INTERNAL, no operation the requests
started ends UNKNOWN or INTERNAL, the server still answers its health check
after each service, and no file appears outside its data directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from stowage.client import Client
from stowage.errors import StowageError
from stowage.v1 import (
    backup_service_pb2,
    blobs_pb2,
    environments_pb2,
    operations_pb2,
    repository_service_pb2,
)

from ..conftest import ServerProcess
from ..sample import provision_full
from .figures import Figures
from .filesystem_watch import FilesystemWatch
from .message_strategies import MessageStrategies, StringPool
from .scale import Scale

SERVICES: tuple[ServiceDescriptor, ...] = (
    environments_pb2.DESCRIPTOR.services_by_name["EnvironmentService"],
    backup_service_pb2.DESCRIPTOR.services_by_name["BackupService"],
    operations_pb2.DESCRIPTOR.services_by_name["OperationService"],
    repository_service_pb2.DESCRIPTOR.services_by_name["RepositoryService"],
    blobs_pb2.DESCRIPTOR.services_by_name["BlobService"],
)
BAD = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
CALL_TIMEOUT = 10.0
MAX_STREAMED = 50
ENVS = ("fuzz-a", "fuzz-b")


def call(
    channel: grpc.Channel, method: MethodDescriptor, request: Any, raw: bool = False
) -> grpc.StatusCode:
    """Sends one request (a list of them for a client stream); returns the code.
    ``raw``: the requests are bytes, sent as they are."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    out = GetMessageClass(method.output_type)
    ser: Any = (lambda b: b) if raw else (lambda m: m.SerializeToString())
    des = out.FromString
    try:
        if method.client_streaming and method.server_streaming:
            stream = channel.stream_stream(path, ser, des)(iter(request), timeout=CALL_TIMEOUT)
            _drain(stream)
        elif method.client_streaming:
            channel.stream_unary(path, ser, des)(iter(request), timeout=CALL_TIMEOUT)
        elif method.server_streaming:
            _drain(channel.unary_stream(path, ser, des)(request, timeout=CALL_TIMEOUT))
        else:
            channel.unary_unary(path, ser, des)(request, timeout=CALL_TIMEOUT)
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def _drain(stream: Any) -> None:
    for n, _ in enumerate(stream):
        if n >= MAX_STREAMED:
            stream.cancel()
            return


class FuzzedServer:
    def __init__(self, root: Path, figures: Figures) -> None:
        self.root = root
        self.data = root / "data"
        self.figures = figures
        self.server = ServerProcess(
            self.data,
            "--copy-destinations",
            f"file://{self.data / 'dr'}",
            "--max-artifact-size",
            "4MiB",
        )
        self.client = Client(self.server.address, timeout=60)
        self.known: dict[str, list[str]] = {}
        self.seed_state()
        self.watch = FilesystemWatch(root, self.data)
        self.channel = grpc.insecure_channel(self.server.address)

    def seed_state(self) -> None:
        """Environments, a backup and operations the random requests can name;
        again after each service, since requests delete and change them."""
        c = self.client
        for env in ENVS:
            try:
                c.get_environment(env)
            except StowageError:
                provision_full(c, env, "basic")
        try:
            backup = c.create_backup(ENVS[0], allow_batch_loss=True).result()
            self.known.setdefault("name:backup", []).append(backup.backup.name)
            self.known.setdefault("name:operation", []).append(backup.name)
            self.known.setdefault("id", []).append(backup.backup.name.rsplit("/", 1)[1])
        except StowageError:
            pass  # a request left the environment unable to back up; old names will do
        d = self.data
        k = self.known
        k.setdefault("name:environment", [f"environments/{e}" for e in ENVS])
        k["name:environment"] += ["environments/-", "repository", "config", "locks/../config"]
        k["name:artifact"] = [
            f"environments/{ENVS[0]}/agreements/Contoso-Fabrikam-X12",
            f"environments/{ENVS[0]}/transforms/Order850ToCanonical",
            f"environments/{ENVS[0]}/assemblies/Contoso.Maps.dll",
        ]
        k["name:agreement"] = [f"environments/{ENVS[0]}/agreements/Contoso-Fabrikam-X12"]
        k["name:hybrid"] = [f"environments/{ENVS[0]}/hybridConnections/onprem-sql"]
        k["name:batch"] = [f"environments/{ENVS[0]}/batches/b1"]
        self.known.setdefault("id", []).extend([*ENVS, "fuzz-new", "onprem-sql", "b1", "m-1"])
        self.known["request_id"] = ["req-0001", "req-0002"]
        self.known["digest"] = [a.sha256 for a in c.list_artifacts(ENVS[0])]
        self.known["url"] = [
            f"file://{d / 'dr'}",
            f"file://{d / 'dr'}/../../escape",
            f"file://{d / 'dr'}/../dr2",
            f"file://{self.root / 'escape'}",
            str(self.root / "escape"),
            "escape",
            "abfs://fuzz/escape",
            "grpc+unix:/tmp/stowage-fuzz.sock",
        ]

    def healthy(self) -> bool:
        if self.server.proc.poll() is not None:
            return False
        try:
            reply = health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT
            )
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def fuzz_method(self, method: MethodDescriptor, examples: int, run_seed: int) -> None:
        strategies = MessageStrategies(StringPool(self.known))
        one = strategies.message(method.input_type)
        requests = st.lists(one, max_size=3) if method.client_streaming else one

        # Bytes that are not the method's message: random, or a real one cut short.
        garbage = st.one_of(
            st.binary(max_size=200),
            one.map(lambda m: m.SerializeToString()).flatmap(
                lambda b: st.integers(0, len(b)).map(lambda n: b[:n] + b"\xff")
            ),
        )
        raw = st.lists(garbage, min_size=1, max_size=3) if method.client_streaming else garbage
        self._cases(method, "requests", requests, examples, False, run_seed)
        self._cases(method, "unparsable requests", raw, max(2, examples // 4), True, run_seed)

    def _cases(
        self,
        method: MethodDescriptor,
        what: str,
        strategy: st.SearchStrategy[Any],
        count: int,
        raw: bool,
        run_seed: int,
    ) -> None:
        service = method.containing_service.name

        @seed(run_seed)
        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.generate,),
        )
        @given(strategy)
        def case(request: Any) -> None:
            code = call(self.channel, method, request, raw=raw)
            self.figures.fuzz_cases[f"{what} to {service}"] += 1
            self.figures.fuzz_codes[code.name] += 1
            if code in BAD:
                shown = repr(request)[:300].replace("\n", " ")
                self.figures.problem(
                    "bad_statuses", f"{service}.{method.name} ({what}) -> {code.name}: {shown}"
                )

        case()

    def check_operations(self) -> None:
        for op in self.client.list_operations():
            if op.error.code in (2, 13):  # UNKNOWN, INTERNAL
                self.figures.problem(
                    "bad_statuses",
                    f"{op.name} ({op.target}) ended {op.error.code}: {op.error.message}\n"
                    + self.server_trace(),
                )

    def server_trace(self) -> str:
        """The server log's last traceback, so a failure shows its cause."""
        lines = self.server.log
        starts = [i for i, line in enumerate(lines) if "Traceback" in line]
        return "".join(lines[max(0, starts[-1] - 30) : starts[-1] + 40]) if starts else ""

    def close(self) -> None:
        self.channel.close()
        self.client.close()
        if self.server.proc.poll() is None:
            self.server.terminate()


def run_hostile_requests(root: Path, scale: Scale, figures: Figures) -> None:
    fuzzed = FuzzedServer(root, figures)
    try:
        for service in SERVICES:
            for method in service.methods:
                fuzzed.fuzz_method(method, scale.requests_per_rpc, scale.seed)
            if not fuzzed.healthy():
                figures.problem("server_stops", f"the server stopped serving after {service.name}")
                return
            fuzzed.seed_state()  # the requests may have deleted what the next ones name
        fuzzed.check_operations()
        for path in fuzzed.watch.new_paths():
            figures.problem("files_outside", f"requests wrote {path} outside the data directory")
    finally:
        fuzzed.close()
