"""Static checks of rendered files with the real tools: nginx -t, systemd-analyze, gixy-next.

Units are also scored with `systemd-analyze security` (see security.py): at most MAX_EXPOSURE.
The sshd drop-in is read in Python against the keywords and values it may hold (sshd.py):
`sshd -t` would need openssh-server on this machine, a daemon it has no use for.

Each check runs in a throw-away directory and touches nothing on this machine.

The tools are started as soon as their input is written and collected at the end, so they run
side by side and beside the parsing here; gixy audits a server of thousands of locations in
slices. `check` on a site of 5,000 routes takes a few seconds.
"""

from __future__ import annotations

import atexit
import functools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import crossplane

from aitbc_infra.host_names import NGINX_CONF_D, VENV_LINK
from aitbc_infra.model import HostSpec
from aitbc_infra.render import SYSTEMD_KINDS, RenderedFile
from aitbc_infra.security import MAX_EXPOSURE, unit_exposure
from aitbc_infra.sshd import problems as sshd_problems

# Directives whose file arguments point at host paths; the check points them into its prefix.
_CERT_DIRECTIVES = {"ssl_certificate": "cert.pem", "ssl_certificate_key": "key.pem"}
_LOG_DIRECTIVES = {"access_log", "error_log"}
# gixy audits per host, and exposure scorings at once: the tools are single-threaded.
_WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2
# gixy checks a location against the other children of its server, so one run costs the square
# of a server's locations (5,000 take 3 s alone, 2.2 s in two halves). A server with more
# locations than this is audited in slices, each the server with a share of its locations.
_GIXY_SLICE = 2500
# Below this, a second gixy process costs more than it saves.
_GIXY_SPLIT_FROM = 1000

Parsed = list[tuple[RenderedFile, list[dict]]]  # rendered files and their crossplane parse

# gixy's start-up (0.2 s, mostly its imports) is most of a small host's audit, once per host.
# This process imports it once for the whole `check`, then forks one audit for each job of a
# batch (a line of tab-separated jobs: output file, NUL, config files), answering each batch
# with one line of the audits' exit codes.
_GIXY_SERVER = r"""
import os, sys, traceback
from gixy.cli.main import main

for line in sys.stdin:
    pids = []
    for job in line.rstrip("\n").split("\t"):
        out, *configs = job.split("\0")
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
                os.dup2(os.open(out + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
                sys.argv = ["gixy", "-f", "json", *configs]
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        pids.append(pid)
    print(" ".join(str(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])) for pid in pids), flush=True)
"""
_gixy_lock = threading.Lock()  # one batch at a time: the answers come in no other order


@dataclass
class CheckResult:
    host: str
    check: str
    ok: bool
    detail: str = ""


def _need(tool: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None)
    if not path:
        raise FileNotFoundError(f"'{tool}' is not installed on this machine (see README: set-up)")
    return path


def _start(argv: list[str]) -> subprocess.Popen:
    """A tool started now and collected later (`communicate`), so that it runs meanwhile.

    Processes rather than threads: pyinfra's loader patches threading with gevent, whose
    threads run nothing while this one parses.
    """
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@functools.cache
def _certificate() -> tuple[bytes, bytes]:
    """A throw-away key and self-signed certificate, made once for every host checked.

    An EC key: an RSA key's prime search takes anywhere up to a second on a busy machine.
    """
    with tempfile.TemporaryDirectory(prefix="aitbc-cert-") as tmp:
        key, cert = Path(tmp) / "key.pem", Path(tmp) / "cert.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "1", "-subj", "/CN=check.invalid", "-keyout", str(key),
             "-out", str(cert)],
            check=True, capture_output=True,
        )
        return key.read_bytes(), cert.read_bytes()


def _dummy_certificate(directory: Path) -> None:
    key, cert = _certificate()
    (directory / "key.pem").write_bytes(key)
    (directory / "cert.pem").write_bytes(cert)


