SELECT sensor_id, count(*) AS n, sum(s) AS s, sum(c) AS c, sum(mx) AS mx FROM (SELECT sensor_id,
  sum(temperature) OVER (PARTITION BY sensor_id ORDER BY humidity RANGE BETWEEN 0.5 PRECEDING AND 0.25 FOLLOWING) AS s,
  count(*) OVER (PARTITION BY sensor_id ORDER BY floor(pressure) DESC RANGE BETWEEN 3 PRECEDING AND 1 PRECEDING) AS c,
  max(humidity) OVER (PARTITION BY sensor_id ORDER BY floor(pressure) RANGE BETWEEN 2 FOLLOWING AND 5 FOLLOWING) AS mx
FROM 'data/sensors/*.csv')
GROUP BY sensor_id
