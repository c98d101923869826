SELECT timestamp, temperature,
  max(temperature) OVER (ORDER BY timestamp ROWS UNBOUNDED PRECEDING) AS t_max_so_far,
  CASE WHEN count(pressure) OVER w3 >= 3 THEN sum(pressure) OVER w3 END AS p_roll3,
  CASE WHEN count(pressure) OVER w3 >= 3 THEN stddev_samp(pressure) OVER w3 END AS p_roll3_std
FROM 'data/sensors/sensors_01.csv'
WINDOW w3 AS (ORDER BY timestamp ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
