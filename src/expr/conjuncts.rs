//! Conjunctions and disjunctions of predicates: splitting `a AND b AND c` into its
//! parts (what predicate pushdown moves one by one), joining them back, factoring
//! conjuncts common to every branch of an OR out of it, and deriving what an OR implies
//! about a subset of its columns.

use super::{BinaryOp, Expr};

impl Expr {
    /// Splits a conjunction `a AND b AND c` into its parts.
    pub fn split_conjunction(self) -> Vec<Expr> {
        match self {
            Expr::Binary {
                left,
                op: BinaryOp::And,
                right,
            } => {
                let mut v = left.split_conjunction();
                v.extend(right.split_conjunction());
                v
            }
            Expr::Alias(e, _) => e.split_conjunction(),
            e @ Expr::Binary {
                op: BinaryOp::Or, ..
            } => match e.clone().factor_disjunction() {
                Some((common, rest)) => {
                    let mut v: Vec<Expr> = common
                        .into_iter()
                        .flat_map(|c| c.split_conjunction())
                        .collect();
                    v.extend(rest);
                    v
                }
                None => vec![e],
            },
            e => vec![e],
        }
    }

    /// The disjuncts of an OR chain.
    fn split_disjunction(self) -> Vec<Expr> {
        match self {
            Expr::Binary {
                left,
                op: BinaryOp::Or,
                right,
            } => {
                let mut v = left.split_disjunction();
                v.extend(right.split_disjunction());
                v
            }
            e => vec![e],
        }
    }

    /// `(a AND x) OR (a AND y)` → `([a], x OR y)`: conjuncts common to every disjunct
    /// come out, so a join key repeated in each branch (TPC-H Q19) becomes a join key.
    /// `None` when nothing is common.
    fn factor_disjunction(self) -> Option<(Vec<Expr>, Option<Expr>)> {
        let branches: Vec<Vec<Expr>> = self
            .split_disjunction()
            .into_iter()
            .map(|b| b.split_conjunction())
            .collect();
        let first = branches.first()?;
        let common: Vec<Expr> = first
            .iter()
            .filter(|c| branches.iter().all(|b| b.contains(c)))
            .cloned()
            .collect();
        if common.is_empty() {
            return None;
        }
        // A branch left with nothing means that branch is just the common part: the
        // whole OR is then true whenever the common part is.
        let mut rest = vec![];
        for b in branches {
            let left: Vec<Expr> = b.into_iter().filter(|c| !common.contains(c)).collect();
            match Expr::conjunction(left) {
                Some(e) => rest.push(e),
                None => return Some((common, None)),
            }
        }
        let rest = Expr::disjunction(rest);
        Some((common, rest))
    }

    /// Joins predicates with AND; `None` for an empty list. Left-deep up to 64 parts
    /// (`(a AND b) AND c`, as written), balanced beyond, so that thousands of parts
    /// make a tree of logarithmic depth that recursion over it can walk.
    pub fn conjunction(parts: impl IntoIterator<Item = Expr>) -> Option<Expr> {
        joined(parts.into_iter().collect(), Expr::and)
    }

    /// Joins predicates with OR, as [`Expr::conjunction`] does with AND.
    pub fn disjunction(parts: impl IntoIterator<Item = Expr>) -> Option<Expr> {
        joined(parts.into_iter().collect(), Expr::or)
    }

    /// A predicate implied by this disjunction that reads only columns `within`
    /// accepts: from every branch, the conjuncts over those columns, ANDed, then the
    /// branches ORed. `(a=1 AND b=2) OR (a=3 AND b=4)` gives `a=1 OR a=3` for `a`.
    /// The original stays where it is; the implied one can be pushed below a join
    /// (TPC-H Q7's nation pair, Q19's part and lineitem ranges). `None` when this is
    /// not an OR or some branch says nothing about those columns.
    pub fn implied_disjunction(&self, within: &dyn Fn(&str) -> bool) -> Option<Expr> {
        let branches = self.clone().split_disjunction();
        if branches.len() < 2 {
            return None;
        }
        let mut implied = Vec::with_capacity(branches.len());
        for b in branches {
            let parts: Vec<Expr> = b
                .split_conjunction()
                .into_iter()
                .filter(|c| {
                    let refs = c.column_refs();
                    !refs.is_empty() && refs.iter().all(|r| within(r))
                })
                .collect();
            implied.push(Expr::conjunction(parts)?);
        }
        Expr::disjunction(implied)
    }
}

/// `parts` joined by `join`: left-deep for a few, balanced for many.
fn joined(mut parts: Vec<Expr>, join: fn(Expr, Expr) -> Expr) -> Option<Expr> {
    const LEFT_DEEP: usize = 64;
    if parts.len() <= LEFT_DEEP {
        return parts.into_iter().reduce(join);
    }
    let right = parts.split_off(parts.len() / 2);
    Some(join(joined(parts, join)?, joined(right, join)?))
}

#[cfg(test)]
mod tests {
    use crate::expr::{col, lit};

    #[test]
    fn implied_disjunction_keeps_each_branchs_own_columns() {
        // (n1 = 'FR' AND n2 = 'DE') OR (n1 = 'DE' AND n2 = 'FR')
        let p = col("n1")
            .eq(lit("FR"))
            .and(col("n2").eq(lit("DE")))
            .or(col("n1").eq(lit("DE")).and(col("n2").eq(lit("FR"))));
        assert_eq!(
            p.implied_disjunction(&|c| c == "n1"),
            Some(col("n1").eq(lit("FR")).or(col("n1").eq(lit("DE"))))
        );
        // A branch with nothing on `x` implies nothing about `x`.
        let q = col("x").gt(lit(1)).or(col("y").gt(lit(2)));
        assert_eq!(q.implied_disjunction(&|c| c == "x"), None);
        // Not an OR: nothing to derive.
        assert_eq!(col("x").gt(lit(1)).implied_disjunction(&|_| true), None);
    }
}
