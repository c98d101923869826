SELECT hour(timestamp) AS h, avg(temperature) AS t FROM 'data/sensors/*.csv' GROUP BY 1
