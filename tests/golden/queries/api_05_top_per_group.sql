SELECT sensor_id, timestamp, humidity FROM (
  SELECT *, row_number() OVER (PARTITION BY sensor_id ORDER BY humidity DESC, timestamp, temperature) AS r
  FROM 'data/sensors/*.csv')
WHERE r <= 3
