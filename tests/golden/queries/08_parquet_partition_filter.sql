SELECT count(*) AS n, sum(humidity) AS h FROM 'data/sensors_parquet/**/*.parquet' WHERE sensor_id = 'B'
