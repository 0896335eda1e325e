#!/usr/bin/env python3
"""Import circles between the files of src/ (issue 18: "no import circle anywhere in src/").

File A *uses* file B when A names an item that B defines: through `use crate::…`, `use super::…`,
`use self::…`, a `use child::…` of a declared child module, or the same paths written inline
(`crate::pool::task::Task::new()`, `super::Slot`). A path is followed through re-exports (`pub use`
and private `use`) to the file that defines the item, so a `mod.rs` that only re-exports is no
hub; naming a module itself (`use crate::pool::registry;`) is an edge to that module's file.
`mod x;` declarations are not edges, and `#[cfg(test)]` modules (inline or in their own file) are
ignored. The check is lexical (comments and strings stripped), so a macro that builds paths it
cannot see is missed. One case over-reports: inside an inline module (`mod x { … }`, not a test
module) `super::` and `self::` are read as if written at the top of the file, one level too
high, so such a module names its file's items from `crate::` (as `bridge/default.rs`'s
`exit_watch` does).

Prints every edge with --edges, then each cycle (strongly connected component of more than one
file, with one concrete circle through it); exits 1 if there is a cycle.
Usage: python3 .ci/import_cycles.py [--edges] [SRC_DIR]
"""
import pathlib
import re
import sys

DEFINES = re.compile(
    r'\b(?:fn|struct|enum|trait|type|const|static|union|mod)\s+(\w+)|\bmacro_rules!\s*(\w+)')
USE = re.compile(r'\buse\s+((?:::)?[\w:{}\s,*]+?(?:\s+as\s+\w+)?(?:[\w:{}\s,*]|\bas\b)*);')
INLINE = re.compile(r'\b((?:crate|super|self)(?:::(?:\w+))+)')


