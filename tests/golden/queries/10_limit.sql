SELECT timestamp, sensor_id, temperature FROM 'data/sensors/sensors_00.csv' LIMIT 5 OFFSET 3
