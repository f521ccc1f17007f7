"""The candidate's side of the sandbox: load the program, then answer calls, one per line.

Runs as `python -I -S -B harness.py REQUEST_FD RESPONSE_FD` inside the jail. Nothing this
process says is trusted: the candidate's code runs in it and may rewrite any of it. It exists
so that an honest program gets called correctly; the verdict is decided elsewhere, from the
decoded values alone.

Protocol (one JSON object per line):
    in : {"program": SOURCE, "nonce": N}           out: {"event": "ready", "names": [...]}
                                                    or  {"event": "load_error", ...}
    in : {"id": K, "call": NAME, "args": WIRE, "kwargs": WIRE}  out: {"id": K, "event": "result", "value": WIRE}
                                                    or  {"id": K, "event": "error", "error": TYPE, "message": ...}
Every reply carries the run's nonce. End of input ends the process.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

del sys.path[0]  # the candidate's `import` must not find this directory

MAX_MESSAGE = 64 * 1024 * 1024


class Channel:
    def __init__(self, read_fd, write_fd):
        self.read_fd, self.write_fd, self.buffer, self.nonce = read_fd, write_fd, b"", ""

    def receive(self):
        while b"\n" not in self.buffer:
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk or len(self.buffer) > MAX_MESSAGE:
                os._exit(0)
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return wire.loads_line(line)

    def send(self, message):
        data = wire.dumps_line(dict(message, nonce=self.nonce))
        while data:
            data = data[os.write(self.write_fd, data):]


def describe(error):
    return {"event": "error", "error": type(error).__name__, "message": str(error)[:500]}


def load(program, channel):
    namespace = {"__name__": "__candidate__", "__builtins__": __builtins__}
    try:
        exec(compile(program, "<candidate>", "exec"), namespace)
    except BaseException as error:  # SystemExit included: leaving early is a load failure
        channel.send(dict(describe(error), event="load_error"))
        os._exit(0)
    names = [name for name, value in namespace.items() if callable(value) and type(name) is str]
    channel.send({"event": "ready", "names": names[:1000]})
    return namespace


def serve(namespace, channel):
    while True:
        request = channel.receive()
        reply = {"id": request.get("id")}
        try:
            function = namespace[request["call"]]
            kwargs = wire.decode(request.get("kwargs") or {"$": "dict", "v": []})
            result = function(*wire.decode(request["args"]), **kwargs)
            reply.update(event="result", value=wire.encode(result))
        except BaseException as error:
            reply.update(describe(error))
        try:
            channel.send(reply)
        except (OSError, ValueError, MemoryError) as error:
            channel.send({"id": request.get("id"), **describe(error)})


def main():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an output flood fails a write, it does not kill us
    channel = Channel(int(sys.argv[1]), int(sys.argv[2]))
    hello = channel.receive()
    channel.nonce = str(hello.get("nonce", ""))
    namespace = load(hello["program"], channel)
    serve(namespace, channel)


main()
