"""Where a process spends its time: py-spy's sampled stacks, summarized.

`recording(pid, path)` runs `py-spy record -f raw` on a process (and its children) for as long
as the block lasts; `summarize` turns the collapsed stacks into the functions holding the most
samples, by own time and by inclusive time within Freshet's code.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

_FRAME = re.compile(r"^(?P<fn>.+?) \((?P<file>[^()]+?)(?::(?P<line>\d+))?\)$")
PROJECT = ("api/", "freshet/", "guards/", "sources/", "store/", "tasks/", "workers/", "schemas/")


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def recording(pid: int, path: Path, rate: int = 250, gil: bool = True) -> Iterator[None]:
    """Sample `pid` and its subprocesses while the block runs (nothing if py-spy is absent).
    gil=True keeps only samples holding the GIL: where the process's Python CPU goes, not
    where its threads wait."""
    binary = py_spy()
    if binary is None:
        yield
        return
    proc = subprocess.Popen(
        [
            binary,
            "record",
            "-p",
            str(pid),
            "--subprocesses",
            "-f",
            "raw",
            "-r",
            str(rate),
            "--nonblocking",
            "-o",
            str(path),
            *(["--gil"] if gil else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m['fn']} ({path})"


def summarize(text: str, top: int = 25) -> str:
    total = 0
    own: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_name(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for name in set(frames):
            if "(" in name and name.split("(", 1)[1].startswith(PROJECT):
                ours[name] += n
    if not total:
        return "no samples (py-spy missing or not permitted)"
    lines = [f"{total} samples", "", "own time (leaf frames):"]
    lines += [f"  {n / total * 100:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "inclusive time in Freshet's code:"]
    lines += [f"  {n / total * 100:5.1f}%  {name}" for name, n in ours.most_common(top)]
    return "\n".join(lines)


def summarize_file(path: Path, top: int = 25) -> str:
    try:
        return summarize(path.read_text(errors="replace"), top)
    except OSError:
        return "no profile written"


if __name__ == "__main__":
    print(summarize_file(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25))
