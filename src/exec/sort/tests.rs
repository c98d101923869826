//! Spill fuzz tests of the external sort and top-k against a naive reference: random
//! data with nulls, duplicates and skew; 1–3 keys in random directions and null
//! placements; chunk sizes 1, 7, 100, 1000; 1 and 2 threads; tiny, medium and
//! unlimited budgets and forced spilling; fan-in 2, 3 and 64.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::config::SpillCompression;

mod topk;
use crate::exec::pipeline::{run_pipeline, ExecContext};
use crate::expr::{col, lit, Expr};
use crate::memory::{worker_budget, MemoryPool};
use crate::metrics::OperatorMetrics;
use crate::spill::SpillManager;
use crate::stream::MemorySource;

/// (a, b, c, id): id is the row's place in source order.
type Row = (Option<i64>, Option<String>, Option<f64>, i64);

/// A key: which value (0 = a, 1 = b, 2 = c, 3 = a % 3), descending, nulls first.
type Key = (usize, bool, bool);

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Utf8, true),
        Field::new("c", DataType::Float64, true),
        Field::new("id", DataType::Int64, false),
    ]))
}

const WORDS: [&str; 8] = [
    "",
    "a",
    "ab",
    "b",
    "zzz",
    "a fairly long string that spans several arrow-row blocks",
    "m",
    "mm",
];

fn random_rows(rng: &mut StdRng, n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let a = match rng.gen_range(0..10) {
                0 | 1 => None,
                2..=5 => Some(0), // skew: a heavy hitter
                _ => Some(rng.gen_range(-5..50)),
            };
            let b = (!rng.gen_bool(0.15)).then(|| {
                if rng.gen_bool(0.1) {
                    format!("w{}", rng.gen_range(0..1000))
                } else {
                    WORDS[rng.gen_range(0..WORDS.len())].to_string()
                }
            });
            let c = (!rng.gen_bool(0.1)).then(|| rng.gen_range(-3..4) as f64 * 0.25);
            (a, b, c, i as i64)
        })
        .collect()
}

/// The rows as batches of random sizes up to `max_batch`.
fn to_batches(rng: &mut StdRng, rows: &[Row], max_batch: usize) -> Vec<RecordBatch> {
    let mut out = vec![];
    let mut start = 0;
    while start < rows.len() {
        let len = rng.gen_range(1..=max_batch).min(rows.len() - start);
        out.push(batch_of(&rows[start..start + len]));
        start += len;
    }
    out
}

fn batch_of(rows: &[Row]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1.clone()))),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.2))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
        ],
    )
    .unwrap()
}

fn rows_of(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = vec![];
    for b in batches {
        let a = b.column(0).as_primitive::<Int64Type>();
        let s = b.column(1).as_string::<i32>();
        let c = b.column(2).as_primitive::<Float64Type>();
        let id = b.column(3).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.push((
                a.is_valid(i).then(|| a.value(i)),
                s.is_valid(i).then(|| s.value(i).to_string()),
                c.is_valid(i).then(|| c.value(i)),
                id.value(i),
            ));
        }
    }
    out
}

fn key_expr(which: usize) -> Expr {
    match which {
        0 => col("a"),
        1 => col("b"),
        2 => col("c"),
        _ => col("a").rem(lit(3i64)),
    }
}

fn sort_keys(keys: &[Key]) -> Vec<SortExpr> {
    keys.iter()
        .map(|&(which, descending, nulls_first)| SortExpr {
            expr: key_expr(which),
            descending,
            nulls_first,
        })
        .collect()
}

fn cmp_opt<T>(
    x: Option<T>,
    y: Option<T>,
    desc: bool,
    nulls_first: bool,
    f: impl Fn(&T, &T) -> Ordering,
) -> Ordering {
    match (x, y) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) if nulls_first => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) if nulls_first => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) if desc => f(&x, &y).reverse(),
        (Some(x), Some(y)) => f(&x, &y),
    }
}

