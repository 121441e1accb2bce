"""`check` reads what the deploy will run and serve (used_files.py): a service's script, and the
files of alias, redirect and SPA routes, looked up in the lists of the one walk of the sources.

Each case changes one fact of a copy of the payload (AITBC_SRC) or of the data, and the
problem must name host, app and service (or site and route) and the path.
"""

from __future__ import annotations

import shutil

import pytest

from aitbc_infra.sources import check_sources
from aitbc_infra.used_files import script_of


def _problems(data) -> list[str]:
    return [str(p) for p in check_sources(data.load())]


def _named(problems: list[str], *parts: str) -> bool:
    return any(all(part in p for part in parts) for p in problems)


# Scripts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("command", "script"), [
    ("server.py --port {port} --dir {static}", "server.py"),
    ("miner.py --url {url:x} mine", "miner.py"),
    ("-m aitbc_chain.main", None),
    ('-c "from aitbc_chain.database import init_db; init_db()"', None),
    ("-u miner.py mine", "miner.py"),
    ("-W ignore run.py", "run.py"),
    ("-Wignore run.py", "run.py"),
    ("-X dev -B run.py --x", "run.py"),
    ("--check-hash-based-pycs never run.py", "run.py"),
    ("-um pkg.mod", None),
    ("-Im pkg.mod", None),
    ("-", None),
    ("-- -odd.py", "-odd.py"),
    ("-I", None),
    ("'my script.py' x", "my script.py"),
])
def test_the_script_is_pythons_first_argument_that_is_no_option(command, script):
    assert script_of(command) == script


def test_production_runs_two_scripts_each_found_in_its_tree(fleet):
    scripts = {svc.unit: script_of(svc.command) for host in fleet.hosts.values()
               for app, svc in host.services if svc.command and script_of(svc.command)}
    assert scripts == {"aitbc-trade-exchange": "server.py", "aitbc-gpu-miner": "miner.py"}
    assert check_sources(fleet) == []


def test_a_missing_script_names_host_app_service_and_path(data, payload_copy):
    (payload_copy / "cli" / "miner.py").unlink()
    field, _ = data.service("incus_host", "aitbc-gpu-miner")
    assert _named(_problems(data), "host at1: apps[0] (blockchain-node): ",
                  f"{field}.command (aitbc-gpu-miner): script 'miner.py' (workdir 'cli')",
                  "cli/miner.py is not in the release", "the tree 'cli' holds no 'miner.py'")


def test_a_script_the_release_leaves_out_is_named_with_the_reason(data, payload_copy):
    field, app = data.app("aitbc_container", "trade-exchange")
    app["exclude"] = ["server.*"]
    assert _named(_problems(data), "host aitbc: ", "(aitbc-trade-exchange): script 'server.py'",
                  "apps/trade-exchange/server.py is not in the release",
                  "'server.py' is left out by the exclude pattern 'server.*'")


def test_a_script_in_a_skipped_directory_is_not_in_the_release(data, payload_copy):
    (payload_copy / "cli" / "build").mkdir()
    shutil.copy(payload_copy / "cli" / "miner.py", payload_copy / "cli" / "build" / "miner.py")
    _, svc = data.service("incus_host", "aitbc-gpu-miner")
    svc["command"] = "build/miner.py mine"
    assert _named(_problems(data), "(aitbc-gpu-miner): script 'build/miner.py'",
                  "'build' is never copied")


def test_a_script_outside_every_tree_is_named(data, payload_copy):
    _, svc = data.service("incus_host", "aitbc-gpu-miner")
    svc["command"] = "../apps/coordinator-api/run.py"
    assert _named(_problems(data), "(aitbc-gpu-miner): script '../apps/coordinator-api/run.py'",
                  "apps/coordinator-api/run.py lies in none of the app's trees")


def test_a_script_reached_from_a_tree_through_dotdot_is_found(data, payload_copy):
    # cli/../apps/blockchain-node/scripts is another tree of the same app.
    _, svc = data.service("incus_host", "aitbc-gpu-miner")
    svc["command"] = "../apps/blockchain-node/scripts/mock_coordinator.py"
    assert _problems(data) == []


@pytest.mark.parametrize("command", ["{root}/bin/run.py", "/usr/local/bin/run.py",
                                     "-m nowhere.to.be.found"])
def test_scripts_the_host_provides_are_not_checked(data, payload_copy, command):
    _, svc = data.service("incus_host", "aitbc-gpu-miner")
    svc["command"] = command
    assert _problems(data) == []


def test_a_script_run_from_a_data_dir_is_not_checked(data, payload_copy):
    # The exchange API runs in its data dir: what lies there is the host's, not the release's.
    _, svc = data.service("aitbc_container", "aitbc-exchange-api")
    svc["command"] = "run.py --port {port}"
    assert _problems(data) == []


# Routes ----------------------------------------------------------------------------------------

def test_a_redirect_landing_on_a_missing_file_names_site_route_and_path(data, payload_copy):
    (payload_copy / "website" / "docs" / "browser-wallet.html").unlink()
    field, _ = data.route("aitbc_container", "/BrowserWallet")
    assert _named(_problems(data), f"host aitbc: {field}: site aitbc.bubuit.net, route "
                  "'/BrowserWallet': redirect to '/docs/browser-wallet.html' lands on route "
                  "'/docs/', which serves /var/www/aitbc.bubuit.net/docs/browser-wallet.html; "
                  "not deployed: web_content[0] (website) holds no 'docs/browser-wallet.html'")


