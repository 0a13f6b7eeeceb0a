"""Building, starting and stopping the gRPC server.

:func:`create_server` wires everything but binds only what the config says (tests use
``127.0.0.1:0``) and takes an already-open engine, or ``None`` to attach one later: the health
service reports NOT_SERVING (and lookups answer UNAVAILABLE) until :meth:`attach_engine`.
:func:`serve` is the process: logging, plugins, opening the store, signals, graceful shutdown.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.backends import backend_from_table
from hashcore.engine import Engine
from hashcore.hashing import warm_up
from hashcore.registry import SignalRegistry, load_registry
from hashcore_server.audit import FILENAME as AUDIT_FILENAME
from hashcore_server.audit import AuditLog
from hashcore_server.banks import BanksServicer
from hashcore_server.calls import State
from hashcore_server.config import ConfigError, ServerConfig
from hashcore_server.following import HEALTH_PREFIX as FOLLOW_HEALTH
from hashcore_server.following import Followers
from hashcore_server.matching import MatchingServicer
from hashcore_server.metrics import Metrics
from hashcore_server.opinions import OpinionsServicer
from hashcore_server.parsing import ParseGuard
from hashcore_server.sharing import SharingServicer

log = logging.getLogger("hashcore.server")

SERVICE_NAMES = tuple(
    pb.DESCRIPTOR.services_by_name[name].full_name
    for name in ("Matching", "Banks", "Sharing", "Opinions")
)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
BACKEND_SERVICE = "hashcore.index_backend"
"""The health name of the index backend (docs/scale-out.md): SERVING while it answers."""
BACKEND_CHECK_SECONDS = 5.0


class HashcoreServer:
    """A started-or-not gRPC server with its state; :meth:`stop` undoes everything."""

    def __init__(self, config: ServerConfig, registry: SignalRegistry, audit: bool) -> None:
        self.config = config
        self.metrics = Metrics()
        audit_log = AuditLog(config.store / AUDIT_FILENAME) if audit else None
        self.state = State(config, registry, audit_log, self.metrics)
        self.health = health.HealthServicer(experimental_non_blocking=True)
        limits = config.limits
        options = [
            ("grpc.max_receive_message_length", limits.max_message_bytes),
            ("grpc.max_send_message_length", limits.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self._executor = futures.ThreadPoolExecutor(
            max_workers=limits.workers + limits.max_streams + 2,
            thread_name_prefix="hashcore-rpc",
        )
        self.grpc = grpc.server(self._executor, options=options, interceptors=[ParseGuard()])
        pb_grpc.add_MatchingServicer_to_server(MatchingServicer(self.state), self.grpc)
        pb_grpc.add_BanksServicer_to_server(BanksServicer(self.state), self.grpc)
        pb_grpc.add_OpinionsServicer_to_server(OpinionsServicer(self.state), self.grpc)
        self.sharing = SharingServicer(self.state)
        pb_grpc.add_SharingServicer_to_server(self.sharing, self.grpc)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.grpc
        )
        self._set_health(NOT_SERVING)
        self.health.set(BACKEND_SERVICE, NOT_SERVING)
        self._watching = threading.Event()
        self.metrics.watch_indexes(lambda: self.state.engine)
        self.metrics_port: int | None = None
        self._stopped = False
        self.followers = Followers(config.follow, self._report_follower)

    def _bind(self) -> int:
        tls = self.config.tls
        if tls is None:
            port = self.grpc.add_insecure_port(self.config.listen)
        else:
            try:
                key, cert = tls.key.read_bytes(), tls.cert.read_bytes()
                ca = tls.client_ca.read_bytes() if tls.client_ca else None
            except OSError as error:
                raise ConfigError(f"cannot read TLS files: {error}") from error
            credentials = grpc.ssl_server_credentials(
                [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
            )
            port = self.grpc.add_secure_port(self.config.listen, credentials)
        if port == 0:
            raise ConfigError(f"cannot listen on {self.config.listen}")
        return int(port)

    def _set_health(self, status: int) -> None:
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, status)

    def start(self) -> None:
        self.grpc.start()
        if self.config.metrics_listen:
            self.metrics_port = self.metrics.serve(self.config.metrics_listen)

    def attach_engine(self, engine: Engine) -> None:
        """Open every index and load every family's hashing code (the first lookups must not
        pay for either), then start answering."""
        from hashcore.index.hamming import compile_search  # numba: loaded once logging is set

        engine.open_indexes()
        compile_search()  # an index an import takes past FLAT_BELOW later compiles nothing
        warm_up(self.state.registry)
        if self.state.hash_pool is not None:  # in the background: hash-only calls need none
            threading.Thread(
                target=self.state.hash_pool.start_all, name="hashcore-pool-start", daemon=True
            ).start()
        self.state.engine = engine
        banks = engine.bank_names()
        log.info("serving %d bank(s): %s", len(banks), ", ".join(banks) or "none")
        for family, state in sorted(engine.index_status().items()):
            log.info("index %s: %d values (%s)", family, state.values, state.origin)
        for family, reason in sorted(engine.unindexed_families().items()):
            log.warning("no index for %s: %s", family, reason)
        self._set_health(SERVING)
        self.followers.start(engine)
        problem = self._check_backend(engine, None)
        threading.Thread(
            target=self._watch_backend,
            args=(engine, problem),
            name="hashcore-backend",
            daemon=True,
        ).start()

    def _report_follower(self, local_bank: str, serving: bool) -> None:
        self.health.set(FOLLOW_HEALTH + local_bank, SERVING if serving else NOT_SERVING)

    def _watch_backend(self, engine: Engine, problem: str | None) -> None:
        """Keep :data:`BACKEND_SERVICE` current until the server stops."""
        while not self._watching.wait(BACKEND_CHECK_SECONDS):
            problem = self._check_backend(engine, problem)

    def _check_backend(self, engine: Engine, before: str | None) -> str | None:
        problem = engine.backend.problem()
        if problem != before:
            if problem is None:
                log.info("index backend %s answers again", engine.backend.name)
            else:
                log.warning("index backend %s: %s", engine.backend.name, problem)
        self.health.set(BACKEND_SERVICE, SERVING if problem is None else NOT_SERVING)
        return problem

    def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING first (load balancers drain), end watches, let in-flight calls finish."""
        if self._stopped:
            return
        self._stopped = True
        self._watching.set()
        grace = self.config.grace_seconds if grace is None else grace
        self.health.enter_graceful_shutdown()
        self.state.events.close()
        self.sharing.close()
        self.followers.stop()
        self.grpc.stop(grace).wait()
        self._executor.shutdown(wait=True)
        self.state.close()
        self.metrics.close()
        if self.state.audit is not None:
            self.state.audit.close()

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return bool(self.grpc.wait_for_termination(timeout))


