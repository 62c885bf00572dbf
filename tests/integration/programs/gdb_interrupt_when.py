# Sourced by gdb in test_gdb_stub.sh before a `continue`: once the file named by the convenience
# variable $marker_file contains $marker (the guest's console got that far), interrupt the
# target as Ctrl-C would. A thread waits; the interrupt runs in gdb's event loop.
import threading
import time

_path = gdb.convenience_variable("marker_file").string()
_marker = gdb.convenience_variable("marker").string()


def _wait_then_interrupt():
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with open(_path, "rb") as f:
                if _marker.encode() in f.read():
                    break
        except OSError:
            pass
        time.sleep(0.1)
    gdb.post_event(lambda: gdb.execute("interrupt"))


threading.Thread(target=_wait_then_interrupt, daemon=True).start()