def test_an_alias_to_a_missing_directory_is_named(data, payload_copy):
    shutil.rmtree(payload_copy / "website" / "docs")
    field, _ = data.route("aitbc_container", "/docs/")
    problems = _problems(data)
    assert _named(problems, f"host aitbc: {field}: site aitbc.bubuit.net, route '/docs/': "
                  "alias 'docs/' serves /var/www/aitbc.bubuit.net/docs/; not deployed: "
                  "web_content[0] (website) holds no file under 'docs/'")
    assert _named(problems, "route '/BrowserWallet'", "docs/browser-wallet.html")


def test_a_file_the_copy_leaves_out_is_named_with_the_pattern(data, payload_copy):
    _, content = data.web_content("aitbc_container", "website")
    content["exclude"] = ["docs/browser-*"]
    assert _named(_problems(data), "route '/BrowserWallet'", "web_content[0] (website) leaves "
                  "it out: 'docs/browser-wallet.html' is left out by the exclude pattern "
                  "'docs/browser-*'")


@pytest.mark.parametrize(("to", "missing"), [
    ("/docs/", "docs/index.html"),  # a directory: nginx's index
    ("/docs/clients.html", "docs/clients.html"),
])
def test_a_redirect_lands_on_a_file_or_a_directorys_index(data, payload_copy, to, missing):
    _, route = data.route("aitbc_container", "/BrowserWallet")
    route["to"] = to
    assert _problems(data) == []
    (payload_copy / "website" / missing).unlink()
    assert _named(_problems(data), "route '/BrowserWallet'", f"holds no {missing!r}")


def test_a_redirect_landing_on_an_spa_leaves_it_to_the_spa_route(data, payload_copy):
    project = payload_copy / "apps" / "marketplace-web"
    (project / "package.json").unlink()  # prebuilt, without its fallback page
    (project / "dist").mkdir()
    (project / "dist" / "app.js").write_text("// aitbc-marker: marketplace\n")
    problems = _problems(data)
    assert _named(problems, "route '/marketplace/': the SPA's fallback")
    assert not _named(problems, "route '/Marketplace'"), problems


def test_an_spa_fallback_nothing_deploys_is_named(data, payload_copy):
    _, site = data.site("aitbc_container", "/explorer/")
    site["routes"].append({"location": "/stats/", "type": "spa"})
    field = f"nginx_sites[0].routes[{len(site['routes']) - 1}]"
    assert _named(_problems(data), f"host aitbc: {field}: site aitbc.bubuit.net, route "
                  "'/stats/': the SPA's fallback /stats/index.html is "
                  "/var/www/aitbc.bubuit.net/stats/index.html; not deployed: web_content[0] "
                  "(website) holds no 'stats/index.html'")


def test_an_spa_the_deploy_builds_is_checked_as_far_as_its_build(data, payload_copy):
    # No dist/ in the payload: the build writes it, the route's fallback is not known yet.
    assert not (payload_copy / "apps" / "explorer-web" / "dist").exists()
    assert _problems(data) == []


def test_a_prebuilt_spa_without_its_fallback_is_named(data, payload_copy):
    project = payload_copy / "apps" / "explorer-web"
    (project / "package.json").unlink()  # a prebuilt tree: deployed as it is
    (project / "dist").mkdir()
    (project / "dist" / "app.js").write_text("// aitbc-marker: explorer\n")
    field, _ = data.route("aitbc_container", "/explorer/")
    assert _named(_problems(data), f"host aitbc: {field}: site aitbc.bubuit.net, route "
                  "'/explorer/': the SPA's fallback /explorer/index.html",
                  "web_content[1] (apps/explorer-web/dist) holds no 'index.html'")
    (project / "dist" / "index.html").write_text("<p>aitbc-marker: explorer</p>\n")
    assert _problems(data) == []


def test_a_site_whose_root_receives_no_web_content(data, payload_copy):
    _, site = data.site("aitbc_container", "/docs/")
    other = {**site, "config_name": "second.example.net", "server_name": "second.example.net",
             "listen": 8088, "root": "/var/www/second", "routes": [
                 {"location": "/docs/", "type": "alias", "path": "docs/"},
                 {"location": "/health", "match": "exact", "type": "status", "status": 200}]}
    data.groups["aitbc_container"]["nginx_sites"].append(other)
    assert _named(_problems(data), "host aitbc: nginx_sites[1].routes[0]: site "
                  "second.example.net, route '/docs/': alias 'docs/' serves /var/www/second/docs/",
                  "no web_content is copied there")


def test_the_web_content_that_is_missing_is_named_once(data, payload_copy):
    # The whole source missing is the content's problem; its routes are not named again.
    shutil.rmtree(payload_copy / "website")
    problems = _problems(data)
    assert _named(problems, "web_content[0].source")
    assert not _named(problems, "nginx_sites[0].routes"), problems


def test_the_production_data_has_each_route_kind_checked(fleet):
    kinds = {route.type for host in fleet.hosts.values() for site in host.nginx_sites
             if site.root for route in site.routes}
    assert {"alias", "redirect", "spa"} <= kinds
