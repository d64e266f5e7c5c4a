"""The shape of initlab's import graph: modules, arrows, circles and levels, as grimp reads them.

    python benchmarks/import_graph.py        (needs grimp, which import-linter brings: pip install ".[dev]")

An arrow is one module importing another inside initlab (at the top or in a function); a circle is a set of
modules that reach each other; levels are the longest chain of arrows plus one, circles counted as one module.
"""

import functools
import sys

import grimp


def shape(package: str = "initlab") -> dict:
    graph = grimp.build_graph(package, cache_dir=None)
    modules = sorted(graph.modules)
    arrows = {(a, b) for a in modules for b in graph.find_modules_directly_imported_by(a) if b in graph.modules}
    arrows = {(a, b) for a, b in arrows if a != b}
    reach = {m: graph.find_downstream_modules(m) for m in modules}  # the modules that import m, directly or not
    circles = {frozenset({m} | {o for o in modules if o in reach[m] and m in reach[o]}) for m in modules}
    circles = [sorted(c) for c in circles if len(c) > 1]
    component = {m: min(c) for c in circles for m in c}

    @functools.cache
    def level(module: str) -> int:
        below = {component.get(b, b) for a, b in arrows if component.get(a, a) == module} - {module}
        return 1 + max((level(b) for b in below), default=0)

    return {
        "modules": len(modules), "arrows": len(arrows), "circles": circles,
        "levels": max(level(component.get(m, m)) for m in modules),
    }


if __name__ == "__main__":
    result = shape(sys.argv[1] if len(sys.argv) > 1 else "initlab")
    print(f"{result['modules']} modules, {result['arrows']} arrows, {result['levels']} levels, "
          f"{len(result['circles'])} circles{': ' if result['circles'] else ''}"
          + "; ".join(" <-> ".join(c) for c in result["circles"]))
