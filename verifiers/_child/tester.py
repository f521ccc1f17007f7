"""The tester: runs trusted test code against a candidate it can only reach through a pipe.

Runs as `python -I -S -B tester.py CONTROL_FD VERDICT_FD REQUEST_FD REPLY_FD`, outside the
candidate's jail and with no candidate code in it. Every name the candidate defined becomes
a proxy here: calling it sends the arguments to the candidate and returns the decoded reply,
which holds exact built-in types only. So an `__eq__` that is always true, an `int` subclass,
a patched `assert` or a peek at the caller's frame cannot happen: the expected values and the
comparisons live in this process, which the candidate can neither see nor signal.

An exception the candidate raises is raised again here as the built-in of that name, so that
test code can expect a `ValueError`; but `StopIteration` and `StopAsyncIteration` come back as
a `CandidateError`: raised inside `map`, `filter`, `zip` or `async for` they would end the test
code's own iteration silently, and `all(map(check, cases))` would hold for a candidate that
answered nothing.

Units of the test: each top-level `assert`, each top-level call expression (`check(f)`),
then `check(entry_point)` if the code defines `check` and never calls it, then each `test_*`
function it defines and never calls. Everything else is setup; a setup error fails the test.
"""
import ast
import builtins
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

del sys.path[0]


class CandidateGone(BaseException):
    """The candidate cannot answer any more; test code must not be able to catch this."""


class CandidateError(Exception):
    """The candidate raised an exception that is not a built-in one."""


ENDS_ITERATION = (StopIteration, StopAsyncIteration)
BUILTIN_EXCEPTIONS = {name: value for name, value in vars(builtins).items()
                      if isinstance(value, type) and issubclass(value, Exception)
                      and not issubclass(value, ENDS_ITERATION)}


class Link:
    def __init__(self, request_fd, reply_fd, nonce):
        self.request_fd, self.reply_fd, self.buffer, self.next_id = request_fd, reply_fd, bytearray(), 0
        self.nonce = nonce
        self.gone = ""  # set once the candidate fails for good, even if test code swallows it

    def call(self, name, args, kwargs):
        if self.gone:
            raise CandidateGone(self.gone)
        try:
            return self._call(name, args, kwargs)
        except CandidateGone as error:
            self.gone = str(error)
            raise

    def _call(self, name, args, kwargs):
        self.next_id += 1
        message = {"id": self.next_id, "call": name, "args": wire.encode(list(args)), "kwargs": wire.encode(kwargs)}
        data = wire.dumps_line(message)
        try:
            while data:
                data = data[os.write(self.request_fd, data):]
        except OSError:
            raise CandidateGone("the candidate process went away") from None
        reply = self.receive()
        if reply.get("id") != self.next_id or reply.get("nonce") != self.nonce:
            raise CandidateGone("the candidate's reply does not match the call")
        if reply.get("event") == "result":
            try:
                return wire.decode(reply.get("value"))  # the parent's deadline bounds this process
            except wire.WireError as error:
                raise CandidateError(f"unreadable result: {error}") from None
        kind, text = str(reply.get("error"))[:80], str(reply.get("message"))[:300]
        if kind == "MemoryError":
            raise CandidateGone("MemoryError in the candidate")
        if kind not in BUILTIN_EXCEPTIONS:
            raise CandidateError(f"{kind}: {text}" if text else kind)
        raise BUILTIN_EXCEPTIONS[kind](text)

    def receive(self):
        end = self.buffer.find(b"\n")
        while end < 0:
            chunk = os.read(self.reply_fd, 1 << 16)
            if not chunk:
                raise CandidateGone("the candidate process exited before answering")
            if len(self.buffer) > wire.MAX_TEXT_BYTES:
                raise CandidateGone("the candidate's reply is too large")
            end = chunk.find(b"\n")  # only the new bytes: the search stays linear in the reply
            if end >= 0:
                end += len(self.buffer)
            self.buffer += chunk
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 1]
        try:
            return wire.loads_line(line)
        except wire.WireError as error:
            raise CandidateGone(f"malformed reply: {error}") from None


def proxy_for(link, name):
    def proxy(*args, **kwargs):
        return link.call(name, args, kwargs)

    proxy.__name__ = proxy.__qualname__ = name
    return proxy


def plan_units(tree, entry_point):
    """Split the module into (setup or unit, node) steps and trailing implicit units."""
    steps, called, defined = [], set(), set()
    for node in tree.body:
        is_call = isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        if is_call and isinstance(node.value.func, ast.Name):
            called.add(node.value.func.id)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.add(node.name)
        steps.append(("unit" if isinstance(node, ast.Assert) or is_call else "setup", node))
    implicit = []
    if "check" in defined and "check" not in called and entry_point:
        implicit.append(f"check({entry_point})")
    implicit += [f"{name}()" for name in sorted(defined) if name.startswith("test_") and name not in called]
    return steps, implicit


def run_tests(config, link):
    namespace = {"__name__": "__test__", "__builtins__": builtins}
    for name in config["names"]:
        # A candidate's `abs` or `isinstance` must never stand in for the test code's own.
        if not hasattr(builtins, name) and not name.startswith("__"):
            namespace[name] = proxy_for(link, name)
    tree = ast.parse(config["test_code"], "<test>")
    steps, implicit = plan_units(tree, config.get("entry_point"))
    units = [node for kind, node in steps if kind == "unit"] + implicit
    result = {"units": len(units), "passed": 0, "failure": "", "error": ""}
    for kind, node in steps:
        code = compile(ast.Module(body=[node], type_ignores=[]), "<test>", "exec")
        if not run_step(code, namespace, kind, node.lineno, result):
            return result
    for source in implicit:
        if not run_step(compile(source, "<test>", "exec"), namespace, "unit", 0, result):
            return result
    if link.gone:  # test code caught it, but a candidate that died has not passed
        result["error"] = link.gone
    return result


def run_step(code, namespace, kind, line, result):
    """Run one step; returns False when the whole test must stop."""
    try:
        exec(code, namespace)
    except CandidateGone as error:
        result["error"] = f"line {line}: {error}"
        return False
    except Exception as error:  # noqa: BLE001: any failure of a unit is that unit failing
        text = f"line {line}: {type(error).__name__}: {str(error)[:200]}"
        if kind == "setup":
            result["error"] = f"test setup failed at {text}"
            return False
        result["failure"] = result["failure"] or text
        return True
    if kind == "unit":
        result["passed"] += 1
    return True


def main():
    control_fd, verdict_fd, request_fd, reply_fd = (int(arg) for arg in sys.argv[1:5])
    with os.fdopen(control_fd, "rb") as control:
        config = wire.loads_line(control.read())
    limit = config["memory_mb"] << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        result = run_tests(config, Link(request_fd, reply_fd, config["candidate_nonce"]))
    except SyntaxError as error:
        result = {"units": 0, "passed": 0, "failure": "", "error": f"test code does not parse: {error}"}
    except BaseException as error:  # noqa: BLE001: report, the parent decides
        result = {"units": 0, "passed": 0, "failure": "", "error": f"tester failed: {type(error).__name__}: {error}"}
    result["nonce"] = config["nonce"]
    os.write(verdict_fd, wire.dumps_line(result))
    os._exit(0)


main()
