"""The ``internal`` driver's design choice, measured: copying the tables a statement names into a fresh
SQLite ``:memory:`` database per statement (what it does), against keeping a mirror up to date on every hop.

For N frames (small HTTP-like payloads), in one run: the time of one statement with the copy (``copy``),
the same statement on a database already filled (``query``: what a mirror would cost per statement), and
the extra cost a mirror would put on every hop (an INSERT of the frame with its JSON) next to what the
agent does per hop today (a list append). Prints ratios; asserts nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time

from portflow.plugins.system import tables

SQL = "SELECT port, count(*) AS n FROM `frames` WHERE json_extract(input, '$.method') = 'GET' GROUP BY port"


def frames(n: int) -> list[dict]:
    payload = {"method": "GET", "path": "/v1/things", "header": {"Accept": ["*/*"]}, "query": {}}
    return [{"process_id": f"p{i // 10}", "symbol_id": f"s{i % 7}", "port": "in", "input": payload,
             "output": {"status": 200, "body": "ok"}, "time": "12µs"} for i in range(n)]


def best(fn, runs: int = 7) -> float:
    out = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - start)
    return out


def measure(n: int) -> str:
    docs = {"frames": frames(n)}
    copy = best(lambda: tables.run(SQL, None, docs, lambda a: ()))
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE frames (process_id, symbol_id, port, input, output, time)")
    rows = [(f["process_id"], f["symbol_id"], f["port"], json.dumps(f["input"]), json.dumps(f["output"]),
             f["time"]) for f in docs["frames"]]
    conn.executemany("INSERT INTO frames VALUES (?, ?, ?, ?, ?, ?)", rows)
    query = best(lambda: conn.execute(SQL).fetchall())

    def mirror_hops() -> None:
        for f in docs["frames"]:
            conn.execute("INSERT INTO frames VALUES (?, ?, ?, ?, ?, ?)", (
                f["process_id"], f["symbol_id"], f["port"], json.dumps(f["input"]), None, None))

    kept: list = []
    append = best(lambda: [kept.append(f) for f in docs["frames"]])
    mirror = best(mirror_hops, runs=3)
    conn.close()
    return f"frames={n:>6}  copy/query={copy / query:6.1f}x  per-hop mirror/append={mirror / append:6.1f}x"


def main() -> None:
    for n in (100, 1000, 10000):
        print(measure(n))
    print("copy per statement: only statements pay; a mirror would tax every hop of every process")


if __name__ == "__main__":
    main()
