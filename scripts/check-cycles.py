#!/usr/bin/env python3
"""Finds import cycles between the modules of a Rust crate's source tree.

Contract: for each crate source directory given (default `crates/fulcrum/src`), every path a
file names (`use crate::a::b`, `use super::{x, y}`, an inline `crate::a::f()`, ...) is resolved
to the module it points into. An edge `a -> b` is recorded at the level where the two modules
part: between two top-level modules of the crate, or between two files (or subdirectories) of
the same module directory. A reference to an item of the enclosing module itself (`super::Item`
defined in `mod.rs`) is not an edge between siblings and is not counted, nor is `main.rs` (a
crate of its own). The script prints every edge with the first place it occurs, then each cycle
(a strongly connected set of modules: one shortest cycle through it with the references that
close it and, when the set is larger, every edge inside it), and exits 1 when there is a cycle, 0 otherwise.

Usage: scripts/check-cycles.py [--quiet] [--no-tests] [SRC_DIR ...]
  --quiet     print only the cycles, not every edge
  --no-tests  leave out test files (`tests.rs`, `tests_*.rs`, anything under a `tests/`
              directory); inline `#[cfg(test)]` modules are still read
"""

import os
import re
import sys
from collections import defaultdict

USE_RE = re.compile(r"\b(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.S)
PATH_RE = re.compile(r"\b(crate|super|self)((?:\s*::\s*\w+)+)")


def module_path(src, file):
    """`a/b.rs` -> (a, b); `a/mod.rs` -> (a,); `lib.rs` -> ()."""
    rel = os.path.relpath(file, src)
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text):
    """Blanks `//` comments and string literals (keeping line numbers), so that prose and
    strings that mention `crate::x` are not read as references."""
    out = []
    for line in text.split("\n"):
        line = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
        cut = line.find("//")
        out.append(line if cut < 0 else line[:cut])
    return "\n".join(out)


def expand_use_tree(tree):
    """`crate::{a::{b, c}, d}` -> [crate::a::b, crate::a::c, crate::d]."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)  # renames do not change the module named
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix = tree[:start]
                inner = tree[start + 1 : i]
                parts, level, last = [], 0, 0
                for j, c in enumerate(inner):
                    if c == "{":
                        level += 1
                    elif c == "}":
                        level -= 1
                    elif c == "," and level == 0:
                        parts.append(inner[last:j])
                        last = j + 1
                parts.append(inner[last:])
                result = []
                for part in parts:
                    if part:
                        result.extend(expand_use_tree(prefix + part))
                return result
    return [tree]


def resolve(path, here):
    """Absolute module-path components of `path` as seen from module `here`, or None when it
    does not start with `crate`, `super` or `self`."""
    parts = [p for p in path.split("::") if p]
    if not parts:
        return None
    if parts[0] == "crate":
        base, rest = [], parts[1:]
    elif parts[0] in ("super", "self"):
        base = list(here)
        rest = parts
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    else:
        return None
    return tuple(base + [p for p in rest if p not in ("*", "self")])


def references(text):
    """(line, path) for every path the file names."""
    found = []
    code = strip_comments(text)
    for m in USE_RE.finditer(code):
        line = code.count("\n", 0, m.start()) + 1
        for path in expand_use_tree(m.group(1)):
            found.append((line, path))
    rest = USE_RE.sub(lambda m: "\n" * m.group(0).count("\n"), code)
    for m in PATH_RE.finditer(rest):
        line = rest.count("\n", 0, m.start()) + 1
        found.append((line, m.group(1) + re.sub(r"\s+", "", m.group(2))))
    return found


def is_test_file(src, file):
    parts = os.path.relpath(file, src)[:-3].split(os.sep)
    return "tests" in parts[:-1] or parts[-1] == "tests" or parts[-1].startswith("tests_")


def edges_of(src, skip_tests=False):
    files = []
    for root, _dirs, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                files.append(os.path.join(root, name))
    files = [f for f in sorted(files) if os.path.relpath(f, src) != "main.rs"]
    if skip_tests:
        files = [f for f in files if not is_test_file(src, f)]
    modules = {module_path(src, f) for f in files}
    edges = {}  # (scope, from, to) -> first "file:line"
    for file in files:
        here = module_path(src, file)
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
        for line, path in references(text):
            target = resolve(path, here)
            if target is None:
                continue
            # Keep the longest prefix that is a module of this tree.
            while target and target not in modules:
                target = target[:-1]
            common = 0
            while common < min(len(here), len(target)) and here[common] == target[common]:
                common += 1
            if common == len(here) or common == len(target):
                continue  # into itself, its parent or its own child
            scope = here[:common]
            key = (scope, here[common], target[common])
            shown = os.path.relpath(file)
            if shown.startswith(".."):
                shown = file
            edges.setdefault(key, f"{shown}:{line}")
    return edges


def strongly_connected(nodes, graph):
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return result


def one_cycle(component, graph):
    """A shortest cycle through the component's first node, by breadth-first search."""
    members = set(component)
    start = component[0]
    previous = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node]):
            if nxt not in members:
                continue
            if nxt == start:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return list(reversed(path)) + [start]
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return component


def main(argv):
    quiet = "--quiet" in argv
    skip_tests = "--no-tests" in argv
    sources = [a for a in argv if not a.startswith("--")] or ["crates/fulcrum/src"]
    cycles = 0
    for src in sources:
        edges = edges_of(src, skip_tests)
        by_scope = defaultdict(dict)
        for (scope, a, b), where in edges.items():
            by_scope[scope][(a, b)] = where
        for scope in sorted(by_scope):
            name = src + ("/" + "/".join(scope) if scope else "")
            scoped = by_scope[scope]
            if not quiet:
                print(f"{name}: {len(scoped)} edges")
                for (a, b), where in sorted(scoped.items()):
                    print(f"  {a} -> {b}  ({where})")
            graph = defaultdict(set)
            nodes = set()
            for a, b in scoped:
                graph[a].add(b)
                nodes.update((a, b))
            for component in strongly_connected(nodes, graph):
                cycles += 1
                cycle = one_cycle(component, graph)
                print(f"CYCLE in {name}: {' -> '.join(cycle)}")
                for a, b in zip(cycle, cycle[1:]):
                    print(f"    {a} -> {b}  ({scoped[(a, b)]})")
                if len(component) > len(cycle) - 1:
                    print(f"    strongly connected: {', '.join(component)}; its edges:")
                    inside = set(component)
                    for (a, b), where in sorted(scoped.items()):
                        if a in inside and b in inside:
                            print(f"      {a} -> {b}  ({where})")
    if cycles:
        print(f"{cycles} cycle(s)")
        return 1
    print("no cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
