-- A whole ETL job as one SQL script: views over raw CSV, cleaning, a join, an
-- aggregate kept as a table, and partitioned Parquet out.
--
--   floe sql -f examples/etl.sql          (writes target/etl/daily/region=*/...)
--
-- tests/cli.rs runs it and compares the files it writes with DuckDB's answer
-- (tests/golden/answers/etl_daily.csv, made by tests/golden/make_golden.py).

-- 1. The raw files, as views (nothing is read yet).
CREATE OR REPLACE VIEW readings AS
    SELECT * FROM read_csv('data/sensors/*.csv');
CREATE OR REPLACE VIEW sites AS
    SELECT * FROM read_csv('data/sites.csv');

-- 2. Clean: drop implausible readings, derive the day.
CREATE OR REPLACE VIEW clean AS
    SELECT CAST("timestamp" AS DATE) AS day, sensor_id, temperature, humidity, pressure
    FROM readings
    WHERE temperature BETWEEN -40 AND 60
      AND humidity BETWEEN 0 AND 100
      AND pressure IS NOT NULL;

-- 3. Join to the sites and aggregate per site and day; keep it as a table.
CREATE OR REPLACE TABLE daily AS
    SELECT s.region, s.site, c.day,
           count(*) AS readings,
           avg(c.temperature) AS avg_temperature,
           max(c.temperature) AS max_temperature,
           avg(c.pressure) AS avg_pressure
    FROM clean c JOIN sites s ON c.sensor_id = s.sensor_id
    GROUP BY ALL;

-- 4. Write it as Parquet, one folder per region.
COPY (SELECT * FROM daily ORDER BY site, day) TO 'target/etl/daily'
    (FORMAT parquet, PARTITION_BY (region), OVERWRITE_OR_IGNORE);

-- 5. A look at what was written.
SELECT region, count(*) AS site_days, sum(readings) AS readings
FROM daily
GROUP BY ALL
ORDER BY ALL;
