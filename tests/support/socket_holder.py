"""Holds a listening socket as systemd holds a socket unit's, and starts a program on it as
systemd starts the unit's service: the socket as fd 3, LISTEN_FDS=1, LISTEN_PID (the program's
own pid: a shell exports its $$, then execs it), LISTEN_FDNAMES. The socket stays open while the
programs it starts come and go, so connections wait in its backlog between one and the next.

Usage: socket_holder.py PORT PROGRAM [NAME=VALUE...]
Prints `listening` once the socket listens on 127.0.0.1:PORT. Each line `start` on stdin starts
PROGRAM with only the NAME=VALUE variables plus those, and prints its pid. The programs' output
goes to this script's stderr. When stdin closes, every program still running is killed.
"""

import os
import socket
import subprocess
import sys


def main():
    port, program = int(sys.argv[1]), sys.argv[2]
    env = dict(pair.split("=", 1) for pair in sys.argv[3:])
    env.update(LISTEN_FDS="1", LISTEN_FDNAMES="t2g")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    # systemd's default Backlog= is SOMAXCONN.
    s.listen(socket.SOMAXCONN)
    if s.fileno() != 3:
        os.dup2(s.fileno(), 3)
    # dup2 onto itself keeps close-on-exec, so clear it either way.
    os.set_inheritable(3, True)
    print("listening", flush=True)

    children = []
    for line in iter(sys.stdin.readline, ""):
        if line.strip() != "start":
            sys.exit("unknown command %r" % line)
        children = [c for c in children if c.poll() is None]
        child = subprocess.Popen(
            ["/bin/sh", "-c", 'export LISTEN_PID=$$; exec "$0"', program],
            env=env,
            pass_fds=(3,),
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr,
        )
        children.append(child)
        print(child.pid, flush=True)
    for child in children:
        child.kill()
        child.wait()


main()
