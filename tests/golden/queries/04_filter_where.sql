SELECT sensor_id, count(*) AS n, max(pressure) AS p_max FROM 'data/sensors/*.csv' WHERE temperature > 30 AND humidity BETWEEN 55 AND 65 GROUP BY sensor_id HAVING count(*) > 10
