"""TypeScript snippets: the TypeScript compiler (npm ``typescript``, in QuickJS) removes the types, keeps
what has a runtime meaning, and names the line and column of a syntax error."""

from __future__ import annotations

import pytest

from portflow.errors import CompileError
from portflow.lang import typescript


async def ts(languages, code, payload=None):
    return await languages.compile("typescript", code)(payload)


CONSTRUCTS = [
    ("annotations", "export default function (a: {x: number}): number { const y: number = a.x; return y + 1 }",
     {"x": 1}, 2),
    ("interface", "interface In { x: number; tags?: string[] }\n"
                  "export default function (a: In) { return a.tags ?? [] }", {"x": 1}, []),
    ("type alias", "type Pair<T> = [T, T];\nexport default (a: number): Pair<number> => [a, a * 2]", 3, [3, 6]),
    ("generics", "function first<T extends object>(xs: T[]): T | undefined { return xs[0] }\n"
                 "export default (a: {n: number}[]) => first<{n: number}>(a)", [{"n": 7}], {"n": 7}),
    ("as", "export default function (a: unknown) { return (a as {x: string}).x.toUpperCase() }", {"x": "a"}, "A"),
    ("satisfies", "const c = { k: 1 } satisfies Record<string, number>;\nexport default () => c.k", None, 1),
    ("non-null", "export default function (a?: {x: number} | null) { return a!.x! }", {"x": 5}, 5),
    ("access modifiers", "class Box { constructor(private readonly v: number, public w = 2) {}\n"
                         "  protected get twice(): number { return this.v * 2 }\n"
                         "  public sum(): number { return this.twice + this.w } }\n"
                         "export default (a: number) => new Box(a).sum()", 4, 10),
    ("enum", "enum Color { Red, Green = 'g', Blue = 4 }\n"
             "export default () => [Color.Red, Color.Green, Color[4], Color.Blue]", None, [0, "g", "Blue", 4]),
    ("const enum", "const enum Dir { Up = 1, Down }\nexport default () => Dir.Down", None, 2),
    ("abstract class", "abstract class Shape { abstract area(): number; describe(): string { return `${this.area()}` } }\n"
                       "class Sq extends Shape { constructor(private s: number) { super() } area() { return this.s ** 2 } }\n"
                       "export default (a: number) => new Sq(a).describe()", 3, "9"),
    ("namespace", "namespace M { export const k = 41 }\nexport default () => M.k + 1", None, 42),
    ("declare and overloads", "declare const host: string;\nfunction f(a: number): number;\n"
                              "function f(a: string): string;\nfunction f(a: any): any { return a }\n"
                              "export default (a: number) => f(a)", 8, 8),
    ("import type", "import type { Thing } from './nowhere';\nexport default (a: Thing) => a", "x", "x"),
    ("commonjs", "module.exports = (a: number): number => a * 3", 2, 6),
    ("async", "export default async function (a: number): Promise<number> { return await Promise.resolve(a) + 1 }",
     1, 2),
]


@pytest.mark.parametrize(("what", "code", "payload", "output"), CONSTRUCTS, ids=[c[0] for c in CONSTRUCTS])
async def test_typescript_constructs_run(languages, what, code, payload, output):
    assert await ts(languages, code, payload) == output


def test_a_syntax_error_names_line_and_column(languages):
    with pytest.raises(CompileError, match=r"^typescript: Type expected\. at 2:20$"):
        languages.compile("typescript", "// a comment\nexport default (a: ) => a\n")
    with pytest.raises(CompileError, match=r"^typescript: ',' expected\. at 1:36$"):
        languages.compile("ts", "export default function (a: number { return a }")


def test_each_source_is_transpiled_once(languages, monkeypatch):
    code = "export default (a: number): number => a - 1 // cached?"
    first = typescript.transpile(code)
    compiler = typescript._compiler
    assert compiler is not None

    def refuse(_code):
        raise AssertionError("transpiled again")

    monkeypatch.setattr(compiler, "_transpile", refuse)
    assert typescript.transpile(code) == first
    assert "number" not in first and "a - 1" in first
