-- gzip and zstd CSV files, found by their extensions in one glob.
SELECT sensor_id, count(*) AS n, avg(temperature) AS mean_temperature, max("timestamp") AS last
FROM read_csv('tests/golden/data/compressed/*.csv.*')
GROUP BY sensor_id
ORDER BY sensor_id
