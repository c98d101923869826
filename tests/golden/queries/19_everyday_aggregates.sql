-- Population variance and deviation, sum/avg/count over DISTINCT values, arg_min /
-- arg_max (the hottest and coldest reading's time), integer division.
SELECT sensor_id,
       var_pop(temperature) AS t_var_pop,
       stddev_pop(pressure) AS p_std_pop,
       sum(DISTINCT round(temperature)) AS t_sum_distinct,
       avg(DISTINCT round(humidity)) AS h_avg_distinct,
       count(DISTINCT round(humidity)) AS h_distinct,
       arg_max(timestamp, temperature) AS hottest_at,
       arg_min(timestamp, temperature) AS coldest_at,
       arg_max(sensor_id || '@' || CAST(pressure AS VARCHAR), humidity) FILTER (WHERE temperature > 25) AS humid_warm,
       count(*) // 7 AS weeks,
       -count(*) // 7 AS neg_weeks
FROM 'data/sensors/*.csv'
GROUP BY sensor_id
