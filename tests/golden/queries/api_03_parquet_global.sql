SELECT count(*) AS n, min(pressure) AS p_min, max(pressure) AS p_max, stddev(humidity) AS h_std FROM 'data/sensors_parquet/**/*.parquet' WHERE sensor_id IN ('A', 'B')
