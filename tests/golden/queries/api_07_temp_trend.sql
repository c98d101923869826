WITH r AS (
  SELECT timestamp,
    CASE WHEN count(temperature) OVER w >= 1440 THEN avg(temperature) OVER w END AS rm
  FROM 'data/sensors/sensors_00.csv'
  WINDOW w AS (ORDER BY timestamp ROWS BETWEEN 1439 PRECEDING AND CURRENT ROW)),
e AS (SELECT timestamp, rm FROM r WHERE rm IS NOT NULL)
SELECT
  (SELECT rm FROM e ORDER BY timestamp DESC LIMIT 1) - (SELECT rm FROM e ORDER BY timestamp LIMIT 1) AS temp_trend,
  (SELECT corr(temperature, pressure) FROM 'data/sensors/sensors_00.csv') AS corr_t_p
