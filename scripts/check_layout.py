#!/usr/bin/env python3
"""Layout rules for crates/*/src (run by scripts/check-layout.sh, stdlib only).

  1. no source file longer than MAX_LINES lines (test-only files aside:
     anything under a `tests/` directory or named `tests.rs`);
  2. every source file opens with a `//!` module doc line;
  3. no import cycle between the files of one crate.

For rule 3 each crate gets a file-level graph. An edge a.rs -> b.rs is a
`use`, a `crate::`/`super::`/`self::` path, or a path through a module name
in scope (a child module or an imported module) that resolves to an item
defined in b.rs. Paths resolve to the deepest module file that exists
(`a/b.rs`, `a/b/mod.rs`, lib.rs/main.rs for the root); a name re-exported
with `use`/`pub use` is followed to the file that defines it. Not edges:
`mod x;` (structure), `pub use` re-exports unless the name is also used in
the file itself, and anything under `#[cfg(test)]` (test-only items and
test-only module files). Method calls are invisible to it: a type whose
inherent `impl` is split across files (e.g. `impl Store` in each store file)
links those files only where a path names something they define.

Usage: check_layout.py [--edges] [--allow-parent-child] [REPO_ROOT]
  exit 0 clean, 1 on violations; --edges also prints the dependency graph;
  --allow-parent-child tolerates cycles made only of a module file (`x.rs`
  or `x/mod.rs`) and its own child files.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

MAX_LINES = 700
KEYWORD_STARTS = {"crate", "super", "self"}
ITEM_KEYWORDS = {"fn", "struct", "enum", "trait", "type", "const", "static", "union", "mod"}


# ---------------------------------------------------------------- lexing


def blank_comments_and_strings(src: str) -> str:
    """Same text with comments, string and char literals replaced by spaces
    (newlines kept, so offsets and line numbers stay valid)."""
    out = list(src)
    n = len(src)
    i = 0

    def blank(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    def ident_char(c: str) -> bool:
        return c.isalnum() or c == "_"

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c in "rb" and (i == 0 or not ident_char(src[i - 1])):
            # raw strings r"..", r#".."#, br".."; byte strings b".." (b'x' is the char case)
            j = i + 2 if src.startswith("br", i) else i + 1
            if src[j - 1] == "r":
                hashes = 0
                while j < n and src[j] == "#":
                    hashes, j = hashes + 1, j + 1
                if j < n and src[j] == '"':
                    end = src.find('"' + "#" * hashes, j + 1)
                    end = n if end < 0 else end + 1 + hashes
                    blank(i, end)
                    i = end
                    continue
            elif j < n and src[j] == '"':
                i = j  # the plain string case below blanks it
                continue
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            if i + 1 < n and src[i + 1] == "\\":
                j = src.find("'", i + 2)
                j = n if j < 0 else j
                blank(i, j + 1)
                i = j + 1
            elif i + 2 < n and src[i + 2] == "'":
                blank(i, i + 3)
                i += 3
            else:
                i += 1  # a lifetime
        else:
            i += 1
    return "".join(out)


TOKEN_RE = re.compile(r"r#[A-Za-z_]\w*|[A-Za-z_]\w*|::|\S")


def tokenize(text: str) -> list[tuple[str, int]]:
    """(token, line) pairs."""
    tokens = []
    line, last = 1, 0
    for m in TOKEN_RE.finditer(text):
        line += text.count("\n", last, m.start())
        last = m.start()
        tok = m.group()
        if tok.startswith("r#"):
            tok = tok[2:]
        tokens.append((tok, line))
    return tokens


def is_ident(tok: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_]\w*", tok))


# ---------------------------------------------------------------- parsing


class Module:
    """One module (file or inline `mod x { }`): what it defines and imports."""

    def __init__(self, path: tuple[str, ...], file: Path, test_only: bool):
        self.path = path
        self.file = file
        self.test_only = test_only
        self.defs: set[str] = set()
        self.imports: dict[str, tuple[str, ...]] = {}  # name -> raw path (relative to module)
        self.globs: list[tuple[str, ...]] = []
        self.children: dict[str, bool] = {}  # child name -> declared test-only


class Ref:
    """A path written in a file: the module it is written in, and where."""

    def __init__(self, module: tuple[str, ...], path: tuple[str, ...], line: int, glob: bool = False):
        self.module = module
        self.path = path
        self.line = line
        self.glob = glob


class FileInfo:
    def __init__(self, file: Path):
        self.file = file
        self.refs: list[Ref] = []
        self.pub_imports: list[tuple[str, Ref]] = []  # (name, ref) of `pub use`
        self.used_idents: dict[str, int] = {}  # name -> first line where used


def attr_is_test_only(attr: list[str]) -> bool:
    s = "".join(attr)
    return s == "cfg(test)" or s.startswith("cfg(all(test,")


def parse_use_tree(toks: list[str], prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], str | None, bool]]:
    """Expand the tokens of a use tree into (path, bound name or None, is_glob)."""
    results = []
    pos = 0

    def tree(prefix: tuple[str, ...]) -> None:
        nonlocal pos
        path = list(prefix)
        if pos < len(toks) and toks[pos] == "::":
            pos += 1
        while pos < len(toks):
            t = toks[pos]
            if t == "{":
                pos += 1
                while pos < len(toks) and toks[pos] != "}":
                    tree(tuple(path))
                    if pos < len(toks) and toks[pos] == ",":
                        pos += 1
                pos += 1
                return
            if t == "*":
                pos += 1
                results.append((tuple(path), None, True))
                return
            if is_ident(t):
                pos += 1
                path.append(t)
                if pos < len(toks) and toks[pos] == "::":
                    pos += 1
                    continue
                name = t
                if pos + 1 < len(toks) and toks[pos] == "as":
                    name = toks[pos + 1]
                    pos += 2
                if path[-1] == "self" and len(path) > 1:
                    path.pop()  # `use a::b::{self}` binds `b`
                    if name == "self":
                        name = path[-1]
                results.append((tuple(path), None if name == "_" else name, False))
                return
            pos += 1  # stray token
        return

    while pos < len(toks):
        before = pos
        tree(prefix)
        if pos < len(toks) and toks[pos] == ",":
            pos += 1
        if pos == before:
            pos += 1
    return results


def parse_file(
    file: Path,
    modpath: tuple[str, ...],
    test_only: bool,
    modules: dict[tuple[str, ...], Module],
) -> FileInfo:
    info = FileInfo(file)
    text = blank_comments_and_strings(file.read_text(encoding="utf-8"))
    toks = tokenize(text)
    n = len(toks)
    modules[modpath] = Module(modpath, file, test_only)
    stack: list[tuple[str, ...] | None] = []  # per open brace: module path (inline mod) or None
    cur_mod = modpath
    pending_test = False
    pending_mod: str | None = None
    i = 0

    def at_module_level() -> bool:
        return all(s is not None for s in stack)

    def skip_item(i: int) -> int:
        """Index after the item starting at i (through `;` or a balanced `{}`)."""
        if toks[i][0] == "use" or (toks[i][0] == "pub" and any(t == "use" for t, _ in toks[i : i + 6])):
            while i < n and toks[i][0] != ";":
                i += 1
            return i + 1
        depth = 0
        while i < n:
            t = toks[i][0]
            if t in "([":
                depth += 1
            elif t in ")]":
                depth -= 1
            elif t == ";" and depth == 0:
                return i + 1
            elif t == "{" and depth == 0:
                b = 0
                while i < n:
                    if toks[i][0] == "{":
                        b += 1
                    elif toks[i][0] == "}":
                        b -= 1
                        if b == 0:
                            return i + 1
                    i += 1
                return n
            i += 1
        return n

    while i < n:
        t, line = toks[i]
        # attributes
        if t == "#" and i + 1 < n and toks[i + 1][0] in ("[", "!"):
            inner = toks[i + 1][0] == "!"
            j = i + (3 if inner else 2)
            depth, attr = 1, []
            while j < n and depth:
                if toks[j][0] == "[":
                    depth += 1
                elif toks[j][0] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                attr.append(toks[j][0])
                j += 1
            if not inner and attr_is_test_only(attr):
                pending_test = True
            i = j + 1
            continue
        if pending_test:
            pending_test = False
            # `#[cfg(test)] mod x;` declares a test-only child file
            k = i
            if toks[k][0] == "pub":
                k += 1
                if k < n and toks[k][0] == "(":
                    while k < n and toks[k][0] != ")":
                        k += 1
                    k += 1
            if k + 2 < n and toks[k][0] == "mod" and toks[k + 2][0] == ";" and at_module_level():
                modules[cur_mod].children[toks[k + 1][0]] = True
            i = skip_item(i)
            continue
        if t == "{":
            stack.append(cur_mod + (pending_mod,) if pending_mod else None)
            if pending_mod:
                cur_mod = cur_mod + (pending_mod,)
                modules[cur_mod] = Module(cur_mod, file, test_only)
            pending_mod = None
            i += 1
            continue
        if t == "}":
            if stack:
                top = stack.pop()
                if top is not None:
                    cur_mod = top[:-1]
            i += 1
            continue
        if t in ITEM_KEYWORDS and i + 1 < n and is_ident(toks[i + 1][0]) and (i == 0 or toks[i - 1][0] != "::"):
            name = toks[i + 1][0]
            if at_module_level():
                modules[cur_mod].defs.add(name)
            if t == "mod":
                if i + 2 < n and toks[i + 2][0] == ";":
                    if at_module_level():
                        modules[cur_mod].children.setdefault(name, False)
                    i += 3
                    continue
                pending_mod = name
            i += 2
            continue
        if t == "macro_rules" and i + 2 < n and toks[i + 1][0] == "!":
            modules[cur_mod].defs.add(toks[i + 2][0])
            i += 3
            continue
        if t == "use" and (i == 0 or toks[i - 1][0] != "::"):
            # is it `pub use` / `pub(crate) use`?
            k = i - 1
            if k >= 0 and toks[k][0] == ")":
                while k >= 0 and toks[k][0] != "(":
                    k -= 1
                k -= 1
            is_pub = k >= 0 and toks[k][0] == "pub"
            j = i + 1
            while j < n and toks[j][0] != ";":
                j += 1
            for path, name, glob in parse_use_tree([x for x, _ in toks[i + 1 : j]], ()):
                if not path:
                    continue
                ref = Ref(cur_mod, path, line, glob)
                if at_module_level():
                    m = modules[cur_mod]
                    if glob:
                        m.globs.append(path)
                    elif name:
                        m.imports[name] = path
                if is_pub and at_module_level():
                    if not glob and name:
                        info.pub_imports.append((name, ref))
                else:
                    info.refs.append(ref)
            i = j + 1
            continue
        if is_ident(t):
            prev = toks[i - 1][0] if i else ""
            if prev != "::" and prev != "$" and i + 2 < n and toks[i + 1][0] == "::" and is_ident(toks[i + 2][0]):
                path = [t]
                j = i + 1
                while j + 1 < n and toks[j][0] == "::" and is_ident(toks[j + 1][0]):
                    path.append(toks[j + 1][0])
                    j += 2
                info.refs.append(Ref(cur_mod, tuple(path), line))
                for seg in path:
                    info.used_idents.setdefault(seg, line)
                i = j
                continue
            info.used_idents.setdefault(t, line)
        i += 1
    return info


# ---------------------------------------------------------------- resolution


class Crate:
    def __init__(self, src: Path):
        self.src = src
        self.modules: dict[tuple[str, ...], Module] = {}
        self.files: dict[Path, FileInfo] = {}
        self.roots: list[tuple[str, ...]] = []

    def load(self) -> None:
        for root_name in ("lib.rs", "main.rs"):
            root = self.src / root_name
            if root.exists():
                # Each root is its own module tree; prefix paths so they never collide.
                self.roots.append((f"<{root_name}>",))
                self._load(root, (f"<{root_name}>",), False, self.src)

    def _load(self, file: Path, modpath: tuple[str, ...], test_only: bool, child_dir: Path) -> None:
        if file in self.files:
            return
        self.files[file] = parse_file(file, modpath, test_only, self.modules)
        # children of every module (file-level or inline) declared in this file
        for mp, m in list(self.modules.items()):
            if m.file != file:
                continue
            inline = mp[len(modpath) :]
            for child, child_test in m.children.items():
                base = child_dir.joinpath(*inline)
                for cand, cdir in ((base / f"{child}.rs", base / child), (base / child / "mod.rs", base / child)):
                    if cand.exists():
                        self._load(cand, mp + (child,), test_only or child_test, cdir)
                        break

    def absolute(self, module: tuple[str, ...], path: tuple[str, ...], seen=None) -> tuple[str, ...] | None:
        """Absolute module path for a path written in `module`, None if external."""
        if not path:
            return None
        root = module[:1]
        head = path[0]
        if head == "crate":
            return root + path[1:]
        if head == "self":
            return module + path[1:]
        if head == "super":
            base = module
            k = 0
            while k < len(path) and path[k] == "super":
                base = base[:-1] if len(base) > 1 else base
                k += 1
            if k < len(path) and path[k] == "self":
                k += 1
            return base + path[k:]
        m = self.modules.get(module)
        if m is None:
            return None
        if head in m.children or (module + (head,)) in self.modules:
            return module + path
        if head in m.imports:
            seen = seen or set()
            key = (module, head)
            if key in seen:
                return None
            seen.add(key)
            target = self.absolute(module, m.imports[head], seen)
            return None if target is None else target + path[1:]
        return None  # another crate, std, a prelude name or a local type

    def resolve(self, abs_path: tuple[str, ...], seen=None) -> Path | None:
        """The file that defines what abs_path names (deepest module file,
        following re-exports)."""
        seen = seen if seen is not None else set()
        if abs_path in seen:
            return None
        seen.add(abs_path)
        k = len(abs_path)
        while k > 0 and abs_path[:k] not in self.modules:
            k -= 1
        if k == 0:
            return None
        mod = self.modules[abs_path[:k]]
        rest = abs_path[k:]
        if not rest:
            return mod.file
        name = rest[0]
        if name in mod.defs:
            return mod.file
        if name in mod.imports:
            target = self.absolute(mod.path, mod.imports[name])
            if target is None:
                return None  # re-exported from another crate: no edge inside this one
            return self.resolve(target + rest[1:], seen) or mod.file
        for g in mod.globs:
            target = self.absolute(mod.path, g)
            if target is None or target not in self.modules:
                continue
            gm = self.modules[target]
            if name in gm.defs or name in gm.imports or name in gm.children:
                return self.resolve(target + rest, seen) or mod.file
        return mod.file

    def edges(self) -> dict[Path, dict[Path, int]]:
        """file -> {file it depends on: first line of evidence}."""
        test_files = {m.file for m in self.modules.values() if m.test_only}
        graph: dict[Path, dict[Path, int]] = defaultdict(dict)
        for file, info in self.files.items():
            if file in test_files:
                continue
            refs = list(info.refs)
            refs += [
                Ref(ref.module, ref.path, info.used_idents[name])
                for name, ref in info.pub_imports
                if name in info.used_idents
            ]
            for ref in refs:
                target_abs = self.absolute(ref.module, ref.path)
                if target_abs is None:
                    continue
                target = self.resolve(target_abs)
                if target is None or target == file or target in test_files:
                    continue
                graph[file].setdefault(target, ref.line)
        return graph


# ---------------------------------------------------------------- cycles


def strongly_connected(graph: dict[Path, dict[Path, int]]) -> list[list[Path]]:
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    on_stack: set[Path] = set()
    stack: list[Path] = []
    out: list[list[Path]] = []
    counter = [0]
    nodes = set(graph) | {v for targets in graph.values() for v in targets}

    def visit(v: Path) -> None:  # iterative Tarjan
        work = [(v, iter(sorted(graph.get(v, {}))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, {})))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def shortest_path(graph, start: Path, goal: Path, allowed: set[Path]) -> list[Path] | None:
    prev = {start: None}
    queue = [start]
    while queue:
        nxt = []
        for v in queue:
            for w in sorted(graph.get(v, {})):
                if w in allowed and w not in prev:
                    prev[w] = v
                    if w == goal:
                        path = [w]
                        while prev[path[-1]] is not None:
                            path.append(prev[path[-1]])
                        return path[::-1]
                    nxt.append(w)
        queue = nxt
    return None


def cycles_in(graph, comp: list[Path]) -> list[list[Path]]:
    """Shortest cycles until every file of the component is on one of them."""
    allowed = set(comp)
    covered: set[Path] = set()
    cycles = []
    for u in comp:
        if u in covered:
            continue
        best = None
        for v in sorted(graph.get(u, {})):
            if v in allowed:
                back = shortest_path(graph, v, u, allowed)
                if back and (best is None or len(back) < len(best)):
                    best = back
        if best:
            cyc = [u] + best[:-1]
            covered.update(cyc)
            cycles.append(cyc)
    return cycles


# ---------------------------------------------------------------- main


def is_test_file(rel: Path) -> bool:
    return rel.name == "tests.rs" or "tests" in rel.parts[:-1]


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show_edges = "--edges" in sys.argv[1:]
    allow_family = "--allow-parent-child" in sys.argv[1:]
    cycles_found = False
    repo = Path(args[0] if args else ".").resolve()
    problems: list[str] = []
    for src in sorted(repo.glob("crates/*/src")):
        for f in sorted(src.rglob("*.rs")):
            rel = f.relative_to(repo)
            lines = f.read_text(encoding="utf-8").splitlines()
            if len(lines) > MAX_LINES and not is_test_file(f.relative_to(src)):
                problems.append(f"too long: {rel} has {len(lines)} lines (limit {MAX_LINES})")
            if not lines or not lines[0].startswith("//!"):
                problems.append(f"no module doc: {rel} does not start with a `//!` line")
        crate = Crate(src)
        crate.load()
        graph = crate.edges()
        if show_edges:
            for a in sorted(graph):
                for b, line in sorted(graph[a].items()):
                    print(f"edge: {a.relative_to(repo)}:{line} -> {b.relative_to(repo)}")
        parent_of = {}
        for m in crate.modules.values():
            parent = crate.modules.get(m.path[:-1])
            if parent is not None and parent.file != m.file:
                parent_of.setdefault(m.file, parent.file)
        if allow_family:  # a module file using its own children is then not an edge
            graph = {a: {b: ln for b, ln in bs.items() if parent_of.get(b) != a} for a, bs in graph.items()}
        for comp in strongly_connected(graph):
            for cyc in cycles_in(graph, comp):
                # a module file and its own child files only (parent uses child, child uses parent)
                family_cycle = any(
                    all(parent_of.get(f) == p for f in cyc if f != p) for p in cyc
                )
                hops = []
                for a, b in zip(cyc, cyc[1:] + cyc[:1]):
                    hops.append(f"{a.relative_to(repo)}:{graph[a][b]}")
                chain = " -> ".join(hops + [str(cyc[0].relative_to(repo))])
                kind = "import cycle (module file <-> its child)" if family_cycle else "import cycle"
                problems.append(f"{kind}: {chain}")
                cycles_found = True
    for p in problems:
        print(p)
    if cycles_found:
        print("(in a cycle, file:line is where that file uses the next one)")
    if problems:
        print(f"check-layout: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("check-layout: ok (file length, module docs, no import cycles)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
