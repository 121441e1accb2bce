"""The source files a deploy will run and serve, looked up before anything is built or copied.

`check` walks every tree and web content once (sources.py, through source_tree.py); what the
walk lists is what the release tar and the web copy will hold. Here that list is compared with
what the data will make the hosts use, so a path nothing provides is named offline rather than
found by a unit that exits or a page that answers 404. Nothing here opens or stats a file: it
compares paths with the walk's lists.

What is checked, exactly:

- a service's `command` or a release step's (its words) whose script (python's first argument
  that is no option; `-c` and `-m` run no script) is relative and has no placeholder, run from
  a `workdir` inside the app's `trees` (a step's own, else its service's): the script must be a
  file of the tree holding it, as the release carries it (not left out by the debris rules or
  an exclude pattern). A script run from a data dir or the app root (where no sources are) or
  named by a placeholder is the host's, and not checked;
- a route served from the web root (`nginx_sites[].root`, which receives the host's
  `web_content`), as templates/nginx/_location.j2 serves it:
  - `alias`: `path` must be a directory holding deployed files (a path ending in '/'), or a
    deployed file or directory;
  - `redirect`: its landing (`to` without a query) is answered by the route nginx picks for
    it; where that route serves files (`static` or `alias`), the file must be deployed: `to`
    itself, or its `index.html` (nginx's `index`) for a directory. A landing on an SPA route
    is that route's fallback, checked there; a proxy, status or redirect landing is no file
    (redirect chains are the model's: fleet.py);
  - `spa`: `try_files $uri $uri/ LOCATIONindex.html`: the fallback must be deployed.
  A web content an npm build writes (`build` with a package.json) is known only after the
  build: before it, that the build can run (the package.json) is all there is to check, and
  `deploys/website.py` refuses an output without index.html. A web content the walk cannot
  read at all (missing, outside the source root) is named on the content itself, not again
  on every route it serves.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from aitbc_infra.fleet import Problem, matching_route
from aitbc_infra.model import App, HostSpec, Route, WebContent, path_in_tree
from aitbc_infra.source_tree import Skips

INDEX = "index.html"  # nginx's default `index`, and the SPAs' fallback page
# Options of python that take the next word as their value ("-W error", "-X dev").
_VALUE_OPTIONS = {"-W", "-X", "--check-hash-based-pycs"}


def script_of(command: str) -> str | None:
    """The script `python COMMAND` runs, or None: python's options first, `-c` and `-m` run
    code and modules, `-` reads standard input, `--` ends the options."""
    return script_of_words(shlex.split(command))


def script_of_words(words: list[str]) -> str | None:
    """The script python run with these arguments runs, or None (script_of)."""
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            return words[i + 1] if i + 1 < len(words) else None
        if word == "-":
            return None  # the program is read from standard input
        if not word.startswith("-"):
            return word
        if word.startswith("--"):
            i += 2 if word in _VALUE_OPTIONS else 1
            continue
        # A cluster of one-letter options ("-uB", "-Wignore", "-c CODE", "-mpkg").
        for k, letter in enumerate(word[1:], start=1):
            if letter in "cm":
                return None
            if letter in "WX":
                i += 1 if k == len(word) - 1 else 0  # its value: the next word, or the rest
                break
        i += 1
    return None


def script_problems(root: Path, app: App, field: str,
                    trees: dict[str, frozenset[str] | None], skips: Skips) -> list[str]:
    """Each checked script of a service or release step that the release does not carry.
    `trees`: the names the walk found under each of the app's trees (None: the tree could not
    be read, named already); `skips`: what that walk left out, to say why a script is not
    there."""
    runs = [(f"{field}.services[{j}].command ({svc.unit})", svc.workdir,
             script_of(svc.command) if svc.command else None)
            for j, svc in enumerate(app.services)]
    # A release step runs in its service's working directory unless it names its own.
    runs += [(f"{field}.steps[{j}].command (step {step.name})", app.step_workdir_path(step),
              script_of_words(step.command)) for j, step in enumerate(app.steps)]
    problems = []
    for run, workdir, script in runs:
        if (script is None or "{" in script or script.startswith("/") or workdir is None
                or workdir in app.data_dirs):
            continue
        path = posixpath.normpath(f"{workdir}/{script}")
        where = f"{run}: script {script!r} (workdir {workdir!r})"
        names = [(t, name) for t in app.trees if (name := path_in_tree(t, path))]
        if not names:
            problems.append(f"{where}: {root / path} lies in none of the app's trees "
                            f"{app.trees}")
            continue
        if any(trees.get(t) is None or name in trees[t] for t, name in names):
            continue  # carried, or in a tree whose own problem is named
        tree, name = names[0]
        why = skips.left_out(name)
        problems.append(f"{where}: {root / path} is not in the release: "
                        + (f"under the tree {tree!r}, {why}" if why else
                           f"the tree {tree!r} holds no {name!r}"))
    return problems


# Web routes -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Copied:
    """One web content as `check` sees it before a deploy: where it lands under the web root,
    and the names under its source the copy will take (None: not known before the deploy)."""

    index: int
    content: WebContent
    # None: an npm build writes it during the deploy, or the walk could not read it at all
    # (named on the content): every path in it counts as deployed here.
    files: frozenset[str] | None
    skips: Skips  # what the walk left out, to say why a path is not there

    @property
    def target(self) -> str:
        """The directory under the web root it is copied to ("" for the root itself)."""
        return self.content.path.rstrip("/")

    def holds(self, path: str) -> bool:
        """Whether `path` (under the web root) lies in this content's directory."""
        return not self.target or path == self.target or path.startswith(f"{self.target}/")

    def name(self, path: str) -> str:
        return path[len(self.target) + 1:] if self.target else path

    @cached_property
    def directories(self) -> frozenset[str]:
        """Every directory holding a file of the copy ("a", "a/b" for "a/b/c")."""
        return frozenset(parent for name in self.files or ()
                         for parent in _parents(name))

    def __str__(self) -> str:
        return f"web_content[{self.index}] ({self.content.source})"


