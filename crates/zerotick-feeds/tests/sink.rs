//! `CsvSink` output read back by an RFC 4180 reader: whatever bytes a feed puts in a symbol's
//! name, each emit is one record with the expected columns and the name as given.

use zerotick_core::{FeatureRecord, Signal, Sink, SymbolTable};
use zerotick_feeds::CsvSink;

/// Names a hostile or careless feed can produce (Redis fields, Kafka keys and JSON strings
/// carry any bytes).
const NAMES: [&str; 9] = [
    "BTCUSDT",
    "A,B",
    "X\n1,FAKE,9e99",
    "say \"hi\"",
    "\"",
    "",
    "cr\r",
    "\r\n",
    ",\",\n",
];

/// A strict RFC 4180 reader: records of fields, a quoted field with `""` for `"`. Panics on
/// input that is not RFC 4180 (a quote inside an unquoted field, text after a closing quote,
/// an unterminated quote).
fn parse(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => panic!("unterminated quoted field in {text:?}"),
                }
            }
            assert!(
                matches!(chars.peek(), Some(',' | '\n') | None),
                "text after a closing quote in {text:?}"
            );
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c == '\n' {
                    break;
                }
                assert!(c != '"' && c != '\r', "bare {c:?} in a field of {text:?}");
                field.push(c);
                chars.next();
            }
        }
        record.push(field);
        match chars.next() {
            Some(',') => {}
            Some('\n') => records.push(std::mem::take(&mut record)),
            None => {
                assert!(
                    record.len() == 1 && record[0].is_empty(),
                    "no newline after the last record of {text:?}"
                );
                return records;
            }
            Some(c) => unreachable!("{c:?}"),
        }
    }
}

/// A table holding every name of [`NAMES`], interned `before` the sink is made or after.
fn table() -> SymbolTable {
    SymbolTable::new(NAMES.len())
}

#[test]
fn signals_keep_one_record_per_emit_whatever_the_name() {
    for learned_late in [false, true] {
        let mut table = table();
        if !learned_late {
            for name in NAMES {
                table.intern(name).unwrap();
            }
        }
        let mut sink = CsvSink::new(Vec::new(), table.names()).unwrap();
        for (i, name) in NAMES.iter().enumerate() {
            let id = table.intern(name).unwrap();
            // Twice: the first emit learns the name, the second uses the cached field.
            for k in 0..2 {
                let s = Signal {
                    ts_ns: (10 * i + k) as u64,
                    symbol: id,
                    value: 0.5,
                };
                sink.emit(&s).unwrap();
            }
        }
        let text = String::from_utf8(sink.into_inner()).unwrap();
        let records = parse(&text);
        assert_eq!(records.len(), 1 + 2 * NAMES.len(), "{text:?}");
        assert_eq!(records[0], ["ts_ns", "symbol", "value"]);
        for (i, name) in NAMES.iter().enumerate() {
            for k in 0..2 {
                let ts = (10 * i + k).to_string();
                assert_eq!(
                    records[1 + 2 * i + k],
                    [ts.as_str(), *name, "0.5"],
                    "{text:?}"
                );
            }
        }
    }
}

#[test]
fn plain_names_are_written_as_they_are() {
    let mut table = table();
    let id = table.intern("BTCUSDT").unwrap();
    let mut sink = CsvSink::new(Vec::new(), table.names()).unwrap();
    sink.emit(&Signal {
        ts_ns: 1,
        symbol: id,
        value: -2.0,
    })
    .unwrap();
    let empty = table.intern("").unwrap();
    sink.emit(&Signal {
        ts_ns: 2,
        symbol: empty,
        value: f64::NAN,
    })
    .unwrap();
    assert_eq!(
        String::from_utf8(sink.into_inner()).unwrap(),
        "ts_ns,symbol,value\n1,BTCUSDT,-2\n2,\"\",NaN\n"
    );
}

#[test]
fn feature_rows_keep_their_columns_whatever_the_name() {
    for signal in [None, Some(0.25)] {
        let mut table = table();
        let mut sink =
            CsvSink::with_columns(Vec::new(), table.names(), &["ema", "rsi"], signal.is_some())
                .unwrap();
        for (i, name) in NAMES.iter().enumerate() {
            let id = table.intern(name).unwrap();
            sink.emit_row(&FeatureRecord {
                ts_ns: i as u64,
                symbol: id,
                values: &[1.5, -0.1],
                signal,
            })
            .unwrap();
        }
        let text = String::from_utf8(sink.into_inner()).unwrap();
        let records = parse(&text);
        let width = if signal.is_some() { 5 } else { 4 };
        assert_eq!(records.len(), 1 + NAMES.len(), "{text:?}");
        for (i, name) in NAMES.iter().enumerate() {
            let r = &records[1 + i];
            assert_eq!(r.len(), width, "{text:?}");
            assert_eq!(r[0], i.to_string());
            assert_eq!(r[1], *name);
            assert_eq!(r[2..4], ["1.5", "-0.1"]);
        }
    }
}
