#!/usr/bin/env python3
"""Where the bytes of a wasm binary are: code size per crate and the largest functions.

    python3 scripts/wasm-size-breakdown.py [WASM] [CRATES] [FUNCTIONS]

WASM defaults to the page wasm as cargo wrote it for `make ui`
(target/wasm32-unknown-unknown/wasm-release-app/postern-app.wasm: before wasm-bindgen and
wasm-opt, with its name section; the shipped file is smaller and has no names). Sizes are raw
function-body bytes; a function's crate is the first path segment of its (legacy-demangled)
name, `<T as Trait>::f` counts for T's crate, inlined code counts for the caller.
"""
import collections
import re
import sys

DEFAULT = "target/wasm32-unknown-unknown/wasm-release-app/postern-app.wasm"


def leb(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def demangle(n):
    if not n.startswith("_ZN"):
        return n
    i, parts = 3, []
    while i < len(n) and n[i].isdigit():
        j = i
        while n[j].isdigit():
            j += 1
        length = int(n[i:j])
        parts.append(n[j : j + length])
        i = j + length
    if parts and re.fullmatch(r"h[0-9a-f]{16}", parts[-1]):
        parts.pop()
    s = "::".join(parts)
    for a, b in [("$LT$", "<"), ("$GT$", ">"), ("$u20$", " "), ("$RF$", "&"), ("$C$", ","),
                 ("..", "::"), ("$u7b$", "{"), ("$u7d$", "}"), ("$BP$", "*"), ("$u5b$", "["),
                 ("$u5d$", "]"), ("$u27$", "'"), ("$LP$", "("), ("$RP$", ")")]:
        s = s.replace(a, b)
    return s


def crate(n):
    n = n.lstrip("_")
    if n.startswith("R"):  # v0 mangling (std's precompiled code): the last crate named
        m = re.search(r"Cs[0-9A-Za-z_]+?_\d+([a-z_][a-z0-9_]+)", n)
        return (re.sub(r"\d.*", "", m.group(1)) if m else "?") + " (v0)"
    m = re.match(r"<?(?:&mut |&)?\[?([A-Za-z_][A-Za-z0-9_]*)", n)
    return m.group(1) if m else "?"


def read(path):
    b = open(path, "rb").read()
    i, imported, bodies, names, data = 8, 0, [], {}, 0
    while i < len(b):
        sid = b[i]
        size, i = leb(b, i + 1)
        end = i + size
        if sid == 2:  # imports: function imports shift the function index space
            count, j = leb(b, i)
            for _ in range(count):
                for _ in range(2):
                    length, j = leb(b, j)
                    j += length
                kind = b[j]
                j += 1
                if kind == 0:
                    _, j = leb(b, j)
                    imported += 1
                elif kind in (1, 2):
                    if kind == 1:
                        j += 1
                    flags, j = leb(b, j)
                    _, j = leb(b, j)
                    if flags & 1:
                        _, j = leb(b, j)
                elif kind == 3:
                    j += 2
        elif sid == 10:
            count, j = leb(b, i)
            for _ in range(count):
                length, j = leb(b, j)
                bodies.append(length)
                j += length
        elif sid == 11:
            data += size
        elif sid == 0:
            length, j = leb(b, i)
            if b[j : j + length] == b"name":
                j += length
                while j < end:
                    kind = b[j]
                    sub, j = leb(b, j + 1)
                    if kind == 1:
                        count, k = leb(b, j)
                        for _ in range(count):
                            idx, k = leb(b, k)
                            length, k = leb(b, k)
                            names[idx] = b[k : k + length].decode("utf8", "replace")
                            k += length
                    j += sub
        i = end
    funcs = [(s, demangle(names.get(n + imported, f"func{n + imported}"))) for n, s in enumerate(bodies)]
    return funcs, data


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    ncrates = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    nfuncs = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    funcs, data = read(path)
    print(f"{path}: code {sum(s for s, _ in funcs)} B in {len(funcs)} functions, data {data} B")
    by = collections.Counter()
    for s, n in funcs:
        by[crate(n)] += s
    print("--- code by crate")
    for c, s in by.most_common(ncrates):
        print(f"{s:9d} {c}")
    print("--- largest functions")
    for s, n in sorted(funcs, reverse=True)[:nfuncs]:
        print(f"{s:9d} {n[:160]}")


if __name__ == "__main__":
    main()
