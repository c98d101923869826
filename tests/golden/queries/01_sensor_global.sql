SELECT count(*) AS n, avg(temperature) AS t_mean, stddev(temperature) AS t_std, min(temperature) AS t_min, max(temperature) AS t_max, corr(temperature, humidity) AS c FROM 'data/sensors/*.csv'
