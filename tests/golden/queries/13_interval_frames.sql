SELECT sensor_id, count(*) AS n, sum(a30) AS a30, sum(c3h) AS c3h, sum(dsum) AS dsum,
  min(t_plus) AS t_plus, max(t_minus) AS t_minus, max(next_month) AS next_month
FROM (SELECT sensor_id,
  avg(temperature) OVER (PARTITION BY sensor_id ORDER BY timestamp RANGE BETWEEN INTERVAL 30 MINUTES PRECEDING AND CURRENT ROW) AS a30,
  count(*) OVER (ORDER BY timestamp DESC RANGE BETWEEN INTERVAL 1 HOUR PRECEDING AND INTERVAL '2 hours' FOLLOWING) AS c3h,
  sum(humidity) OVER (PARTITION BY sensor_id ORDER BY CAST(timestamp AS DATE) RANGE BETWEEN INTERVAL 1 DAY PRECEDING AND INTERVAL 1 MONTH FOLLOWING) AS dsum,
  timestamp + INTERVAL 90 MINUTE AS t_plus,
  timestamp - INTERVAL 1 DAY AS t_minus,
  CAST(CAST(timestamp AS DATE) + INTERVAL 1 MONTH AS DATE) AS next_month
FROM 'data/sensors/*.csv')
GROUP BY sensor_id
