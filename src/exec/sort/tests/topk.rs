//! Top-k against the same reference: k in {0, 1, 10, more than the rows}; it never
//! spills, even with `force_spill`, and holds O(k) rows.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

fn check_topk(seed: u64, rows_n: usize, k: usize, keys: &[Key], chunk_rows: usize, threads: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let rows = random_rows(&mut rng, rows_n);
    let batches = to_batches(&mut rng, &rows, 100);
    let input_bytes: usize = batches.iter().map(crate::memory::batch_memory_size).sum();
    let env = Env::new(usize::MAX);
    let sink = TopKSink::try_new(
        schema(),
        sort_keys(keys),
        k,
        env.ctx(chunk_rows, threads, true),
    )
    .unwrap();
    let out = run(&sink, batches, threads, chunk_rows).unwrap();
    drop(sink);
    let got = rows_of(&out);
    drop(out);
    let mut want = reference(&rows, keys);
    want.truncate(k);
    assert!(
        got == want,
        "seed {seed} k {k} {keys:?}: top-k differs from the reference"
    );
    assert_eq!(env.spill.files_written(), 0);
    assert!(env.spill.dir_path().is_none());
    assert_eq!(env.metrics.spill_files(), 0);
    if k <= 10 && rows_n >= 50_000 {
        assert!(
            env.pool.peak() * 10 < input_bytes,
            "top-{k} held {} bytes of a {input_bytes}-byte input",
            env.pool.peak()
        );
    }
    env.assert_clean();
}

#[test]
fn topk_fuzz() {
    let mut rng = StdRng::seed_from_u64(0x70c);
    for seed in 0..40 {
        let rows = [0, 1, 50, 3000][rng.gen_range(0..4)];
        let k = [0, 1, 10, rows + 5][rng.gen_range(0..4)];
        let keys = random_keys(&mut rng);
        let chunk_rows = [1, 7, 100, 1000][rng.gen_range(0..4)];
        check_topk(seed, rows, k, &keys, chunk_rows, rng.gen_range(1..=2));
    }
}

#[test]
fn topk_holds_o_k_rows() {
    check_topk(
        21,
        100_000,
        10,
        &[(3, true, false), (2, false, true)],
        1000,
        2,
    );
}

#[test]
fn topk_every_k() {
    for k in [0, 1, 10, 5000] {
        for threads in [1, 2] {
            check_topk(
                9,
                4000,
                k,
                &[(0, true, true), (1, false, false)],
                7,
                threads,
            );
        }
    }
}
