SELECT sensor_id, count(*) AS n, avg(humidity) AS h_mean, variance(pressure) AS p_var, sum(temperature) AS t_sum FROM 'data/sensors/*.csv' GROUP BY sensor_id
