"""memsafe: a client for memsafed, the memory-safe document ingestion daemon.

Standard library only. One request per connection, as memsafectl does;
waiting follows the events memsafed pushes after a ``watch`` request
(memsafed(8), Protocol), never a polling loop.

    import memsafe
    client = memsafe.Client()
    job = client.submit("report.pdf", memory_max="2G")
    final = job.wait()          # the job as a dict, once it has ended
    print(final["state"], final["end_reason"], job.artifacts)

Errors are exceptions carrying the protocol's stable ``code`` and its
``message``: LimitError (limit, too_large), RefusedError (refused, bad_fd),
NotFoundError (not_found: no such job, or not yours), ForbiddenError (the
socket refuses you), DaemonUnavailable (nothing listens, or the daemon
went away), and MemsafeError for the rest.
"""

import json
import os
import select
import socket as _socket
import time

__all__ = [
    "Client", "Job", "MemsafeError", "LimitError", "RefusedError",
    "NotFoundError", "ForbiddenError", "DaemonUnavailable",
    "DEFAULT_SOCKET", "CHUNK_SIZE",
]

PROTOCOL_VERSION = 1
DEFAULT_SOCKET = "/run/memsafed/memsafed.sock"
MAX_MESSAGE = 64 * 1024
# A non-seekable stream goes to memsafed through a pipe in writes of this
# size: what an upload handler reads from the request body at a time.
CHUNK_SIZE = 256 * 1024
# How long to wait for memsafed to let go of an upload that failed half-way.
_ABANDON_WAIT_S = 10


class MemsafeError(Exception):
    """An error memsafed reported (or a client-side one with its own code)."""

    def __init__(self, code, message):
        super().__init__("%s (%s)" % (message, code))
        self.code = code
        self.message = message


class LimitError(MemsafeError):
    """A per-user or global limit, or a document above max_file_size."""


class RefusedError(MemsafeError):
    """memsafed refused the job: it could never run, or the source is unusable."""


class NotFoundError(MemsafeError, LookupError):
    """No such job, or it is another user's."""


class ForbiddenError(MemsafeError, PermissionError):
    """The socket refuses this user (not in the memsafe group?)."""


class DaemonUnavailable(MemsafeError, ConnectionError):
    """memsafed is not running, or the connection to it was lost."""


_ERRORS = {
    "limit": LimitError, "too_large": LimitError,
    "refused": RefusedError, "bad_fd": RefusedError,
    "not_found": NotFoundError,
}


def _error(reply):
    err = reply.get("error") or {}
    code = err.get("code", "internal")
    return _ERRORS.get(code, MemsafeError)(code, err.get("message", "memsafed gave no reason"))


