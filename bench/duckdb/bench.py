"""DuckDB side of the benchmark: `load EXPORT DB` runs load.sql on a native export,
`metrics DB` runs metrics.sql on the loaded database. Timed from outside by
/usr/bin/time -v (bench/run.sh), so process start is included as for funnel."""
import pathlib
import sys

import duckdb

HERE = pathlib.Path(__file__).parent


def statements(path, **subst):
    text = path.read_text()
    for key, value in subst.items():
        text = text.replace("{" + key + "}", value)
    lines = [l for l in text.splitlines() if not l.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def main():
    phase = sys.argv[1]
    if phase == "load":
        export, db = sys.argv[2], sys.argv[3]
        pathlib.Path(db).unlink(missing_ok=True)
        con = duckdb.connect(db)
        for sql in statements(HERE / "load.sql", dir=str(pathlib.Path(export).resolve())):
            con.execute(sql)
        for table in ["leads", "lead_stage_events", "touches", "opportunities"]:
            n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            print(f"{table}: {n}")
    elif phase == "metrics":
        con = duckdb.connect(sys.argv[2], read_only=True)
        for sql in statements(HERE / "metrics.sql"):
            rows = con.execute(sql).fetchall()
            if rows:
                print(rows[:3])
    else:
        sys.exit("usage: bench.py load EXPORT DB | metrics DB")


if __name__ == "__main__":
    main()