/// The naive reference: a stable sort of the rows in source order.
fn reference(rows: &[Row], keys: &[Key]) -> Vec<Row> {
    let mut sorted = rows.to_vec();
    sorted.sort_by(|x, y| {
        for &(which, desc, nf) in keys {
            let o = match which {
                0 => cmp_opt(x.0, y.0, desc, nf, i64::cmp),
                1 => cmp_opt(x.1.as_ref(), y.1.as_ref(), desc, nf, |p, q| p.cmp(q)),
                2 => cmp_opt(x.2, y.2, desc, nf, f64::total_cmp),
                _ => cmp_opt(x.0.map(|v| v % 3), y.0.map(|v| v % 3), desc, nf, i64::cmp),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    sorted
}

struct Env {
    _dir: tempfile::TempDir,
    pool: Arc<MemoryPool>,
    spill: Arc<SpillManager>,
    metrics: Arc<OperatorMetrics>,
}

impl Env {
    fn new(limit: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Env {
            pool: MemoryPool::new(limit),
            spill: SpillManager::new(dir.path(), u64::MAX, SpillCompression::None),
            metrics: OperatorMetrics::new("sort"),
            _dir: dir,
        }
    }

    /// An environment whose pool has the resident guard, reading `read`.
    fn with_resident_guard(limit: usize, read: crate::memory::ResidentReader) -> Self {
        Env {
            pool: MemoryPool::with_resident_guard(limit, read),
            ..Env::new(limit)
        }
    }

    /// A sort's context: the pool less the scans' set-aside, as the planner gives it.
    fn ctx(&self, chunk_rows: usize, threads: usize, force_spill: bool) -> OperatorContext {
        OperatorContext {
            pool: Arc::clone(&self.pool),
            spill: Arc::clone(&self.spill),
            chunk_rows,
            threads,
            force_spill,
            metrics: Arc::clone(&self.metrics),
            budget: worker_budget(self.pool.limit(), threads).saturating_mul(threads),
        }
    }

    /// Nothing reserved, no spill file left.
    fn assert_clean(&self) {
        assert_eq!(self.pool.used(), 0, "pool not back to 0");
        if let Some(dir) = self.spill.dir_path() {
            let left: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
            assert!(left.is_empty(), "spill files left: {left:?}");
        }
    }
}

fn exec(threads: usize) -> ExecContext {
    ExecContext {
        pool: Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap(),
        ),
        threads,
        cancel: Default::default(),
        rows_scanned: Default::default(),
    }
}

/// Runs `batches` into `sink`, finalizes and drains the output's tasks in order.
fn run<S: Sink<Output = Box<dyn Source>>>(
    sink: &S,
    batches: Vec<RecordBatch>,
    threads: usize,
    chunk_rows: usize,
) -> crate::error::Result<Vec<RecordBatch>> {
    let source = MemorySource::new(schema(), batches);
    let metrics = OperatorMetrics::new("src");
    run_pipeline(&exec(threads), &source, &[], sink, &metrics, &metrics, 0)?;
    let out = sink.finalize()?;
    assert_eq!(out.schema(), schema());
    let mut batches = vec![];
    let mut expected_task = 0;
    while let Some(task) = out.next_task()? {
        assert_eq!(task.index, expected_task);
        expected_task += 1;
        for b in task.batches {
            let b = b?;
            assert!(
                b.num_rows() <= chunk_rows,
                "{} rows > chunk {chunk_rows}",
                b.num_rows()
            );
            assert_eq!(b.schema(), schema());
            batches.push(b);
        }
    }
    Ok(batches)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Budget {
    Tiny,
    Medium,
    Unlimited,
}

#[derive(Debug)]
struct Case {
    rows: usize,
    max_batch: usize,
    keys: Vec<Key>,
    chunk_rows: usize,
    threads: usize,
    budget: Budget,
    force_spill: bool,
    fan_in: usize,
}

fn random_keys(rng: &mut StdRng) -> Vec<Key> {
    let mut which = vec![0, 1, 2, 3];
    let n = rng.gen_range(1..=3);
    (0..n)
        .map(|_| {
            let w = which.remove(rng.gen_range(0..which.len()));
            (w, rng.gen_bool(0.5), rng.gen_bool(0.5))
        })
        .collect()
}

/// A budget that forces several runs yet fits a fan-in-2 merge of `chunk_rows` batches.
fn tiny_budget(chunk_rows: usize) -> usize {
    // Rows of the long string key encode to ~190 bytes with the key column; the
    // merge reserves about 6 batches (see merge.rs) plus three I/O buffers.
    (64 << 10) + 1500 * chunk_rows
}

fn random_case(rng: &mut StdRng) -> Case {
    let chunk_rows = [1, 7, 100, 1000][rng.gen_range(0..4)];
    let budget = [Budget::Tiny, Budget::Medium, Budget::Unlimited][rng.gen_range(0..3)];
    let rows = match budget {
        // Enough rows to pass the tiny budget several times over.
        Budget::Tiny => tiny_budget(chunk_rows) / 40 + rng.gen_range(0..2000),
        _ => rng.gen_range(0..4000),
    };
    Case {
        rows,
        max_batch: [1, 10, 300][rng.gen_range(0..3)].max(rows / 40).min(1000),
        keys: random_keys(rng),
        chunk_rows,
        threads: rng.gen_range(1..=2),
        budget,
        force_spill: budget == Budget::Unlimited && rng.gen_bool(0.3),
        fan_in: [2, 3, 64][rng.gen_range(0..3)],
    }
}

/// (runs, merge passes, widest fan-in) from the operator's note, if it spilled.
fn parse_note(note: &str) -> Option<(usize, usize, usize)> {
    let nums: Vec<usize> = note
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    match nums[..] {
        [runs, passes, widest, _] if note.starts_with("spilled") => Some((runs, passes, widest)),
        _ => None,
    }
}

/// Runs one case against the reference; returns the operator's note.
fn check_sort(seed: u64, case: &Case) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let rows = random_rows(&mut rng, case.rows);
    let batches = to_batches(&mut rng, &rows, case.max_batch.max(1));
    let limit = match case.budget {
        Budget::Tiny => tiny_budget(case.chunk_rows),
        Budget::Medium => (case.rows * 60).max(4 * tiny_budget(case.chunk_rows)),
        Budget::Unlimited => usize::MAX,
    };
    let env = Env::new(limit);
    let ctx = env.ctx(case.chunk_rows, case.threads, case.force_spill);
    let sink =
        ExternalSortSink::try_new(schema(), sort_keys(&case.keys), ctx, case.fan_in).unwrap();
    let out = run(&sink, batches, case.threads, case.chunk_rows)
        .unwrap_or_else(|e| panic!("seed {seed} {case:?}: {e}"));
    drop(sink);
    let got = rows_of(&out);
    drop(out);
    let want = reference(&rows, &case.keys);
    assert!(
        got == want,
        "seed {seed} {case:?}: output differs from the reference"
    );
    let spilled = env.metrics.spill_files() > 0;
    assert_eq!(spilled, env.spill.files_written() > 0);
    match case.budget {
        Budget::Unlimited if !case.force_spill => {
            assert!(
                !spilled,
                "seed {seed} {case:?}: spilled with unlimited memory"
            );
            assert_eq!(env.metrics.note(), "in memory");
        }
        Budget::Tiny => assert!(spilled, "seed {seed} {case:?}: tiny budget did not spill"),
        _ => {}
    }
    if case.force_spill && case.rows > 0 {
        assert!(spilled);
    }
    if let Some((runs, passes, widest)) = parse_note(&env.metrics.note()) {
        assert!(
            widest <= case.fan_in.max(2),
            "seed {seed} {case:?}: fan-in {widest}"
        );
        assert!(
            runs <= case.fan_in.max(2) || passes > 1,
            "seed {seed} {case:?}"
        );
    }
    env.assert_clean();
    env.metrics.note()
}

#[test]
fn sort_fuzz() {
    let mut rng = StdRng::seed_from_u64(0x5012);
    let mut multi_pass = 0;
    for i in 0..60 {
        let case = random_case(&mut rng);
        let note = check_sort(i, &case);
        if parse_note(&note).is_some_and(|(_, passes, _)| passes > 1) {
            multi_pass += 1;
        }
    }
    assert!(
        multi_pass >= 5,
        "only {multi_pass} cases merged in several passes"
    );
}

#[test]
fn sort_every_configuration_of_one_dataset() {
    let keys = vec![(1, false, true), (0, true, false)];
    for chunk_rows in [1, 7, 100, 1000] {
        for threads in [1, 2] {
            for (budget, force_spill, fan_in) in [
                (Budget::Unlimited, false, 64),
                (Budget::Unlimited, true, 2),
                (Budget::Tiny, false, 3),
                (Budget::Medium, false, 64),
            ] {
                let case = Case {
                    // Enough rows for the tiny budget to spill even at 1000-row chunks.
                    rows: tiny_budget(chunk_rows) / 40 + 2000,
                    max_batch: 200,
                    keys: keys.clone(),
                    chunk_rows,
                    threads,
                    budget,
                    force_spill,
                    fan_in,
                };
                check_sort(7, &case);
            }
        }
    }
}

#[test]
fn tiny_budget_merges_in_several_passes() {
    let case = Case {
        rows: 40_000,
        max_batch: 500,
        keys: vec![(2, true, true), (3, false, false), (1, false, false)],
        chunk_rows: 1000,
        threads: 2,
        budget: Budget::Tiny,
        force_spill: false,
        fan_in: 2,
    };
    let note = check_sort(11, &case);
    let (runs, passes, widest) = parse_note(&note).unwrap();
    assert!(runs > 2 && passes == runs - 1 && widest == 2, "{note}");
}

#[test]
fn fan_in_shrinks_to_what_the_budget_holds() {
    let case = Case {
        rows: 8000,
        max_batch: 300,
        keys: vec![(0, false, true)],
        chunk_rows: 100,
        threads: 1,
        budget: Budget::Tiny,
        // A run per morsel: far more runs than the budget can open at once.
        force_spill: true,
        fan_in: 64,
    };
    let note = check_sort(13, &case);
    let (runs, passes, widest) = parse_note(&note).unwrap();
    assert!(widest < runs && widest < 64 && passes > 1, "{note}");
}

#[test]
fn spill_limit_is_reported_and_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let pool = MemoryPool::new(usize::MAX);
    let spill = SpillManager::new(dir.path(), 10_000, SpillCompression::None);
    let ctx = OperatorContext {
        pool: Arc::clone(&pool),
        spill: Arc::clone(&spill),
        chunk_rows: 100,
        threads: 2,
        force_spill: true,
        metrics: OperatorMetrics::new("sort"),
        budget: usize::MAX,
    };
    let sink =
        ExternalSortSink::try_new(schema(), sort_keys(&[(1, false, false)]), ctx, 2).unwrap();
    let mut rng = StdRng::seed_from_u64(17);
    let rows = random_rows(&mut rng, 3000);
    let err = run(&sink, to_batches(&mut rng, &rows, 100), 2, 100).unwrap_err();
    assert!(matches!(err, Error::SpillLimit { .. }), "{err}");
    drop(sink);
    assert_eq!(pool.used(), 0);
    drop(spill);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn equal_keys_keep_source_order() {
    let env = Env::new(usize::MAX);
    let ctx = env.ctx(3, 2, true);
    let keys = vec![SortExpr {
        expr: lit(1i64),
        descending: true,
        nulls_first: false,
    }];
    let sink = ExternalSortSink::try_new(schema(), keys, ctx, 2).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let rows = random_rows(&mut rng, 500);
    let out = run(&sink, to_batches(&mut rng, &rows, 17), 2, 3).unwrap();
    assert_eq!(rows_of(&out), rows);
    assert!(
        env.metrics.note().starts_with("spilled"),
        "{}",
        env.metrics.note()
    );
    drop((sink, out));
    env.assert_clean();
}

#[test]
fn merge_workspace_that_does_not_fit_is_resources_exhausted() {
    let env = Env::new(8 << 10);
    let ctx = env.ctx(100, 1, false);
    let sink =
        ExternalSortSink::try_new(schema(), sort_keys(&[(0, false, false)]), ctx, 64).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let rows = random_rows(&mut rng, 2000);
    let err = run(&sink, to_batches(&mut rng, &rows, 100), 1, 100).unwrap_err();
    assert!(matches!(err, Error::ResourcesExhausted { .. }), "{err}");
    drop(sink);
    env.assert_clean();
}

#[test]
fn unknown_key_column_is_a_plan_error() {
    let env = Env::new(usize::MAX);
    let keys = vec![SortExpr {
        expr: col("nope"),
        descending: false,
        nulls_first: false,
    }];
    let err = ExternalSortSink::try_new(schema(), keys.clone(), env.ctx(10, 1, false), 2)
        .err()
        .unwrap();
    assert!(matches!(err, Error::Plan(_)), "{err}");
    assert!(TopKSink::try_new(schema(), keys, 3, env.ctx(10, 1, false)).is_err());
}

/// `compare_keys` orders byte strings exactly as slice comparison does, and
/// `sort_order` (common prefix skipped, 8-byte prefixes first) as a plain sort does.
#[test]
fn key_comparison_matches_byte_order() {
    use arrow::array::BinaryArray;
    let mut rng = StdRng::seed_from_u64(11);
    let mut keys: Vec<Vec<u8>> = vec![];
    for _ in 0..3000 {
        // A shared head, then few distinct bytes, so ties and prefixes are common.
        let len = rng.gen_range(9..30);
        let mut k = vec![7u8; 9.min(len)];
        k.extend((k.len()..len).map(|_| rng.gen_range(0..3u8)));
        keys.push(k);
    }
    for a in keys.iter().take(200) {
        for b in keys.iter().take(200) {
            assert_eq!(keys::compare_keys(a, b), a.cmp(b), "{a:?} {b:?}");
        }
    }
    keys.sort();
    keys.dedup();
    let mut shuffled = keys.clone();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.gen_range(0..=i));
    }
    let half = shuffled.len() / 2;
    let batches: Vec<RecordBatch> = [&shuffled[..half], &shuffled[half..]]
        .iter()
        .map(|part| {
            let col = BinaryArray::from_iter_values(part.iter());
            RecordBatch::try_from_iter(vec![("k", Arc::new(col) as _)]).unwrap()
        })
        .collect();
    let order = keys::sort_order(&batches).unwrap();
    let got: Vec<Vec<u8>> = order
        .iter()
        .map(|&(b, r)| {
            keys::key_column(&batches[b as usize])
                .unwrap()
                .value(r as usize)
                .to_vec()
        })
        .collect();
    assert_eq!(got, keys);
}

/// The pool's resident guard (`memory.rs`) turns growth into spills when the process
/// holds too much outside the pool; the answer is the same with it on and off.
#[test]
fn resident_guard_spills_early_and_keeps_the_answer() {
    fn process_full() -> Option<usize> {
        Some(usize::MAX / 4)
    }
    let mut rng = StdRng::seed_from_u64(11);
    let rows = random_rows(&mut rng, 100_000);
    let keys = vec![(1, false, true), (0, true, false)];
    let want = reference(&rows, &keys);
    let batches = to_batches(&mut rng, &rows, 500);
    // Sorts with one worker; returns the pool's peak, whether it spilled and the
    // guard's refusals.
    let sort = |env: &Env| {
        let sink =
            ExternalSortSink::try_new(schema(), sort_keys(&keys), env.ctx(1000, 1, false), 64)
                .unwrap();
        let out = run(&sink, batches.clone(), 1, 1000).unwrap();
        drop(sink);
        assert!(rows_of(&out) == want, "output differs");
        drop(out);
        env.assert_clean();
        (
            env.pool.peak(),
            env.spill.files_written() > 0,
            env.pool.resident_refusals(),
        )
    };
    // Under half the limit the guard never says spill, even when the process is full.
    let big = 256 << 20;
    let (peak, spilled, _) = sort(&Env::new(big));
    assert!(!spilled && peak > 4 << 20, "peak {peak}");
    assert_eq!(
        sort(&Env::with_resident_guard(big, process_full)),
        (peak, false, 0)
    );
    // A limit the sort's buffer passes half of, and that it fits (after the scans'
    // 2 MiB set-aside): without the guard it sorts in memory; with it, it spills
    // once past half the limit, with the same answer.
    let limit = peak * 3 / 2 + (2 << 20);
    let (_, spilled, refusals) = sort(&Env::new(limit));
    assert!(!spilled && refusals == 0);
    let (guarded_peak, spilled, refusals) = sort(&Env::with_resident_guard(limit, process_full));
    assert!(spilled && refusals > 0 && guarded_peak < peak);
}

/// Runs keep `chunk_rows`-row batches unless a two-way merge of them would need more
/// than half the budget; then batches shrink to fit it, never below 64 rows.
#[test]
fn run_batches_shrink_only_for_rows_too_wide_for_the_budget() {
    let env = Env::new(32 << 20);
    let ctx = OperatorContext {
        budget: 32 << 20,
        ..env.ctx(65_536, 2, false)
    };
    // 16-byte rows: six 64Ki-row batches are 6 MiB, under half of 32 MiB.
    assert_eq!(merge::run_batch_rows(&ctx, 16), 65_536);
    // 100-byte rows: 16 MiB / 600 bytes.
    assert_eq!(merge::run_batch_rows(&ctx, 100), (16 << 20) / 600);
    assert_eq!(merge::run_batch_rows(&ctx, 10 << 20), 64);
    let small_chunks = env.ctx(100, 2, false);
    assert_eq!(merge::run_batch_rows(&small_chunks, 100), 100);
}
