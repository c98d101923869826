//! Hive-partitioned output: partition directories, value escaping, and writer
//! eviction when there are more partitions than open writers.

use super::*;

#[test]
fn parquet_partitioned_by_year() {
    let (dir, pool, metrics) = setup();
    let out = dir.path().join("out");
    let options = ParquetSinkOptions::default().partition_by(["year"]);
    let sink = parquet_sink(&out, schema(), options, pool, Arc::clone(&metrics)).unwrap();
    let ms = morsels(6, 2, 100);
    let expected = input(&ms);
    write_two_threads(&sink, ms).unwrap();

    assert_eq!(
        tree(&out),
        vec![
            "year=2020",
            "year=2020/part-0.parquet",
            "year=2021",
            "year=2021/part-0.parquet",
            "year=2022",
            "year=2022/part-0.parquet",
            "year=__HIVE_DEFAULT_PARTITION__",
            "year=__HIVE_DEFAULT_PARTITION__/part-0.parquet",
        ]
    );
    assert_eq!(
        tree(dir.path()).len(),
        9,
        "no temp dir left: {:?}",
        tree(dir.path())
    );
    let mut files = sink.files();
    files.sort();
    assert_eq!(files.len(), 4);
    assert!(files[0].starts_with(&out));
    assert!(metrics.note().starts_with("4 files"));

    let years = expected
        .column(2)
        .as_primitive::<arrow::datatypes::Int32Type>();
    let all_ids = ids(&expected);
    let mut total = 0;
    for (dir_name, year) in [
        ("2020", Some(2020)),
        ("2021", Some(2021)),
        ("2022", Some(2022)),
        (HIVE_DEFAULT_PARTITION, None),
    ] {
        let part = read_parquet(&out.join(format!("year={dir_name}/part-0.parquet")));
        assert_eq!(part.schema().fields().len(), 2, "partition column dropped");
        assert!(part.schema().field_with_name("year").is_err());
        let want: Vec<i64> = (0..expected.num_rows())
            .filter(|&i| years.is_valid(i).then(|| years.value(i)) == year)
            .map(|i| all_ids[i])
            .collect();
        assert_eq!(ids(&part), want, "partition {dir_name}, in source order");
        total += part.num_rows();
    }
    assert_eq!(total, 1200);
}

#[test]
fn csv_partitioned_by_two_columns_with_escaping() {
    let (dir, pool, metrics) = setup();
    let schema = Arc::new(Schema::new(vec![
        Field::new("region", DataType::Utf8, true),
        Field::new("year", DataType::Int32, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let b = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec![
                Some("eu/west"),
                Some("us"),
                None,
                Some("us"),
                Some(""),
            ])),
            Arc::new(Int32Array::from(vec![2024, 2024, 2023, 2023, 2024])),
            Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
        ],
    )
    .unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap(); // an empty destination is allowed
    let options = CsvSinkOptions::default().partition_by(["region", "year"]);
    let sink = csv_sink(&out, Arc::clone(&schema), options, pool, metrics).unwrap();
    let mut local = sink.local_state().unwrap();
    local
        .sink(Morsel {
            batch: b,
            seq: Seq::default(),
        })
        .unwrap();
    local.combine().unwrap();
    sink.finalize().unwrap();
    let files: Vec<String> = tree(&out)
        .into_iter()
        .filter(|p| p.ends_with(".csv"))
        .collect();
    assert_eq!(
        files,
        vec![
            "region=__HIVE_DEFAULT_PARTITION__/year=2023/part-0.csv",
            "region=__HIVE_DEFAULT_PARTITION__/year=2024/part-0.csv",
            "region=eu%2Fwest/year=2024/part-0.csv",
            "region=us/year=2023/part-0.csv",
            "region=us/year=2024/part-0.csv",
        ]
    );
    let text = std::fs::read_to_string(out.join("region=us/year=2024/part-0.csv")).unwrap();
    assert_eq!(text, "v\n2\n");
    let file_schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    let nulls = read_csv(
        &out.join("region=__HIVE_DEFAULT_PARTITION__/year=2024/part-0.csv"),
        file_schema,
    );
    assert_eq!(ids_of(&nulls, "v"), vec![5]);
    assert_eq!(sink.rows_written(), 5);
}

fn ids_of(b: &RecordBatch, col: &str) -> Vec<i64> {
    b.column_by_name(col)
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

#[test]
fn many_partitions_evict_writers_and_continue_in_new_parts() {
    let (dir, pool, metrics) = setup();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let keys = 100i64;
    let round = |r: i64| {
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(0..keys)),
                Arc::new(Int64Array::from_iter_values(
                    (0..keys).map(|k| r * 1000 + k),
                )),
            ],
        )
        .unwrap()
    };
    let out = dir.path().join("out");
    let options = ParquetSinkOptions::default().partition_by(["k"]);
    let sink = parquet_sink(&out, Arc::clone(&schema), options, pool, metrics).unwrap();
    let mut local = sink.local_state().unwrap();
    for r in 0..3 {
        local
            .sink(Morsel {
                batch: round(r),
                seq: Seq {
                    task: r as u64,
                    batch: 0,
                },
            })
            .unwrap();
    }
    local.combine().unwrap();
    sink.finalize().unwrap();
    let files = sink.files();
    assert!(
        files.len() > keys as usize,
        "evicted writers reopen as new parts: {}",
        files.len()
    );
    assert!(files.iter().any(|f| f.ends_with("part-1.parquet")));
    for k in 0..keys {
        let mut parts: Vec<&PathBuf> = files
            .iter()
            .filter(|f| f.parent().unwrap().ends_with(format!("k={k}")))
            .collect();
        parts.sort_by_key(|p| p.display().to_string());
        let values: Vec<i64> = parts
            .iter()
            .flat_map(|p| ids_of(&read_parquet(p), "v"))
            .collect();
        assert_eq!(
            values,
            vec![k, 1000 + k, 2000 + k],
            "partition {k}, part files in order"
        );
    }
}
