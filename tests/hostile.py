"""A catalogue of hostile candidate programs, for the sandbox tests and the hostile benchmark.

Every program defines `solve(x)` for a task whose answer, x * 7919 + 13, it does not know.
Those that try to break a wall return the right answer exactly when the wall gave way, so a
passing verdict always means a hole: "rejected" is then the whole requirement. The rest try
to cheat the judge (exit early, lie about equality, forge output, read the expected values,
end the test code's own loops, send replies that are ruinous to decode).

`run_asserts` runs `asserts_for(name)`: the plain asserts of TEST_CODE, or, for a program aimed at
a way of writing tests, that way (`all(map(...))`); an honest `solve` passes every one of them.
"""
import os

SECRET_FACTOR, SECRET_OFFSET = 7919, 13
XS = (3, 5)
CASES = [([x], x * SECRET_FACTOR + SECRET_OFFSET) for x in XS]
TEST_CODE = "".join(f"assert solve({x}) == {x * SECRET_FACTOR + SECRET_OFFSET}\n" for x in XS)
HOST_FILE = os.path.abspath(__file__)
RIGHT = f"x * {SECRET_FACTOR} + {SECRET_OFFSET}"
# In run_asserts the test code's own `==` is the judge, and `23770.0 == 23770` is true in Python:
# returning a float for an int is a type confusion only where the comparison is type-strict.
TYPE_STRICT_ONLY = {"float_for_int"}

_WANTED = f"cases = {[(x, want) for (x,), want in CASES]}\n"
# Test code that loops over its cases through an iterator: a StopIteration (or, under
# `async for`, a StopAsyncIteration) that escaped the candidate would end the loop early and
# leave a vacuous `all([])`.
ITERATING_TEST_CODE = {
    "map": _WANTED + "assert all(map(lambda c: solve(c[0]) == c[1], cases))\n",
    "filter": _WANTED + "assert not list(filter(lambda c: solve(c[0]) != c[1], cases))\n",
    "zip": _WANTED + "assert all(got == want for got, want in zip(map(solve, [c[0] for c in cases]), "
                     "[c[1] for c in cases]))\n",
    "async_for": _WANTED + (
        "import asyncio\n"
        "class Answers:\n"
        "    def __init__(self):\n        self.left = list(cases)\n"
        "    def __aiter__(self):\n        return self\n"
        "    async def __anext__(self):\n"
        "        if not self.left:\n            raise StopAsyncIteration\n"
        "        x, want = self.left.pop(0)\n"
        "        return solve(x) == want\n"
        "async def all_right():\n    return all([ok async for ok in Answers()])\n"
        "assert asyncio.run(all_right())\n"),
}


def pairs() -> list[tuple[str, str]]:
    """(program, api) pairs that must be rejected."""
    return [(name, api) for name in sorted(PROGRAMS) for api in ("run_cases", "run_asserts")
            if not (api == "run_asserts" and name in TYPE_STRICT_ONLY)]


def asserts_for(name: str) -> str:
    """The test code `run_asserts` gives program `name`."""
    for style, code in ITERATING_TEST_CODE.items():
        if name.endswith("_under_" + style):
            return code
    return TEST_CODE


# The harness imports its codec as the module `wire`; a candidate runs in the same interpreter,
# so it can swap the encoder for one that sends whatever it likes.
_RAW_REPLIES = "import sys\nsys.modules['wire'].encode = lambda value: value\n"
_HASH_MODULUS = "((1 << 61) - 1)"  # hash(k * M) == 0 for every int k: all keys land on one slot


def _raw_line(value_bytes: str) -> str:
    """A program whose replies carry `value_bytes` (a Python expression for bytes) as raw JSON."""
    return (
        "import sys\n"
        "wire = sys.modules['wire']\n"
        "original = wire.dumps_line\n"
        "def dumps_line(message):\n"
        "    if message.get('event') != 'result':\n"
        "        return original(message)\n"
        "    line = original(dict(message, value=0))\n"
        f"    return line.replace(b'\"value\":0', b'\"value\":' + {value_bytes}, 1)\n"
        "wire.dumps_line = dumps_line\n"
        "def solve(x):\n    return 0\n")

