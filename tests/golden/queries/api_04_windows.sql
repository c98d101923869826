SELECT timestamp, sensor_id,
  sum(temperature) OVER (PARTITION BY sensor_id) AS t_sum_sensor,
  temperature - avg(temperature) OVER (PARTITION BY sensor_id) AS t_dev,
  rank() OVER (PARTITION BY sensor_id ORDER BY humidity DESC) AS h_rank,
  temperature - lag(temperature, 1) OVER (ORDER BY timestamp) AS t_diff,
  sum(pressure) OVER (PARTITION BY sensor_id ORDER BY timestamp ROWS UNBOUNDED PRECEDING) AS p_cum,
  CASE WHEN count(temperature) OVER w60 >= 60 THEN avg(temperature) OVER w60 END AS t_roll60,
  lead(humidity, 2) OVER (PARTITION BY sensor_id ORDER BY timestamp) AS h_lead2
FROM 'data/sensors/sensors_00.csv'
WINDOW w60 AS (ORDER BY timestamp ROWS BETWEEN 59 PRECEDING AND CURRENT ROW)
