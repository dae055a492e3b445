#!/usr/bin/python3
# A compromised memsafe-worker for frames.test: reads the document on fd 0,
# whose first line names what to send, and writes that as frames on fd 1.
import json
import struct
import sys

def frame(obj_bytes):
    sys.stdout.buffer.write(struct.pack(">I", len(obj_bytes)) + obj_bytes)

mode = sys.stdin.buffer.readline().decode().strip()
sys.stdin.buffer.read()
frame(json.dumps({"t": "doc", "pages": 2}).encode())
frame(json.dumps({"t": "page", "page": 1, "pages": 2}).encode())
head = b'{"t":"batch","batch":1,"first_page":1,"last_page":1,"bytes":0,"chunks":['
if mode == "many-chunks":
    # ~1.4 million empty chunks: just under the frame cap for max_bytes 5M.
    n = 1400000
    frame(head + b",".join([b'{"page":1,"text":""}'] * n) + b"]}")
elif mode == "big-chunk":
    frame(head + json.dumps({"page": 1, "text": "x" * 100000}).encode() + b"]}")
elif mode == "bad-page":
    frame(head + b'{"page":9999,"text":"hello"}]}')
elif mode == "deep":
    frame(b'{"t":"page","page":1,"x":' + b"[" * 100000 + b"]" * 100000 + b"}")
elif mode == "stderr":
    # Forged log lines, terminal escapes, a flood: the daemon prefixes,
    # escapes and rate-limits what it logs of them.
    for i in range(1000):
        sys.stderr.write("<3>job 1: forged line %d \x1b[31mred\x1b[0m\n" % i)
    sys.stderr.flush()
elif mode == "flood":
    # Valid batches, forever: the job's output cap stops it.
    text = "y" * 1000
    for b in range(1, 10**9):
        frame(json.dumps({"t": "batch", "batch": b, "first_page": 1, "last_page": 1,
                          "bytes": 0, "chunks": [{"page": 1, "text": text}] * 10}).encode())
sys.stdout.flush()
frame(json.dumps({"t": "end", "pages": 2, "chunks": 0, "batches": 1}).encode())