def _size(value, what):
    """Bytes from an int or a string such as '512M' or '2G'."""
    if value is None or isinstance(value, int):
        return value
    s = str(value).strip().upper().rstrip("B").rstrip("I")
    mult = 1
    for suffix, m in (("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)):
        if s.endswith(suffix):
            s, mult = s[:-1], m
            break
    try:
        return int(float(s) * mult)
    except ValueError:
        raise ValueError("%s: %r is not a size (bytes, or with K, M, G, T)" % (what, value))


class _Conn:
    """One connection: requests, replies and pushed events."""

    def __init__(self, path):
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        try:
            self.sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            self.sock.close()
            raise DaemonUnavailable(
                "unavailable", "memsafed is not running (nothing listens on %s)" % path)
        except PermissionError:
            self.sock.close()
            raise ForbiddenError(
                "forbidden", "permission denied on %s: join the memsafe group" % path)
        except OSError as e:
            self.sock.close()
            raise DaemonUnavailable("unavailable", "cannot connect to %s: %s" % (path, e))

    def close(self):
        self.sock.close()

    def send(self, req, fds=()):
        req = dict(req, v=PROTOCOL_VERSION)
        data = json.dumps(req).encode()
        try:
            if fds:
                _socket.send_fds(self.sock, [data], list(fds))
            else:
                self.sock.send(data)
        except OSError as e:
            # A daemon at its connection limit answers at accept and closes.
            try:
                reply = self.recv(0)
            except MemsafeError:
                reply = None
            if reply is not None and not reply.get("ok", True):
                raise _error(reply)
            raise DaemonUnavailable("unavailable", "sending to memsafed failed: %s" % e)

    def recv(self, timeout=None):
        """The next message (a reply or an event); None after timeout seconds."""
        if timeout is not None:
            r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
            if not r:
                return None
        try:
            data = self.sock.recv(MAX_MESSAGE + 1)
        except OSError as e:
            raise DaemonUnavailable("unavailable", "memsafed closed the connection: %s" % e)
        if not data:
            raise DaemonUnavailable(
                "unavailable", "memsafed closed the connection (it stopped, or dropped "
                "us for reading its events too slowly)")
        return json.loads(data)

    def reply(self, timeout=None):
        """The next reply, skipping events (a watching connection gets both)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            m = self.recv(left)
            if m is None:
                raise TimeoutError("memsafed did not answer within %s s" % timeout)
            if "event" not in m:
                return m


class Client:
    """memsafed's socket: socket=None means $MEMSAFE_SOCKET or DEFAULT_SOCKET."""

    def __init__(self, socket=None, timeout=30):
        self.socket = socket or os.environ.get("MEMSAFE_SOCKET") or DEFAULT_SOCKET
        self.timeout = timeout

    def _call(self, req):
        c = _Conn(self.socket)
        try:
            c.send(req)
            reply = c.reply(self.timeout)
        finally:
            c.close()
        if not reply.get("ok"):
            raise _error(reply)
        return reply

    def ping(self):
        """memsafed's version, pid and how many jobs run and wait."""
        return self._call({"op": "ping"})

    def status(self, job_id):
        """The job as a dict."""
        return self._call({"op": "status", "id": int(job_id)})["job"]

    def cancel(self, job_id):
        """Cancel a queued or running job; the job as a dict."""
        return self._call({"op": "cancel", "id": int(job_id)})["job"]

    def list(self):
        """The jobs you may see, oldest first."""
        return self._call({"op": "list"})["jobs"]

    def job(self, job_id):
        """A Job for an existing job id."""
        return Job(self, self.status(job_id))

    def watch(self, ids=None):
        """Pushed events of the jobs named (every job you may see when None),
        as an iterator of dicts, for as long as you read it."""
        return _watch(self, ids)

    def submit(self, source, *, name=None, kb=None, memory_max=None, sink=None,
               batch_size=None, max_bytes=None, wait=False):
        """Queue a document and return its Job (after waiting for its end
        when wait is true).

        source is a path, bytes, a binary file object or an iterable of
        bytes. A regular file is passed to memsafed as it is; bytes go
        through an anonymous in-memory file; a non-seekable stream (an
        upload) goes through a pipe, written in CHUNK_SIZE pieces while
        memsafed spools it. memsafed refuses a document above its
        max_file_size with LimitError(code "too_large"). If reading the
        stream raises, the submission is abandoned (memsafed keeps
        nothing) and the exception propagates."""
        req = {"op": "submit"}
        for key, value in (("kb", kb), ("sink", sink), ("batch_size", batch_size)):
            if value is not None:
                req[key] = value
        if memory_max is not None:
            req["memory_max"] = _size(memory_max, "memory_max")
        if max_bytes is not None:
            req["max_bytes"] = _size(max_bytes, "max_bytes")
        if isinstance(source, (str, os.PathLike)):
            req["name"] = name or os.path.basename(os.fspath(source))
            with open(source, "rb") as f:
                reply = self._submit_fd(req, f.fileno())
        elif isinstance(source, (bytes, bytearray, memoryview)):
            req["name"] = name or "bytes"
            fd = os.memfd_create("memsafe-submit", os.MFD_CLOEXEC)
            try:
                with open(fd, "wb", closefd=False) as f:
                    f.write(source)
                os.lseek(fd, 0, os.SEEK_SET)
                reply = self._submit_fd(req, fd)
            finally:
                os.close(fd)
        else:
            req["name"] = name or str(getattr(source, "name", "") or "stream")[:255]
            fd = _regular_fd(source)
            if fd is not None:
                reply = self._submit_fd(req, fd)
            else:
                reply = self._submit_stream(req, source)
        job = Job(self, reply["job"])
        if wait:
            job.wait()
        return job

    def _submit_fd(self, req, fd):
        c = _Conn(self.socket)
        try:
            c.send(req, [fd])
            reply = c.reply()
        finally:
            c.close()
        if not reply.get("ok"):
            raise _error(reply)
        return reply

    def _submit_stream(self, req, source):
        c = _Conn(self.socket)
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            try:
                c.send(req, [r])
            finally:
                os.close(r)
            try:
                for chunk in _chunks(source):
                    _write_all(w, chunk)
            except BrokenPipeError:
                pass    # memsafed stopped reading: its reply says why
            except BaseException:
                # Not the whole document: let go of the connection first,
                # so that memsafed drops the submission, and only then of
                # the pipe (its end first would look like the end of the
                # document). memsafed closes its end once it has let go.
                c.close()
                _wait_reader_gone(w, _ABANDON_WAIT_S)
                raise
            os.close(w)
            w = -1
            reply = c.reply()
        finally:
            if w >= 0:
                os.close(w)
            c.close()
        if not reply.get("ok"):
            raise _error(reply)
        return reply


def _regular_fd(source):
    """source's fd when it is a regular file memsafed can read as it is."""
    try:
        fd = source.fileno()
        import stat
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if hasattr(source, "seekable") and source.seekable() and hasattr(source, "tell"):
            # What Python buffered is the file's position as it sees it.
            os.lseek(fd, source.tell(), os.SEEK_SET)
        return fd
    except (AttributeError, OSError, ValueError):
        return None


def _chunks(source):
    """Bytes of at most CHUNK_SIZE from a file object or an iterable of bytes."""
    read = getattr(source, "read", None)
    if read is not None:
        while True:
            b = read(CHUNK_SIZE)
            if not b:
                return
            yield bytes(b)
    else:
        for b in source:
            b = memoryview(bytes(b))
            for i in range(0, len(b), CHUNK_SIZE):
                yield b[i:i + CHUNK_SIZE]


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _wait_reader_gone(w, seconds):
    """Wait until the pipe's read end is closed (POLLERR on the write end)."""
    p = select.poll()
    p.register(w, 0)     # only POLLERR / POLLHUP
    p.poll(seconds * 1000)


def _watch(client, ids):
    c = _Conn(client.socket)
    try:
        if ids is None:
            c.send({"op": "watch", "all": True})
        else:
            c.send({"op": "watch", "ids": [int(i) for i in ids]})
        reply = c.reply(client.timeout)
        if not reply.get("ok"):
            raise _error(reply)
        while True:
            yield c.recv()
    finally:
        c.close()


class Job:
    """A job memsafed knows: id, artifacts (its directory) and the job as
    last seen (``info``, a dict)."""

    def __init__(self, client, info):
        self.client = client
        self.id = int(info["id"])
        self.artifacts = info.get("dir")
        self.info = info

    def __repr__(self):
        return "<memsafe.Job %d %s>" % (self.id, self.info.get("state"))

    @property
    def ended(self):
        return self.info.get("state") not in ("spooling", "queued", "running")

    def status(self):
        """The job now, as a dict (and kept as ``info``)."""
        self.info = self.client.status(self.id)
        return self.info

    def cancel(self):
        """Cancel it; the job as a dict."""
        self.info = self.client.cancel(self.id)
        return self.info

    def events(self, timeout=None):
        """Pushed events of this job, as dicts, up to and including its
        "end" (an ended job gives only that). After a "lagged" event
        (events were lost) a "status" one follows with the job now.
        TimeoutError when none comes for timeout seconds."""
        return self._events(timeout, None)

    def _events(self, idle, deadline):
        c = _Conn(self.client.socket)
        try:
            c.send({"op": "watch", "id": self.id})
            reply = c.reply(self.client.timeout)
            if not reply.get("ok"):
                raise _error(reply)
            while True:
                wait = idle
                if deadline is not None:
                    left = max(deadline - time.monotonic(), 0)
                    wait = left if wait is None else min(wait, left)
                m = c.recv(wait)
                if m is None:
                    raise TimeoutError("job %d: no event within %s s" % (self.id, wait))
                if m.get("event") == "lagged":
                    yield m
                    m = {"v": PROTOCOL_VERSION, "event": "status", "id": self.id,
                         "job": self.client.status(self.id)}
                if "job" in m:
                    self.info = m["job"]
                yield m
                if m.get("event") == "end" or (m.get("event") == "status" and self.ended):
                    return
        finally:
            c.close()

    def wait(self, timeout=None):
        """Wait for the job to end; the final job as a dict. TimeoutError
        after timeout seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for _ in self._events(None, deadline):
            pass
        return self.info
