SELECT sensor_id, count(DISTINCT hour(timestamp)) AS hours, sum(temperature * 2 - humidity / 10) AS x, count(pressure) AS c FROM 'data/sensors/*.csv' GROUP BY sensor_id