def strip(text):
    """Comments, string and char literals replaced by spaces (line breaks kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            i = j
        elif text.startswith('/*', i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith('/*', j):
                    depth, j = depth + 1, j + 2
                elif text.startswith('*/', j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append('\n' * text.count('\n', i, j))
            i = j
        elif re.match(r'b?r(#*)"', text[i:i + 8]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')):
            m = re.match(r'b?r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append('""' + '\n' * text.count('\n', i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == '\\' else 1
            out.append('""' + '\n' * text.count('\n', i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'", text[i:i + 12]):
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'", text[i:])
            out.append("' '")
            i += m.end()
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def drop_test_modules(text):
    """Removes `#[cfg(test)] mod x { … }` bodies; returns (text, names of `#[cfg(test)] mod x;`)."""
    test_files = set()
    while True:
        m = re.search(r'#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*([;{])', text)
        if not m:
            return text, test_files
        if m.group(2) == ';':
            test_files.add(m.group(1))
            text = text[:m.start()] + text[m.end():]
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {'{': 1, '}': -1}.get(text[j], 0)
            j += 1
        text = text[:m.start()] + '\n' * text.count('\n', m.start(), j) + text[j:]


def expand_use(tree):
    """`a::{b, c::{d as e}}` -> [(['a','b'], 'b'), (['a','c','d'], 'e')]; globs end with '*'."""
    tree = re.sub(r'\s+', ' ', tree).strip()
    out = []

    def go(prefix, s):
        s = s.strip()
        if not s:
            return
        brace = s.find('{')
        if brace >= 0 and s.endswith('}'):
            head = [p for p in s[:brace].split('::') if p.strip()]
            body, depth, part = s[brace + 1:-1], 0, ''
            for ch in body + ',':
                if ch == ',' and depth == 0:
                    go(prefix + [h.strip() for h in head], part)
                    part = ''
                    continue
                depth += {'{': 1, '}': -1}.get(ch, 0)
                part += ch
            return
        alias = None
        m = re.match(r'(.*?)\s+as\s+(\w+)$', s)
        if m:
            s, alias = m.group(1), m.group(2)
        segs = prefix + [p.strip() for p in s.split('::') if p.strip()]
        if segs and segs[-1] == 'self':
            segs = segs[:-1]
        if segs:
            out.append((segs, alias or segs[-1]))

    go([], tree.lstrip(':'))
    return out


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}     # module path tuple -> file
        self.text = {}      # file -> stripped text
        self.children = {}  # module path tuple -> set of child module names
        self.defines = {}   # file -> names defined
        self.imports = {}   # file -> {alias: [segments]}
        self.globs = {}     # file -> [segments]
        self.load((), src / 'lib.rs')

    def load(self, mod, path):
        text, test_files = drop_test_modules(strip(path.read_text()))
        self.files[mod] = path
        self.text[path] = text
        self.defines[path] = {a or b for a, b in DEFINES.findall(text)}
        imports, globs = {}, []
        for m in USE.finditer(text):
            for segs, alias in expand_use(m.group(1)):
                if segs[-1] == '*':
                    globs.append(segs[:-1])
                else:
                    imports[alias] = segs
        self.imports[path], self.globs[path] = imports, globs
        kids = set()
        for m in re.finditer(r'(?:#\[path\s*=\s*[^\]]*\]\s*)?\bmod\s+(\w+)\s*;', text):
            name = m.group(1)
            if name in test_files:
                continue
            base = path.parent if path.name in ('lib.rs', 'mod.rs') else path.with_suffix('')
            for cand in (base / (name + '.rs'), base / name / 'mod.rs'):
                if cand.exists():
                    kids.add(name)
                    self.load(mod + (name,), cand)
                    break
        self.children[mod] = kids

    def module_of(self, path):
        return next(m for m, p in self.files.items() if p == path)

    def resolve(self, path, segs, seen=None):
        """Files that the path `segs`, written in `path`, names (empty: outside the crate)."""
        seen = seen or set()
        key = (path, tuple(segs))
        if key in seen:
            return set()
        seen.add(key)
        mod = self.module_of(path)
        first, rest = segs[0], segs[1:]
        if first == 'crate':
            mod = ()
        elif first == 'self':
            pass
        elif first == 'super':
            mod = mod[:-1]
            while rest and rest[0] == 'super':
                mod, rest = mod[:-1], rest[1:]
        elif first in self.children.get(mod, ()):
            mod, rest = mod + (first,), rest
        elif first in self.imports[path] and self.imports[path][first] != segs[:1]:
            return self.resolve(path, self.imports[path][first] + rest, seen)
        else:
            return set()
        return self.walk(mod, rest, seen)

    def walk(self, mod, rest, seen):
        while rest and rest[0] in self.children.get(mod, ()):
            mod, rest = mod + (rest[0],), rest[1:]
        here = self.files[mod]
        if not rest:
            return {here}
        name = rest[0]
        if name in self.defines[here]:
            return {here}
        if name in self.imports[here]:
            found = self.resolve(here, self.imports[here][name] + rest[1:], seen)
            return found
        for glob in self.globs[here]:
            found = self.resolve(here, glob + rest, seen)
            if found:
                return found
        return {here}

    def edges(self):
        out = {}
        for path, text in self.text.items():
            targets = set()
            for segs in self.imports[path].values():
                targets |= self.resolve(path, segs)
            for segs in self.globs[path]:
                targets |= self.resolve(path, segs)
            body = USE.sub(' ', text)
            for m in INLINE.finditer(body):
                targets |= self.resolve(path, m.group(1).split('::'))
            kids = self.children.get(self.module_of(path), set())
            for name in kids:
                for m in re.finditer(r'(?<![\w:])' + name + r'((?:::\w+)+)', body):
                    targets |= self.resolve(path, [name] + m.group(1).strip(':').split('::'))
            targets.discard(path)
            out[path] = targets
        return out


def components(graph):
    """Tarjan's strongly connected components."""
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def circle(graph, comp):
    """One shortest circle through the first file of a component."""
    comp = set(comp)
    start = sorted(comp)[0]
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return list(reversed(path)) + [start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start]


def main(argv):
    show_edges = '--edges' in argv
    args = [a for a in argv if a != '--edges']
    src = pathlib.Path(args[0] if args else 'src')
    crate = Crate(src)
    graph = crate.edges()
    rel = lambda p: str(p.relative_to(src))
    if show_edges:
        for a in sorted(graph):
            for b in sorted(graph[a]):
                print(f'{rel(a)} -> {rel(b)}')
    cycles = [sorted(c) for c in components(graph) if len(c) > 1]
    for comp in sorted(cycles):
        print('cycle: ' + ', '.join(rel(p) for p in comp))
        print('  e.g. ' + ' -> '.join(rel(p) for p in circle(graph, comp)))
    if not cycles:
        print(f'no import cycle among {len(graph)} files')
    return 1 if cycles else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
