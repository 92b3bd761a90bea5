"""Streams one job to a deckhand output processor with Python's gRPC (C core), then reads it back.

A second gRPC implementation checks that the protocol is the .proto, not whatever grpc-js does.
Usage: stream_job.py STUBS_DIR TARGET HTTP_BASE JOB_ID TOKEN
STUBS_DIR holds output_pb2.py and output_pb2_grpc.py generated from agent/output/wire/output.proto.
Prints one JSON object: what Complete said and the SHA-256 of what was sent and read back.
"""
import hashlib
import json
import queue
import sys
import urllib.request

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
import output_pb2 as pb  # noqa: E402
import output_pb2_grpc as pb_grpc  # noqa: E402

target, http_base, job_id, token = sys.argv[2:6]

# invalid UTF-8 and ANSI colour on purpose: the processor keeps bytes, not text
stdout = b"python says \x1b[32mhello\x1b[0m\n" + bytes(range(256)) * 300 + b"\xff\xfe end\n"
stderr = b"a warning\n"

outgoing = queue.Queue()


def frames():
    while True:
        f = outgoing.get()
        if f is None:
            return
        yield f


channel = grpc.insecure_channel(target)
stub = pb_grpc.OutputProcessorStub(channel)
responses = stub.Stream(frames(), metadata=[("authorization", "Bearer " + token)])

outgoing.put(pb.AgentFrame(open=pb.Open(job_id=job_id, job_name="interop", started_unix_ms=1, environment={"LANG": "C"}, step_count=1)))
first = next(responses)
assert first.WhichOneof("frame") == "resume", first

entries = [pb.Entry(step_started=pb.StepStarted(seq=0, step=0, name="python", type="run", time_unix_ms=2))]
for at in range(0, len(stdout), 20000):
    entries.append(pb.Entry(chunk=pb.Chunk(step=0, stream=pb.STDOUT, offset=at, data=stdout[at:at + 20000])))
entries.append(pb.Entry(chunk=pb.Chunk(step=0, stream=pb.STDERR, offset=0, data=stderr)))
entries.append(pb.Entry(step_finished=pb.StepFinished(seq=1, step=0, status="success", exit_code=0, duration_ms=3)))
entries.append(pb.Entry(job_finished=pb.JobFinished(seq=2, status="success", duration_ms=4, streams=[
    pb.StreamTotal(step=0, stream=pb.STDOUT, bytes=len(stdout), sha256=hashlib.sha256(stdout).digest()),
    pb.StreamTotal(step=0, stream=pb.STDERR, bytes=len(stderr), sha256=hashlib.sha256(stderr).digest()),
])))
for i in range(0, len(entries), 2):
    outgoing.put(pb.AgentFrame(batch=pb.Batch(entries=entries[i:i + 2])))

complete = None
acked = 0
for frame in responses:
    kind = frame.WhichOneof("frame")
    if kind == "ack":
        acked += 1
    elif kind == "complete":
        complete = frame.complete
        break
outgoing.put(None)
channel.close()

with urllib.request.urlopen(f"{http_base}/api/jobs/{job_id}/steps/0/output") as r:
    stored = r.read()
with urllib.request.urlopen(f"{http_base}/api/jobs/{job_id}/steps/0/output?stream=stderr") as r:
    stored_err = r.read()

print(json.dumps({
    "verified": complete.verified if complete else None,
    "message": complete.message if complete else None,
    "acks": acked,
    "sent_sha256": hashlib.sha256(stdout).hexdigest(),
    "stored_sha256": hashlib.sha256(stored).hexdigest(),
    "stderr_equal": stored_err == stderr,
}))
