"""docs/infrastructure.md: generated from the model, current, and saying what the model says
(the exposure table row by row, the routes' probes and limits, the topology diagram)."""

from __future__ import annotations

import subprocess
import sys

from aitbc_infra import PROJECT_ROOT, topology
from aitbc_infra.docs import DOCS_FILE, render_docs
from aitbc_infra.exposure import exposures
from aitbc_infra.fleet import Fleet
from aitbc_infra.model import Route


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def _rows(section: list[str]) -> list[list[str]]:
    """A table's body rows as cells ('\\|' inside a cell is part of it)."""
    table = [line for line in section if line.startswith("| ")][1:]
    return [[cell.strip().replace("\\|", "|") for cell in _split(line)] for line in table]


def _split(line: str) -> list[str]:
    cells, cell, escaped = [], "", False
    for c in line.strip()[1:-1]:
        if c == "|" and not escaped:
            cells.append(cell)
            cell = ""
        else:
            cell += c
        escaped = c == "\\"
    return [*cells, cell]


def test_the_committed_docs_are_current(fleet):
    assert (PROJECT_ROOT / DOCS_FILE).read_text() == render_docs(fleet)


def test_check_passes_on_the_production_data():
    proc = subprocess.run([sys.executable, "-m", "aitbc_infra", "check"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ok    docs: {DOCS_FILE} is current" in proc.stdout


def test_the_exposure_table_has_one_row_per_exposure(fleet):
    section = _section(render_docs(fleet), "Exposure")
    assert "closed to the wan" in next(line for line in section if line)
    rows = _rows(section)
    found = exposures(fleet)
    assert len(rows) == len(found)
    for row, e in zip(rows, found, strict=True):
        assert row[:3] == [e.node, e.address, str(e.port)]
        assert row[4] == e.who
        assert row[3] == (e.what if e.forward_to is None else
                          f"forward → {e.what}, `{e.forward_to}`")
    assert ["ns3-root", "95.216.198.140", "8082",
            "forward → ns3-aitbc:8082 (aitbc-blockchain-rpc-3), `192.168.100.10:8082`",
            "aitbc.bubuit.net (127.0.0.1)"] in rows
    assert ["at1", "127.0.0.1", "443", "https", "any address"] in rows


def test_each_route_says_its_probe_status_limit_and_prefix(fleet):
    rows = {(r[0], r[2]): r for r in _rows(_section(render_docs(fleet), "Routes"))}
    assert len(rows) == sum(len(s.routes) for h in fleet.hosts.values() for s in h.nginx_sites)
    assert rows[("aitbc", "`/admin/`")][4:] == ["`/admin/stats`", "401", "`admin` 10 r/s, burst 20",
                                                "–"]
    assert rows[("aitbc", "`/Exchange`")][4:] == ["`/Exchange`", "200", "–", "strips `/Exchange`"]
    assert rows[("aitbc", "`= /exchange`")][4:6] == ["`/exchange`", "301"]
    assert rows[("ns3-root", "`/rpc/`")][4:] == ["`/rpc/head`", "200", "`rpc` 50 r/s, burst 100",
                                                 "–"]


def test_a_bar_in_a_location_stays_in_its_cell(fleet):
    host = fleet.hosts["aitbc"]
    site = host.nginx_sites[0]
    route = Route(location="/a|b", type="status", status=204)
    changed = host.model_copy(update={"nginx_sites": [
        site.model_copy(update={"routes": [*site.routes, route]})]})
    rows = _rows(_section(render_docs(Fleet({**fleet.hosts, "aitbc": changed})), "Routes"))
    assert {len(row) for row in rows} == {8}
    assert ["aitbc", site.server_name, "`/a|b`", "204", "`/a|b`", "204", "–", "–"] in rows


def test_the_topology_is_the_diagram_of_the_model(fleet):
    section = _section(render_docs(fleet), "Topology")
    start = section.index("```mermaid")
    end = section.index("```", start + 1)
    assert section[start + 1:end] == topology.mermaid(fleet)
