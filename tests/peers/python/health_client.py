"""A grpcio health checking client (grpcio-health-checking's stubs) for
our servers' `grpc.health.v1.Health`.

Usage: health_client.py <port>. The server reports "" SERVING,
"echo.Echo" NOT_SERVING, and turns "late.Late" SERVING a moment after the
client starts watching it. Prints `SUMMARY <json>` with what it saw and
exits 1 on a failed check.
"""
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from summary import check, failures, run, seen


def status_name(n):
    return health_pb2.HealthCheckResponse.ServingStatus.Name(n)


def main():
    port = int(sys.argv[1])
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    grpc.channel_ready_future(ch).result(timeout=10)
    stub = health_pb2_grpc.HealthStub(ch)

    for service in ["", "echo.Echo"]:
        r = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        seen["check:" + service] = status_name(r.status)
    try:
        stub.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=10)
        failures.append("Check of an unknown service succeeded")
    except grpc.RpcError as e:
        seen["check:no.Such"] = e.code().name

    watch = stub.Watch(health_pb2.HealthCheckRequest(service="late.Late"), timeout=10)
    updates = []
    for r in watch:
        updates.append(status_name(r.status))
        if len(updates) == 2:
            break
    watch.cancel()
    seen["watch:late.Late"] = updates
    check("two updates", len(updates) == 2, updates)


run(main)
