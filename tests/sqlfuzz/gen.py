"""Differential SQL fuzzer: random queries over small generated tables, answered by
DuckDB (an independent engine) and stored as a golden file that tests/sql_fuzz.rs runs
through floe.

    python3 -m venv /tmp/duck && /tmp/duck/bin/pip install duckdb pyarrow
    /tmp/duck/bin/python tests/sqlfuzz/gen.py --seed 1 --queries 300 --out tests/sqlfuzz/seed1

writes, into --out:
- t1, t2, t3 as `<t>.csv` and `<t>.parquet` (written by DuckDB), and `schema.json`;
- `golden.jsonl`: one line per query: {"sql", "ordered", "columns", "rows"}, cells as
  text (NULL as null), floats with full precision.

The same seed gives the same tables and queries. The committed seed (tests/sqlfuzz/seed1)
runs in both halves of the test command; a longer run is

    /tmp/duck/bin/python tests/sqlfuzz/gen.py --seed 7 --queries 2000 --out /tmp/fuzz7
    FLOE_SQL_FUZZ=/tmp/fuzz7 cargo test --release --test sql_fuzz

The data holds what breaks engines: NULL in every column, NaN, -0.0 and 0.0, ties,
strings with LIKE's wildcards and CSV's delimiter. The generator covers joins of every
kind, IN/NOT IN/EXISTS subqueries (NULLs included), scalar and correlated subqueries,
DISTINCT, GROUP BY with HAVING and FILTER, windows, CASE, UNION ALL, INTERSECT/EXCEPT,
CTEs, dates and strings. It avoids the documented semantic differences from DuckDB
(README, "Limits and edge semantics"): a decimal literal is a DOUBLE in floe (so no
exact-decimal arithmetic on literals and no casts of them to integers); empty strings,
which floe's CSV reader reads as NULL, are not in the data.

Queries DuckDB rejects (a random type mismatch, an integer overflow) are dropped and
drawn again, so every stored query has an answer.
"""
import argparse
import datetime
import json
import math
import os
import random

import duckdb

# ---------------------------------------------------------------------------- data

STRINGS = ["a", "b", "B", "abc", "a_c", "A%c", "x,y", "c c", "zz", "Ab"]
SCHEMA = {
    "t1": [("id", "INTEGER"), ("k", "INTEGER"), ("g", "VARCHAR"), ("x", "DOUBLE"),
           ("n", "BIGINT"), ("d", "DATE"), ("f", "BOOLEAN")],
    "t2": [("id", "INTEGER"), ("k", "INTEGER"), ("g", "VARCHAR"), ("y", "DOUBLE"),
           ("n", "BIGINT"), ("d", "DATE")],
    "t3": [("k", "INTEGER"), ("g", "VARCHAR"), ("v", "BIGINT")],
}
ROWS = {"t1": 150, "t2": 100, "t3": 20}
# Larger answers are drawn again, to keep the golden file small.
MAX_ROWS = 400
BASE = datetime.date(2020, 1, 1)


def value(rng, col, typ, i):
    if col == "id":
        return i + 1
    if rng.random() < 0.1:
        return None
    if typ == "INTEGER":
        return rng.randint(0, 7)
    if typ == "BIGINT":
        return rng.randint(-1000, 1000)
    if typ == "DOUBLE":
        r = rng.random()
        if r < 0.06:
            return float("nan")
        if r < 0.12:
            return -0.0
        if r < 0.18:
            return 0.0
        if r < 0.5:
            return float(rng.randint(-5, 5))
        return rng.randint(-10000, 10000) / 100.0
    if typ == "VARCHAR":
        return rng.choice(STRINGS)
    if typ == "DATE":
        return BASE + datetime.timedelta(days=rng.randint(0, 800))
    if typ == "BOOLEAN":
        return rng.random() < 0.5
    raise ValueError(typ)


def make_tables(rng, con, out):
    for t, cols in SCHEMA.items():
        con.execute(f"CREATE TABLE {t} ({', '.join(f'{c} {ty}' for c, ty in cols)})")
        rows = [tuple(value(rng, c, ty, i) for c, ty in cols) for i in range(ROWS[t])]
        con.executemany(f"INSERT INTO {t} VALUES ({', '.join('?' for _ in cols)})", rows)
        con.execute(f"COPY {t} TO '{out}/{t}.csv' (HEADER)")
        con.execute(f"COPY {t} TO '{out}/{t}.parquet' (FORMAT parquet)")
    with open(os.path.join(out, "schema.json"), "w") as f:
        json.dump({t: cols for t, cols in SCHEMA.items()}, f, indent=1)


