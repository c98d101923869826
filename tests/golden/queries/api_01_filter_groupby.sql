SELECT sensor_id, avg(temperature) AS mean_temp, count(*) AS n, max(humidity) AS max_h FROM 'data/sensors/*.csv' WHERE temperature > 30 GROUP BY sensor_id
