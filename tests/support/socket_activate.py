"""Starts a program as systemd's socket activation does: one descriptor as fd 3, LISTEN_FDS=1,
LISTEN_PID set to the program's pid (exec keeps the pid), LISTEN_FDNAMES. The program's
environment is only the NAME=VALUE arguments, plus those.

Usage: socket_activate.py KIND PORT PROGRAM [NAME=VALUE...]
KIND is what fd 3 is:
  listening   a TCP socket bound to 127.0.0.1:PORT and listening (what systemd passes)
  bound       a TCP socket bound to 127.0.0.1:PORT, not listening
  udp         a UDP socket bound to 127.0.0.1:PORT
  unix        a listening Unix stream socket
  file        /dev/null
  closed      nothing: fd 3 is closed
  other-pid   listening, but LISTEN_PID names another process (pid 1)
"""

import os
import socket
import sys


def descriptor(kind, port):
    if kind in ("listening", "other-pid"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(128)
    elif kind == "bound":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", port))
    elif kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
    elif kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind("\0t2g-activation-%d" % os.getpid())  # abstract: leaves no file behind
        s.listen(1)
    elif kind == "file":
        return os.open("/dev/null", os.O_RDONLY)
    elif kind == "closed":
        return None
    else:
        sys.exit("unknown kind %r" % kind)
    return s.detach()


def main():
    kind, port, program = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    env = dict(pair.split("=", 1) for pair in sys.argv[4:])
    fd = descriptor(kind, port)
    if fd is None:
        try:
            os.close(3)
        except OSError:
            pass
    elif fd != 3:
        os.dup2(fd, 3)
        os.close(fd)
    if fd is not None:
        # dup2 onto itself keeps close-on-exec, so clear it either way.
        os.set_inheritable(3, True)
    env["LISTEN_FDS"] = "1"
    env["LISTEN_PID"] = "1" if kind == "other-pid" else str(os.getpid())
    env["LISTEN_FDNAMES"] = "t2g"
    os.execve(program, [program], env)


main()