def parse_nginx_file(content: str) -> list[dict]:
    """crossplane's parse of one rendered file (outside any http block)."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as tmp:
        tmp.write(content)
        tmp.flush()
        payload = crossplane.parse(tmp.name, single=True, check_ctx=False, comments=False)
    if payload["status"] != "ok":
        errors = "; ".join(e["error"] for e in payload["errors"])
        raise ValueError(f"crossplane could not parse the file: {errors}")
    return payload["config"][0]["parsed"]


def _relocate(block: list[dict], prefix: Path) -> None:
    for directive in block:
        name = directive["directive"]
        if name in _CERT_DIRECTIVES:
            directive["args"] = [str(prefix / _CERT_DIRECTIVES[name])]
        elif name in _LOG_DIRECTIVES:
            directive["args"] = [str(prefix / "logs" / Path(directive["args"][0]).name)]
        if "block" in directive:
            _relocate(directive["block"], prefix)


def _prepare(prefix: Path) -> None:
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "temp").mkdir(exist_ok=True)
    _dummy_certificate(prefix)


def _built(parsed: Parsed) -> list[tuple[RenderedFile, str]]:
    return [(f, crossplane.build(block) + "\n") for f, block in parsed]


def _write_config(prefix: Path, directory: Path, texts: list[tuple[RenderedFile, str]]) -> Path:
    """`directory`/nginx.conf including each file's text, written beside it; temp in `prefix`."""
    (directory / "sites").mkdir(parents=True, exist_ok=True)
    includes = []
    # conf.d files (maps) must come before the servers that use them, as in Debian's nginx.conf.
    for f, text in sorted(texts, key=lambda item: not item[0].path.startswith(f"{NGINX_CONF_D}/")):
        target = directory / "sites" / Path(f.path).name
        target.write_text(text)
        includes.append(target)
    temp = prefix / "temp"
    main = directory / "nginx.conf"
    main.write_text(
        "worker_processes auto;\n"  # as Debian's nginx.conf, which this stands in for
        f"pid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n"
        + "".join(f"    include {p};\n" for p in includes)
        + "}\n"
    )
    return main


def check_nginx(host: HostSpec, files: list[RenderedFile]) -> list[CheckResult]:
    nginx_files = [f for f in files if f.kind == "nginx"]
    if not nginx_files:
        return []
    with tempfile.TemporaryDirectory(prefix="aitbc-nginx-") as tmp:
        prefix = Path(tmp)
        try:
            parsed = [(f, parse_nginx_file(f.content)) for f in nginx_files]
        except ValueError as exc:
            return [CheckResult(host.node, "crossplane parse", False, str(exc))]
        parse = CheckResult(host.node, "crossplane parse", True, f"{len(nginx_files)} file(s)")
        # gixy reads the files as rendered (it opens no certificate or log, and where a
        # certificate lives is a finding of its own), and starts first: it takes longest.
        slices = _gixy_slices(parsed)
        configs = [_write_config(prefix, prefix / "gixy" / str(i),
                                 _built(part) if len(slices) > 1 else [(f, f.content) for f in nginx_files])
                   for i, part in enumerate(slices)]
        # One audit per worker, each of its share of the slices.
        audits = _start_gixy([(prefix / "gixy" / f"out{i}", configs[i::_WORKERS])
                              for i in range(min(_WORKERS, len(configs)))])
        try:
            _prepare(prefix)
            for _, block in parsed:
                _relocate(block, prefix)
            main = _write_config(prefix, prefix, _built(parsed))
            nginx_t = _nginx_t_result(
                host, _start([_need("nginx"), "-t", "-q", "-p", str(prefix), "-c", str(main)]))
        finally:
            gixy = _gixy_result(host, audits())
        return [parse, nginx_t, gixy]


def _nginx_t_result(host: HostSpec, proc: subprocess.Popen) -> CheckResult:
    _, stderr = proc.communicate()
    # Not being root only costs a warning about the "user" directive; anything else fails.
    output = "\n".join(line for line in stderr.splitlines()
                       if "the \"user\" directive makes sense only" not in line)
    return CheckResult(host.node, "nginx -t", proc.returncode == 0 and not output, output.strip())


