#!/usr/bin/env python3
"""Prints the import graph of src/ from its #include "..." lines, at folder
and at file level, and fails (exit status 1) on a cycle or on an include
that goes against the floors:

    core < layers, optim < train < io < export < cli

A folder may include its own files, the public headers (include/) and the
folders on lower floors; layers and optim share a floor and may not include
each other. The command-line tool may include the public headers only.

    scripts/import-graph.py           folder graph, file graph, verdict
    scripts/import-graph.py --quiet   the verdict and any violation only
"""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FLOORS = {"include": -1, "core": 0, "layers": 1, "optim": 1, "train": 2, "io": 3, "export": 4,
          "cli": 5}
PUBLIC_ONLY = {"cli"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def node(path):
    """'core/model.c' for ROOT/src/core/model.c, 'include/ckeras.h' for the API."""
    rel = os.path.relpath(path, ROOT)
    return rel[len("src/"):] if rel.startswith("src" + os.sep) else rel


def sources():
    files = []
    for top in ("src", "include"):
        for d, _, names in os.walk(os.path.join(ROOT, top)):
            files += [os.path.join(d, n) for n in names if n.endswith((".c", ".h", ".def"))]
    return sorted(files)


def resolve(including, name, by_name):
    """The file an #include "name" in `including` names: beside it, else the
    one file of that name in src/ or include/ (the build's include path)."""
    beside = os.path.normpath(os.path.join(os.path.dirname(including), name))
    if os.path.exists(beside):
        return beside
    found = by_name.get(os.path.basename(name), [])
    return found[0] if len(found) == 1 else None


def file_graph(files):
    by_name = {}
    for f in files:
        by_name.setdefault(os.path.basename(f), []).append(f)
    graph, unresolved = {}, []
    for f in files:
        deps = set()
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = resolve(f, m.group(1), by_name)
                if target:
                    deps.add(node(target))
                else:
                    unresolved.append("%s: #include \"%s\" names no single file" % (node(f), m.group(1)))
        graph[node(f)] = deps
    return graph, unresolved


def folder(n):
    return n.split("/")[0]


def cycles(graph):
    """Strongly connected components with more than one node, or a self loop."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def floor_violations(graph):
    bad = []
    for a in sorted(graph):
        for b in sorted(graph[a]):
            fa, fb = folder(a), folder(b)
            if fa == fb or fb == "include":
                continue
            if fa in PUBLIC_ONLY:
                bad.append("%s includes %s: %s may use the public headers only" % (a, b, fa))
            elif fa not in FLOORS or fb not in FLOORS:
                bad.append("%s includes %s: folder without a floor" % (a, b))
            elif FLOORS[fb] >= FLOORS[fa]:
                bad.append("%s includes %s: %s (floor %d) may not include %s (floor %d)"
                           % (a, b, fa, FLOORS[fa], fb, FLOORS[fb]))
    return bad


def main():
    quiet = "--quiet" in sys.argv[1:]
    graph, unresolved = file_graph(sources())
    folders = {}
    for a, deps in graph.items():
        folders.setdefault(folder(a), set()).update(folder(b) for b in deps if folder(b) != folder(a))
    if not quiet:
        print("folder graph (floor, folder -> folders it includes)")
        for f in sorted(folders, key=lambda f: (FLOORS.get(f, 99), f)):
            print("  %2s %-7s -> %s" % (FLOORS.get(f, "?"), f, " ".join(sorted(folders[f])) or "-"))
        print("file graph")
        for a in sorted(graph):
            print("  %s -> %s" % (a, " ".join(sorted(graph[a])) or "-"))
    problems = unresolved + floor_violations(graph)
    problems += ["file cycle: " + " <-> ".join(c) for c in cycles(graph)]
    problems += ["folder cycle: " + " <-> ".join(c) for c in cycles(folders)]
    for p in problems:
        print("import-graph: " + p)
    if problems:
        print("import-graph: FAIL (%d problems)" % len(problems))
        return 1
    print("import-graph: OK (%d files, no cycles, floors respected)" % len(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main())
