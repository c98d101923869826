//! Delimiter sniffing: which of `,` `|` `;` and tab separates the fields of a CSV file.
//!
//! Algorithm: the first 64 KiB of the file are cut to whole lines (at most 100), and
//! each candidate parses them with the dialect's quote. A candidate is *consistent*
//! when every record has the same number of fields and that number is above one; the
//! consistent candidate with the most fields wins (ties go to the earlier candidate,
//! so `,` first). With no consistent candidate, the one whose most common field count
//! covers the most records (fields above one) wins; with none at all, `,` stays.
//!
//! Memory: one 64 KiB buffer. Nothing spills.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The delimiters tried, in order of preference on a tie.
const CANDIDATES: [u8; 4] = [b',', b'|', b';', b'\t'];
/// Bytes read from the head of the file.
const SAMPLE_BYTES: u64 = 64 << 10;
/// Records parsed per candidate.
const SAMPLE_RECORDS: usize = 100;

/// The delimiter of the CSV file at `path` (`,` when nothing tells).
pub(crate) fn sniff_delimiter(path: &Path, quote: Option<u8>, skip_lines: usize) -> Result<u8> {
    let mut sample = vec![];
    let mut input = std::io::BufReader::new(super::compressed::open(path)?);
    super::skip_lines(&mut input, skip_lines).map_err(|e| Error::io(path, e))?;
    input
        .take(SAMPLE_BYTES)
        .read_to_end(&mut sample)
        .map_err(|e| Error::io(path, e))?;
    Ok(delimiter_of(&sample, quote))
}

/// The delimiter of a file that begins with `sample`.
pub(crate) fn delimiter_of(sample: &[u8], quote: Option<u8>) -> u8 {
    // A truncated last line would count fewer fields: keep whole lines only.
    let whole = if sample.len() as u64 >= SAMPLE_BYTES {
        match memchr::memrchr(b'\n', sample) {
            Some(i) => &sample[..=i],
            None => sample,
        }
    } else {
        sample
    };
    // (consistent, score): the field count when consistent, else the modal record count.
    let mut best: Option<((bool, usize), u8)> = None;
    for &d in &CANDIDATES {
        let counts = field_counts(whole, d, quote);
        let Some((fields, records)) = modal_count(&counts) else {
            continue;
        };
        if fields < 2 {
            continue;
        }
        let consistent = records == counts.len();
        let score = (consistent, if consistent { fields } else { records });
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, d));
        }
    }
    best.map_or(b',', |(_, d)| d)
}

/// Fields per record of the first `SAMPLE_RECORDS` records split on `delimiter`.
fn field_counts(sample: &[u8], delimiter: u8, quote: Option<u8>) -> Vec<usize> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quoting(quote.is_some())
        .quote(quote.unwrap_or(b'"'))
        .from_reader(sample);
    reader
        .byte_records()
        .take(SAMPLE_RECORDS)
        .map_while(|r| r.ok())
        .filter(|r| !(r.len() == 1 && r[0].is_empty()))
        .map(|r| r.len())
        .collect()
}

/// The most common field count and how many records have it.
fn modal_count(counts: &[usize]) -> Option<(usize, usize)> {
    let mut freq: HashMap<usize, usize> = HashMap::new();
    for &c in counts {
        *freq.entry(c).or_default() += 1;
    }
    freq.into_iter()
        .max_by_key(|&(fields, records)| (records, fields))
}

#[cfg(test)]
mod tests {
    use super::delimiter_of;

    #[test]
    fn picks_the_delimiter_with_consistent_field_counts() {
        assert_eq!(delimiter_of(b"a,b,c\n1,2,3\n4,5,6\n", Some(b'"')), b',');
        assert_eq!(delimiter_of(b"a;b;c\n1,5;2;3\n4;5;6\n", Some(b'"')), b';');
        assert_eq!(delimiter_of(b"a\tb\n1\t2\n", Some(b'"')), b'\t');
        assert_eq!(delimiter_of(b"a|b|c\n1|x,y|3\n", Some(b'"')), b'|');
        // A quoted comma does not split a field.
        assert_eq!(delimiter_of(b"a;b\n\"1,2,3\";4\n", Some(b'"')), b';');
        // One column: nothing tells, so the default stays.
        assert_eq!(delimiter_of(b"a\n1\n2\n", Some(b'"')), b',');
        assert_eq!(delimiter_of(b"", Some(b'"')), b',');
    }

    #[test]
    fn ragged_rows_prefer_the_most_common_count() {
        // Commas in free text make ',' inconsistent; ';' is consistent.
        let text = b"id;note\n1;hello, world\n2;a, b, c\n3;x\n";
        assert_eq!(delimiter_of(text, Some(b'"')), b';');
    }
}
