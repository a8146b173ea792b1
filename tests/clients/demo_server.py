"""A demo archive of its own for the tests that start, stop and restart a server: built (or
reused) in a directory by the real `skyport demo` command and served on a loopback port."""
import os
import socket
import subprocess
import time
import urllib.request

BINARY = os.environ["SKYPORT_BIN"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(directory, port):
    """Serves the demo archive in `directory/demo` (building it the first time) on `port`;
    returns the process and its base URL once it answers."""
    log = open(os.path.join(directory, f"server-{port}.log"), "wb")
    proc = subprocess.Popen(
        [BINARY, "demo", "--dir", os.path.join(directory, "demo"), "--small", "--listen", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "/tap/availability", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {open(log.name).read()}")
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start")
