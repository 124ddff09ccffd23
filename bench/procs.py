"""Process handling shared by the benchmarks (standard library only)."""
import subprocess


def stop_all(procs, timeout):
    """Closes each process's stdin (the workers exit on EOF), terminates it,
    and kills whatever has not exited `timeout` seconds later."""
    for p in procs:
        if p.stdin:
            p.stdin.close()
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
