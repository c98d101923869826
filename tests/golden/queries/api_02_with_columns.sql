SELECT hour(timestamp) AS hour, sum(temperature - 25) AS dev, sum(CASE WHEN humidity > 60 THEN 1 ELSE 0 END) AS humid FROM 'data/sensors/*.csv' WHERE sensor_id <> 'D' GROUP BY 1
