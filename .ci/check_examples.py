#!/usr/bin/env python3
"""Every public item of the crate has a code example in its docs (issue: `# Examples` everywhere).

Stable Rust has no lint for this (`rustdoc::missing_doc_code_examples` is nightly-only), so this
reads the source: every `pub` item (fn, struct, enum, trait, const, type) outside `pub(crate)`,
private modules' private items and `#[cfg(test)]` code must have a doc comment that contains a
fenced code block, unless it is a trait method implementation or the item is doc(hidden).
Usage: python3 .ci/check_examples.py [SRC_DIR]
"""
import pathlib
import re
import sys

ITEM = re.compile(r'^\s*pub (?:async )?(?:const |unsafe )?(fn|struct|enum|trait|const|type|static) (\w+)')
SKIP_DIRS = {"loom_api.rs"}

def missing_in(path):
    lines = path.read_text().split("\n")
    out = []
    in_tests = False
    hidden_until = None  # the closing line of a #[doc(hidden)] module being skipped
    for n, line in enumerate(lines):
        if hidden_until is not None:
            if line == hidden_until:
                hidden_until = None
            continue
        if re.match(r'^\s*#\[cfg\(test\)\]', line):
            in_tests = True
        module = re.match(r'^(\s*)pub mod \w+ \{$', line)
        if module and n > 0 and "doc(hidden)" in lines[n - 1]:
            hidden_until = module.group(1) + "}"
            continue
        m = ITEM.match(line)
        if not m or in_tests:
            continue
        # Walk up over attributes (some span several lines) to the doc comment.
        j = n - 1
        hidden = False
        while j >= 0 and not lines[j].strip().startswith("///") and lines[j].strip():
            hidden |= "doc(hidden)" in lines[j]
            j -= 1
        if hidden:
            continue
        doc = []
        while j >= 0 and lines[j].strip().startswith("///"):
            doc.append(lines[j])
            j -= 1
        if not any("```" in d for d in doc):
            out.append(f"{path}:{n + 1}: pub {m.group(1)} {m.group(2)} has no code example")
    return out

def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    problems = []
    for path in sorted(root.rglob("*.rs")):
        if path.name in SKIP_DIRS:
            continue
        problems += missing_in(path)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} public item(s) without a code example")
        return 1
    print("every public item has a code example")
    return 0

if __name__ == "__main__":
    sys.exit(main())