def create_server(
    config: ServerConfig,
    engine: Engine | None,
    *,
    registry: SignalRegistry | None = None,
    audit: bool = True,
) -> tuple[HashcoreServer, int]:
    """A configured, bound, not yet started server and its port (useful with port 0)."""
    if registry is None:
        registry = getattr(engine, "registry", None) or load_registry()
    server = HashcoreServer(config, registry, audit)
    port = server._bind()
    if engine is not None:
        server.attach_engine(engine)
    return server, port


def serve(config: ServerConfig) -> int:
    """Run until SIGTERM or SIGINT; return the process exit code."""
    from hashcore.plugins import loaded_plugins

    plugins = loaded_plugins()
    registry = plugins.registry
    for info in plugins.describe():
        kinds = {what: names for what, names in info.provides.items() if names}
        provided = [  # ncmec gives a bank format and a feedback format, both named ncmec
            f"{name} ({what.removesuffix('s').replace('_', ' ')})" if len(kinds) > 1 else name
            for what, names in kinds.items()
            for name in names
        ]
        log.info("plugin %s %s: %s", info.name, info.version or "", ", ".join(provided))
    log.info("signal families: %s", ", ".join(registry.names()) or "none")
    config.store.mkdir(parents=True, exist_ok=True)
    server, port = create_server(config, None, registry=registry)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    server.start()
    host = config.listen.rsplit(":", 1)[0]
    log.info(
        "listening on %s:%d (%s); loading %s",
        host,
        port,
        "TLS" if config.tls else "plaintext",
        config.store,
    )
    engine: Engine | None = None
    try:
        engine = Engine(
            config.store,
            registry,
            compact_interval=config.compact_interval or None,
            index_backend=backend_from_table(config.index_backend),
        )
        engine.open_indexes()  # the slow part; a signal meanwhile stops before SERVING
        if not stop.is_set():
            server.attach_engine(engine)
            log.info("ready")
        stop.wait()
    finally:
        server.stop()
        if engine is not None:
            engine.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("stopped")
    return 0
