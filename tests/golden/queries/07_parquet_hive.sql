SELECT sensor_id, count(*) AS n, avg(temperature) AS t FROM 'data/sensors_parquet/**/*.parquet' WHERE pressure > 1000 GROUP BY sensor_id
