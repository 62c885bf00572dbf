# Sourced by gdb in test_gdb_stub.sh after a Ctrl-C has stopped a booting Linux: makes the
# selected thread a hart that runs the kernel (S-mode, paging on). A Ctrl-C may land while every
# hart is in the firmware (OpenSBI in M-mode, e.g. one hart spinning until the other has done a
# remote fence, longer when the host is loaded): that is a correct stop, not the state the
# following commands inspect, so the target is resumed for a moment and interrupted again, at
# most ten times. Prints how many tries it took.
import threading

_KERNEL_PRIV = 1


def _kernel_thread():
    stopped = gdb.selected_thread()
    found = None
    for thread in gdb.selected_inferior().threads():
        thread.switch()
        satp = int(gdb.parse_and_eval("$satp")) & 0xFFFFFFFFFFFFFFFF
        if int(gdb.parse_and_eval("$priv")) == _KERNEL_PRIV and (satp >> 60) != 0:
            found = found or thread
    (found or stopped).switch()
    return found


def _select_kernel_thread():
    for tries in range(10):
        if _kernel_thread() is not None:
            print("kernel thread after %d resumes" % tries)
            return
        threading.Timer(0.2, lambda: gdb.post_event(lambda: gdb.execute("interrupt"))).start()
        gdb.execute("continue")
    print("no hart in the kernel after 10 interrupts")


_select_kernel_thread()