# ----------------------------------------------------------------------- expressions


class Scope:
    """The columns a query can see: (qualified name, type)."""

    def __init__(self, tables):
        self.cols = []
        for alias, t in tables:
            for c, ty in SCHEMA[t]:
                self.cols.append((f"{alias}.{c}", ty))

    def of(self, *types):
        return [c for c, ty in self.cols if ty in types]


NUM = ("INTEGER", "BIGINT", "DOUBLE")


class Gen:
    def __init__(self, rng):
        self.r = rng

    def pick(self, xs):
        return self.r.choice(xs)

    def chance(self, p):
        return self.r.random() < p

    # Each typed generator returns SQL text of that type.
    def num(self, s, depth=2):
        r = self.r.random()
        cols = s.of(*NUM)
        if depth <= 0 or r < 0.35:
            if cols and self.chance(0.8):
                return self.pick(cols)
            return self.pick(["0", "1", "2", "-3", "10", "0.5", "1.25", "-2.5"])
        a = lambda: self.num(s, depth - 1)  # noqa: E731
        choice = self.r.randint(0, 11)
        if choice <= 2:
            return f"({a()} {self.pick(['+', '-', '*'])} {a()})"
        if choice == 3:
            return f"abs({a()})"
        if choice == 4:
            return f"coalesce({a()}, {a()})"
        if choice == 5:
            return f"CASE WHEN {self.pred(s, depth - 1)} THEN {a()} ELSE {a()} END"
        if choice == 6:
            ints = s.of("INTEGER", "BIGINT")
            if ints:
                return f"({self.pick(ints)} % {self.pick(['3', '5', '7'])})"
            return a()
        if choice == 7:
            return f"{self.pick(['greatest', 'least'])}({a()}, {a()})"
        if choice == 8:
            dates = s.of("DATE")
            if dates:
                part = self.pick(["year", "month", "day", "dow", "quarter", "doy"])
                return f"extract({part} FROM {self.pick(dates)})"
            return a()
        if choice == 9:
            strs = s.of("VARCHAR")
            if strs:
                return f"length({self.pick(strs)})"
            return a()
        if choice == 10:
            dbl = s.of("DOUBLE")
            if dbl:
                return f"round({self.pick(dbl)}, {self.pick(['0', '1'])})"
            return a()
        return f"(- {a()})"

    def str_(self, s, depth=2):
        cols = s.of("VARCHAR")
        if depth <= 0 or not cols or self.chance(0.4):
            if cols and self.chance(0.85):
                return self.pick(cols)
            return "'" + self.pick(STRINGS) + "'"
        a = lambda: self.str_(s, depth - 1)  # noqa: E731
        choice = self.r.randint(0, 10)
        if choice == 9:
            return f"CAST({self.num(s, 1)} AS VARCHAR)"
        if choice == 10:
            return f"nullif({a()}, {a()})"
        if choice == 0:
            return f"upper({a()})"
        if choice == 1:
            return f"lower({a()})"
        if choice == 2:
            return f"({a()} || {a()})"
        if choice == 3:
            return f"substr({a()}, {self.r.randint(1, 3)}, {self.r.randint(1, 3)})"
        if choice == 4:
            return f"coalesce({a()}, 'none')"
        if choice == 5:
            return f"replace({a()}, 'a', 'q')"
        if choice == 6:
            return f"CASE WHEN {self.pred(s, depth - 1)} THEN {a()} ELSE {a()} END"
        if choice == 7:
            return f"trim({a()})"
        return f"concat({a()}, '-', {self.num(s, 0)})"

    def date(self, s, depth=1):
        cols = s.of("DATE")
        if not cols or self.chance(0.2):
            return f"DATE '{BASE + datetime.timedelta(days=self.r.randint(0, 800))}'"
        c = self.pick(cols)
        if depth > 0 and self.chance(0.3):
            return f"({c} {self.pick(['+', '-'])} {self.r.randint(0, 60)})"
        return c

    def typed(self, s, ty, depth=2):
        if ty in NUM:
            return self.num(s, depth)
        if ty == "VARCHAR":
            return self.str_(s, depth)
        if ty == "DATE":
            return self.date(s, depth)
        return self.pred(s, depth)

    def pred(self, s, depth=2):
        r = self.r.randint(0, 15)
        if r == 14:
            ty = self.pick(["num", "VARCHAR", "DATE"])
            x = self.num(s, 0) if ty == "num" else self.typed(s, ty, 0)
            y = self.num(s, 0) if ty == "num" else self.typed(s, ty, 0)
            return f"({x} IS {self.pick(['', 'NOT '])}DISTINCT FROM {y})"
        if r == 15:
            return f"(coalesce({self.pred(s, 0)}, {self.pick(['true', 'false'])}))"
        if depth > 0 and r <= 2:
            op = self.pick(["AND", "OR"])
            return f"({self.pred(s, depth - 1)} {op} {self.pred(s, depth - 1)})"
        if depth > 0 and r == 3:
            return f"(NOT {self.pred(s, depth - 1)})"
        cmp = self.pick(["=", "<>", "<", "<=", ">", ">="])
        if r <= 6:
            return f"({self.num(s, depth - 1)} {cmp} {self.num(s, depth - 1)})"
        if r == 7:
            return f"({self.str_(s, 1)} {cmp} {self.str_(s, 0)})"
        if r == 8:
            return f"({self.date(s)} {cmp} {self.date(s, 0)})"
        if r == 9:
            e = self.pick([c for c, _ in s.cols])
            return f"({e} IS {self.pick(['', 'NOT '])}NULL)"
        if r == 10:
            items = [self.pick(["0", "1", "3", "5", "-0.0", "NULL"]) for _ in range(3)]
            neg = self.pick(["", "NOT "])
            return f"({self.num(s, 0)} {neg}IN ({', '.join(items)}))"
        if r == 11:
            pat = self.pick(["a%", "%c", "_", "A%", "%\\_%", "%b%", "a\\_c"])
            esc = " ESCAPE '\\'" if "\\" in pat else ""
            op = self.pick(["LIKE", "NOT LIKE", "ILIKE"])
            return f"({self.str_(s, 0)} {op} '{pat}'{esc})"
        if r == 12:
            bools = s.of("BOOLEAN")
            if bools:
                return self.pick(bools)
        lo = self.r.randint(-5, 3)
        return f"({self.num(s, 0)} BETWEEN {lo} AND {lo + self.r.randint(0, 6)})"

    # ------------------------------------------------------------------ queries

    def from_clause(self):
        """A FROM clause and its scope."""
        r = self.r.random()
        if r < 0.45:
            t = self.pick(["t1", "t2"])
            return f"{t} a", Scope([("a", t)])
        if r < 0.85:
            kind = self.pick(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "JOIN"])
            on = self.pick(["a.k = b.k", "a.g = b.g", "a.k = b.k AND a.g = b.g"])
            scope = Scope([("a", "t1"), ("b", "t2")])
            if self.chance(0.3):
                on += f" AND {self.pred(scope, 1)}"
            return f"t1 a {kind} t2 b ON {on}", scope
        if r < 0.92:
            return "t2 a CROSS JOIN t3 b", Scope([("a", "t2"), ("b", "t3")])
        kind = self.pick(["JOIN", "LEFT JOIN"])
        scope = Scope([("a", "t1"), ("b", "t2"), ("c", "t3")])
        return (f"t1 a JOIN t2 b ON a.k = b.k {kind} t3 c ON b.g = c.g AND c.v > a.n",
                scope)

    def subquery_pred(self, s):
        """IN / NOT IN / EXISTS / scalar subqueries over t3 (or t2)."""
        r = self.r.randint(0, 5)
        outer_k = self.pick(s.of("INTEGER")) if s.of("INTEGER") else "1"
        inner_where = self.pick(["v > 0", "v < 500", "g <> 'b'", "v IS NOT NULL", "true"])
        if r == 0:
            return f"{outer_k} IN (SELECT k FROM t3 WHERE {inner_where})"
        if r == 1:
            return f"{outer_k} NOT IN (SELECT k FROM t3 WHERE {inner_where})"
        if r == 2:
            return (f"{self.pick(['', 'NOT '])}EXISTS (SELECT 1 FROM t3 "
                    f"WHERE t3.k = {outer_k} AND {inner_where})")
        if r == 3:
            num = self.pick(s.of(*NUM))
            agg = self.pick(["avg(v)", "max(v)", "min(v)", "count(*)"])
            return f"{num} > (SELECT {agg} FROM t3 WHERE {inner_where})"
        if r == 4:
            num = self.pick(s.of(*NUM))
            return (f"{num} < (SELECT {self.pick(['max', 'min', 'sum'])}(v) FROM t3 "
                    f"WHERE t3.k = {outer_k})")
        strs = s.of("VARCHAR")
        g = self.pick(strs) if strs else "'a'"
        return f"{g} {self.pick(['IN', 'NOT IN'])} (SELECT g FROM t3 WHERE {inner_where})"

    def where(self, s):
        if self.chance(0.25):
            return ""
        p = self.pred(s, 2)
        if self.chance(0.25):
            p = f"{p} {self.pick(['AND', 'OR'])} {self.subquery_pred(s)}"
        return f" WHERE {p}"

    def select_items(self, s, n, types=None):
        """n output expressions (with their types) named c0.."""
        items = []
        for i in range(n):
            ty = types[i] if types else self.pick(["num", "num", "VARCHAR", "DATE", "BOOLEAN"])
            if ty == "num":
                e = self.num(s, 2)
            elif ty == "BOOLEAN":
                e = self.pred(s, 1)
            else:
                e = self.typed(s, ty, 2)
            items.append((e, ty))
        return items

    def agg(self, s):
        r = self.r.randint(0, 13)
        num = self.num(s, 1)
        if r == 12:
            g = self.str_(s, 0)
            return f"string_agg({g}, ',' ORDER BY {g})"
        if r == 13:
            return f"{self.pick(['bool_and', 'bool_or'])}({self.pred(s, 0)})"
        if r == 0:
            return "count(*)"
        if r == 1:
            return f"count({self.pick([c for c, _ in s.cols])})"
        if r == 2:
            return f"sum({num})"
        if r == 3:
            return f"avg({num})"
        if r == 4:
            return f"{self.pick(['min', 'max'])}({num})"
        if r == 5:
            return f"{self.pick(['min', 'max'])}({self.str_(s, 1)})"
        if r == 6:
            return f"count(DISTINCT {self.pick([c for c, _ in s.cols])})"
        if r == 7:
            return f"sum({num}) FILTER (WHERE {self.pred(s, 1)})"
        if r == 8:
            return f"{self.pick(['stddev_samp', 'var_pop'])}({self.pick(s.of(*NUM))})"
        if r == 9:
            return f"sum(DISTINCT {self.pick(s.of('INTEGER', 'BIGINT'))})"
        if r == 10:
            return f"{self.pick(['min', 'max'])}({self.date(s, 0)})"
        return f"count(*) FILTER (WHERE {self.pred(s, 1)})"

    def simple_select(self, ncols=None, types=None):
        """A SELECT block; returns (sql, output types)."""
        frm, s = self.from_clause()
        where = self.where(s)
        kind = self.r.random()
        if kind < 0.45 or types is not None:
            n = ncols or self.r.randint(1, 4)
            items = self.select_items(s, n, types)
            distinct = "DISTINCT " if self.chance(0.2) else ""
            sel = ", ".join(f"{e} AS c{i}" for i, (e, _) in enumerate(items))
            return f"SELECT {distinct}{sel} FROM {frm}{where}", [t for _, t in items]
        if kind < 0.85:
            keys = []
            for _ in range(self.r.randint(0, 2)):
                ty = self.pick(["num", "VARCHAR", "DATE", "BOOLEAN"])
                if ty == "num":
                    keys.append(self.pick(s.of(*NUM)) if self.chance(0.7) else self.num(s, 1))
                elif ty == "VARCHAR":
                    keys.append(self.str_(s, 1))
                elif ty == "DATE":
                    keys.append(self.date(s, 1))
                else:
                    keys.append(self.pred(s, 0))
            aggs = [self.agg(s) for _ in range(self.r.randint(1, 3))]
            exprs = keys + aggs
            sel = ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs))
            group = f" GROUP BY {', '.join(keys)}" if keys else ""
            if keys and self.chance(0.15):
                group = f" GROUP BY {self.pick(['ROLLUP', 'CUBE'])} ({', '.join(keys)})"
            having = ""
            if keys and self.chance(0.3):
                having = f" HAVING {self.pick(['count(*) > 1', 'sum(1) < 40', 'count(*) >= 3'])}"
            return f"SELECT {sel} FROM {frm}{where}{group}{having}", ["?"] * len(exprs)
        # Windows. The order is total up to rows equal in every column (which give the
        # same output whichever comes first): each table's id, or all the columns of
        # a table without one.
        part = self.pick(["", "PARTITION BY a.k ", "PARTITION BY a.g ", "PARTITION BY a.k, a.g "])
        aliases = {c.split(".")[0] for c, _ in s.cols}
        with_id = {a for a in aliases if f"{a}.id" in dict(s.cols)}
        order = ", ".join(c for c, _ in s.cols
                          if c.endswith(".id") or c.split(".")[0] not in with_id)
        num = self.pick(s.of(*NUM))
        f = self.pick([
            f"row_number() OVER ({part}ORDER BY {order})",
            f"rank() OVER ({part}ORDER BY {self.pick(s.of('INTEGER'))})",
            f"dense_rank() OVER ({part}ORDER BY {self.pick(s.of('VARCHAR'))})",
            f"sum({num}) OVER ({part})",
            f"sum({num}) OVER ({part}ORDER BY {order} ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)",
            f"count(*) OVER ({part}ORDER BY {order})",
            f"lag({num}) OVER ({part}ORDER BY {order})",
            f"lead({num}, 2, -1) OVER ({part}ORDER BY {order})",
            f"max({num}) OVER ({part}ORDER BY {order} ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING)",
            f"avg({num}) OVER ({part})",
        ])
        items = self.select_items(s, self.r.randint(1, 2))
        sel = ", ".join(f"{e} AS c{i}" for i, (e, _) in enumerate(items))
        return (f"SELECT {sel}, {f} AS c{len(items)} FROM {frm}{where}",
                ["?"] * (len(items) + 1))

    def query(self):
        """A whole query: (sql, ordered)."""
        r = self.r.random()
        if r < 0.6:
            sql, types = self.simple_select()
        elif r < 0.72:
            n = self.r.randint(1, 3)
            ts = [self.pick(["num", "VARCHAR", "DATE"]) for _ in range(n)]
            a, _ = self.simple_select(n, ts)
            b, _ = self.simple_select(n, ts)
            op = self.pick(["UNION ALL", "UNION ALL", "UNION", "INTERSECT", "EXCEPT",
                            "INTERSECT ALL", "EXCEPT ALL"])
            sql, types = f"{a} {op} {b}", ts
        elif r < 0.84:
            inner, types = self.simple_select()
            cols = [f"c{i}" for i in range(len(types))]
            outer = self.pick([
                f"SELECT count(*) AS c0, count(DISTINCT c0) AS c1 FROM (\n{inner}) q",
                f"SELECT c0, count(*) AS n FROM ({inner}) q GROUP BY c0",
                f"SELECT * FROM ({inner}) q WHERE c0 IS NOT NULL",
            ])
            sql = outer
            types = ["?"] * (2 if outer.startswith("SELECT c0, count") or "AS c1" in outer else len(cols))
        else:
            inner, types = self.simple_select()
            sql = (f"WITH w AS ({inner}) SELECT x.c0 AS c0, count(*) AS c1 FROM w x "
                   f"JOIN w y ON x.c0 = y.c0 GROUP BY x.c0")
            types = ["?", "?"]
        ordered = False
        if self.chance(0.35):
            n = sql_outputs(sql)
            keys = ", ".join(
                f"{i + 1} {self.pick(['ASC', 'DESC'])}{self.pick(['', ' NULLS FIRST', ' NULLS LAST'])}"
                for i in range(n)
            )
            limit = f" LIMIT {self.r.randint(1, 30)}" if self.chance(0.6) else ""
            if limit and self.chance(0.3):
                limit += f" OFFSET {self.r.randint(0, 10)}"
            sql = f"SELECT * FROM ({sql}) o ORDER BY {keys}{limit}"
            ordered = True
        return sql, ordered


