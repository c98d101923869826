-- string_agg ordered by a key (ascending, descending, NULLs first), over a VALUES list
-- and over the hours in which each sensor read above 32 degrees.
SELECT 'values' AS src,
       string_agg(s, '-' ORDER BY k) AS up,
       string_agg(s, ',' ORDER BY k DESC NULLS FIRST) AS down,
       string_agg(CAST(k AS VARCHAR) ORDER BY k NULLS FIRST) AS keys
FROM (VALUES ('a', 3), ('b', 1), ('c', NULL), ('d', 2), (NULL, 0)) AS t(s, k)
UNION ALL
SELECT sensor_id,
       string_agg(CAST(h AS VARCHAR), '|' ORDER BY h),
       string_agg(CAST(h AS VARCHAR), '|' ORDER BY h DESC),
       NULL
FROM (SELECT DISTINCT sensor_id, hour(timestamp) AS h FROM 'data/sensors/*.csv' WHERE temperature > 32)
GROUP BY sensor_id
