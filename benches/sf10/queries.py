"""The four larger-than-memory workloads of the sort/join issue, as SQL.

Used by peers.py (DuckDB, Polars SQL, DataFusion) and run.sh (floe), so every
engine runs the same text. {L}, {O}, {C} are replaced by each engine's table names.
"""

SORT = ("select * from lineitem "
        "order by l_extendedprice desc, l_orderkey, l_linenumber")

Q18 = """select c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity) as sum_qty
from customer
join orders on c_custkey = o_custkey
join lineitem on o_orderkey = l_orderkey
join (select l_orderkey as big_key from lineitem group by l_orderkey
      having sum(l_quantity) > 300) big on o_orderkey = big_key
group by c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice
order by o_totalprice desc, o_orderdate, o_orderkey
limit 100"""

BIG_BUILD = """select o_orderpriority, count(*) as n, sum(l_extendedprice) as revenue,
       sum(length(o_comment)) as comment_chars
from lineitem join orders on l_orderkey = o_orderkey
group by o_orderpriority
order by o_orderpriority"""

TOPK = ("select * from lineitem "
        "order by l_extendedprice desc, l_orderkey, l_linenumber limit 10")

WORKLOADS = {"sort": SORT, "q18": Q18, "bigjoin": BIG_BUILD, "topk": TOPK}
TABLES = ["lineitem", "orders", "customer"]
