SELECT sensor_id,
  count(*) FILTER (WHERE temperature > 30) AS hot,
  avg(humidity) FILTER (WHERE temperature < 20) AS h_cold,
  count(DISTINCT floor(temperature)) FILTER (WHERE pressure > 1013) AS d,
  sum(temperature) FILTER (WHERE pressure < 1000) AS s,
  count(*) FILTER (WHERE CAST(timestamp AS DATE) < current_date) AS past
FROM 'data/sensors/*.csv'
GROUP BY sensor_id