def _parents(name: str) -> list[str]:
    parts = name.split("/")[:-1]
    return ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]


@dataclass(frozen=True)
class _Lookup:
    deployed: bool
    why: str = ""  # why not


def _authority(copied: list[Copied], path: str) -> Copied | None:
    """The content a path of the web root is copied from: the one with the longest directory
    holding it (the root's tree leaves the nested ones' directories to them: plan.py)."""
    holding = [c for c in copied if c.holds(path)]
    return max(holding, key=lambda c: len(c.target)) if holding else None


def _file(copied: list[Copied], path: str) -> _Lookup:
    content = _authority(copied, path)
    if content is None:
        return _Lookup(False, "no web_content is copied there")
    if content.files is None or content.name(path) in content.files:
        return _Lookup(True)
    why = content.skips.left_out(content.name(path))
    return _Lookup(False, f"{content} leaves it out: {why}" if why else
                   f"{content} holds no {content.name(path)!r}")


def _directory(copied: list[Copied], path: str) -> _Lookup:
    """Whether some deployed file lies under the directory `path`."""
    # A content copied at or under it fills it (one the deploy builds is taken on trust).
    if any((c.target == path or c.target.startswith(f"{path}/")) and (c.files is None or c.files)
           for c in copied):
        return _Lookup(True)
    content = _authority(copied, path)
    if content is None:
        return _Lookup(False, "no web_content is copied there")
    if content.files is None or content.name(path) in content.directories:
        return _Lookup(True)
    return _Lookup(False, f"{content} holds no file under {content.name(path) + '/'!r}")


def _page(copied: list[Copied], path: str) -> _Lookup:
    """What nginx answers for `path`: the file, or for a directory its index."""
    if path == "" or path.endswith("/"):
        return _file(copied, f"{path}{INDEX}")
    found = _file(copied, path)
    return found if found.deployed or _file(copied, f"{path}/{INDEX}").deployed else found


def _served_path(route: Route | None, uri: str) -> str | None:
    """The path under the root that `route`, the one nginx picks for `uri`, serves it from,
    where it serves files (static, spa, alias); None otherwise."""
    if route is None:
        return None
    if route.type in ("static", "spa"):
        return uri.lstrip("/")
    if route.type == "alias" and route.path is not None:
        return route.path + ("" if route.match == "exact" else uri[len(route.location):])
    return None


def _asked(route: Route) -> str | None:
    """The URI whose route serves what `route` needs: an SPA's fallback, a redirect's landing."""
    if route.type == "spa":
        return f"{route.location}{INDEX}"
    if route.type == "redirect" and route.to is not None:
        return route.to.split("?", 1)[0]
    return None


def route_problems(host: HostSpec, copied: list[Copied]) -> list[Problem]:
    """Each alias, redirect and SPA route of `host` whose file is not deployed (above)."""
    where = f"host {host.node}"
    problems = []
    for i, site in enumerate(host.nginx_sites):
        if not site.root:
            continue
        # The host's web content goes to its first site with a root (HostSpec.site_root).
        here = copied if site.root == host.site_root else []
        # Every route nginx picks is looked up at once: a table of thousands of redirects
        # costs no more than as many other routes.
        asked = [_asked(route) for route in site.routes]
        picked = iter(matching_route(site, [uri for uri in asked if uri is not None]))
        for j, (route, uri) in enumerate(zip(site.routes, asked, strict=True)):
            answering = None
            if uri is not None:
                index = next(picked)
                answering = site.routes[index] if index is not None else None
            found = _route(route, uri, answering, here)
            if found is None or found[1].deployed:
                continue
            path, lookup, what = found
            problems.append(Problem(where, f"nginx_sites[{i}].routes[{j}]",
                                    f"site {site.server_name}, route {route.location!r}: "
                                    f"{what} {site.root}/{path}; not deployed: {lookup.why}"))
    return problems


def _route(route: Route, uri: str | None, answering: Route | None,
           copied: list[Copied]) -> tuple[str, _Lookup, str] | None:
    """(path under the root, whether it is deployed, what it is) for a route that serves a
    file; `answering` is the route nginx picks for `uri` (_asked)."""
    if route.type == "alias" and route.path is not None:
        path = route.path.rstrip("/")
        lookup = _directory(copied, path) if route.path.endswith("/") else _dir_or_file(
            copied, path)
        return route.path, lookup, f"alias {route.path!r} serves"
    served = _served_path(answering, uri or "")
    if served is None:
        return None
    if route.type == "spa":
        return served, _file(copied, served), f"the SPA's fallback {uri} is"
    # A redirect landing on an SPA lands on its fallback, checked on that route.
    if route.type == "redirect" and answering is not None and answering.type != "spa":
        return served, _page(copied, served), (f"redirect to {route.to!r} lands on route "
                                               f"{answering.location!r}, which serves")
    return None


def _dir_or_file(copied: list[Copied], path: str) -> _Lookup:
    found = _file(copied, path)
    return found if found.deployed or _directory(copied, path).deployed else found
