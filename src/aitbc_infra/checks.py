"""Static checks of rendered files with the real tools: nginx -t, systemd-analyze, gixy-next.

Units are also scored with `systemd-analyze security` (see security.py): at most MAX_EXPOSURE.

Each check runs in a throw-away directory and touches nothing on this machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import crossplane

from aitbc_infra.model import HostSpec
from aitbc_infra.render import RenderedFile
from aitbc_infra.security import MAX_EXPOSURE, unit_exposure

# Directives whose file arguments point at host paths; the check points them into its prefix.
_CERT_DIRECTIVES = {"ssl_certificate": "cert.pem", "ssl_certificate_key": "key.pem"}
_LOG_DIRECTIVES = {"access_log", "error_log"}


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


def _dummy_certificate(directory: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=check.invalid", "-keyout", str(directory / "key.pem"),
         "-out", str(directory / "cert.pem")],
        check=True, capture_output=True,
    )


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


def assemble_nginx(files: list[RenderedFile], prefix: Path) -> Path:
    """A complete nginx.conf in `prefix` including every rendered nginx file, paths relocated."""
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "temp").mkdir(exist_ok=True)
    _dummy_certificate(prefix)
    includes = []
    for f in files:
        parsed = parse_nginx_file(f.content)
        _relocate(parsed, prefix)
        target = prefix / "sites" / Path(f.path).name
        target.parent.mkdir(exist_ok=True)
        target.write_text(crossplane.build(parsed) + "\n")
        includes.append(target)
    # conf.d files (maps) must come before the servers that use them, as in Debian's nginx.conf.
    includes.sort(key=lambda p: not any(f.path.startswith("/etc/nginx/conf.d/") and
                                        Path(f.path).name == p.name for f in files))
    temp = prefix / "temp"
    main = prefix / "nginx.conf"
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
    results = []
    with tempfile.TemporaryDirectory(prefix="aitbc-nginx-") as tmp:
        prefix = Path(tmp)
        try:
            main = assemble_nginx(nginx_files, prefix)
        except ValueError as exc:
            return [CheckResult(host.node, "crossplane parse", False, str(exc))]
        results.append(CheckResult(host.node, "crossplane parse", True,
                                   f"{len(nginx_files)} file(s)"))
        proc = subprocess.run([_need("nginx"), "-t", "-q", "-p", str(prefix), "-c", str(main)],
                              capture_output=True, text=True)
        # Not being root only costs a warning about the "user" directive; anything else fails.
        output = "\n".join(line for line in proc.stderr.splitlines()
                           if "the \"user\" directive makes sense only" not in line)
        results.append(CheckResult(host.node, "nginx -t", proc.returncode == 0 and not output,
                                   output.strip()))
        results.append(_gixy(host, main))
    return results


def _gixy(host: HostSpec, main: Path) -> CheckResult:
    gixy = Path(sys.executable).with_name("gixy")
    proc = subprocess.run([str(gixy), "-f", "json", str(main)], capture_output=True, text=True)
    try:
        findings = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return CheckResult(host.node, "gixy-next audit", False, proc.stdout + proc.stderr)
    detail = "; ".join(f"{f.get('plugin')}: {f.get('summary')} ({f.get('reason', '')})"
                       for f in findings)
    return CheckResult(host.node, "gixy-next audit", not findings, detail or "0 findings")


def check_units(host: HostSpec, files: list[RenderedFile]) -> list[CheckResult]:
    units = [f for f in files if f.kind == "unit"]
    if not units:
        return []
    results = []
    with tempfile.TemporaryDirectory(prefix="aitbc-units-") as tmp:
        for f in units:
            path = Path(tmp) / Path(f.path).name
            # The venv exists only on the host: verify the unit against this machine's python.
            path.write_text(_point_exec_at_local_python(f.content))
            proc = subprocess.run([_need("systemd-analyze"), "verify", str(path)],
                                  capture_output=True, text=True)
            output = (proc.stdout + proc.stderr).strip()
            # verify exits 0 on many warnings: any output at all is a failure.
            results.append(CheckResult(host.node, f"systemd-analyze verify {path.name}",
                                       proc.returncode == 0 and not output, output))
    return results


def _point_exec_at_local_python(content: str) -> str:
    lines = []
    for line in content.splitlines():
        if line.startswith("ExecStart=") and "/.venv/bin/python" in line:
            argv = line.split(" ", 1)[1] if " " in line else ""
            line = f"ExecStart={sys.executable} {argv}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def check_exposure(host: HostSpec, files: list[RenderedFile]) -> list[CheckResult]:
    """`systemd-analyze security` of every unit: at most MAX_EXPOSURE (the security issue's bar)."""
    results = []
    for f in files:
        if f.kind == "unit":
            unit = f.unit or Path(f.path).stem
            try:
                score, rating = unit_exposure(f.content, Path(f.path).name)
            except RuntimeError as exc:  # systemd-analyze refused the unit: a failed check
                results.append(CheckResult(host.node, f"exposure {unit}", ok=False, detail=str(exc)))
                continue
            results.append(CheckResult(host.node, f"exposure {unit}", ok=score <= MAX_EXPOSURE,
                                       detail=f"{score} {rating}"))
    return results


def run_all(host: HostSpec, files: list[RenderedFile]) -> list[CheckResult]:
    return check_nginx(host, files) + check_units(host, files) + check_exposure(host, files)
