#!/usr/bin/env python3
"""Checks two house rules (docs/ARCHITECTURE.md, "Rules the code keeps"):
- no import circle among the files (modules) of any crate;
- no non-test function longer than 100 lines in dataplane/src and control/src.
Prints each breach and exits 1 if there is any. Usage: house_rules.py [repo root]."""
import os
import re
import sys

CRATES = ["dpdk-sys", "dataplane", "api", "control", "rvsadm", "perf"]
LENGTH_CHECKED = ["dataplane", "control"]
MAX_FN_LINES = 100


def blank_literals(text):
    """Comments, strings and char literals blanked out (newlines kept), so braces and paths
    inside them do not count."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif re.match(r'r#*"', text[i:i + 8]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            j = text.find('"' + hashes, i + 2 + len(hashes))
            j = n if j < 0 else j + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i:j + 1])); i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0))); i += len(m.group(0))
            else:
                out.append(c); i += 1  # a lifetime
        else:
            out.append(c); i += 1
    return "".join(out)


def without_tests(text):
    """The text with every `#[cfg(test)]` item (module, fn, impl, use) blanked."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if re.match(r"\s*#\[cfg\(test\)\]", lines[i]):
            j, depth, opened = i + 1, 0, False
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                opened = opened or "{" in lines[j]
                if (opened and depth <= 0) or (not opened and lines[j].rstrip().endswith(";")):
                    break
                j += 1
            for k in range(i, min(j + 1, len(lines))):
                lines[k] = ""
            i = j
        i += 1
    return "\n".join(lines)


def modules(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel[0] == "bin":
                continue
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            mods[tuple(rel)] = path
    return mods


def resolve(mods, cur, parts):
    """The module a `crate::`/`super::`/`self::` path names (the longest known prefix)."""
    if parts[0] == "crate":
        base, parts = [], parts[1:]
    elif parts[0] in ("super", "self"):
        is_dir = mods[cur].endswith(("mod.rs", "lib.rs", "main.rs"))
        base = list(cur) if is_dir or parts[0] == "self" else list(cur[:-1])
        if parts[0] == "self":
            parts = parts[1:]
        else:
            while parts and parts[0] == "super":
                base, parts = base[:-1] if is_dir else base, parts[1:]
                is_dir = True
    else:
        return None
    for k in range(len(parts), -1, -1):
        if tuple(base + parts[:k]) in mods:
            return tuple(base + parts[:k])
    return None


def use_paths(text):
    """Every path a file names, with `use a::{b, c::d}` groups expanded."""
    paths = []
    for m in re.finditer(r"\b(?:crate|super|self)(?:::\w+)+(?:::\{)?", text):
        start = m.group(0)
        if start.endswith("{"):
            depth, j = 1, m.end()
            while j < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            prefix = start[:-3].split("::")
            for item in re.findall(r"[\w:]+", text[m.end():j - 1]):
                paths.append(prefix + [p for p in item.split("::") if p])
        else:
            paths.append(start.split("::"))
    return paths


def cycles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def import_cycles(src):
    mods = modules(src)
    graph = {}
    for mod, path in mods.items():
        text = without_tests(blank_literals(open(path).read()))
        targets = {resolve(mods, mod, p) for p in use_paths(text)}
        # A module naming its own ancestors (super::Type) is how Rust nests, not a circle.
        graph[mod] = {t for t in targets if t is not None and t != mod and mod[:len(t)] != t}
    return [sorted("::".join(m) or "lib" for m in comp) for comp in cycles(graph)]


def long_functions(path):
    lines = without_tests(blank_literals(open(path).read())).split("\n")
    found = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:unsafe\s+)?(?:extern\s+\S+\s+)?fn\s+(\w+)", line)
        if not m:
            continue
        depth, opened, j = 0, False, i
        while j < len(lines):
            depth += lines[j].count("{") - lines[j].count("}")
            opened = opened or "{" in lines[j]
            if (opened and depth <= 0) or (not opened and lines[j].rstrip().endswith(";")):
                break
            j += 1
        if opened and j - i + 1 > MAX_FN_LINES:
            found.append((m.group(1), i + 1, j - i + 1))
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    breaches = []
    for crate in CRATES:
        src = os.path.join(root, crate, "src")
        if os.path.isdir(src):
            for comp in import_cycles(src):
                breaches.append(f"{crate}: import circle among {', '.join(comp)}")
    for crate in LENGTH_CHECKED:
        for dirpath, _, files in os.walk(os.path.join(root, crate, "src")):
            for f in sorted(files):
                path = os.path.join(dirpath, f)
                if f.endswith(".rs") and f != "tests.rs":
                    for name, line, n in long_functions(path):
                        rel = os.path.relpath(path, root)
                        breaches.append(f"{rel}:{line}: fn {name} has {n} lines (at most {MAX_FN_LINES})")
    for b in breaches:
        print(b)
    print(f"house rules: {len(breaches)} breach(es)" if breaches else "house rules: kept")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
