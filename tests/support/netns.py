"""Network namespaces the tests create: each a host of its own, joined to this one by a veth pair,
so one can be cut off (its link taken down) and joined again while everything keeps running.

Needs root (CI runs as root) and iproute2 (``scripts/test.sh`` installs it); otherwise the tests
that need it are skipped with the reason. Names and subnets carry this process's id, so parallel
test workers never meet.
"""

from __future__ import annotations

import os
import shutil
import subprocess

IP = shutil.which("ip") or "/usr/sbin/ip"


def missing() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if not os.path.exists(IP):
        return "iproute2 is not installed (scripts/test.sh installs it)"
    probe = f"agp{os.getpid() % 100000}"
    made = subprocess.run([IP, "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run([IP, "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run([IP, *args], check=True, capture_output=True)


class Netns:
    """One namespace with a veth pair to this one: ``root_ip`` here, ``ip`` inside, and a
    default route through here (so it reaches every address of this namespace)."""

    def __init__(self, index: int) -> None:
        tag = os.getpid() % 100000
        self.name = f"ag{tag}n{index}"
        self.outer = f"ag{tag}o{index}"  # the end in this namespace
        self.inner = f"ag{tag}i{index}"
        net = f"10.{200 + tag % 50}.{index}"
        self.root_ip, self.ip = f"{net}.1", f"{net}.2"

    def create(self) -> None:
        _ip("netns", "add", self.name)
        _ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
        _ip("link", "set", self.inner, "netns", self.name)
        _ip("addr", "add", f"{self.root_ip}/24", "dev", self.outer)
        _ip("link", "set", self.outer, "up")
        inside = ("netns", "exec", self.name, IP)
        _ip(*inside, "addr", "add", f"{self.ip}/24", "dev", self.inner)
        _ip(*inside, "link", "set", self.inner, "up")
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "route", "add", "default", "via", self.root_ip)

    def cut(self) -> None:
        """The host is cut off: its link goes down (its processes keep running)."""
        _ip("link", "set", self.outer, "down")

    def join(self) -> None:
        _ip("link", "set", self.outer, "up")

    def command(self, *args: str) -> list[str]:
        """``args`` run inside the namespace."""
        return [IP, "netns", "exec", self.name, *args]

    def delete(self) -> None:
        subprocess.run([IP, "link", "del", self.outer], capture_output=True)
        subprocess.run([IP, "netns", "del", self.name], capture_output=True)