def _gixy_slices(parsed: Parsed) -> list[Parsed]:
    """The configuration as one or more for gixy, a big server's locations shared out among them.

    Every slice keeps all files, every directive outside the big servers' locations, and the
    locations gixy reads across a server: `location /` (whether a TLS server answers 421) and
    those that `set` a variable (origins: `set $x $http_origin` pairs with any `add_header`).
    Every other location is in exactly one slice, audited with its server's own directives:
    the audit sees what gixy's per-location checks see on the whole file.
    """
    own = {id(d): _own_locations(d) for _, block in parsed for d in block if d["directive"] == "server"}
    big = {key: locations for key, locations in own.items() if len(locations) > _GIXY_SPLIT_FROM}
    if not big:
        return [parsed]
    # As many slices to each gixy process, every slice at most _GIXY_SLICE locations.
    count = _WORKERS * math.ceil(max(map(len, big.values())) / (_WORKERS * _GIXY_SLICE))
    slices = []
    for i in range(count):
        # Server by server: the ids of the locations this slice leaves out.
        left_out = {key: {id(c) for j, c in enumerate(locations) if j * count // len(locations) != i}
                    for key, locations in big.items()}
        slices.append([(f, [{**d, "block": [c for c in d["block"] if id(c) not in left_out[id(d)]]}
                            if id(d) in big else d for d in block]) for f, block in parsed])
    return slices


def _own_locations(server: dict) -> list[dict]:
    """A server's locations that gixy audits on their own (see _gixy_slices)."""
    return [c for c in server.get("block", []) if c["directive"] == "location"
            and c["args"][-1:] != ["/"] and not _sets_variable(c.get("block", []))]


def _sets_variable(block: list[dict]) -> bool:
    return any(d["directive"] == "set" or _sets_variable(d.get("block", [])) for d in block)


@functools.cache
def _gixy_server() -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-c", _GIXY_SERVER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    atexit.register(_stop_gixy_server, server)
    return server


def _stop_gixy_server(server: subprocess.Popen) -> None:
    server.stdin.close()  # it ends at the end of its input
    server.wait()


def _start_gixy(jobs: list[tuple[Path, list[Path]]]) -> Callable[[], list[tuple[int, str, str]]]:
    """gixy started on each job (output file, configs); the call of the result collects each
    job's exit code, output and errors. Always call it: it ends the batch."""
    _gixy_lock.acquire()
    server = _gixy_server()
    try:
        server.stdin.write("\t".join("\0".join(map(str, [out, *configs])) for out, configs in jobs)
                           + "\n")
        server.stdin.flush()
    except OSError:
        pass  # it died: the answer below is empty and says so

    def collect() -> list[tuple[int, str, str]]:
        try:
            answer = server.stdout.readline().split()
        finally:
            _gixy_lock.release()
        if len(answer) != len(jobs):
            _gixy_server.cache_clear()
            server.kill()
            died = f"the gixy process ended: {server.communicate()[1].strip()}"
            return [(3, "", died)] * len(jobs)
        return [(int(code), _read(out), _read(Path(f"{out}.err")))
                for code, (out, _) in zip(answer, jobs, strict=True)]

    return collect


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _gixy_result(host: HostSpec, audits: list[tuple[int, str, str]]) -> CheckResult:
    findings: dict[str, None] = {}  # a server's own findings come once from every slice
    failed = []
    for code, stdout, stderr in audits:
        try:
            found = json.loads(stdout or "[]")
        except json.JSONDecodeError:
            found = None
        # 1 is "findings"; 2 and up: a file gixy could not parse or audit, not a clean bill.
        if found is None or code not in (0, 1):
            failed.append((stdout + stderr).strip() or f"gixy exited with status {code}")
            continue
        findings.update(dict.fromkeys(f"{f.get('plugin')}: {f.get('summary')} ({f.get('reason', '')})"
                                      for f in found))
    if failed:
        return CheckResult(host.node, "gixy-next audit", False, "\n".join(failed))
    return CheckResult(host.node, "gixy-next audit", not findings,
                       "; ".join(findings) or "0 findings")


def check_units(host: HostSpec, files: list[RenderedFile]) -> list[CheckResult]:
    with tempfile.TemporaryDirectory(prefix="aitbc-units-") as tmp:
        return [finish() for finish in _start_units(host, files, Path(tmp))]


def _start_units(host: HostSpec, files: list[RenderedFile], tmp: Path) -> list[Callable[[], CheckResult]]:
    """`systemd-analyze verify` started for every unit; each call of the result collects one."""
    started = []
    by_unit: dict[str, list[RenderedFile]] = {}
    for f in files:
        if f.kind in SYSTEMD_KINDS:
            by_unit.setdefault(f.unit or f.path, []).append(f)
    # The one-shot steps a unit requires must be there for it to load.
    steps = {svc.unit: [f for f in by_unit.get(svc.unit, []) if f.kind == "unit"]
             for _, svc in host.services if svc.oneshot}
    needed = {svc.unit: [f for dep in svc.after for f in steps.get(dep, [])]
              for _, svc in host.services}
    for i, (unit, unit_files) in enumerate(by_unit.items()):
        # A directory each: a unit is verified with its socket, candidate and steps, whatever
        # else the host runs.
        paths = []
        for f in [*unit_files, *needed.get(unit, [])]:
            path = tmp / str(i) / Path(f.path).name
            path.parent.mkdir(exist_ok=True)
            # The venv exists only on the host: verify the unit against this machine's python.
            path.write_text(_point_exec_at_local_python(f.content))
            paths.append(str(path))
        proc = _start([_need("systemd-analyze"), "verify", *paths])
        started.append(functools.partial(_verified, host, Path(unit_files[0].path).name, proc))
    return started


def _verified(host: HostSpec, name: str, proc: subprocess.Popen) -> CheckResult:
    stdout, stderr = proc.communicate()
    output = (stdout + stderr).strip()
    # verify exits 0 on many warnings: any output at all is a failure.
    return CheckResult(host.node, f"systemd-analyze verify {name}",
                       proc.returncode == 0 and not output, output)


def _point_exec_at_local_python(content: str) -> str:
    lines = []
    for line in content.splitlines():
        if line.startswith("ExecStart=") and f"/{VENV_LINK}/bin/python" in line:
            argv = line.split(" ", 1)[1] if " " in line else ""
            line = f"ExecStart={sys.executable} {argv}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def check_exposure(host: HostSpec, files: list[RenderedFile]) -> list[CheckResult]:
    """`systemd-analyze security` of every unit: at most MAX_EXPOSURE (the security issue's bar)."""
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        return list(pool.map(functools.partial(_exposure, host), [f for f in files if f.kind == "unit"]))


def _exposure(host: HostSpec, f: RenderedFile) -> CheckResult:
    unit = f.unit or Path(f.path).stem
    try:
        score, rating = unit_exposure(f.content, Path(f.path).name)
    except RuntimeError as exc:  # systemd-analyze refused the unit: a failed check
        return CheckResult(host.node, f"exposure {unit}", ok=False, detail=str(exc))
    return CheckResult(host.node, f"exposure {unit}", ok=score <= MAX_EXPOSURE,
                       detail=f"{score} {rating}")


def check_sshd(host: HostSpec, files: list[RenderedFile]) -> list[CheckResult]:
    """Each sshd drop-in holds every keyword of ours once, with a value it may take, and
    nothing else (no Include or Match could slip in another file or scope)."""
    return [CheckResult(host.node, f"sshd drop-in {f.path}", not found, "\n".join(found))
            for f in files if f.kind == "sshd" for found in [sshd_problems(f.content)]]


def run_all(host: HostSpec, files: list[RenderedFile]) -> list[CheckResult]:
    with tempfile.TemporaryDirectory(prefix="aitbc-units-") as tmp, \
            ThreadPoolExecutor(max_workers=1) as pool:
        units = _start_units(host, files, Path(tmp))  # verifying while the nginx files are parsed
        # Scored while gixy runs at the latest (under gevent, when this thread waits for it).
        exposure = pool.submit(check_exposure, host, files)
        nginx = check_nginx(host, files)
        return (nginx + [finish() for finish in units] + exposure.result()
                + check_sshd(host, files))
