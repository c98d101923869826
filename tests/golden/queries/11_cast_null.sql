SELECT CAST(temperature AS INTEGER) AS t_int, count(*) AS n FROM 'data/sensors/sensors_01.csv' WHERE CAST(temperature AS INTEGER) BETWEEN 20 AND 24 GROUP BY 1