def sql_outputs(sql):
    """The number of output columns of a generated query (its names are c0..cN, n)."""
    con = OUT_CON
    return len(con.execute(f"DESCRIBE {sql}").fetchall())


# ----------------------------------------------------------------------------- main


def render(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return repr(v)
    return str(v)


OUT_CON = None


def main():
    global OUT_CON
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    con = duckdb.connect()
    con.execute("SET threads=2")
    OUT_CON = con
    make_tables(rng, con, args.out)
    gen = Gen(random.Random(args.seed * 1000003 + 17))
    written, dropped = 0, 0
    with open(os.path.join(args.out, "golden.jsonl"), "w") as f:
        while written < args.queries:
            try:
                sql, ordered = gen.query()
                cur = con.execute(sql)
                cols = [d[0] for d in cur.description]
                rows = cur.fetchall()
                if len(rows) > MAX_ROWS:
                    raise duckdb.Error("too many rows")
                # Empty answers test little: most are drawn again.
                if not rows and gen.chance(0.7):
                    raise duckdb.Error("empty")
            except duckdb.Error:
                dropped += 1
                continue
            rows = [[render(v) for v in r] for r in rows]
            f.write(json.dumps({"sql": sql, "ordered": ordered, "columns": cols,
                                "rows": rows}) + "\n")
            written += 1
    print(f"{written} queries written to {args.out}/golden.jsonl ({dropped} drawn again: rejected by DuckDB, too large or empty)")


if __name__ == "__main__":
    main()