PROGRAMS = {
    # -- leaving early, hoping silence reads as success -----------------------------------------
    "sys_exit_at_load": "import sys\nsys.exit(0)\n",
    "sys_exit_in_call": "def solve(x):\n    raise SystemExit(0)\n",
    "os_exit_in_call": "import os\ndef solve(x):\n    os._exit(0)\n",
    "atexit_prints_success": (
        "import atexit, sys\n"
        "atexit.register(lambda: print('{\"id\": 1, \"event\": \"result\", \"value\": 23770}\\nall tests passed'))\n"
        "def solve(x):\n    sys.exit(0)\n"),
    "excepthook_swallows": (
        "import sys\nsys.excepthook = lambda *args: print('OK')\n"
        "def solve(x):\n    raise ValueError('hidden')\n"),
    "reexec_self": (
        "import os, sys\n"
        "def solve(x):\n    os.execv(sys.executable, [sys.executable, '-c', 'print(\"all tests passed\")'])\n"),
    "skip_test": "import unittest\ndef solve(x):\n    raise unittest.SkipTest('not today')\n",
    "keyboard_interrupt": "def solve(x):\n    raise KeyboardInterrupt\n",
    # -- ending the test code's own loops --------------------------------------------------------
    "stop_iteration_under_map": "def solve(x):\n    raise StopIteration\n",
    "stop_iteration_under_filter": "def solve(x):\n    raise StopIteration\n",
    "stop_iteration_under_zip": "def solve(x):\n    raise StopIteration\n",
    "stop_async_iteration_under_async_for": "def solve(x):\n    raise StopAsyncIteration\n",
    "own_stop_iteration_class_under_map": (
        "class StopIteration(Exception):\n    pass\n"
        "def solve(x):\n    raise StopIteration('named like the built-in')\n"),
    # -- lying about equality -----------------------------------------------------------------
    "always_equal_object": (
        "class Yes:\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
        "    __hash__ = object.__hash__\n"
        "def solve(x):\n    return Yes()\n"),
    "int_subclass_equal": (
        "class Liar(int):\n    def __eq__(self, other): return True\n    __hash__ = int.__hash__\n"
        "def solve(x):\n    return Liar(0)\n"),
    "str_subclass_equal": (
        "class Liar(str):\n    def __eq__(self, other): return True\n    __hash__ = str.__hash__\n"
        "def solve(x):\n    return Liar('0')\n"),
    "list_subclass_equal": (
        "class Liar(list):\n    def __eq__(self, other): return True\n"
        "def solve(x):\n    return Liar([0])\n"),
    "float_for_int": f"def solve(x):\n    return float({RIGHT})\n",
    "str_for_int": f"def solve(x):\n    return str({RIGHT})\n",
    "bool_true": "def solve(x):\n    return True\n",
    # -- reading the expected values ----------------------------------------------------------
    "caller_frames": (
        "import sys\n"
        "def solve(x):\n"
        "    frame, seen = sys._getframe(1), []\n"
        "    while frame is not None:\n"
        "        for value in list(frame.f_locals.values()) + list(frame.f_code.co_consts):\n"
        "            if type(value) is int and value > 1000:\n"
        "                return value\n"
        "        frame = frame.f_back\n"
        "    return -1\n"),
    "gc_objects": (
        "import gc\n"
        "def solve(x):\n"
        "    for obj in gc.get_objects():\n"
        "        if isinstance(obj, (list, tuple, dict)):\n"
        "            for value in (obj.values() if isinstance(obj, dict) else obj):\n"
        "                if type(value) is int and value > 1000 and value % 7919 == 13 % 7919 + 0 * x:\n"
        "                    return value\n"
        "    return -1\n"),
    "read_stdin": "import sys\ndef solve(x):\n    data = sys.stdin.read()\n    return int(data) if data.strip() else -1\n",
    "read_host_file": (
        f"def solve(x):\n    open({HOST_FILE!r}).read()\n    return {RIGHT}\n"),
    "read_parent_memory": (
        f"import os\ndef solve(x):\n    open(f'/proc/{{os.getppid()}}/mem', 'rb').read(1)\n    return {RIGHT}\n"),
    # -- patching the harness or the checker --------------------------------------------------
    "patch_harness_channel": (
        "import sys\n"
        "main = sys.modules.get('__main__')\n"
        "if main is not None and hasattr(main, 'Channel'):\n"
        "    original = main.Channel.send\n"
        "    def send(self, message):\n"
        "        message = dict(message, event='result', value=0, passed=True)\n"
        "        return original(self, message)\n"
        "    main.Channel.send = send\n"
        "def solve(x):\n    raise RuntimeError('cannot solve')\n"),
    "patch_assert_builtins": (
        "import builtins\n"
        "builtins.AssertionError = type('Harmless', (Exception,), {})\n"
        "builtins.abs = lambda value: 0\nbuiltins.isinstance = lambda *a: True\n"
        "def abs(value):\n    return 0\n"
        "def solve(x):\n    return 0\n"),
    "print_fake_results": (
        "def solve(x):\n"
        "    for line in ('PASSED', 'all tests passed', '{\"id\": 1, \"event\": \"result\", \"value\": 23770}',\n"
        "                 '{\"units\": 2, \"passed\": 2, \"nonce\": \"0\" }'):\n"
        "        print(line, flush=True)\n"
        "    return -1\n"),
    "write_fake_replies_to_fds": (
        "import os\n"
        "def solve(x):\n"
        "    for fd in range(0, 64):\n"
        "        try:\n"
        "            os.write(fd, b'{\"id\": 1, \"event\": \"result\", \"value\": 0}\\n{\"units\": 2, \"passed\": 2}\\n')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return -1\n"),
    # -- running out the clock ----------------------------------------------------------------
    "infinite_loop": "def solve(x):\n    while True:\n        pass\n",
    "sleep_forever": "import time\ndef solve(x):\n    time.sleep(10_000)\n",
    "ignore_sigterm": (
        "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "def solve(x):\n    while True:\n        pass\n"),
    "loop_at_load": "while True:\n    pass\n",
    # -- exhausting the machine (bounded, so a broken sandbox cannot take the host down) --------
    "fork_bomb": (
        "import os, time\n"
        "def solve(x):\n"
        "    started = 0\n"
        "    for _ in range(300):\n"
        "        try:\n"
        "            pid = os.fork()\n"
        "        except OSError:\n"
        "            break\n"
        "        if pid == 0:\n"
        "            time.sleep(20)\n"
        "            os._exit(0)\n"
        "        started += 1\n"
        f"    return {RIGHT} if started >= 300 else -1\n"),
    "thread_bomb": (
        "import threading, time\n"
        "def solve(x):\n"
        "    started = 0\n"
        "    for _ in range(300):\n"
        "        try:\n"
        "            threading.Thread(target=time.sleep, args=(20,), daemon=True).start()\n"
        "        except RuntimeError:\n"
        "            break\n"
        "        started += 1\n"
        f"    return {RIGHT} if started >= 300 else -1\n"),
    "memory_bomb": f"def solve(x):\n    block = bytearray(3 << 30)\n    return {RIGHT}\n",
    "disk_bomb": (
        "def solve(x):\n"
        "    chunk = b'x' * (1 << 20)\n"
        "    with open('bomb.bin', 'wb') as handle:\n"
        "        for _ in range(200):\n"
        "            handle.write(chunk)\n"
        f"    return {RIGHT}\n"),
    "many_files": (
        "def solve(x):\n"
        "    for index in range(20000):\n"
        "        open(f'f{index}', 'w').close()\n"
        f"    return {RIGHT}\n"),
    "output_flood": (
        "import sys\n"
        "def solve(x):\n"
        "    line = 'x' * (1 << 20)\n"
        "    for _ in range(200):\n"
        "        sys.stdout.write(line)\n"
        "    sys.stdout.flush()\n"
        f"    return {RIGHT}\n"),
    "huge_integer_result": "def solve(x):\n    return 10 ** 100_000\n",
    "deeply_nested_result": (
        "def solve(x):\n    value = []\n    for _ in range(100_000):\n        value = [value]\n    return value\n"),
    # -- replies that are ruinous to decode (the candidate replaced its own encoder) ------------
    "colliding_dict_keys": _RAW_REPLIES + (
        f"def solve(x):\n    return {{'$': 'dict', 'v': [[k * {_HASH_MODULUS}, 0] for k in range(1, 60_001)]}}\n"),
    "colliding_set_items": _RAW_REPLIES + (
        f"def solve(x):\n    return {{'$': 'frozenset', 'v': [k * {_HASH_MODULUS} for k in range(1, 60_001)]}}\n"),
    "colliding_tuple_keys": _RAW_REPLIES + (
        "def solve(x):\n"
        f"    keys = [{{'$': 'tuple', 'v': [k * {_HASH_MODULUS}]}} for k in range(1, 40_001)]\n"
        "    return {'$': 'dict', 'v': [[key, 0] for key in keys]}\n"),
    "colliding_keys_few_per_dict": _RAW_REPLIES + (
        "def solve(x):\n"
        f"    one = {{'$': 'dict', 'v': [[k * {_HASH_MODULUS}, 0] for k in range(1, 8_001)]}}\n"
        "    return [one] * 9\n"),
    "wide_json_object": _RAW_REPLIES + "def solve(x):\n    return {f'k{i}': i for i in range(100_000)}\n",
    "reply_over_the_cap": _RAW_REPLIES + "def solve(x):\n    return 'x' * (3 << 20)\n",
    "many_huge_integers": _raw_line("b'[' + b','.join([b'9' * 4000] * 400) + b']'"),
    "raw_deep_nesting": _raw_line("b'[' * 200_000 + b']' * 200_000"),
    "many_small_items": _RAW_REPLIES + "def solve(x):\n    return [[0] * 10 for _ in range(90_000)]\n",
    "recursion_bomb": "def solve(x):\n    return solve(x + 1) + 1\n",
    # -- escaping ------------------------------------------------------------------------------
    "daemon_outlives_run": (
        "import os, time\n"
        "def solve(x):\n"
        "    if os.fork() == 0:\n"
        "        try:\n"
        "            os.setsid()\n"
        "        except OSError:\n"
        "            pass\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30)\n"
        "        os._exit(0)\n"
        "    time.sleep(0.2)\n"
        "    return -1\n"),
    "escape_process_group": f"import os\ndef solve(x):\n    os.setsid()\n    return {RIGHT}\n",
    "network_socket": (
        f"import socket\ndef solve(x):\n    socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n    return {RIGHT}\n"),
    "network_connect": (
        "import socket\n"
        "def solve(x):\n"
        "    connection = socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
        f"    return {RIGHT}\n"),
    "kill_parent": (
        "import os, signal\n"
        "def solve(x):\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"
        f"    return {RIGHT}\n"),
    "kill_everything": (
        "import os, signal\n"
        "def solve(x):\n"
        "    os.kill(-1, signal.SIGKILL)\n"
        f"    return {RIGHT}\n"),
    "raise_own_limits": (
        "import resource\n"
        "def solve(x):\n"
        "    resource.setrlimit(resource.RLIMIT_NPROC, (100000, 100000))\n"
        f"    return {RIGHT}\n"),
    "become_root": f"import os\ndef solve(x):\n    os.setuid(0)\n    return {RIGHT}\n",
    "segfault": "import ctypes\ndef solve(x):\n    return ctypes.string_at(0)\n",
    "write_outside_workdir": (
        f"def solve(x):\n    open('/usr/selfplay-was-here', 'w').write('x')\n    return {RIGHT}\n"),
}


def processes_with_uid(wanted) -> set[int]:
    """Pids of the processes whose real uid satisfies `wanted(uid)` (read from /proc, races tolerated)."""
    import glob
    found = set()
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            with open(status) as handle:
                uid = int(next(line for line in handle if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration, ValueError):
            continue
        if wanted(uid):
            found.add(int(status.split("/")[2]))
    return found
