SELECT sensor_id, 100.0 * count(*) / sum(count(*)) OVER () AS pct
FROM 'data/sensors/sensors_00.csv'
GROUP BY sensor_id
