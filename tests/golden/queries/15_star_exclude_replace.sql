SELECT * EXCLUDE (humidity, timestamp) REPLACE (round(temperature) AS temperature)
FROM 'data/sensors/sensors_02.csv'
WHERE pressure > 1035
