//! Conjunctions and disjunctions of predicates: splitting `a AND b AND c` into its
//! parts (what predicate pushdown moves one by one), joining them back, and factoring
//! conjuncts common to every branch of an OR out of it.

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
        let rest = rest.into_iter().reduce(|a, b| a.or(b));
        Some((common, rest))
    }

    /// Joins predicates with AND; `None` for an empty list.
    pub fn conjunction(parts: impl IntoIterator<Item = Expr>) -> Option<Expr> {
        parts.into_iter().reduce(|a, b| a.and(b))
    }
}
